"""The utterance buffer (pre-roll, honest speech end), local agreement and the speech parts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xnai_edge.audio.chunk import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk
from xnai_edge.voice.incremental import agreed_prefix
from xnai_edge.voice.speaking import FIRST_WORDS_MAX, REST_WORDS_MIN, first_cut, speech_parts
from xnai_edge.voice.utterance import WINDOW_S, Utterance, UtteranceSettings

CHUNK_S = CHUNK_SAMPLES / SAMPLE_RATE


def feed_windows(u: Utterance, flags: list[bool], origin: float = 0.0) -> None:
    """Feed 80 ms chunks whose VAD windows (32 ms) follow ``flags``, as the stream cuts them."""
    windows_done = 0
    n_chunks = int(np.ceil(len(flags) * WINDOW_S / CHUNK_S))
    for i in range(n_chunks):
        end = origin + (i + 1) * CHUNK_S
        completed = int((end - origin) / WINDOW_S + 1e-9)
        probs = np.array([0.9 if flags[k] else 0.1 for k in range(windows_done,
                                                               min(completed, len(flags)))],
                         dtype=np.float32)
        windows_done = completed
        chunk = AudioChunk(np.full(CHUNK_SAMPLES, i, dtype=np.int16), origin + i * CHUNK_S)
        u.feed(chunk, probs)


def test_speech_end_is_the_last_speech_window_not_the_chunk() -> None:
    u = Utterance(UtteranceSettings(), origin=2.0)
    flags = [False] * 10 + [True] * 30 + [False] * 20  # speech from 0.32 s to 1.28 s
    feed_windows(u, flags, origin=2.0)
    assert u.started
    assert u.speech_end == pytest.approx(2.0 + 40 * WINDOW_S)
    assert u.silence_s == pytest.approx(u.now - u.speech_end)
    assert u.reason == ""


def test_preroll_keeps_audio_before_the_onset_and_drops_the_rest() -> None:
    u = Utterance(UtteranceSettings(preroll_s=0.3), origin=0.0)
    flags = [False] * 60 + [True] * 20
    feed_windows(u, flags)
    assert u.started and u.onset == pytest.approx(60 * WINDOW_S, abs=CHUNK_S)
    first = u.chunks[0]
    assert first.end >= u.onset - 0.3
    assert first.start < u.onset - 0.3 + CHUNK_S  # nothing more than the pre-roll kept
    assert len(u.audio()) == sum(len(c.samples) for c in u.chunks)


def test_no_speech_times_out() -> None:
    from xnai_edge.voice.segmenter import SegmenterSettings

    u = Utterance(UtteranceSettings(segmenter=SegmenterSettings(start_timeout_s=0.5)), 0.0)
    feed_windows(u, [False] * 40)
    assert not u.started and u.reason == "no-speech" and u.silence_s == 0.0


@pytest.mark.parametrize(("a", "b", "stable"), [
    ("What is your", "What is your wake word?", "What is your"),
    ("what is, your", "What is your wake", "What is your"),
    ("How do I reset", "How do you reset the", "How do"),
    ("", "Anything", ""),
    ("Go forward ten meters.", "Go forward ten meters.", "Go forward ten meters."),
])
def test_local_agreement(a: str, b: str, stable: str) -> None:
    assert agreed_prefix(a, b) == stable


@given(st.lists(st.sampled_from(["what", "is", "the", "Time,", "time"]), max_size=8),
       st.lists(st.sampled_from(["what", "is", "the", "Time,", "time"]), max_size=8))
def test_agreed_prefix_is_a_prefix_of_both(a: list[str], b: list[str]) -> None:
    got = agreed_prefix(" ".join(a), " ".join(b)).split()
    assert got == b[:len(got)] and len(got) <= len(a)


def test_first_part_of_an_answer_is_short() -> None:
    sentence = ("Press and hold the button on the back for ten seconds, until the light "
                "turns red, then let go.")
    first = speech_parts(sentence, first=True)
    later = speech_parts(sentence, first=False)
    assert " ".join(first) == " ".join(later) == sentence
    assert first[0] == "Press and hold the button"  # not before "and": too soon
    assert speech_parts("My wake word is Hey Jarvis.", first=True) == [
        "My wake word is Hey Jarvis."]
    assert speech_parts("Remove a document with xnai-edge kb remove PATH.", first=True) == [
        "Remove a document", "with xnai-edge kb remove PATH."]
    assert speech_parts("To mute the microphone, turn on the Mute switch.", first=True)[0] \
        == "To mute the microphone,"
    assert speech_parts("Documents are indexed twice as fast since version two.",
                        first=True) == ["Documents are indexed twice as fast since version two."]


@given(st.lists(st.sampled_from(["a", "and", "with", "b,", "cat", "on", "x;"]), max_size=14))
def test_the_first_cut_keeps_every_word_in_order(words: list[str]) -> None:
    clause = " ".join(words)
    cut = first_cut(clause)
    assert 0 <= cut <= len(words)
    if cut < len(words):  # a real cut: a short head, a tail long enough to say
        assert len(words) > FIRST_WORDS_MAX and len(words) - cut >= REST_WORDS_MIN
    parts = speech_parts(clause, first=True)
    assert " ".join(parts).split() == " ".join(speech_parts(clause, first=False)).split()
