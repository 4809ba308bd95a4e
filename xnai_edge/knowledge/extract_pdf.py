"""PDF: the title, and the text as paragraphs under their section headings.

Pages are extracted one at a time while the blocks are iterated, so the open file handle travels
with the block iterator and is closed when it ends.  The first page with text is read up front:
that is how a scan without a text layer, a password or a damaged file is refused at once, and
where a title comes from when the metadata has none worth using.  pypdf's text often has no
blank line between paragraphs, so a gap between baselines clearly wider than the page's line
spacing also starts a new one.

A PDF has no markup, but its headings are set larger than its text: a short paragraph whose
every line is at least ``HEADING_SIZE`` times the page's body text size is a heading, and a
larger one is a higher level ("Shared MIME-info Database > 2. Unified system > 2.1. Directory
layout").  Text before any heading is headed "page N".  A running head or foot (a paragraph
that opens or closes the page as it did the page before, numbers aside), a bare page number
and a table of contents' lines are left out: repeating what is said elsewhere, they would be
read out as answers.
``pypdf`` is imported only when a PDF is met.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xnai_edge.errors import IngestError
from xnai_edge.knowledge.chunking import normalise
from xnai_edge.knowledge.extract_base import Block, ExtractedDocument, nice_stem, reading


def pdf_document(path: Path) -> ExtractedDocument:
    """A PDF: titled by its metadata, else its first line of text, else its file name."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    # pypdf logs what it works around ("EOF marker not found", ...) to stderr through logging's
    # last-resort handler; the outcome is ours to report, as one line.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    with reading(path):
        fh = path.open("rb")
    try:
        reader = PdfReader(fh)
        if reader.is_encrypted:
            try:
                opened = bool(reader.decrypt(""))
            except DependencyError:  # AES needs the 'cryptography' package
                opened = False
            if not opened:
                raise IngestError(f"{path}: PDF is password-protected; remove the password "
                                  "(e.g. qpdf --decrypt) and ingest it again")
        pages = reader.pages
        for first in range(len(pages)):
            paras = _pdf_paragraphs(pages[first])
            if paras:
                break
        else:
            raise IngestError(f"{path}: PDF has no text layer (a scan?); run OCR on it (e.g. "
                              "ocrmypdf) and ingest the result")
        title = _pdf_title(reader) or _first_line(paras[0].text) or nice_stem(path)
    except IngestError:
        fh.close()
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files
        fh.close()
        raise IngestError(f"{path}: PDF is damaged or unreadable ({_one_line(exc)}); re-export "
                          "or repair it (e.g. qpdf) and ingest it again") from exc
    return ExtractedDocument(path, "pdf", title,
                             _pdf_blocks(path, fh, pages, first, paras, title))


HEADING_SIZE = 1.2
"""A heading's letters are at least this many times the height of the page's body text (the
Shared MIME-info spec: body 10 pt, headings 14.3, 17.2 and 24.8 pt)."""
HEADING_CHARS = 150
"""Longer than this, large text is a paragraph set large, not a heading."""

_PAGE_NUMBER = re.compile(r"^\W*(?:[Pp]age\s+)?(?:\d+|(?=[ivx])x{0,3}(?:ix|iv|v?i{0,3}))"
                          r"(?:\s*(?:of|/)\s*\d+)?\W*$")
"""A page number: "7", "- 7 -", "Page 7 of 20", "iv" (not "ill" or "civil")."""
_CONTENTS_LINE = re.compile(r"(?:\s?\.){4,}\s*(?:\d+|[ivx]+)\s*$")
"""A table of contents' line: "2.1 ASN.1 syntax . . . . . . 2", "Index.......32" -- it repeats
the headings of the sections that follow, which would be read out instead of them."""


@dataclass(frozen=True)
class _Paragraph:
    text: str
    heading: bool
    size: float
    """Height of its smallest letters."""


class _Sections:
    """The stack of headings above the text being read; a heading pops those of its own
    size or smaller.  A heading with no text under it before the next one of its size or
    larger (a title page's author line) is kept as text instead."""

    def __init__(self) -> None:
        self._stack: list[tuple[float, str, bool]] = []  # (size, text, has text under it)

    def path(self, page: int) -> str:
        return " > ".join(t for _, t, _ in self._stack) or f"page {page}"

    def heading(self, paragraph: _Paragraph, page: int) -> Iterator[Block]:
        while self._stack and self._stack[-1][0] <= paragraph.size + 0.5:
            _, text, used = self._stack.pop()
            if not used:
                yield Block(self.path(page), text)
        if paragraph.text:
            self._stack.append((paragraph.size, paragraph.text, False))

    def text(self, paragraph: _Paragraph, page: int) -> Block:
        self._stack = [(size, text, True) for size, text, _ in self._stack]
        return Block(self.path(page), paragraph.text)


