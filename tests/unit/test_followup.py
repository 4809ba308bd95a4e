"""Follow-up questions borrow the previous question's topic words (pure)."""

from __future__ import annotations

import pytest

from xnai_edge.brain.followup import carried_terms, is_follow_up, needs_context, rewrite

PREVIOUS = ("How do I add documents?", "Add them with xnai-edge ingest PATH.")


@pytest.mark.parametrize(("question", "follow"), [
    ("and how do I remove one?", True),
    ("What about PDFs?", True),
    ("How do I delete it?", True),
    ("remove?", True),
    ("How do I mute the microphone?", False),
    ("Where are the models stored?", False),
])
def test_is_follow_up(question: str, follow: bool) -> None:
    assert is_follow_up(question) is follow


def test_the_previous_topic_is_carried_only_into_follow_ups() -> None:
    assert carried_terms("and how do I remove one?", PREVIOUS) == "add documents"
    assert rewrite("and how do I remove one?", "add documents") == \
        "and how do I remove one? add documents"
    assert carried_terms("Where are the models stored?", PREVIOUS) == ""
    assert carried_terms("and how do I remove one?", None) == ""
    assert rewrite("Where?", "") == "Where?"


def test_a_continuation_without_its_conversation_needs_context() -> None:
    assert needs_context("And how do I remove them?")
    assert not needs_context("And how do I remove a document?")  # says what it is about
    assert not needs_context("How do I reset it?")  # not worded as a continuation
