"""The end-of-speech segmenter, as a pure function of (seconds, is_speech) steps.

Properties (Hypothesis) against an independent reading of the same step list: an utterance
never ends before speech has started and the hangover has passed in silence (the longer one
while the utterance is short), never runs past ``max_utterance_s``, gives up after
``start_timeout_s`` without speech, and ends at the first step where one of those holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from xnai_edge.voice.segmenter import Segmenter, SegmenterSettings

EPS = 1e-9
DEFAULT = SegmenterSettings()

# Step sizes the loop really uses (80 ms chunks, 32 ms VAD windows) and odd ones.
step_seconds = st.sampled_from([0.01, 0.032, 0.05, 0.08, 0.1, 0.25])
runs = st.lists(st.tuples(st.booleans(), st.integers(min_value=1, max_value=40)),
                min_size=1, max_size=30)


@st.composite
def segmenter_settings(draw: st.DrawFn) -> SegmenterSettings:
    return SegmenterSettings(
        hangover_s=draw(st.sampled_from([0.2, 0.5, 0.8, 1.2])),
        slow_start_extra_s=draw(st.sampled_from([0.0, 0.2, 0.4])),
        slow_start_below_s=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
        min_speech_s=draw(st.sampled_from([0.01, 0.05, 0.15, 0.3])),
        start_timeout_s=draw(st.sampled_from([0.5, 2.0, 5.0])),
        max_utterance_s=draw(st.sampled_from([1.0, 3.0, 15.0])),
    )


@dataclass
class Reading:
    """The same steps read by a plain, slow reference: where the rules say the end is."""

    done_at: int | None  # index of the step at which the utterance ends
    reason: str


def reference(s: SegmenterSettings, steps: list[tuple[float, bool]]) -> Reading:
    elapsed = speech = run = start_at = 0.0
    started = False
    for i, (dt, is_speech) in enumerate(steps):
        elapsed += dt
        if not started:
            run = run + dt if is_speech else 0.0
            if run >= s.min_speech_s:
                started, start_at, speech, run = True, elapsed - run, run, 0.0
            elif elapsed >= s.start_timeout_s:
                return Reading(i, "no-speech")
            continue
        speech, run = (speech + dt, 0.0) if is_speech else (speech, run + dt)
        short = speech < s.slow_start_below_s
        if run >= s.hangover_s + (s.slow_start_extra_s if short else 0.0):
            return Reading(i, "silence")
        if elapsed - start_at >= s.max_utterance_s:
            return Reading(i, "max-length")
    return Reading(None, "")


def feed(seg: Segmenter, steps: list[tuple[float, bool]]) -> int | None:
    """Index of the first step at which ``process`` says done."""
    for i, (dt, is_speech) in enumerate(steps):
        if seg.process(dt, is_speech):
            return i
    return None


def expand(dt: float, pattern: list[tuple[bool, int]]) -> list[tuple[float, bool]]:
    return [(dt, speech) for speech, n in pattern for _ in range(n)]


@settings(max_examples=300, deadline=None)
@given(segmenter_settings(), step_seconds, runs)
def test_ends_exactly_where_the_rules_say(s: SegmenterSettings, dt: float,
                                          pattern: list[tuple[bool, int]]) -> None:
    steps = expand(dt, pattern)
    seg = Segmenter(s)
    got = feed(seg, steps)
    want = reference(s, steps)
    assert (got, seg.reason) == (want.done_at, want.reason)


@settings(max_examples=300, deadline=None)
@given(segmenter_settings(), step_seconds, runs)
def test_never_done_before_speech_and_hangover(s: SegmenterSettings, dt: float,
                                               pattern: list[tuple[bool, int]]) -> None:
    steps = expand(dt, pattern)
    seg = Segmenter(s)
    done = feed(seg, steps)
    if seg.reason != "silence":
        return
    assert done is not None and seg.started
    heard = steps[:done + 1]
    speech_steps = [i for i, (_, sp) in enumerate(heard) if sp]
    assert speech_steps, "ended on silence although nothing was said"
    trailing = sum(d for d, _ in heard[speech_steps[-1] + 1:])
    assert trailing >= s.hangover_s - EPS
    if seg.speech_s < s.slow_start_below_s:  # a short utterance waits the longer hangover
        assert trailing >= s.hangover_s + s.slow_start_extra_s - EPS
    assert seg.speech_s >= s.min_speech_s - EPS
    # ... and not a step later than needed: one step less of silence was not enough.
    short = seg.speech_s < s.slow_start_below_s
    assert trailing - dt < s.hangover_s + (s.slow_start_extra_s if short else 0.0) + EPS


@settings(max_examples=200, deadline=None)
@given(segmenter_settings(), step_seconds, runs)
def test_max_length_is_respected(s: SegmenterSettings, dt: float,
                                 pattern: list[tuple[bool, int]]) -> None:
    seg = Segmenter(s)
    for step_dt, is_speech in expand(dt, pattern) + [(dt, True)] * 2000:
        done = seg.process(step_dt, is_speech)
        if seg.started:
            # The utterance never grows past the maximum by more than the step that hit it.
            assert seg.elapsed - seg.start_at < s.max_utterance_s + dt + EPS
        if done:
            break
    assert seg.reason in ("silence", "max-length", "no-speech")
    if seg.reason == "max-length":
        assert seg.elapsed - seg.start_at >= s.max_utterance_s - EPS


@settings(max_examples=200, deadline=None)
@given(segmenter_settings(), step_seconds,
       st.lists(st.integers(min_value=0, max_value=50), max_size=20))
def test_no_speech_times_out_at_start_timeout(s: SegmenterSettings, dt: float,
                                              gaps: list[int]) -> None:
    """Silence with blips too short to count as speech: done exactly at the timeout."""
    blip = max(0, int((s.min_speech_s - EPS) / dt))  # steps of speech that stay below minimum
    if s.min_speech_s <= EPS or blip == 0:
        steps = [(dt, False)] * 1000
    else:
        steps = [step for gap in gaps for step in [(dt, False)] * max(gap, 1)
                 + [(dt, True)] * blip] + [(dt, False)] * 1000
    seg = Segmenter(s)
    done = feed(seg, steps)
    assert done is not None and seg.reason == "no-speech" and not seg.started
    assert s.start_timeout_s - EPS <= seg.elapsed < s.start_timeout_s + dt + EPS


def test_slow_start_hangover() -> None:
    """"What is ... the wake word": a pause after a short start does not end the utterance.
    Steps of 1/16 s keep the arithmetic exact."""
    s = SegmenterSettings(hangover_s=0.8, slow_start_extra_s=0.4, slow_start_below_s=1.0)
    dt = 0.0625
    seg = Segmenter(s)
    for _ in range(8):  # 0.5 s of speech: a short start
        assert not seg.process(dt, True)
    for _ in range(16):  # 1.0 s of pause: more than the hangover, less than hangover + extra
        assert not seg.process(dt, False)
    for _ in range(12):  # the rest of the question: 0.75 s more speech, 1.25 s in total
        assert not seg.process(dt, True)
    for _ in range(12):  # now long enough: 0.75 s of silence is not yet the 0.8 s hangover
        assert not seg.process(dt, False)
    assert seg.process(dt, False) and seg.reason == "silence"
    assert seg.speech_s == 1.25

    short = Segmenter(s)
    for _ in range(8):
        short.process(dt, True)
    silent = 1
    while not short.process(dt, False):
        silent += 1
    assert silent * dt == 1.25  # the first step at or past hangover + extra (1.2 s)


def test_a_click_does_not_start_speech() -> None:
    seg = Segmenter(DEFAULT)
    assert not seg.process(0.08, True)  # 80 ms < min_speech_s 150 ms
    assert not seg.process(0.08, False)
    assert not seg.started
    seg.process(0.08, True)
    seg.process(0.08, True)
    assert seg.started and abs(seg.start_at - 0.16) < EPS


def test_done_is_sticky_until_reset() -> None:
    seg = Segmenter(SegmenterSettings(start_timeout_s=0.5))
    while not seg.process(0.1, False):
        pass
    assert seg.reason == "no-speech"
    assert seg.process(0.1, True) and seg.reason == "no-speech"
    seg.reset()
    assert not seg.process(0.1, True) and seg.reason == ""
