"""What every format extractor shares: the result types and the file-error messages.

``Block`` and ``ExtractedDocument`` live here, not in ``extract`` (which re-exports them), because
each format module builds them and ``extract`` imports the format modules: defining them in
``extract`` would make the imports circular.  The helpers turn OS errors and "no text at all"
into the one-line ``IngestError``s the user sees, worded the same whatever the format.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from xnai_edge.errors import IngestError


@dataclass(frozen=True)
class Block:
    """A paragraph-like piece of text; ``heading`` is the path "A > B" of its headings."""

    heading: str
    text: str


@dataclass
class ExtractedDocument:
    """A document ready to chunk.  ``blocks`` is lazy and can be iterated once."""

    path: Path
    kind: str  # "text", "markdown", "html" or "pdf"
    title: str
    blocks: Iterator[Block]
    encoding: str | None = None  # text encoding used (None for PDF)


def no_text(path: Path) -> IngestError:
    return IngestError(f"{path}: contains no text; put text in it or leave it out")


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn the operating system's errors into one-line ``IngestError``s."""
    try:
        yield
    except FileNotFoundError:
        raise IngestError(f"{path}: does not exist; check the path") from None
    except PermissionError:
        raise IngestError(f"{path}: permission denied; make it readable by the user running "
                          "xnai-edge") from None
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc.strerror or exc}); check the disk "
                          "and try again") from exc


def guarded(path: Path, blocks: Iterator[Block]) -> Iterator[Block]:
    """Pass ``blocks`` through, with OS errors as ``IngestError``; none at all is an error.

    For the streamed formats (plain text, Markdown), whose file is read while iterating.
    """
    empty = True
    with reading(path):
        for block in blocks:
            empty = False
            yield block
    if empty:
        raise no_text(path)


def nice_stem(path: Path) -> str:
    """The title of last resort: the file name without suffix, "_" and "-" as spaces."""
    return " ".join(re.sub(r"[_-]+", " ", path.stem).split()) or path.name
