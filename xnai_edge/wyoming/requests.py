"""The three requests: ``transcribe`` (audio in, one transcript), ``detect`` (audio in, a
detection or not) and ``synthesize`` (text in, audio out).

Audio may come in any rate/width/channels (each ``audio-chunk`` names its own, else the
``audio-start``'s) and is converted once, with the project's converter, to the 16 kHz mono int16
every model here wants.  Requests hold no sockets: they return events, and ``connection`` sends
them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
from wyoming.audio import AudioChunk as WyChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.event import Event
from wyoming.wake import Detection, NotDetected

from xnai_edge.audio.chunk import SAMPLE_RATE, AudioChunk, Converter
from xnai_edge.audio.error import AudioError
from xnai_edge.brain.sentences import clauses, split_sentences
from xnai_edge.wyoming.limits import LIMITS, Limits, WyomingError

Int16Array = npt.NDArray[np.int16]
Format = tuple[int, int, int]
"""(rate, width, channels) as Wyoming names them."""

TTS_CHUNK_SAMPLES = 1024
"""Samples per outgoing ``audio-chunk`` (what Piper's Wyoming server sends)."""


def audio_format(data: dict[str, Any], default: Format | None) -> Format:
    """The chunk's own (rate, width, channels), else ``default``; checked for sanity."""
    if all(k in data for k in ("rate", "width", "channels")):
        values = [data["rate"], data["width"], data["channels"]]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise WyomingError(f"rate/width/channels must be integers, got {values}",
                               code="bad-audio", fatal=True)
        rate, width, channels = values
    elif default is not None:
        return default
    else:
        raise WyomingError("audio needs rate, width and channels (in the audio-chunk or the "
                           "audio-start before it)", code="bad-audio", fatal=True)
    if not (1000 <= rate <= 384_000 and width in (1, 2, 3, 4) and 1 <= channels <= 32):
        raise WyomingError(f"unsupported audio format: {rate} Hz, {width} byte(s), "
                           f"{channels} channel(s)", code="bad-audio", fatal=True)
    return rate, width, channels


class AudioIn:
    """Any PCM format in, 16 kHz mono int16 out; re-made when a chunk changes format."""

    def __init__(self) -> None:
        self.format: Format | None = None
        self._converter: Converter | None = None
        self.samples = 0
        """16 kHz samples converted so far."""

    def start(self, data: dict[str, Any]) -> None:
        """``audio-start``: its format is the default for chunks that name none."""
        if all(k in data for k in ("rate", "width", "channels")):
            self.format = audio_format(data, None)

    def push(self, data: dict[str, Any], payload: bytes) -> Int16Array:
        fmt = audio_format(data, self.format)
        tail = np.zeros(0, dtype=np.int16)
        if fmt != self.format or self._converter is None:
            if self._converter is not None:
                tail = self._converter.flush()
            rate, width, channels = fmt
            try:
                self._converter = Converter(rate, channels, width)
            except AudioError as exc:
                raise WyomingError(str(exc), code="bad-audio", fatal=True) from exc
            self.format = fmt
        try:
            out = self._converter.push(payload)
        except AudioError as exc:
            raise WyomingError(str(exc), code="bad-audio", fatal=True) from exc
        out = np.concatenate([tail, out]) if len(tail) else out
        self.samples += len(out)
        return out

    def flush(self) -> Int16Array:
        out = self._converter.flush() if self._converter is not None else np.zeros(
            0, dtype=np.int16)
        self.samples += len(out)
        return out


class AsrRequest:
    """Collects a request's audio (bounded) for one transcriber call at ``audio-stop``."""

    def __init__(self, language: str | None, limits: Limits = LIMITS) -> None:
        self.language = language
        self._limits = limits
        self._audio = AudioIn()
        self._blocks: list[Int16Array] = []

    def start(self, data: dict[str, Any]) -> None:
        self._audio.start(data)

    def chunk(self, data: dict[str, Any], payload: bytes) -> None:
        self._blocks.append(self._audio.push(data, payload))
        if self._audio.samples > self._limits.max_audio_s * SAMPLE_RATE:
            raise WyomingError(f"more than {self._limits.max_audio_s:g} s of audio in one "
                               "transcribe request", code="too-long", fatal=True)

    def finish(self) -> Int16Array:
        self._blocks.append(self._audio.flush())
        samples = np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.int16)
        self._blocks = []
        return samples


