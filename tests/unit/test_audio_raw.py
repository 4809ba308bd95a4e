"""Raw s16le from a pipe: short reads and torn samples."""

from __future__ import annotations

import io

import numpy as np

from xnai_edge.audio.raw import RawSource


class Trickle(io.RawIOBase):
    """A pipe that hands out at most ``step`` bytes per read, like a slow producer."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._at = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        piece = self._data[self._at:self._at + min(self._step, size if size > 0 else 1 << 30)]
        self._at += len(piece)
        return piece


def test_short_odd_reads_reassemble_exactly() -> None:
    x = (np.arange(5000) * 7 % 65536 - 32768).astype(np.int16)
    chunks = list(RawSource(Trickle(x.astype("<i2").tobytes(), 333), chunk_samples=1280))
    assert [len(c.samples) for c in chunks] == [1280, 1280, 1280, 1160]
    assert np.array_equal(np.concatenate([c.samples for c in chunks]), x)


def test_a_torn_last_sample_is_dropped_and_empty_input_gives_nothing() -> None:
    chunks = list(RawSource(io.BytesIO(b"\x01\x00\x02\x00\x03"), chunk_samples=4))
    assert [c.samples.tolist() for c in chunks] == [[1, 2]]
    assert list(RawSource(io.BytesIO(b""))) == []
