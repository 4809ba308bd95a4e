"""Turn one document file into a title and a lazy stream of text blocks.

``extract`` checks what it can up front (exists, readable, supported, not empty, not too large,
not binary, decodable, PDF not corrupt or encrypted) and raises one ``IngestError`` per problem,
naming the file and what to do.  The blocks are produced lazily; iterating them may still raise
``IngestError`` (a file that vanishes or a PDF page that is broken half-way).

Memory: plain text and Markdown are decoded incrementally and never held whole (lines longer than
``MAX_LINE`` and paragraphs longer than ``MAX_BLOCK`` are cut at a space).  HTML is parsed whole
and PDF pages are extracted one at a time; both are capped by ``max_bytes``.

This module owns the checks common to every file, the choice of format by suffix, and walking
directories (``iter_files``); each format has its own module: ``extract_text`` (encoding,
incremental decoding, plain text), ``extract_markdown``, ``extract_html``, ``extract_pdf``, with
the shared types and error messages in ``extract_base``.  Callers import from here only.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from xnai_edge.errors import IngestError
from xnai_edge.knowledge.extract_base import Block, ExtractedDocument, reading
from xnai_edge.knowledge.extract_html import html_document
from xnai_edge.knowledge.extract_markdown import TITLE_SCAN_BYTES, markdown_document
from xnai_edge.knowledge.extract_pdf import pdf_document
from xnai_edge.knowledge.extract_text import MAX_BLOCK, MAX_LINE, text_document

__all__ = ["MAX_BLOCK", "MAX_LINE", "READ_BYTES", "SUPPORTED_SUFFIXES", "TITLE_SCAN_BYTES",
           "Block", "ExtractedDocument", "extract", "iter_files"]

_KINDS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
          ".html": "html", ".htm": "html", ".pdf": "pdf"}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_KINDS)
# Bytes read (and decoded) at a time from text and Markdown files.  Looked up on every call and
# handed down, so that setting it here (as a test does) takes effect.
READ_BYTES = 64 * 1024


def extract(path: Path, *, max_bytes: int) -> ExtractedDocument:
    """Open ``path``, check it, and return its title and lazy blocks."""
    path = Path(path)
    with reading(path):
        size = path.stat().st_size
        if path.is_dir():
            raise IngestError(f"{path}: is a directory, not a file; name the files in it, or "
                              "ingest the directory as a whole")
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        raise _unsupported(path)
    if size == 0:
        raise IngestError(f"{path}: file is empty; put text in it or leave it out")
    if size > max_bytes:
        raise IngestError(f"{path}: file is {size / 2**20:.1f} MB, over the limit of "
                          f"{max_bytes / 2**20:g} MB; split it or raise [ingest] max_file_mb")
    if kind == "pdf":
        return pdf_document(path)
    if kind == "html":
        return html_document(path)
    if kind == "text":
        return text_document(path, read_bytes=READ_BYTES)
    return markdown_document(path, read_bytes=READ_BYTES)


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The supported files named in ``paths``, directories walked recursively in sorted order.

    Hidden files and directories and unsupported suffixes inside directories are skipped;
    symlinked directories are not followed.  A named path that does not exist, or a named file
    of an unsupported type, raises ``IngestError`` at once (before anything is yielded).
    """
    named = [Path(p) for p in paths]
    for p in named:
        with reading(p):
            p.stat()  # does not exist, permission denied, ...
        if not p.is_dir() and p.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise _unsupported(p)
    return _unique(itertools.chain.from_iterable(
        _walk(p) if p.is_dir() else (p,) for p in named))


def _walk(top: Path) -> Iterator[Path]:
    with reading(top):
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif entry.is_file() and Path(entry.name).suffix.lower() in SUPPORTED_SUFFIXES:
            yield Path(entry.path)


def _unique(files: Iterator[Path]) -> Iterator[Path]:
    seen: set[str] = set()
    for f in files:
        key = os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            yield f


def _unsupported(path: Path) -> IngestError:
    what = f"'{path.suffix}'" if path.suffix else "without a suffix"
    return IngestError(f"{path}: unsupported file type {what}; supported: "
                       f"{', '.join(sorted(SUPPORTED_SUFFIXES))}")
