"""Raw PCM (s16le, 16 kHz, mono) from a byte stream, by default stdin: ``arecord ... | xnai-edge``.

Reads whatever the pipe delivers (short reads are normal) and re-cuts it into fixed chunks; an
odd trailing byte at end of stream (a torn sample) is dropped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from xnai_edge.audio.chunk import CHUNK_SAMPLES, AudioChunk, Int16Array, chunked
from xnai_edge.audio.error import AudioError


class Readable(Protocol):
    """A blocking byte stream: ``sys.stdin.buffer``, a pipe, a socket file, ``io.BytesIO``."""

    def read(self, size: int, /) -> bytes | None: ...


class RawSource:
    def __init__(self, stream: Readable | None = None, *,
                 chunk_samples: int = CHUNK_SAMPLES, block_bytes: int = 8192) -> None:
        self._stream = stream if stream is not None else sys.stdin.buffer
        self.chunk_samples = chunk_samples
        self._block_bytes = block_bytes

    def __iter__(self) -> Iterator[AudioChunk]:
        return chunked(self._blocks(), self.chunk_samples)

    def _blocks(self) -> Iterator[Int16Array]:
        carry = b""
        while True:
            try:
                data = self._stream.read(self._block_bytes)
            except OSError as exc:
                raise AudioError(f"reading raw audio failed: {exc.strerror or exc}") from exc
            if not data:  # b"" is end of stream (None only comes from non-blocking streams)
                return
            data = carry + data
            usable = len(data) & ~1
            carry = data[usable:]
            if usable:
                yield np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)
