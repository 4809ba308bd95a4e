"""The pre-roll ring keeps exactly the last N seconds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xnai_edge.audio import SAMPLE_RATE, AudioChunk, chunked
from xnai_edge.audio.preroll import PreRoll


@given(total=st.integers(0, 40000), size=st.integers(1, 3000),
       seconds=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_keeps_exactly_the_last_seconds(total: int, size: int, seconds: float) -> None:
    data = np.arange(total, dtype=np.int64).astype(np.int16)
    ring = PreRoll(seconds)
    for chunk in chunked([data], size):
        ring.push(chunk)
    want = data[max(0, total - round(seconds * SAMPLE_RATE)):]
    assert np.array_equal(ring.samples(), want)
    held = sum(len(c.samples) for c in ring.chunks())
    assert held <= max(round(seconds * SAMPLE_RATE) + size, 0) or not ring.chunks()
    if len(want):
        assert ring.start == pytest.approx((total - len(want)) / SAMPLE_RATE)
        assert ring.seconds == pytest.approx(len(want) / SAMPLE_RATE)


def test_clear_and_empty() -> None:
    ring = PreRoll(1.0)
    assert ring.start is None and len(ring.samples()) == 0
    ring.push(AudioChunk(np.ones(1280, dtype=np.int16), 0.0))
    ring.clear()
    assert ring.chunks() == [] and ring.seconds == 0.0
    with pytest.raises(ValueError):
        PreRoll(-1)
