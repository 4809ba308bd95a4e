"""The narrow interfaces the VoiceLoop needs from audio and model backends.

The loop is written against these Protocols only, so it is testable with any implementation and
never imports a model library.  Samples are always 16 kHz mono int16 on the input side; the
synthesiser states its own output rate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from xnai_edge.brain.answerer import Answer

Samples = npt.NDArray[np.int16]
RATE = 16000


class Chunk(Protocol):
    """What ``xnai_edge.audio.AudioChunk`` provides: samples and audio-time position."""

    @property
    def samples(self) -> Samples: ...
    @property
    def start(self) -> float: ...
    @property
    def duration(self) -> float: ...


@dataclass(frozen=True)
class Silence:
    """A chunk of silence at ``start`` (the clock running on after the input ended)."""

    start: float
    duration: float

    @property
    def samples(self) -> Samples:
        return np.zeros(round(self.duration * RATE), dtype=np.int16)


class Wake(Protocol):
    def process(self, samples: Samples) -> float: ...


class Vad(Protocol):
    def probability(self, samples: Samples) -> float: ...
    def reset(self) -> None: ...


class Transcript(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def rejected(self) -> str: ...


class SpeechToText(Protocol):
    def transcribe(self, samples: Samples) -> Transcript: ...


class Speech(Protocol):
    @property
    def sample_rate(self) -> int: ...
    def synthesize_parts(self, text: str) -> list[Samples]: ...


class Sink(Protocol):
    def write(self, samples: Samples) -> None: ...


class Answering(Protocol):
    async def answer(self, question: str,
                     on_sentence: Callable[[str], Awaitable[None]] | None = ...,
                     previous: tuple[str, str] | None = ...) -> Answer: ...
