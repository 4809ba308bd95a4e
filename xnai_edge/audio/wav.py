"""WAV in (streamed, any PCM format -> 16 kHz mono int16 chunks) and WAV out (int16, any rate).

The RIFF header is parsed here rather than by the ``wave`` module, which in Python 3.11 refuses
WAVE_FORMAT_EXTENSIBLE (what most tools write for 24-bit and multi-channel files) and float
data.  Reading is in fixed-size blocks, so memory stays bounded for an hour-long recording.
A data chunk whose size is 0, 0xFFFFFFFF or past the end of the file (left by a recorder that
was killed) is read up to the end of the file.
"""

from __future__ import annotations

import struct
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

from xnai_edge.audio.chunk import (
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    AudioChunk,
    Converter,
    Int16Array,
    chunked,
)
from xnai_edge.audio.error import AudioError

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_KNOWN_CODECS = {0x0002: "MS ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM",
                 0x0031: "GSM 6.10", 0x0050: "MPEG", 0x0055: "MP3"}
_FIX = "convert it with e.g. `ffmpeg -i IN -acodec pcm_s16le -ar 16000 -ac 1 OUT.wav`"


@dataclass(frozen=True)
class WavInfo:
    rate: int
    channels: int
    sampwidth: int
    """Bytes per sample of one channel (the container width: 24-bit is 3)."""
    float_format: bool
    data_offset: int
    data_bytes: int

    @property
    def frames(self) -> int:
        return self.data_bytes // (self.channels * self.sampwidth)

    @property
    def duration(self) -> float:
        return self.frames / self.rate


def read_header(path: Path) -> WavInfo:
    """Parse and check the RIFF/WAVE header; every problem is an ``AudioError`` naming the file."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            return _parse(f, size, path)
    except OSError as exc:
        raise AudioError(f"{path}: cannot read audio file: {exc.strerror or exc}") from exc


def _parse(f: BinaryIO, size: int, path: Path) -> WavInfo:
    read, seek = f.read, f.seek
    if size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes), not a WAV recording")
    head = read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        kind = "RF64 (over 4 GB) is not supported" if head[:4] == b"RF64" else \
            "no RIFF/WAVE header"
        raise AudioError(f"{path}: not a WAV file ({kind}); {_FIX}")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= size:
        seek(pos)
        cid, csize = struct.unpack("<4sI", read(8))
        body = pos + 8
        if cid == b"fmt ":
            fmt = _fmt(read(min(csize, 40)), path)
        elif cid == b"data":
            if fmt is None:
                raise AudioError(f"{path}: corrupt WAV: data chunk before the fmt chunk")
            avail = size - body
            nbytes = avail if csize in (0, 0xFFFFFFFF) or csize > avail else csize
            code, channels, rate, width = fmt
            info = WavInfo(rate, channels, width, code == _FLOAT, body, nbytes)
            if info.frames == 0:
                raise AudioError(f"{path}: the WAV file holds no audio (empty data chunk)")
            return info
        pos = body + csize + (csize & 1)
    what = "fmt" if fmt is None else "data"
    raise AudioError(f"{path}: corrupt or truncated WAV: no {what} chunk; {_FIX}")


def _fmt(body: bytes, path: Path) -> tuple[int, int, int, int]:
    if len(body) < 16:
        raise AudioError(f"{path}: corrupt WAV: fmt chunk of {len(body)} bytes")
    code, channels, rate, _, align, bits = struct.unpack("<HHIIHH", body[:16])
    if code == _EXTENSIBLE and len(body) >= 26:
        code = struct.unpack("<H", body[24:26])[0]
    if code not in (_PCM, _FLOAT):
        name = _KNOWN_CODECS.get(code, f"format 0x{code:04x}")
        raise AudioError(f"{path}: WAV data is {name}, not PCM; {_FIX}")
    if channels == 0 or rate == 0 or align == 0 or align % channels:
        raise AudioError(f"{path}: corrupt WAV header ({channels} channels, {rate} Hz, "
                         f"block align {align})")
    width = align // channels
    if (code == _PCM and width not in (1, 2, 3, 4)) or (code == _FLOAT and width not in (4, 8)):
        raise AudioError(f"{path}: unsupported WAV sample size ({bits} bits in {width} bytes); "
                         f"{_FIX}")
    return code, channels, rate, width


class WavSource:
    """Streams a WAV file as 16 kHz mono int16 ``AudioChunk``s of ``chunk_samples`` (the last may
    be shorter).  The header is checked at construction, so a bad file fails early."""

    def __init__(self, path: Path | str, *, chunk_samples: int = CHUNK_SAMPLES,
                 block_frames: int = 16384) -> None:
        self.path = Path(path)
        self.info = read_header(self.path)
        self.chunk_samples = chunk_samples
        self._block_bytes = block_frames * self.info.channels * self.info.sampwidth

    @property
    def duration(self) -> float:
        return self.info.duration

    def __iter__(self) -> Iterator[AudioChunk]:
        return chunked(self._blocks(), self.chunk_samples)

    def _blocks(self) -> Iterator[Int16Array]:
        info = self.info
        conv = Converter(info.rate, info.channels, info.sampwidth,
                         float_format=info.float_format)
        try:
            with self.path.open("rb") as f:
                f.seek(info.data_offset)
                left = info.data_bytes
                while left > 0:
                    block = f.read(min(self._block_bytes, left))
                    if not block:
                        break
                    left -= len(block)
                    yield conv.push(block)
        except OSError as exc:
            raise AudioError(f"{self.path}: read failed: {exc.strerror or exc}") from exc
        yield conv.flush()


def read_wav(path: Path | str) -> Int16Array:
    """A whole (short) WAV file as 16 kHz mono int16; long files want ``WavSource``."""
    chunks = [c.samples for c in WavSource(path, chunk_samples=SAMPLE_RATE * 10)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


class WavSink:
    """Writes mono int16 samples at ``rate`` to a WAV file; use as a context manager."""

    def __init__(self, path: Path | str, rate: int = SAMPLE_RATE) -> None:
        self.path = Path(path)
        self.rate = rate
        try:
            self._wav = wave.open(str(self.path), "wb")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise AudioError(f"{self.path}: cannot write: {exc.strerror or exc}") from exc
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)

    def write(self, samples: Int16Array | AudioChunk) -> None:
        data = samples.samples if isinstance(samples, AudioChunk) else samples
        try:
            self._wav.writeframesraw(np.asarray(data, dtype="<i2").tobytes())
        except OSError as exc:
            raise AudioError(f"{self.path}: write failed: {exc.strerror or exc}") from exc

    def close(self) -> None:
        self._wav.close()

    def __enter__(self) -> WavSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