def _pdf_blocks(path: Path, fh: Any, pages: Any, first: int,
                paras: list[_Paragraph], title: str) -> Iterator[Block]:
    """The blocks under their headings; the title set as a heading is none (every passage
    of the document carries the title already)."""
    sections = _Sections()
    edges: tuple[str, str] = ("", "")  # the previous page's first and last paragraph
    yielded = False
    try:
        for number in range(first, len(pages)):
            if number > first:
                try:
                    paras = _pdf_paragraphs(pages[number])
                except Exception as exc:  # a damaged page half-way through the file
                    raise IngestError(f"{path}: page {number + 1} of the PDF is damaged "
                                      f"({_one_line(exc)}); repair it (e.g. qpdf) and ingest "
                                      "it again") from exc
            if not paras:
                continue
            kept, edges = _without_running_lines(paras, edges)
            for para in kept:
                if para.heading and para.text == title:
                    continue
                if para.heading:
                    yield from sections.heading(para, number + 1)
                else:
                    yielded = True
                    yield sections.text(para, number + 1)
        # the last headings with nothing under them are text
        for block in sections.heading(_Paragraph("", True, float("inf")), len(pages)):
            yielded = True
            yield block
        if not yielded:  # the title was all the text there is
            yield Block(f"page {first + 1}", title)
    finally:
        fh.close()


def _without_running_lines(paras: list[_Paragraph], edges: tuple[str, str]
                           ) -> tuple[list[_Paragraph], tuple[str, str]]:
    """The page's paragraphs without its running head and foot and a bare page number; and
    this page's edges, to compare the next page with."""
    def key(p: _Paragraph) -> str:
        return re.sub(r"\d+", "#", normalise(p.text).lower())

    first, last = key(paras[0]), key(paras[-1])
    kept = list(paras)
    if len(kept) > 1 and (_PAGE_NUMBER.match(kept[-1].text) or last in edges):
        kept.pop()
    if len(kept) > 1 and (_PAGE_NUMBER.match(kept[0].text) or first in edges):
        kept.pop(0)
    return kept, (first, last)


def _pdf_paragraphs(page: Any) -> list[_Paragraph]:
    """The page's text as paragraphs: split at blank lines and at gaps clearly wider than the
    page's line spacing (positions and letter heights come from pypdf's text visitor); the
    headings among them (``HEADING_SIZE``)."""
    lines: list[tuple[float | None, float, str]] = []  # (baseline y, font height, text)
    current: list[str] = []
    where: list[float] = []

    def end_line() -> None:
        lines.append((where[0] if where else None, where[1] if where else 0.0,
                      "".join(current).strip()))
        current.clear()
        where.clear()

    def visit(text: str, cm: list[float], tm: list[float], _font: Any, size: Any) -> None:
        for i, part in enumerate(text.split("\n")):
            if i:
                end_line()
            if part.strip():
                scale_y = abs(tm[2] * cm[1] + tm[3] * cm[3]) or 1.0
                height = float(size) * scale_y
                if not where:
                    where.extend((tm[4] * cm[1] + tm[5] * cm[3] + cm[5], height))
                else:  # a line's size is its largest letters' ("•" is set smaller)
                    where[1] = max(where[1], height)
            current.append(part)

    page.extract_text(visitor_text=visit)
    end_line()
    lines = [line for line in lines if not _CONTENTS_LINE.search(line[2])]
    placed = [(y, h) for y, h, text in lines if y is not None and text]
    gaps = [a[0] - b[0] for a, b in itertools.pairwise(placed)]
    steps = [g for g, (_, h) in zip(gaps, placed[1:], strict=True) if g >= 0.5 * h]
    leading = min(steps) if steps else 0.0
    paras: list[list[tuple[float, str]]] = [[]]
    previous: float | None = None
    size = 0.0
    for y, h, text in lines:
        if not text:
            paras.append([])
            continue
        wide_gap = bool(leading and previous is not None and y is not None
                        and previous - y > 1.3 * leading)
        resized = bool(size and max(h, size) >= HEADING_SIZE * min(h, size))
        if wide_gap or resized:  # a heading's size begins or ends
            paras.append([])
        paras[-1].append((h, text))
        previous = y if y is not None else previous
        size = h
    heights = Counter[float]()
    for _, h, text in lines:
        heights[round(h, 1)] += len(text)
    body = heights.most_common(1)[0][0] if heights else 0.0
    out: list[_Paragraph] = []
    for para in paras:
        if text := _join_lines([t for _, t in para]):
            size = min(h for h, _ in para)
            heading = body > 0 and size >= HEADING_SIZE * body and len(text) <= HEADING_CHARS
            out.append(_Paragraph(normalise(text) if heading else text, heading, size))
    return out


def _join_lines(lines: list[str]) -> str:
    out = ""
    for line in lines:
        if out.endswith("-") and out[-2:-1].isalpha() and line[:1].islower():
            out = out[:-1] + line  # a word hyphenated at the line end
        else:
            out = f"{out}\n{line}" if out else line
    return out


def _pdf_title(reader: Any) -> str:
    try:
        title = normalise(str((reader.metadata or {}).get("/Title") or ""))
    except Exception:  # noqa: BLE001 -- damaged metadata is no reason to refuse the text
        return ""
    junk = (not title or title.lower() in ("untitled", "title", "document")
            or title.startswith("Microsoft Word - ")
            or re.search(r"\.(docx?|odt|pdf|tex|dvi|indd)$", title, re.I))
    return "" if junk else title


def _first_line(text: str) -> str:
    line = normalise(text.split("\n", 1)[0])
    return line if len(line) <= 100 else line[:100].rsplit(" ", 1)[0] + "…"


def _one_line(exc: BaseException) -> str:
    return normalise(str(exc))[:200] or type(exc).__name__
