"""Markdown: the title, and paragraphs under their heading path, with light markup removed.

Not a full CommonMark parser, on purpose: it reads the file line by line (so memory stays small
whatever the size, see ``extract_text``) and only needs headings, paragraphs, code fences and the
markup that would be noise in a search index.  The parser yields (level, text) events;
``markdown_blocks`` turns events into blocks and is reused by HTML, whose headings nest the same.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

from xnai_edge.knowledge.chunking import normalise
from xnai_edge.knowledge.extract_base import Block, ExtractedDocument, guarded, nice_stem
from xnai_edge.knowledge.extract_text import MAX_BLOCK, lines, pieces, sniff_text

TITLE_SCAN_BYTES = 256 * 1024  # a Markdown title (first "# ...") is looked for this far

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


def markdown_document(path: Path, *, read_bytes: int) -> ExtractedDocument:
    """A Markdown file: titled by its front matter or first top-level heading, else its name."""
    encoding = sniff_text(path, read_bytes)
    title = _markdown_title(path, encoding, read_bytes) or nice_stem(path)
    blocks = markdown_blocks(_markdown_events(lines(pieces(path, encoding, read_bytes))))
    return ExtractedDocument(path, "markdown", title, guarded(path, blocks), encoding)


def _md_inline(text: str) -> str:
    if not _MARKUP.search(text):
        return text
    for needed, pattern, replacement in _INLINE:
        if needed in text:
            text = pattern.sub(replacement, text)
    return text


def _markdown_title(path: Path, encoding: str, read_bytes: int) -> str | None:
    whole = path.stat().st_size <= TITLE_SCAN_BYTES
    head = lines(pieces(path, encoding, read_bytes, TITLE_SCAN_BYTES), partial_last=whole)
    events = _markdown_events(head)
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
    header: list[str] | None = None  # the column names while inside a table

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
        if header is not None:
            if "|" in line and line.strip():
                if row := _table_row(header, line):
                    yield 0, row
                continue
            header = None
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
            if first in "[|:-" and "|" in line and "-" in line and _TABLE_RULE.fullmatch(line):
                if para and "|" in para[-1]:  # the row above names the columns
                    header = _cells(para.pop())
                    if para and (text := take(code=False)):
                        yield 0, text
                continue
            if first == "[" and _REF_DEF.fullmatch(line):
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


def _cells(row: str) -> list[str]:
    return [normalise(_md_inline(c)) for c in row.strip().strip("|").split("|")]


def _table_row(header: list[str], line: str) -> str:
    """A table's row as one sentence naming its columns ("UID/GID: 0; Purpose: root user;
    Defined By: Linux."): a row read alone then still says what each value is, and the
    answer to "What is UID 0 for?" is that row, not the whole table run together."""
    pairs = [f"{name}: {cell}" if name else cell
             for name, cell in zip(header, _cells(line), strict=False) if cell]
    return "; ".join(pairs) + "." if pairs else ""


def markdown_blocks(events: Iterator[tuple[int, str]]) -> Iterator[Block]:
    """Blocks from (level, text) events: each paragraph (level 0) under the path "A > B" of the
    headings (level > 0) above it; a front-matter title (-1) is not a block.  A heading
    without text ends the headings of its level and below (an HTML list's entries end with
    the list)."""
    stack: list[tuple[int, str]] = []
    path = ""
    for level, text in events:
        if level > 0:
            while stack and stack[-1][0] >= level:
                stack.pop()
            if text:
                stack.append((level, text))
            path = " > ".join(t for _, t in stack)
        elif level == 0:
            yield Block(path, text)
