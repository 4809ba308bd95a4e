"""Naming the definition-list entry an answer comes from, and option words as key terms."""

from __future__ import annotations

import pytest

from xnai_edge.brain.entry import asks_which, entry_term, name_entry
from xnai_edge.knowledge.text import key_terms


@pytest.mark.parametrize(("question", "expected"), [
    ("Which group can read log files?", True), ("What option keeps the files?", True),
    ("Who owns PostgreSQL databases?", True), ("What does the -t option do?", False),
    ("If an interface is allowed and denied, which option wins?", True),  # after a condition
    ("What is the default compression level?", False), ("How do I decompress?", False),
])
def test_asks_which(question: str, expected: bool) -> None:
    assert asks_which(question) is expected


@pytest.mark.parametrize(("heading", "term"), [
    ("Chapter 2. Users and Groups > adm", "adm"), ("OPTIONS > -k --keep", "-k --keep"),
    ("Users > nobody, nogroup", "nobody, nogroup"),
    ("BUGS", ""),  # a section, not an entry
    ("xnai-edge manual > Adding your documents", ""),  # a title: it has a stop word
    ("DIAGNOSTICS > file: Corrupt input. Use zcat to recover some data.", ""),  # too long
    ("", ""),
    # an option's argument syntax is not its name (mosquitto.conf(5))
    ("GENERAL OPTIONS > connection_messages [ true | false ]", "connection_messages"),
    ("LISTENERS > socket_domain [ ipv4 | ipv6 ]", "socket_domain"),
    # a Markdown section's title is no entry's term
    ("Users, Groups, UIDs and GIDs on systemd Systems > Special Linux UIDs", ""),
    # a PDF's numbered section title is no term either
    ("Shared MIME-info Database > 1. Introduction > 1.1. Version", ""),
    ("Spec > 2. Unified system > 2.4. The glob files", ""),
    ("Users, Groups, UIDs and GIDs on systemd Systems > Summary", ""),
])
def test_entry_term(heading: str, term: str) -> None:
    assert entry_term(heading) == term


def test_the_entry_is_named_only_when_asked_for_and_missing() -> None:
    heading = "Chapter 2. Users and Groups > tty"
    answer = "This is used by write and wall to write to other people's ttys."
    question = "Which group is used by write and wall to write to other people's ttys?"
    assert name_entry(question, heading, answer) == f"tty: {answer}"
    assert name_entry("What do write and wall do?", heading, answer) == answer  # not asked
    assert name_entry(question, heading, "Group tty is for ttys.") == "Group tty is for ttys."
    assert name_entry("Which group is tty?", heading, answer) == answer  # the question has it
    assert name_entry(question, "Users", answer) == answer  # no entry


def test_a_how_to_question_is_answered_with_the_option_that_does_it() -> None:
    heading = "LISTENERS > socket_domain [ ipv4 | ipv6 ]"
    answer = "Set to ipv4 to force the listener to only use IPv4."
    question = "How do I force a listener to only use IPv4?"
    assert name_entry(question, heading, answer) == f"socket_domain: {answer}"
    assert name_entry("How can we make it use IPv4 only?", heading, answer).startswith(
        "socket_domain: ")
    # An entry that is no option ("adm") answers "how" by its prose alone.
    assert name_entry("How do I read the logs?", "Groups > adm",
                      "Members of adm can read logs.") == "Members of adm can read logs."
    assert name_entry("How many listeners are there?", heading, answer) == answer


def test_option_words_are_key_terms_even_when_stop_words() -> None:
    assert key_terms("What does the -t option do?") == ["t", "option"]
    assert key_terms("Is -s like --no-name?") == ["s", "like", "no", "name"]
    assert key_terms("an e-mail -- not this") == ["e", "mail"]  # no option here
