"""The narrow interfaces the VoiceLoop needs from audio and model backends.

The loop is written against these Protocols only, so it is testable with any implementation and
never imports a model library.  Input is always ``AudioChunk`` (16 kHz mono int16); the
synthesiser states its own output rate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from xnai_edge.audio.chunk import SAMPLE_RATE, AudioChunk
from xnai_edge.backends.vad import SpeechSummary
from xnai_edge.brain.answerer import Answer

Samples = npt.NDArray[np.int16]


def silence(start: float, duration: float) -> AudioChunk:
    """A chunk of silence at ``start`` (the clock running on after the input ended)."""
    return AudioChunk(samples=np.zeros(round(duration * SAMPLE_RATE), dtype=np.int16),
                      start=start)


class Wake(Protocol):
    def process(self, chunk: AudioChunk) -> float: ...


class Vad(Protocol):
    def frames(self, chunk: AudioChunk) -> npt.NDArray[np.float32]:
        """Speech probability of each VAD window this chunk completes."""
        ...

    def reset(self) -> None: ...


class Transcript(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def rejected(self) -> str: ...


class SpeechToText(Protocol):
    def transcribe(self, samples: Samples, *, prefix: str = "", quick: bool = False,
                   speech: SpeechSummary | None = None) -> Transcript:
        """``prefix``: text the decoder is given as already said (the stable prefix);
        ``quick``: a cheaper pass while speech goes on; ``speech``: the loop's own VAD verdict
        on ``samples`` (saves running the VAD over them again)."""
        ...


class Speech(Protocol):
    @property
    def sample_rate(self) -> int: ...
    def synthesize(self, text: str, *, quiet: bool = False) -> Samples:
        """``quiet``: nothing is playing (more threads may be used)."""
        ...


class Sink(Protocol):
    def write(self, samples: Samples) -> None: ...


class Answering(Protocol):
    async def answer(self, question: str,
                     on_sentence: Callable[[str], Awaitable[None]] | None = ...,
                     previous: tuple[str, str] | None = ...) -> Answer: ...
