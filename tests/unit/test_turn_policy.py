"""The end-of-turn policy: a table of transcripts, and properties over any text and silence.

The invariant the property tests hold the policy to: no turn ever ends on less silence than
``min_silence_s``, whatever the transcript; a complete sentence never waits longer than an
incomplete one; and without a transcript the policy is the old hangover.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xnai_edge.voice.turn_policy import TurnSettings, ends_turn, looks_complete, silence_needed

DEFAULT = TurnSettings()

TABLE = [
    ("What is your wake word?", True),
    ("How do I reset the device?", True),
    ("Stop.", True),
    ("Go forward ten meters.", True),
    ("When is the boiler service due?", True),
    ("Tell me about the kettle!", True),
    ('He said "yes."', True),
    ("What is the...", False),
    ("What is the", False),
    ("What is the.", False),  # a full stop after "the" is Whisper guessing
    ("How do I", False),
    ("Can you tell me about", False),
    ("Where is my", False),
    ("what is your wake word", False),  # no punctuation: Whisper did not hear an end
    ("I want to add,", False),
    ("", False),
    ("   ", False),
    ("...", False),
    ("Um…", False),
]


@pytest.mark.parametrize(("text", "complete"), TABLE)
def test_complete_or_not(text: str, complete: bool) -> None:
    assert looks_complete(text) is complete


@pytest.mark.parametrize(("text", "speech_s", "need"), [
    ("What is your wake word?", 1.5, 0.3),
    ("What is your wake word?", 0.5, 0.3),  # complete: the slow-start extra does not apply
    ("Eight of spades.", 1.5, 0.5),  # a statement waits a little longer than a question
    ("Stop!", 0.3, 0.3),
    ("5.", 0.4, 1.2),  # one word and a full stop: "five... five" said in parts
    ("Five five.", 0.9, 0.5),
    ("What is the", 1.5, 0.8),
    ("What is the", 0.5, 1.2),  # short and incomplete: the slow speaker's extra 0.4 s
    (None, 1.5, 0.8),
    (None, 0.5, 1.2),
    ("", 2.0, 0.8),  # the gate's empty text (noise) waits the hangover
])
def test_silence_needed_table(text: str | None, speech_s: float, need: float) -> None:
    assert silence_needed(text, speech_s, DEFAULT) == pytest.approx(need)


def test_min_silence_wins_over_a_shorter_complete_silence() -> None:
    s = TurnSettings(min_silence_s=0.4, complete_silence_s=0.2)
    assert silence_needed("Stop?", 1.0, s) == pytest.approx(0.4)
    assert not ends_turn(0.32, "Stop?", 1.0, s) and ends_turn(0.4, "Stop?", 1.0, s)


texts = st.one_of(st.none(), st.text(max_size=60), st.sampled_from([t for t, _ in TABLE]))
turn_settings = st.builds(
    TurnSettings,
    min_silence_s=st.floats(0.05, 1.0), complete_silence_s=st.floats(0.0, 2.0),
    statement_silence_s=st.floats(0.0, 2.0),
    hangover_s=st.floats(0.0, 3.0), slow_start_extra_s=st.floats(0.0, 1.0),
    slow_start_below_s=st.floats(0.0, 3.0))


@settings(max_examples=500, deadline=None)
@given(texts, st.floats(0.0, 30.0), st.floats(0.0, 5.0), turn_settings)
def test_never_ends_before_the_minimum_silence(text: str | None, speech_s: float,
                                               silence_s: float, s: TurnSettings) -> None:
    if ends_turn(silence_s, text, speech_s, s):
        assert silence_s >= s.min_silence_s - 1e-9
    assert silence_needed(text, speech_s, s) >= s.min_silence_s


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.floats(0.0, 30.0), st.floats(0.0, 5.0), turn_settings)
def test_ending_is_monotonic_in_silence_and_complete_is_never_slower(
        text: str, speech_s: float, silence_s: float, s: TurnSettings) -> None:
    if ends_turn(silence_s, text, speech_s, s):
        assert ends_turn(silence_s + 0.08, text, speech_s, s)
    if max(s.complete_silence_s, s.statement_silence_s) <= s.hangover_s:
        assert silence_needed(text, speech_s, s) <= silence_needed(None, speech_s, s)
