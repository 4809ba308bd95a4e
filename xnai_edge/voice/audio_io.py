"""Audio endpoints from config values: "default", a device name or index, a WAV path, "none".

Inputs become the async chunk stream the VoiceLoop reads (a WAV file is paced in real time);
outputs become a sink with ``write``/``close``.  Raises ``AudioError`` when a device cannot be
opened (no sound card), so the caller can report ``no-audio`` and retry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xnai_edge.audio.chunk import AudioChunk


def _device(value: str) -> str | int | None:
    if value in ("default", ""):
        return None
    return int(value) if value.isdigit() else value


def _is_wav(value: str) -> bool:
    return value.lower().endswith(".wav") or "/" in value


def open_source(value: str, *, realtime: bool = True) -> AsyncIterator[AudioChunk]:
    from xnai_edge.voice.pacing import from_blocking, paced

    if _is_wav(value):
        from xnai_edge.audio.wav import WavSource

        return paced(iter(WavSource(Path(value))), realtime=realtime)
    from xnai_edge.audio.devices import Microphone

    return from_blocking(iter(Microphone(_device(value)).open()))


class NullSink:
    def write(self, samples: npt.NDArray[np.int16]) -> None:
        pass

    def close(self) -> None:
        pass


class SpeakerSink:
    """The speaker as the loop's sink (``write``/``close``)."""

    def __init__(self, device: str | int | None, rate: int) -> None:
        from xnai_edge.audio.devices import Speaker

        self._speaker = Speaker(device, rate=rate).open()

    def write(self, samples: npt.NDArray[np.int16]) -> None:
        self._speaker.play(samples)

    def close(self) -> None:
        self._speaker.close()


def open_sink(value: str, rate: int) -> Any:
    if value == "none":
        return NullSink()
    if _is_wav(value):
        from xnai_edge.audio.wav import WavSink

        return WavSink(Path(value), rate=rate)
    return SpeakerSink(_device(value), rate)
