"""Turn one document file into a title and a lazy stream of text blocks.

``extract`` checks what it can up front (exists, readable, supported, not empty, not too large,
not binary, decodable, PDF not corrupt or encrypted) and raises one ``IngestError`` per problem,
naming the file and what to do.  The blocks are produced lazily; iterating them may still raise
``IngestError`` (a file that vanishes or a PDF page that is broken half-way).

Memory: plain text and Markdown are decoded incrementally and never held whole (lines longer than
``MAX_LINE`` and paragraphs longer than ``MAX_BLOCK`` are cut at a space).  HTML is parsed whole
and PDF pages are extracted one at a time; both are capped by ``max_bytes``.
"""

from __future__ import annotations

import codecs
import itertools
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xnai_edge.errors import IngestError
from xnai_edge.knowledge.chunking import normalise

if TYPE_CHECKING:
    from bs4.element import Tag

_KINDS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
          ".html": "html", ".htm": "html", ".pdf": "pdf"}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_KINDS)
READ_BYTES = 64 * 1024  # bytes read (and decoded) at a time from text files
MAX_LINE = 8 * 1024  # characters; a longer line is cut (at a space if there is one)
MAX_BLOCK = 16 * 1024  # characters; a longer paragraph becomes several blocks
TITLE_SCAN_BYTES = 256 * 1024  # a Markdown title (first "# ...") is looked for this far

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_LINE_BREAKS = "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"


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


def extract(path: Path, *, max_bytes: int) -> ExtractedDocument:
    """Open ``path``, check it, and return its title and lazy blocks."""
    path = Path(path)
    with _reading(path):
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
        return _extract_pdf(path)
    if kind == "html":
        return _extract_html(path)
    encoding = _sniff_text(path)
    if kind == "text":
        return ExtractedDocument(path, kind, _nice_stem(path),
                                 _guarded(path, _text_blocks(_pieces(path, encoding))), encoding)
    title = _markdown_title(path, encoding) or _nice_stem(path)
    blocks = _markdown_blocks(_markdown_events(_lines(_pieces(path, encoding))))
    return ExtractedDocument(path, kind, title, _guarded(path, blocks), encoding)


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The supported files named in ``paths``, directories walked recursively in sorted order.

    Hidden files and directories and unsupported suffixes inside directories are skipped;
    symlinked directories are not followed.  A named path that does not exist, or a named file
    of an unsupported type, raises ``IngestError`` at once (before anything is yielded).
    """
    named = [Path(p) for p in paths]
    for p in named:
        with _reading(p):
            p.stat()  # does not exist, permission denied, ...
        if not p.is_dir() and p.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise _unsupported(p)
    return _unique(itertools.chain.from_iterable(
        _walk(p) if p.is_dir() else (p,) for p in named))


def _walk(top: Path) -> Iterator[Path]:
    with _reading(top):
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


def _no_text(path: Path) -> IngestError:
    return IngestError(f"{path}: contains no text; put text in it or leave it out")


@contextmanager
def _reading(path: Path) -> Iterator[None]:
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


def _guarded(path: Path, blocks: Iterator[Block]) -> Iterator[Block]:
    """Pass ``blocks`` through, with OS errors as ``IngestError``; none at all is an error."""
    empty = True
    with _reading(path):
        for block in blocks:
            empty = False
            yield block
    if empty:
        raise _no_text(path)


def _nice_stem(path: Path) -> str:
    return " ".join(re.sub(r"[_-]+", " ", path.stem).split()) or path.name


# --- text decoding ----------------------------------------------------------------------------

def _bom(head: bytes) -> str | None:
    return next((enc for bom, enc in _BOMS if head.startswith(bom)), None)


def _sniff_text(path: Path) -> str:
    """Choose the encoding: a BOM's, else UTF-8 if it decodes (or nearly all of it does), else
    cp1252, else latin-1.

    Reads the whole file once (in pieces) because a bad byte may sit at the very end; also
    refuses NUL bytes (binary data) and files with nothing but whitespace.
    """
    with _reading(path), path.open("rb") as fh:
        bom = _bom(fh.read(4))
        fh.seek(0)
        if bom in ("utf-16", "utf-32"):
            decoder = codecs.getincrementaldecoder(bom)("replace")
            while raw := fh.read(READ_BYTES):
                if decoder.decode(raw).strip():
                    return bom
            raise _no_text(path)
        utf8 = codecs.getincrementaldecoder("utf-8")()
        utf8_ok = True
        has_text = False
        while raw := fh.read(READ_BYTES):
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
            raise _no_text(path)
        if bom or (utf8_ok and _final_ok(utf8)):
            return bom or "utf-8"
        # Not clean UTF-8.  UTF-8 all the same if its valid multi-byte characters far outnumber
        # the bad bytes (a damaged UTF-8 file); else cp1252, or latin-1 if it has one of the
        # five bytes cp1252 lacks.
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        holes, bad, good = False, 0, 0
        while True:
            raw = fh.read(READ_BYTES)
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


def _pieces(path: Path, encoding: str, limit: int | None = None) -> Iterator[str]:
    """The decoded text of ``path``, about ``READ_BYTES`` at a time.  A character split across
    two reads is completed by the incremental decoder; bad bytes become U+FFFD."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    done = 0
    with path.open("rb") as fh:
        while raw := fh.read(READ_BYTES):
            yield decoder.decode(raw)
            done += len(raw)
            if limit is not None and done >= limit:
                return
        yield decoder.decode(b"", True)


