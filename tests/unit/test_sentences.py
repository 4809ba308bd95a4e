"""The sentence splitter and its streaming form (tokens in, finished sentences out)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from xnai_edge.brain.sentences import (
    SentenceStream,
    passage_sentences,
    split_sentences,
    window,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("", []),
    ("   \n ", []),
    ("One sentence without a full stop", ["One sentence without a full stop"]),
    ("It boils. Then it stops!  Why? Nobody knows.",
     ["It boils.", "Then it stops!", "Why?", "Nobody knows."]),
    ("Ask Dr. Smith and Mr. Jones. They know.", ["Ask Dr. Smith and Mr. Jones.", "They know."]),
    ("Use e.g. Markdown. Or text.", ["Use e.g. Markdown.", "Or text."]),
    ("J. S. Bach wrote it. He was busy.", ["J. S. Bach wrote it.", "He was busy."]),
    ("Version 3.5 is out. 2024 was good.", ["Version 3.5 is out.", "2024 was good."]),
    ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
    # A command's name may start a sentence (the chrony FAQ: "... in the past. chronyd is not
    # portable ..."); an abbreviation or a dotted word before a small letter ends none.
    ("It ran in the past. chronyd is not portable.",
     ["It ran in the past.", "chronyd is not portable."]),
    ("Smith et al. found approx. two, i.e. three, in the U.S. today.",
     ["Smith et al. found approx. two, i.e. three, in the U.S. today."]),
    ("Edit chrony.conf. then restart", ["Edit chrony.conf. then restart"]),
    ("Line\nbreaks   collapse. Yes.", ["Line breaks collapse.", "Yes."]),
])
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_window_takes_the_neighbours() -> None:
    text = "A is one. B is two. C is three.\nD is four."
    assert window(text, "C is three.") == "B is two. C is three. D is four."
    assert window(text, "A is one.", radius=2) == "A is one. B is two. C is three."
    assert window(text, "Not there.") == "Not there."


@pytest.mark.parametrize(("text", "expected"), [
    ("", []),
    # a line break in a passage is a block break: no sentence runs across it
    ("Display the name for each file.\n-V --version\nVersion of gzip.\npostgres Postgresql "
     "databases.", ["Display the name for each file.", "-V --version", "Version of gzip.",
                    "postgres Postgresql databases."]),
    # a one-word label goes with the sentence after it on its line
    ("Test. Check the compressed file integrity then quit.\nDecompress.",
     ["Test. Check the compressed file integrity then quit.", "Decompress."]),
    ("Yes. No.", ["Yes. No."]),
    ("Quit. It boils.", ["Quit. It boils."]),
    ("It boils. Then it stops!", ["It boils.", "Then it stops!"]),
    # a line that stops mid-sentence runs on into an example line after it
    ("The data can be recovered using\nzcat file > recover\nIf you want, do:\n"
     "gzip -cd old.gz | gzip > new.gz\nReady.",
     ["The data can be recovered using zcat file > recover",
      "If you want, do: gzip -cd old.gz | gzip > new.gz", "Ready."]),
    ("Supported formats\nPlain text\nMarkdown", ["Supported formats", "Plain text", "Markdown"]),
    # "e.g." ends no sentence, at the end of a line either (mosquitto.conf(5))
    ("The dhparamfile can be generated with the command e.g.\nopenssl dhparam -out dh.pem 2048",
     ["The dhparamfile can be generated with the command e.g. openssl dhparam -out dh.pem 2048"]),
    # a PDF's bulleted item is one of its own, even after an item without a full stop
    ("The files created are:\n• <MIME>/globs (names to types) [deprecated]\n"
     "• <MIME>/globs2 (names to types and weights)",
     ["The files created are:", "• <MIME>/globs (names to types) [deprecated]",
      "• <MIME>/globs2 (names to types and weights)"]),
])
def test_passage_sentences(text: str, expected: list[str]) -> None:
    assert passage_sentences(text) == expected


def stream(pieces: list[str]) -> list[str]:
    splitter = SentenceStream()
    out: list[str] = []
    for piece in pieces:
        out.extend(splitter.feed(piece))
    return out + splitter.flush()


def test_stream_gives_a_sentence_only_when_the_next_one_has_started() -> None:
    splitter = SentenceStream()
    assert splitter.feed("The wake word is") == []
    assert splitter.feed(" Hey Jarvis.") == []  # the next token may be "com" or " It"
    assert splitter.feed(" ") == []
    assert splitter.feed("Say") == ["The wake word is Hey Jarvis."]
    assert splitter.feed(" it, then ask Dr.") == []
    assert splitter.feed(" Who.") == []  # "Dr." is no sentence end
    assert splitter.flush() == ["Say it, then ask Dr. Who."]
    assert splitter.flush() == []


# Words a tokenizer might emit, including the awkward ones: abbreviations, initials, numbers,
# quotes and brackets around full stops, and stray whitespace.
WORDS = ["the", "Boiler", "service", "is", "due", "in", "May", "Dr.", "Mr.", "e.g.", "J.",
         "3.5", "2024.", "It", "works.", "Really?", "Yes!", '"Stop."', "(see", "below.)",
         "and", "Jarvis.", "...", "ok", "A", "9"]
texts = st.lists(st.sampled_from(WORDS), min_size=0, max_size=40).map(" ".join)


def cuts(text: str) -> st.SearchStrategy[list[str]]:
    return st.lists(st.integers(0, len(text)), max_size=12).map(
        lambda points: [text[a:b] for a, b in
                        zip([0, *sorted(points)], [*sorted(points), len(text)], strict=True)])


@given(texts.flatmap(lambda t: st.tuples(st.just(t), cuts(t))))
@example(("It works. Really? Yes!", ["It works", ". R", "eally? Yes", "!"]))
@example(("Dr. Who. A", ["Dr", ". ", "Who. ", "A"]))
def test_streamed_pieces_give_the_same_sentences_as_the_whole_text(
        case: tuple[str, list[str]]) -> None:
    text, pieces = case
    assert "".join(pieces) == text
    assert stream(pieces) == split_sentences(text)


@given(st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30),
                max_size=10))
def test_stream_never_loses_or_invents_text(pieces: list[str]) -> None:
    """Whatever the pieces, the sentences hold exactly the non-space characters fed in."""
    def squeeze(s: str) -> str:
        return "".join(s.split())

    assert squeeze("".join(stream(pieces))) == squeeze("".join(pieces))
    assert all(s and s == s.strip() for s in stream(pieces))
