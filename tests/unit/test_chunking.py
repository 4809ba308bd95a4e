"""The chunker: exact examples, then properties (Hypothesis) over arbitrary block streams."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xnai_edge.knowledge.chunking import Chunk, chunk_blocks, normalise
from xnai_edge.knowledge.extract import Block


def chunks(blocks: list[Block], size: int = 100, overlap: int = 0) -> list[Chunk]:
    return list(chunk_blocks(blocks, chunk_chars=size, overlap_chars=overlap))


def sections(blocks: list[Block]) -> list[tuple[str, list[str]]]:
    """Runs of consecutive non-empty blocks with the same heading: (heading, normalised texts)."""
    kept = [(normalise(b.heading), normalise(b.text)) for b in blocks if normalise(b.text)]
    return [(h, [t for _, t in run]) for h, run in itertools.groupby(kept, key=lambda x: x[0])]


def chunk_sections(result: list[Chunk]) -> list[tuple[str, list[str]]]:
    return [(h, [c.text for c in run]) for h, run in itertools.groupby(result,
                                                                       key=lambda c: c.heading)]


# --- examples ------------------------------------------------------------------------------------

def test_blocks_of_a_section_are_packed_and_a_heading_starts_a_new_chunk() -> None:
    result = chunks([Block("A", "One."), Block("A", "Two  words.\n"), Block("A > B", "Three."),
                     Block("A > B", "   "), Block("", "Four.")])
    assert result == [Chunk(0, "A", "One.\nTwo words."), Chunk(1, "A > B", "Three."),
                      Chunk(2, "", "Four.")]


def test_a_block_that_does_not_fit_starts_the_next_chunk_whole() -> None:
    first, second = "a" * 30 + " end.", "b" * 30 + " end."
    assert [c.text for c in chunks([Block("", first), Block("", second)], size=50)] == [
        first, second]


def test_a_long_block_is_split_at_sentence_ends() -> None:
    text = "The kettle boils. It switches off itself. Descale it monthly. Rinse it twice."
    assert [c.text for c in chunks([Block("", text)], size=45)] == [
        "The kettle boils. It switches off itself.", "Descale it monthly. Rinse it twice."]


def test_abbreviations_and_initials_do_not_end_sentences() -> None:
    text = "Ask Dr. Smith e.g. about J. Doe today. Then go home and rest now."
    assert [c.text for c in chunks([Block("", text)], size=45)] == [
        "Ask Dr. Smith e.g. about J. Doe today.", "Then go home and rest now."]


def test_without_sentence_ends_a_block_is_split_at_spaces_then_hard() -> None:
    words = " ".join(["word"] * 30)
    assert all(len(c.text) <= 22 and c.text.split() == ["word"] * len(c.text.split())
               for c in chunks([Block("", words)], size=22))
    assert [c.text for c in chunks([Block("", "x" * 25)], size=10)] == [
        "x" * 10, "x" * 10, "x" * 5]


def test_overlap_starts_at_a_sentence_if_one_is_in_reach_else_at_a_word() -> None:
    text = ("Alpha beta gamma delta epsilon. Zeta eta theta. Iota kappa lambda mu nu xi omicron. "
            "Pi rho sigma tau.")
    result = chunks([Block("S", text)], size=60, overlap=20)
    assert [c.text for c in result] == [
        "Alpha beta gamma delta epsilon. Zeta eta theta.",
        "Zeta eta theta. Iota kappa lambda mu nu xi omicron.",  # the whole last sentence
        "mu nu xi omicron. Pi rho sigma tau."]  # that sentence is too long: from a word


def test_an_overlap_never_starts_a_chunk_with_a_piece_of_a_sentence() -> None:
    """A last sentence longer than the overlap is carried whole (up to half a chunk): from a
    word start it would be a fragment that the answerer could read out (a PDF's "but note that
    files with high-bit-set characters should still be treated as text ...")."""
    text = ("A first sentence that is long enough to matter here, surely. Checking the first "
            "bytes is good, but others count. Then more words follow here.")
    result = chunks([Block("S", text)], size=120, overlap=20)
    assert [c.text for c in result] == [
        "A first sentence that is long enough to matter here, surely. Checking the first bytes is "
        "good, but others count.",
        "Checking the first bytes is good, but others count. "
        "Then more words follow here."]


def test_overlap_without_a_sentence_start_begins_at_a_word() -> None:
    text = " ".join(f"w{i}" for i in range(40))
    result = chunks([Block("", text)], size=30, overlap=10)
    for before, after in itertools.pairwise(result):
        head = after.text.split()[0]
        assert head in before.text.split()  # starts with a whole word of the previous chunk
        assert after.text.split()[0] != before.text.split()[0]


def test_overlap_never_crosses_a_heading_and_is_capped_at_half_a_chunk() -> None:
    result = chunks([Block("A", "Alpha beta. Gamma delta."), Block("B", "Epsilon zeta.")],
                    size=14, overlap=1000)
    assert all(len(c.text) <= 14 for c in result)
    assert [c.heading for c in result][-1] == "B" and result[-1].text == "Epsilon zeta."


def test_rejects_nonsense_sizes() -> None:
    with pytest.raises(ValueError, match="chunk_chars"):
        chunks([Block("", "x")], size=0)
    with pytest.raises(ValueError, match="overlap_chars"):
        chunks([Block("", "x")], overlap=-1)


def test_streaming_takes_only_what_it_needs() -> None:
    """An endless stream of blocks gives its first chunks at once."""
    def endless() -> Iterator[Block]:
        for i in itertools.count():
            yield Block(f"Section {i // 3}", f"Paragraph {i} has some words in it.")
    first = list(itertools.islice(chunk_blocks(endless(), chunk_chars=80, overlap_chars=20), 5))
    assert [c.ordinal for c in first] == [0, 1, 2, 3, 4]
    assert [c.heading for c in first] == ["Section 0", "Section 0", "Section 1", "Section 1",
                                          "Section 2"]
    # The last sentence is longer than the overlap: it is carried whole, not from a word.
    assert first[1].text == "Paragraph 1 has some words in it.\nParagraph 2 has some words in it."


def test_normalise_equals_split_join_for_every_kind_of_space() -> None:
    spaces = [c for c in map(chr, range(0x3001)) if c.isspace()]
    for space in spaces:
        for text in (f"a{space}b", f"{space}a{space}{space}b{space}", f"é{space} x",
                     f"日{space}\n  本"):
            assert normalise(text) == " ".join(text.split()), repr(text)


# --- properties ----------------------------------------------------------------------------------

WORD = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzÄéß日本", min_size=1, max_size=12),
    st.sampled_from(["end.", "Dr.", "e.g.", "Why?", "Yes!", "“quoted.”", "(aside.)", "…", "x."]),
)
SPACE = st.sampled_from([" ", " ", " ", "  ", "\n", "\t", "\r\n", "\u00a0", "\u2003"])