class WakeRequest:
    """One client's wake-word stream with its OWN detector state (``WakeDetector.fresh()``:
    the ONNX sessions are shared with the voice loop, the few-KB streaming buffers are not).

    Hops run in a worker thread behind ``limiter`` (the server's, one hop at a time across
    clients): a hop is ~2 ms, so queueing it behind a ~1 s STT call on the shared model
    limiter would only delay detections -- the voice loop's own wake word does not wait for
    that limiter either."""

    def __init__(self, detector: Any, name: str, *, threshold: float, cooldown_s: float,
                 limiter: anyio.CapacityLimiter) -> None:
        self._detector, self.name = detector, name
        self._threshold, self._cooldown_s = threshold, cooldown_s
        self._limiter = limiter
        self._audio = AudioIn()
        self._at = 0.0  # seconds of 16 kHz audio processed
        self._last: float | None = None
        self.detected = 0
        self.best = 0.0

    @property
    def audio_s(self) -> float:
        """Seconds of (16 kHz) audio processed so far."""
        return self._at

    def start(self, data: dict[str, Any]) -> None:
        self._audio.start(data)
        self._detector.reset()

    async def chunk(self, data: dict[str, Any], payload: bytes) -> list[Event]:
        samples = self._audio.push(data, payload)
        if not len(samples):
            return []
        chunk = AudioChunk(samples, self._at)
        score = float(await anyio.to_thread.run_sync(self._detector.process, chunk,
                                                     limiter=self._limiter))
        self._at = chunk.end
        self.best = max(self.best, score)
        cooling = self._last is not None and self._at - self._last < self._cooldown_s
        if score < self._threshold or cooling:
            return []
        self._last = self._at
        self.detected += 1
        return [Detection(name=self.name, timestamp=round(self._at * 1000)).event()]

    def stop(self) -> list[Event]:
        return [] if self.detected else [NotDetected().event()]


@dataclass(frozen=True)
class SpeechOut:
    rate: int
    width: int = 2
    channels: int = 1

    def start(self) -> Event:
        return AudioStart(rate=self.rate, width=self.width, channels=self.channels).event()

    def chunks(self, samples: Int16Array, at_samples: int) -> list[Event]:
        """``samples`` cut into ``audio-chunk``s, each with rate/width/channels/timestamp."""
        return [WyChunk(rate=self.rate, width=self.width, channels=self.channels,
                        audio=samples[i:i + TTS_CHUNK_SAMPLES].astype("<i2").tobytes(),
                        timestamp=round((at_samples + i) * 1000 / self.rate)).event()
                for i in range(0, len(samples), TTS_CHUNK_SAMPLES)]

    def stop(self) -> Event:
        return AudioStop().event()


def speech_parts(text: str, limits: Limits = LIMITS) -> list[str]:
    """The text cut into sentences and long sentences into clauses (synthesised one by one,
    so the first audio leaves after the first clause, not the whole text)."""
    text = " ".join(text.split())
    if not text:
        raise WyomingError("nothing to say: the text is empty", code="input")
    if len(text) > limits.max_text_chars:
        raise WyomingError(f"the text is {len(text)} characters long; the limit is "
                           f"{limits.max_text_chars}", code="input")
    return [part for sentence in split_sentences(text) for part in clauses(sentence)]


async def synthesize(parts: list[str], out: SpeechOut,
                     run: Callable[[str], Any]) -> AsyncIterator[Event]:
    """``audio-start``, the chunks of each part as soon as it is made (``await run(part)``);
    the caller sends ``audio-stop`` (also after an error)."""
    yield out.start()
    at = 0
    for part in parts:
        samples: Int16Array = await run(part)
        for event in out.chunks(samples, at):
            yield event
        at += len(samples)
