"""Plain text: choosing the encoding, incremental decoding, and cutting into lines and paragraphs.

The decoding and line-cutting here are also what Markdown is built on (``extract_markdown``), and
``bom`` is shared with HTML.  Nothing here holds a whole file: it is decoded ``read_bytes`` at a
time, lines longer than ``MAX_LINE`` and paragraphs longer than ``MAX_BLOCK`` are cut at a space.
``read_bytes`` is a parameter, not a constant of this module, so that ``extract.READ_BYTES`` is the
one setting (and the one a test may shrink).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path

from xnai_edge.errors import IngestError
from xnai_edge.knowledge.extract_base import (
    Block,
    ExtractedDocument,
    guarded,
    nice_stem,
    no_text,
    reading,
)
from xnai_edge.knowledge.text_layout import layout

MAX_LINE = 8 * 1024  # characters; a longer line is cut (at a space if there is one)
MAX_BLOCK = 16 * 1024  # characters; a longer paragraph becomes several blocks

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_LINE_BREAKS = "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def text_document(path: Path, *, read_bytes: int) -> ExtractedDocument:
    """A plain text file: titled by its file name, one block per paragraph."""
    encoding = sniff_text(path, read_bytes)
    blocks = text_blocks(pieces(path, encoding, read_bytes))
    return ExtractedDocument(path, "text", nice_stem(path), guarded(path, blocks), encoding)


def bom(head: bytes) -> str | None:
    """The encoding named by the byte-order mark ``head`` starts with, if any."""
    return next((enc for mark, enc in _BOMS if head.startswith(mark)), None)


def sniff_text(path: Path, read_bytes: int) -> str:
    """Choose the encoding: a BOM's, else UTF-8 if it decodes (or nearly all of it does), else
    cp1252, else latin-1.

    Reads the whole file once (in pieces) because a bad byte may sit at the very end; also
    refuses NUL bytes (binary data) and files with nothing but whitespace.
    """
    with reading(path), path.open("rb") as fh:
        found = bom(fh.read(4))
        fh.seek(0)
        if found in ("utf-16", "utf-32"):
            decoder = codecs.getincrementaldecoder(found)("replace")
            while raw := fh.read(read_bytes):
                if decoder.decode(raw).strip():
                    return found
            raise no_text(path)
        utf8 = codecs.getincrementaldecoder("utf-8")()
        utf8_ok = True
        has_text = False
        while raw := fh.read(read_bytes):
            if b"\x00" in raw:
                raise IngestError(f"{path}: contains NUL bytes, so it is binary, not text; "
                                  "convert it to plain text (UTF-16 needs a byte-order mark)")
            if utf8_ok and not (raw.isascii() and not utf8.getstate()[0]):
                try:
                    utf8.decode(raw)
                except UnicodeDecodeError:
                    utf8_ok = False
            has_text = has_text or bool(raw.strip(b" \t\r\n\f\v\xef\xbb\xbf"))
        if not has_text:
            raise no_text(path)
        if found or (utf8_ok and _final_ok(utf8)):
            return found or "utf-8"
        # Not clean UTF-8.  UTF-8 all the same if its valid multi-byte characters far outnumber
        # the bad bytes (a damaged UTF-8 file); else cp1252, or latin-1 if it has one of the
        # five bytes cp1252 lacks.
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        holes, bad, good = False, 0, 0
        while True:
            raw = fh.read(read_bytes)
            text = decoder.decode(raw, not raw)
            holes = holes or bool(_CP1252_UNDEFINED.search(raw))
            bad_here = text.count("\ufffd")
            bad += bad_here
            good += len(text) - len(text.encode("ascii", "ignore")) - bad_here
            if not raw:
                break
    return "utf-8" if good >= 10 * bad else "latin-1" if holes else "cp1252"


def _final_ok(decoder: codecs.IncrementalDecoder) -> bool:
    try:
        decoder.decode(b"", True)
    except UnicodeDecodeError:
        return False
    return True


def pieces(path: Path, encoding: str, read_bytes: int,
           limit: int | None = None) -> Iterator[str]:
    """The decoded text of ``path``, ``read_bytes`` at a time (stopping once ``limit`` bytes are
    read).  A character split across two reads is completed by the incremental decoder; bad
    bytes become U+FFFD."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    done = 0
    with path.open("rb") as fh:
        while raw := fh.read(read_bytes):
            yield decoder.decode(raw)
            done += len(raw)
            if limit is not None and done >= limit:
                return
        yield decoder.decode(b"", True)


def lines(pieces: Iterator[str], *, partial_last: bool = True) -> Iterator[str]:
    """The lines of the text, without their line breaks.  A line longer than ``MAX_LINE``
    comes out in pieces cut at a space; ``partial_last=False`` drops an unfinished last line."""
    carry = ""
    for piece in pieces:
        text = carry + piece
        carry = "\r" if text.endswith("\r") else ""  # its "\n" may be in the next piece
        found = text[:len(text) - len(carry)].splitlines(keepends=True)
        if found and found[-1][-1] not in _LINE_BREAKS:
            carry = found.pop() + carry
        for line in found:
            line = line.rstrip(_LINE_BREAKS)
            if len(line) <= MAX_LINE:
                yield line
            else:
                yield from cut_long(line, MAX_LINE)
        while len(carry) > MAX_LINE:
            head, carry = cut(carry, MAX_LINE)
            yield head
    if carry and partial_last:
        yield from cut_long(carry.rstrip(_LINE_BREAKS), MAX_LINE)


def cut_long(text: str, limit: int) -> Iterator[str]:
    """``text`` in pieces of at most ``limit`` characters, cut as ``cut`` does."""
    while len(text) > limit:
        head, text = cut(text, limit)
        yield head
    yield text


def cut(text: str, limit: int) -> tuple[str, str]:
    """Cut ``text`` at its last space or newline before ``limit`` (hard if there is none)."""
    at = max(text.rfind(" ", limit // 2, limit), text.rfind("\n", limit // 2, limit))
    at = at if at > 0 else limit
    return text[:at], text[at:].lstrip(" \n")


_BLANK_LINES = re.compile(r"(?:\r\n|\r(?!\n)|\n)(?:[^\S\r\n]*(?:\r\n|\r(?!\n)|\n))+")


def text_blocks(pieces: Iterator[str]) -> Iterator[Block]:
    """Plain text: paragraphs are separated by blank lines, headed by the section and list
    entry their layout shows (``text_layout``); a longer paragraph than ``MAX_BLOCK`` becomes
    several blocks, cut at a space."""
    for paragraph in layout(_paragraphs(pieces)):
        yield from (Block(paragraph.heading, t) for t in cut_long(paragraph.text, MAX_BLOCK))


def _paragraphs(pieces: Iterator[str]) -> Iterator[str]:
    carry = ""
    for piece in pieces:
        parts = _BLANK_LINES.split(carry + piece)
        carry = parts.pop()
        yield from (part for part in parts if part and not part.isspace())
        while len(carry) > MAX_BLOCK:
            head, carry = cut(carry, MAX_BLOCK)
            yield head
    if carry and not carry.isspace():
        yield carry
