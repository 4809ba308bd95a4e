"""Pre-roll: the last N seconds of chunks, so speech that began just before the wake word fired
(or before the VAD noticed it) is not lost.  Bounded by samples, not by chunk count."""

from __future__ import annotations

from collections import deque

import numpy as np

from xnai_edge.audio.chunk import SAMPLE_RATE, AudioChunk, Int16Array


class PreRoll:
    def __init__(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("pre-roll seconds must be >= 0")
        self.capacity = round(seconds * SAMPLE_RATE)
        self._chunks: deque[AudioChunk] = deque()
        self._held = 0

    def push(self, chunk: AudioChunk) -> None:
        """Keep ``chunk``; drop the oldest chunks while the rest still covers the capacity."""
        self._chunks.append(chunk)
        self._held += len(chunk.samples)
        while self._chunks and self._held - len(self._chunks[0].samples) >= self.capacity:
            self._held -= len(self._chunks.popleft().samples)

    def chunks(self) -> list[AudioChunk]:
        """The kept chunks, oldest first (may cover up to one chunk more than the capacity)."""
        return list(self._chunks)

    def samples(self) -> Int16Array:
        """The last ``seconds`` of audio exactly (less while not yet filled)."""
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        joined = np.concatenate([c.samples for c in self._chunks])
        return joined[len(joined) - min(len(joined), self.capacity):]

    @property
    def start(self) -> float | None:
        """Audio time of the first sample ``samples()`` returns."""
        if not self._chunks:
            return None
        return self._chunks[-1].end - min(self._held, self.capacity) / SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return min(self._held, self.capacity) / SAMPLE_RATE

    def clear(self) -> None:
        self._chunks.clear()
        self._held = 0