def _lines(pieces: Iterator[str], *, partial_last: bool = True) -> Iterator[str]:
    """The lines of the text, without their line breaks.  A line longer than ``MAX_LINE``
    comes out in pieces cut at a space; ``partial_last=False`` drops an unfinished last line."""
    carry = ""
    for piece in pieces:
        text = carry + piece
        carry = "\r" if text.endswith("\r") else ""  # its "\n" may be in the next piece
        lines = text[:len(text) - len(carry)].splitlines(keepends=True)
        if lines and lines[-1][-1] not in _LINE_BREAKS:
            carry = lines.pop() + carry
        for line in lines:
            line = line.rstrip(_LINE_BREAKS)
            if len(line) <= MAX_LINE:
                yield line
            else:
                yield from _cut_long(line, MAX_LINE)
        while len(carry) > MAX_LINE:
            head, carry = _cut(carry, MAX_LINE)
            yield head
    if carry and partial_last:
        yield from _cut_long(carry.rstrip(_LINE_BREAKS), MAX_LINE)


def _cut_long(text: str, limit: int) -> Iterator[str]:
    while len(text) > limit:
        head, text = _cut(text, limit)
        yield head
    yield text


def _cut(text: str, limit: int) -> tuple[str, str]:
    """Cut ``text`` at its last space or newline before ``limit`` (hard if there is none)."""
    cut = max(text.rfind(" ", limit // 2, limit), text.rfind("\n", limit // 2, limit))
    cut = cut if cut > 0 else limit
    return text[:cut], text[cut:].lstrip(" \n")


_BLANK_LINES = re.compile(r"(?:\r\n|\r(?!\n)|\n)(?:[^\S\r\n]*(?:\r\n|\r(?!\n)|\n))+")


def _text_blocks(pieces: Iterator[str]) -> Iterator[Block]:
    """Plain text: paragraphs are separated by blank lines; a longer paragraph than
    ``MAX_BLOCK`` becomes several blocks, cut at a space."""
    carry = ""
    for piece in pieces:
        parts = _BLANK_LINES.split(carry + piece)
        carry = parts.pop()
        for part in parts:
            yield from _blocks_of(part)
        while len(carry) > MAX_BLOCK:
            head, carry = _cut(carry, MAX_BLOCK)
            yield from _blocks_of(head)
    yield from _blocks_of(carry)


def _blocks_of(text: str) -> Iterator[Block]:
    if not text.isspace() and text:
        yield from (Block("", t) for t in _cut_long(text, MAX_BLOCK))


# --- Markdown ---------------------------------------------------------------------------------

_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*")
_RULE = re.compile(r" {0,3}([-*_])[ \t]*(?:\1[ \t]*){2,}")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_TABLE_RULE = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-*:?[ \t]*)*\|?[ \t]*")
_REF_DEF = re.compile(r" {0,3}\[[^\]]+\]:[ \t]*\S+.*")
_LINE_PREFIX = re.compile(r"[ \t]*(?:>[ \t]?)*[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?"
                          r"(?:\[[ xX]\][ \t]+)?")
_FRONT_TITLE = re.compile(r"title:[ \t]*(.+)")
_INLINE = [  # (a character the pattern needs, pattern, replacement), applied in order
    ("<", re.compile(r"<!--.*?-->", re.S), ""),
    ("!", re.compile(r"!\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])"), ""),  # images are dropped
    ("[", re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])"), r"\1"),  # links -> text
    ("<", re.compile(r"<((?:https?|mailto|ftp):[^>\s]+)>"), r"\1"),  # autolinks
    ("<", re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>"), ""),  # inline HTML tags
    ("", re.compile(r"\*\*|__|~~|`+"), ""),
    ("*", re.compile(r"(?<![\w*\\])\*(?=\S)(.+?)(?<=[^\s\\])\*(?![\w*])"), r"\1"),
    ("_", re.compile(r"(?<![\w_\\])_(?=\S)(.+?)(?<=[^\s\\])_(?![\w_])"), r"\1"),
    ("\\", re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])"), r"\1"),
]
_MARKUP = re.compile(r"[<!\[*_~`\\]")


