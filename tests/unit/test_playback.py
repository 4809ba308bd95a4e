"""OutputTimeline: output advances in step with input ticks, plays queued speech in order and
stops at once (barge-in)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from xnai_edge.voice.playback import OutputTimeline

RATE = 22050


def part(n: int, value: int) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def test_ticks_add_up_to_the_input_duration_without_drift() -> None:
    """1 hour of 80 ms ticks at 22,050 Hz (1764 samples each) and at an odd rate."""
    for rate in (22050, 16000, 44100, 24000, 22051):
        timeline = OutputTimeline(rate)
        ticks = 45_000  # 3600 s / 0.08 s
        total = sum(len(timeline.tick(0.08)[0]) for _ in range(ticks))
        assert abs(total - 3600 * rate) <= 1, rate


def test_queued_speech_plays_in_order_then_silence() -> None:
    timeline = OutputTimeline(RATE)
    assert not timeline.speaking
    timeline.enqueue(part(1000, 1))
    timeline.enqueue(part(0, 9))  # an empty sentence is ignored
    timeline.enqueue(part(500, 2))
    assert timeline.speaking and timeline.pending == 1500
    out, speech = timeline.tick(1200 / RATE)
    assert speech == 1200 and out.tolist() == [1] * 1000 + [2] * 200
    out, speech = timeline.tick(1000 / RATE)
    assert speech == 300 and out.tolist() == [2] * 300 + [0] * 700
    assert not timeline.speaking and timeline.samples_played == 1500
    out, speech = timeline.tick(0.08)
    assert speech == 0 and not out.any()


def test_stop_drops_everything_not_yet_played() -> None:
    timeline = OutputTimeline(RATE)
    timeline.enqueue(part(RATE, 5))
    timeline.enqueue(part(RATE, 6))
    timeline.tick(0.5)
    assert timeline.stop() == 2 * RATE - RATE // 2
    assert not timeline.speaking and timeline.pending == 0
    out, speech = timeline.tick(0.08)  # the very next tick after a barge-in is silent
    assert speech == 0 and not out.any()
    timeline.enqueue(part(10, 7))  # the next answer plays normally
    out, speech = timeline.tick(0.08)
    assert speech == 10 and out[:10].tolist() == [7] * 10 and not out[10:].any()


def test_enqueue_copies_into_int16() -> None:
    timeline = OutputTimeline(RATE)
    source = np.array([1, 2, 3], dtype=np.int32)
    timeline.enqueue(source)  # type: ignore[arg-type]
    out, _ = timeline.tick(3 / RATE)
    assert out.dtype == np.int16 and out.tolist() == [1, 2, 3]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("say"), st.integers(min_value=0, max_value=3000)),
    st.tuples(st.just("tick"), st.sampled_from([0.01, 0.032, 0.08, 0.1, 0.2])),
    st.tuples(st.just("stop"), st.just(0))), max_size=60))
def test_output_is_what_was_queued_minus_what_was_stopped(
        ops: list[tuple[str, float]]) -> None:
    """Against a plain model: a list of samples still to play."""
    timeline = OutputTimeline(RATE)
    todo: list[int] = []
    played: list[int] = []
    ticked = 0.0
    emitted = 0
    value = 0
    for op, arg in ops:
        if op == "say":
            value = value % 30000 + 1
            timeline.enqueue(part(int(arg), value))
            todo += [value] * int(arg)
        elif op == "stop":
            assert timeline.stop() == len(todo)
            todo = []
        else:
            ticked += arg
            out, speech = timeline.tick(arg)
            emitted += len(out)
            assert speech == min(len(out), speech) and not out[speech:].any()
            want = todo[:len(out)]
            todo = todo[len(want):]
            assert out[:speech].tolist() == want and speech == len(want)
            played += want
        assert timeline.pending == len(todo) and timeline.speaking == bool(todo)
    assert timeline.samples_played == len(played)
    assert abs(emitted - ticked * RATE) < 1.0 + 1e-6
