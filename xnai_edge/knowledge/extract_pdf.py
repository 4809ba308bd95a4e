"""PDF: the title, and each page's text as paragraphs headed "page N".

Pages are extracted one at a time while the blocks are iterated, so the open file handle travels
with the block iterator and is closed when it ends.  The first page with text is read up front:
that is how a scan without a text layer, a password or a damaged file is refused at once, and
where a title comes from when the metadata has none worth using.  pypdf's text often has no
blank line between paragraphs, so a gap between baselines clearly wider than the page's line
spacing also starts a new one.
``pypdf`` is imported only when a PDF is met.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
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
        title = _pdf_title(reader) or _first_line(paras[0]) or nice_stem(path)
    except IngestError:
        fh.close()
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files
        fh.close()
        raise IngestError(f"{path}: PDF is damaged or unreadable ({_one_line(exc)}); re-export "
                          "or repair it (e.g. qpdf) and ingest it again") from exc
    return ExtractedDocument(path, "pdf", title, _pdf_blocks(path, fh, pages, first, paras))


def _pdf_blocks(path: Path, fh: Any, pages: Any, first: int,
                paras: list[str]) -> Iterator[Block]:
    try:
        for text in paras:
            yield Block(f"page {first + 1}", text)
        for number in range(first + 1, len(pages)):
            try:
                paras = _pdf_paragraphs(pages[number])
            except Exception as exc:  # a damaged page half-way through the file
                raise IngestError(f"{path}: page {number + 1} of the PDF is damaged "
                                  f"({_one_line(exc)}); repair it (e.g. qpdf) and ingest it "
                                  "again") from exc
            for text in paras:
                yield Block(f"page {number + 1}", text)
    finally:
        fh.close()


def _pdf_paragraphs(page: Any) -> list[str]:
    """The page's text as paragraphs: split at blank lines and at gaps clearly wider than the
    page's line spacing (positions come from pypdf's text visitor)."""
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
            if part and not where:
                scale_y = abs(tm[2] * cm[1] + tm[3] * cm[3]) or 1.0
                where.extend((tm[4] * cm[1] + tm[5] * cm[3] + cm[5], float(size) * scale_y))
            current.append(part)

    page.extract_text(visitor_text=visit)
    end_line()
    placed = [(y, h) for y, h, text in lines if y is not None and text]
    gaps = [a[0] - b[0] for a, b in itertools.pairwise(placed)]
    steps = [g for g, (_, h) in zip(gaps, placed[1:], strict=True) if g >= 0.5 * h]
    leading = min(steps) if steps else 0.0
    paras: list[list[str]] = [[]]
    previous: float | None = None
    for y, _, text in lines:
        if not text:
            paras.append([])
            continue
        if leading and previous is not None and y is not None and previous - y > 1.3 * leading:
            paras.append([])
        paras[-1].append(text)
        previous = y if y is not None else previous
    return [t for p in paras if (t := _join_lines(p))]


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