def _md_inline(text: str) -> str:
    if not _MARKUP.search(text):
        return text
    for needed, pattern, replacement in _INLINE:
        if needed in text:
            text = pattern.sub(replacement, text)
    return text


def _markdown_title(path: Path, encoding: str) -> str | None:
    whole = path.stat().st_size <= TITLE_SCAN_BYTES
    lines = _lines(_pieces(path, encoding, TITLE_SCAN_BYTES), partial_last=whole)
    events = _markdown_events(lines)
    return next((text for level, text in events if level in (-1, 1)), None)


def _front_matter(lines: Iterator[str]) -> tuple[str | None, Iterator[str]]:
    """Skip a YAML front matter block ("---" ... "---") and return its ``title:``, if any."""
    first = next(lines, None)
    if first is None:
        return None, lines
    if first.strip() != "---":
        return None, itertools.chain([first], lines)
    head = list(itertools.islice(lines, 100))
    end = next((i for i, line in enumerate(head) if line.strip() in ("---", "...")), None)
    if end is None:  # not front matter after all: a rule at the top
        return None, itertools.chain(head, lines)
    titles = (m[1].strip().strip("'\"") for line in head[:end]
              if (m := _FRONT_TITLE.fullmatch(line.strip())))
    return next(titles, None), itertools.chain(head[end + 1:], lines)


def _markdown_events(lines: Iterator[str]) -> Iterator[tuple[int, str]]:
    """(level, text): level 1-6 is a heading, 0 a paragraph or code block, -1 a front-matter
    title.  Paragraphs are stripped of light markup; code is kept as it is."""
    title, lines = _front_matter(lines)
    if title:
        yield -1, title
    para: list[str] = []
    size = 0
    fence = ""

    def take(code: bool) -> str:
        nonlocal size
        text = "\n".join(para) if code else normalise(_md_inline("\n".join(para)))
        para.clear()
        size = 0
        return text

    for line in lines:
        if fence:
            m = _FENCE.match(line)
            closing = bool(m and m[1][0] == fence[0] and len(m[1]) >= len(fence)
                           and not line[m.end():].strip())
            if (closing or size + len(line) >= MAX_BLOCK) and (text := take(code=True)).strip():
                yield 0, text
            if closing:
                fence = ""
            else:
                para.append(line)
                size += len(line) + 1
            continue
        heading: tuple[int, str] | None = None
        first = line.lstrip()[:1]  # the first visible character says which rules can apply
        if not first:  # a blank line ends the paragraph
            pass
        elif first in "`~" and (m := _FENCE.match(line)):
            fence = m[1]
        elif first == "#" and (m := _ATX.fullmatch(line)):
            heading = (len(m[1]), m[2] or "")
        elif (first in "=-" and 0 < len(para) <= 3 and size <= 200
              and (m := _SETEXT.fullmatch(line))):
            heading = (1 if m[1][0] == "=" else 2, take(code=False))
        elif not (first in "-*_" and _RULE.fullmatch(line)):
            if first in "[|:-" and (_REF_DEF.fullmatch(line) or (
                    "|" in line and "-" in line and _TABLE_RULE.fullmatch(line))):
                continue
            if size + len(line) >= MAX_BLOCK and (text := take(code=False)):
                yield 0, text
            if first in ">-*+0123456789":
                line = _LINE_PREFIX.sub("", line, count=1)
            text = line.strip(" \t|")
            para.append(text)
            size += len(text) + 1
            continue
        if para and (text := take(code=False)):
            yield 0, text
        if heading and (name := normalise(_md_inline(heading[1]))):
            yield heading[0], name
    if para and (text := take(code=bool(fence))).strip():
        yield 0, text


def _markdown_blocks(events: Iterator[tuple[int, str]]) -> Iterator[Block]:
    stack: list[tuple[int, str]] = []
    path = ""
    for level, text in events:
        if level > 0:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
            path = " > ".join(t for _, t in stack)
        elif level == 0:
            yield Block(path, text)


