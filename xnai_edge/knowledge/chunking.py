"""Cut a stream of text blocks into retrieval chunks, following the document's structure.

Pure and streaming: no I/O, and at any moment only the chunk being built plus the block being
read are held, so a 200 MB document goes through in constant memory.

Rules, in order of preference:

- Blocks under the same heading are packed into one chunk, joined by a newline, up to
  ``chunk_chars``; a block that does not fit starts the next chunk instead of being cut.
- A new heading always starts a new chunk (a chunk never mixes sections).
- A block longer than a chunk is cut at a sentence end, else at a space, else hard.
- Consecutive chunks of one section overlap: the next chunk starts with the last ~``overlap_chars``
  of the previous one, taken from a sentence start (the whole last sentence when it is longer,
  up to half a chunk), or a word start when the text has no sentence there.
- Whitespace inside a block is collapsed to single spaces; empty blocks are skipped; no chunk is
  empty and none is longer than ``chunk_chars``.  Ordinals count 0, 1, 2, ... over the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

# A sentence ends at . ! ? or … (maybe followed by closing quotes/brackets) and a space.
_SENTENCE_END = re.compile(r"""[.!?…]["'”’)\]]*[ \n]""")
# Where an overlap may start: after a sentence end or a block break.
_TAIL_START = re.compile(r"""[.!?…]["'”’)\]]*[ \n]|\n""")
_WORD_START = re.compile(r"[ \n]")
# Whitespace other than " \n\r\t" (what str.split() splits at), for ASCII and for all text.
_RARE_ASCII_SPACE = re.compile("[\x0b\x0c\x1c-\x1f]")
_RARE_SPACE = re.compile("[\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f"
                         "\u3000]")
_SPACES = re.compile(" {2,}")
# Words whose final full stop does not end a sentence.
_ABBREVIATIONS = frozenset({"e.g", "i.e", "mr", "mrs", "ms", "dr", "prof", "st", "vs", "cf",
                            "fig", "approx", "z.b", "bzw", "ca"})


class BlockLike(Protocol):
    """What the chunker reads: ``xnai_edge.knowledge.extract.Block`` has this shape."""

    @property
    def heading(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage: ``heading`` is the section path ("A > B"), ``text`` the body."""

    ordinal: int
    heading: str
    text: str


def normalise(text: str) -> str:
    """Collapse every run of whitespace to one space and trim the ends.

    The same as ``" ".join(text.split())``, but without making an object per word in the
    common case (only line breaks, tabs and double spaces): several times fewer allocations.
    """
    for char in "\n\r\t":
        if char in text:
            text = text.replace(char, " ")
    if (_RARE_ASCII_SPACE.search(text) if text.isascii() else _RARE_SPACE.search(text)):
        return " ".join(text.split())
    if "  " in text:
        text = _SPACES.sub(" ", text)
    return text.strip(" ")


def chunk_blocks(blocks: Iterable[BlockLike], *, chunk_chars: int,
                 overlap_chars: int) -> Iterator[Chunk]:
    """Lazily turn ``blocks`` into chunks of at most ``chunk_chars`` characters.

    ``overlap_chars`` is capped at half a chunk so that every chunk carries new text.
    """
    if chunk_chars < 1:
        raise ValueError(f"chunk_chars must be at least 1, not {chunk_chars}")
    if overlap_chars < 0:
        raise ValueError(f"overlap_chars must not be negative, not {overlap_chars}")
    packer = _Packer(chunk_chars, min(overlap_chars, chunk_chars // 2))
    raw_heading, heading = "", ""
    for block in blocks:
        text = normalise(block.text)
        if text:
            if block.heading != raw_heading:
                raw_heading, heading = block.heading, normalise(block.heading)
            yield from packer.add(heading, text)
    yield from packer.flush(carry=False)


class _Packer:
    """The chunk being built; ``fresh`` says whether it holds more than the carried overlap."""

    def __init__(self, size: int, overlap: int) -> None:
        self.size = size
        self.overlap = overlap
        self.heading: str | None = None
        self.buf = ""
        self.fresh = False
        self.ordinal = 0

    def add(self, heading: str, text: str) -> Iterator[Chunk]:
        if heading != self.heading:
            yield from self.flush(carry=False)
            self.heading = heading
        pos, end, sep = 0, len(text), "\n"
        while pos < end:
            joint = len(sep) if self.buf else 0
            room = self.size - len(self.buf) - joint
            if end - pos <= room:
                self._append(sep, text[pos:])
                return
            if not self.fresh and room < 1:  # only a carried overlap, and it leaves no room
                self.buf = ""
                continue
            cut = None
            if self.fresh:
                # Pack no further: the rest starts the next chunk, unless it could never fit in
                # one; then fill this chunk up to a sentence end, if one is in reach.
                if end - pos > self.size - self.overlap - 1:
                    cut = _sentence_cut(text, pos, pos + room, pos)
                if cut is None:
                    yield from self.flush(carry=True)
                    continue
            else:
                cut = (_sentence_cut(text, pos, pos + room, pos + room // 3)
                       or _space_cut(text, pos, pos + room))
                if cut is None and self.buf:
                    # The next word does not fit after the carried overlap: drop the overlap
                    # rather than cut a word that fits in a chunk of its own.
                    self.buf = ""
                    continue
                cut = cut or (pos + room, pos + room)
            self._append(sep, text[pos:cut[0]])
            pos, sep = cut[1], " "
            yield from self.flush(carry=True)

    def _append(self, sep: str, piece: str) -> None:
        self.buf = f"{self.buf}{sep}{piece}" if self.buf else piece
        self.fresh = True

    def flush(self, *, carry: bool) -> Iterator[Chunk]:
        """Emit the chunk if it holds new text; keep its tail as the overlap if ``carry``."""
        if self.fresh and self.heading is not None:
            yield Chunk(self.ordinal, self.heading, self.buf)
            self.ordinal += 1
        self.buf = _tail(self.buf, self.overlap) if carry and self.overlap else ""
        self.fresh = False


def _sentence_cut(text: str, pos: int, limit: int, lo: int) -> tuple[int, int] | None:
    """The last sentence end in ``text[lo:limit]``: (end of the piece, start of the rest)."""
    best = None
    for m in _SENTENCE_END.finditer(text, max(lo, pos + 1), limit + 1):
        if not _is_abbreviation(text, pos, m.start()):
            best = (m.end() - 1, m.end())
    return best


def _is_abbreviation(text: str, pos: int, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word = text[text.rfind(" ", pos, dot) + 1:dot].lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _space_cut(text: str, pos: int, limit: int) -> tuple[int, int] | None:
    """The last space in ``text[pos+1:limit+1]``: (end of the piece, start of the rest)."""
    space = text.rfind(" ", pos + 1, limit + 1)
    return (space, space + 1) if space > 0 else None


def _tail(text: str, size: int) -> str:
    """The end of ``text`` that the next chunk starts with ("" if none fits).

    Whole sentences (or blocks) in the last ``size`` characters; when the last sentence is
    longer than that, that whole sentence if it is at most half of ``text``: an overlap from a
    word start gives the next chunk a fragment ("but note that files with ... should still be
    treated as text") that is then a sentence of its own, one the answerer may read out.  Only
    text with no sentence start in its second half is carried from a word start."""
    half = len(text) // 2
    start = max(len(text) - size, half)
    m = _TAIL_START.search(text, start)
    if m is None:
        sentences = list(_TAIL_START.finditer(text, half))
        m = sentences[-1] if sentences else _WORD_START.search(text, start)
    return text[m.end():] if m else ""
