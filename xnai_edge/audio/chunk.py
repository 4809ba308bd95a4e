"""``AudioChunk`` (16 kHz mono int16 + start time) and the one converter into that format.

Conversion happens once, where audio enters: PCM bytes of any sample width (8-bit unsigned,
16/24/32-bit signed little-endian, or 32/64-bit IEEE float) and channel count are decoded,
mixed down to mono and resampled with soxr.  ``Converter`` keeps soxr's state between blocks, so
a file streamed in pieces resamples exactly like the whole file at once (no clicks at block
edges); ``convert`` is the one-shot form.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xnai_edge.audio.error import AudioError

SAMPLE_RATE = 16000
"""The one internal rate: wake word, VAD and STT all want 16 kHz."""
CHUNK_SAMPLES = 1280
"""80 ms at 16 kHz: openWakeWord's hop, and the default chunk of every source."""

Int16Array = npt.NDArray[np.int16]


@dataclass(frozen=True)
class AudioChunk:
    """A piece of 16 kHz mono int16 audio; ``start`` is in audio seconds since the source began."""

    samples: Int16Array
    start: float

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def end(self) -> float:
        return self.start + self.duration


def _decode(data: bytes, sampwidth: int, float_format: bool) -> npt.NDArray[np.float32]:
    """Interleaved little-endian PCM bytes -> float32 in [-1, 1]."""
    if float_format:
        if sampwidth not in (4, 8):
            raise AudioError(f"unsupported float sample width: {sampwidth * 8} bits")
        dtype = "<f4" if sampwidth == 4 else "<f8"
        floats: npt.NDArray[np.float32] = np.clip(np.frombuffer(data, dtype=dtype), -1.0,
                                                  1.0).astype(np.float32)
        return floats
    if sampwidth == 1:
        return (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if sampwidth == 2:
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if sampwidth == 3:
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        return ints.astype(np.float32) / float(1 << 23)
    if sampwidth == 4:
        return (np.frombuffer(data, dtype="<i4").astype(np.float64) / 2.0**31).astype(np.float32)
    raise AudioError(f"unsupported sample width: {sampwidth * 8} bits (8, 16, 24, 32 work)")


def _to_int16(x: npt.NDArray[np.float32]) -> Int16Array:
    out: Int16Array = np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)
    return out


class Converter:
    """Stateful PCM -> 16 kHz mono int16, fed block by block (``push``), ended with ``flush``."""

    def __init__(self, rate: int, channels: int, sampwidth: int, *,
                 float_format: bool = False, out_rate: int = SAMPLE_RATE) -> None:
        if rate <= 0 or channels <= 0:
            raise AudioError(f"bad audio format: {rate} Hz, {channels} channel(s)")
        self.rate, self.channels, self.sampwidth = rate, channels, sampwidth
        self.float_format = float_format
        self.out_rate = out_rate
        self._frame_bytes = channels * sampwidth
        self._pending = b""
        self._stream = None
        if rate != out_rate:
            import soxr

            self._stream = soxr.ResampleStream(rate, out_rate, 1, dtype="float32",
                                               quality="HQ")

    def push(self, data: bytes | npt.NDArray[np.generic]) -> Int16Array:
        """Convert the next block; a partial frame at its end waits for the next block."""
        if isinstance(data, np.ndarray):
            return self._mono(self._from_array(data), last=False)
        data = self._pending + bytes(data)
        usable = len(data) - len(data) % self._frame_bytes
        self._pending = data[usable:]
        return self._mono(_decode(data[:usable], self.sampwidth, self.float_format), last=False)

    def flush(self) -> Int16Array:
        """The samples soxr still holds (call once, at the end of the stream)."""
        self._pending = b""
        return self._mono(np.zeros(0, dtype=np.float32), last=True)

    def _from_array(self, data: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
        if data.dtype == np.int16:
            return data.astype(np.float32).reshape(-1) / 32768.0
        if np.issubdtype(data.dtype, np.floating):
            return np.clip(data.astype(np.float32).reshape(-1), -1.0, 1.0)
        raise AudioError(f"cannot convert a {data.dtype} array: give int16 or float samples "
                         "(or the raw PCM bytes)")

    def _mono(self, x: npt.NDArray[np.float32], *, last: bool) -> Int16Array:
        if self.channels > 1:
            x = x[: len(x) - len(x) % self.channels].reshape(-1, self.channels).mean(axis=1)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._stream is not None:
            x = self._stream.resample_chunk(x, last=last)
        return _to_int16(x)


def convert(samples: bytes | npt.NDArray[np.generic], rate: int, channels: int = 1,
            sampwidth: int = 2, *, float_format: bool = False,
            out_rate: int = SAMPLE_RATE) -> Int16Array:
    """PCM bytes (or an int16/float array, interleaved) -> mono int16 at ``out_rate``."""
    conv = Converter(rate, channels, sampwidth, float_format=float_format, out_rate=out_rate)
    head = conv.push(samples)
    tail = conv.flush()
    return np.concatenate([head, tail]) if len(tail) else head


def chunked(blocks: Iterable[Int16Array], chunk_samples: int = CHUNK_SAMPLES,
            start: float = 0.0) -> Iterator[AudioChunk]:
    """Re-cut 16 kHz int16 blocks of any size into ``chunk_samples`` chunks (the last may be
    shorter), stamping each with its start time.  Holds at most one chunk plus one block."""
    pending: list[Int16Array] = []
    held = 0
    emitted = 0
    for block in blocks:
        if not len(block):
            continue
        pending.append(block)
        held += len(block)
        if held < chunk_samples:
            continue
        joined = np.concatenate(pending)
        cut = len(joined) - len(joined) % chunk_samples
        for i in range(0, cut, chunk_samples):
            yield AudioChunk(joined[i:i + chunk_samples], start + emitted / SAMPLE_RATE)
            emitted += chunk_samples
        rest = joined[cut:]
        pending, held = ([rest], len(rest)) if len(rest) else ([], 0)
    if held:
        yield AudioChunk(np.concatenate(pending), start + emitted / SAMPLE_RATE)