# --- HTML -------------------------------------------------------------------------------------

_HTML_DROP = ("script", "style", "nav", "footer", "noscript", "template", "head", "title",
              "svg", "iframe", "object", "canvas")
_HTML_BLOCKS = frozenset({"p", "li", "td", "th", "pre", "blockquote", "dd", "dt", "caption",
                          "figcaption", "address", "summary"})
_HTML_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_HTML_BREAKS = frozenset({"div", "section", "article", "main", "header", "aside", "body",
                          "table", "tr", "ul", "ol", "dl", "form", "figure", "hr", "br",
                          "details", "fieldset"}) | _HTML_BLOCKS | _HTML_HEADINGS
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


def _decode_html(path: Path, data: bytes) -> tuple[str, str]:
    """(text, encoding): a BOM, else a declared charset, else UTF-8, cp1252, latin-1."""
    if bom := _bom(data[:4]):
        return data.decode(bom, "replace"), bom
    if b"\x00" in data:
        raise IngestError(f"{path}: contains NUL bytes, so it is binary, not HTML; save it as "
                          "text (UTF-8) and try again")
    candidates = ["utf-8", "cp1252", "latin-1"]
    if m := _META_CHARSET.search(data[:4096]):
        try:
            declared = codecs.lookup(m[1].decode("ascii")).name
        except LookupError:
            declared = "utf-8"
        # As browsers do: a page that says latin-1 or ASCII is read as Windows-1252.
        candidates.insert(0, "cp1252" if declared in ("iso8859-1", "ascii") else declared)
    for encoding in candidates:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes anything")  # pragma: no cover


def _extract_html(path: Path) -> ExtractedDocument:
    from bs4 import BeautifulSoup

    with _reading(path):
        data = path.read_bytes()
    text, encoding = _decode_html(path, data)
    soup = BeautifulSoup(text, "html.parser")
    title = normalise(_html_text(soup.title)) if soup.title else ""
    for tag in soup.find_all(list(_HTML_DROP)):
        tag.decompose()
    if not title and (h1 := soup.find("h1")):
        title = normalise(_html_text(h1))
    blocks = list(_markdown_blocks(_html_events(soup.body or soup)))
    if not blocks:
        raise _no_text(path)
    return ExtractedDocument(path, "html", title or _nice_stem(path), iter(blocks), encoding)


def _html_text(tag: Tag) -> str:
    """The text of ``tag``: inline elements joined directly, block elements by a space."""
    from bs4.element import NavigableString, PreformattedString, Tag

    parts: list[str] = []
    for node in tag.descendants:
        if isinstance(node, Tag):
            if node.name in _HTML_BREAKS:
                parts.append(" ")
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            parts.append(str(node))
    return "".join(parts)


def _html_events(root: Tag) -> Iterator[tuple[int, str]]:
    """(level, text) in document order, as for Markdown; walked without recursion."""
    from bs4.element import NavigableString, PreformattedString, Tag

    loose: list[str] = []  # text outside p/li/td/...: flushed at the next block boundary
    stack: list[tuple[Iterator[Any], bool]] = [(iter(root.children), True)]
    while stack:
        children, is_break = stack[-1]
        node = next(children, None)
        if node is None:
            stack.pop()
            if is_break:
                yield from _flush_loose(loose)
        elif isinstance(node, Tag):
            if node.name in _HTML_BREAKS:
                yield from _flush_loose(loose)
            if node.name in _HTML_HEADINGS:
                if heading := normalise(_html_text(node)):
                    yield int(node.name[1]), heading
            elif node.name == "tr":  # a table row is one block: "cell | cell | cell"
                cells = (normalise(_html_text(c))
                         for c in node.find_all(["td", "th"], recursive=False))
                if text := " | ".join(c for c in cells if c):
                    yield 0, text
            elif node.name in _HTML_BLOCKS:
                if text := normalise(_html_text(node)):
                    yield 0, text
            else:
                stack.append((iter(node.children), node.name in _HTML_BREAKS))
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            loose.append(str(node))


def _flush_loose(loose: list[str]) -> Iterator[tuple[int, str]]:
    if text := normalise("".join(loose)):
        yield 0, text
    loose.clear()


# --- PDF --------------------------------------------------------------------------------------

def _extract_pdf(path: Path) -> ExtractedDocument:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    with _reading(path):
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
        title = _pdf_title(reader) or _first_line(paras[0]) or _nice_stem(path)
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