@st.composite
def block_text(draw: st.DrawFn, long_words: bool) -> str:
    words = draw(st.lists(WORD, max_size=60))
    if long_words and draw(st.booleans()):
        words.insert(draw(st.integers(0, len(words))), "L" * draw(st.integers(50, 400)))
    return "".join(w + draw(SPACE) for w in words) if draw(st.booleans()) else " ".join(words)


def block_lists(long_words: bool = False) -> st.SearchStrategy[list[Block]]:
    return st.lists(st.builds(Block, st.sampled_from(["", "A", "A > B", "C"]),
                              block_text(long_words)), max_size=25)


SIZES = st.integers(min_value=20, max_value=400)


@settings(max_examples=300, deadline=None)
@given(block_lists(long_words=True), SIZES, st.integers(0, 300))
def test_chunks_are_nonempty_bounded_normalised_and_numbered(blocks: list[Block], size: int,
                                                             overlap: int) -> None:
    result = chunks(blocks, size, overlap)
    assert [c.ordinal for c in result] == list(range(len(result)))
    for c in result:
        assert c.text.strip() and len(c.text) <= size
        assert c.text == c.text.strip() and not re.search(r"\s\s|[^\S \n]", c.text)
    assert [h for h, _ in chunk_sections(result)] == [h for h, _ in sections(blocks)]


@settings(max_examples=300, deadline=None)
@given(block_lists(long_words=True), SIZES)
def test_without_overlap_chunks_are_exactly_the_sections_cut(blocks: list[Block],
                                                             size: int) -> None:
    """Overlap 0: each section's chunks, put back together, are its normalised text."""
    result = chunks(blocks, size, 0)
    for (heading, texts), (c_heading, c_texts) in zip(sections(blocks), chunk_sections(result),
                                                      strict=True):
        assert heading == c_heading
        # Nothing lost, added or reordered (hard cuts inside a long word join back with "").
        assert "".join("".join(c_texts).split()) == "".join("".join(texts).split())
        long_word = any(len(w) > size for t in texts for w in t.split())
        if not long_word:  # and no word was cut: the words are exactly the section's words
            assert " ".join(c_texts).split() == " ".join(texts).split()


@settings(max_examples=300, deadline=None)
@given(block_lists(), SIZES, st.integers(1, 300))
def test_with_overlap_every_word_appears_in_order(blocks: list[Block], size: int,
                                                  overlap: int) -> None:
    result = chunks(blocks, size, overlap)
    for (_, texts), (_, c_texts) in zip(sections(blocks), chunk_sections(result), strict=True):
        words = iter(" ".join(c_texts).split())
        assert all(w in words for w in " ".join(texts).split())  # a subsequence, in order


@settings(max_examples=100, deadline=None)
@given(block_lists(long_words=True), SIZES, st.integers(0, 300))
def test_deterministic_and_lazy_input_gives_the_same(blocks: list[Block], size: int,
                                                     overlap: int) -> None:
    assert chunks(blocks, size, overlap) == chunks(blocks, size, overlap)
    assert list(chunk_blocks(iter(blocks), chunk_chars=size, overlap_chars=overlap)) == chunks(
        blocks, size, overlap)


def test_a_word_that_fits_a_chunk_is_never_cut_to_keep_an_overlap() -> None:
    """Found by Hypothesis: the overlap "a a aaaa" left 11 characters for a 12-character word,
    which was cut in two; now the overlap is dropped instead."""
    chunks = list(chunk_blocks([Block("", "aaaaaaaa a a aaaa aaaaaaaaaaaa")], chunk_chars=20,
                               overlap_chars=9))
    assert "aaaaaaaaaaaa" in " ".join(c.text for c in chunks).split()
