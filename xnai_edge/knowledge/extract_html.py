"""HTML: the title, and the visible text as paragraphs under their heading path.

Unlike plain text and Markdown the page is read and parsed whole (BeautifulSoup needs the whole
tree), so its memory is bounded only by ``max_bytes``; the blocks are then listed up front, which
is how an HTML page without text is refused at once.  Navigation, scripts, styles and the like
are dropped.  The tree is walked without recursion, so deep nesting costs no stack.  ``bs4``
is imported only when an HTML file is met.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xnai_edge.errors import IngestError
from xnai_edge.knowledge.chunking import normalise
from xnai_edge.knowledge.extract_base import ExtractedDocument, nice_stem, no_text, reading
from xnai_edge.knowledge.extract_markdown import markdown_blocks
from xnai_edge.knowledge.extract_text import bom

if TYPE_CHECKING:
    from bs4.element import Tag

_HTML_DROP = ("script", "style", "nav", "footer", "noscript", "template", "head", "title",
              "svg", "iframe", "object", "canvas")
_HTML_BLOCKS = frozenset({"p", "li", "td", "th", "pre", "blockquote", "dd", "dt", "caption",
                          "figcaption", "address", "summary"})
_HTML_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_INNER_BLOCKS = ["p", "pre", "ul", "ol", "dl", "table", "blockquote", "div"]
_HTML_BREAKS = frozenset({"div", "section", "article", "main", "header", "aside", "body",
                          "table", "tr", "ul", "ol", "dl", "form", "figure", "hr", "br",
                          "details", "fieldset"}) | _HTML_BLOCKS | _HTML_HEADINGS
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


def html_document(path: Path) -> ExtractedDocument:
    """An HTML page: titled by its <title>, else its first <h1>, else its file name."""
    from bs4 import BeautifulSoup

    with reading(path):
        data = path.read_bytes()
    text, encoding = _decode_html(path, data)
    soup = BeautifulSoup(text, "html.parser")
    title = normalise(_html_text(soup.title)) if soup.title else ""
    for tag in soup.find_all(list(_HTML_DROP)):
        tag.decompose()
    for tag in soup.find_all("a", class_="headerlink"):
        tag.decompose()  # Sphinx's and MkDocs' "¶" after every heading: "Backing up¶"
    if not title and (h1 := soup.find("h1")):
        title = normalise(_html_text(h1))
    blocks = list(markdown_blocks(_html_events(soup.body or soup)))
    if not blocks:
        raise no_text(path)
    return ExtractedDocument(path, "html", title or nice_stem(path), iter(blocks), encoding)


def _decode_html(path: Path, data: bytes) -> tuple[str, str]:
    """(text, encoding): a BOM, else a declared charset, else UTF-8, cp1252, latin-1."""
    if found := bom(data[:4]):
        return data.decode(found, "replace"), found
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


ENTRY = 7
"""The heading level of an entry: a definition list's term (``<dt>``) or an FAQ's question
(DocBook's ``<tr class="question">``), below every ``<h1>``-``<h6>``.  The text under it is
about it, as a man page's option entry is about its option (``text_layout``), so a sentence of
the answer ("You need to install the glibc-static-devel package.") carries the question it
answers.  The entry ends with its list or table."""

_NUMBERING = re.compile(r"^(?:\d+\.)*\d+\.?$|^[A-Z]\.$|^Q[.:]?$", re.IGNORECASE)
"""An FAQ's numbering cell ("2.1.", "Q:"), which says nothing."""


def _html_events(root: Tag) -> Iterator[tuple[int, str]]:
    """(level, text) in document order, as for Markdown; walked without recursion."""
    from bs4.element import NavigableString, PreformattedString, Tag

    loose: list[str] = []  # text outside p/li/td/...: flushed at the next block boundary
    # (children, is a block break, ends the entries begun inside it)
    stack: list[tuple[Iterator[Any], bool, bool]] = [(iter(root.children), True, False)]
    header: list[str] = []  # the column names of the table being read
    while stack:
        children, is_break, scoped = stack[-1]
        node = next(children, None)
        if node is None:
            stack.pop()
            if is_break:
                yield from _flush_loose(loose)
            if scoped:
                yield ENTRY, ""  # a list's or a table's entries end with it
        elif isinstance(node, Tag):
            if node.name in _HTML_BREAKS:
                yield from _flush_loose(loose)
            if node.name in _HTML_HEADINGS:
                if heading := normalise(_html_text(node)):
                    yield int(node.name[1]), heading
            elif node.name in _HTML_BLOCKS | {"tr"} and _links_only(node):
                continue  # a table of contents or a menu: the sections themselves follow
            elif node.name in _HTML_BLOCKS | {"tr"} and node.find(list(_HTML_HEADINGS)):
                stack.append((iter(node.children), True, False))  # its heading is a heading
            elif node.name in _HTML_BLOCKS - {"pre", "dt"} and node.find(_INNER_BLOCKS):
                # A quote or a list item holding paragraphs, a list or an example (Sphinx
                # indents with <blockquote>): each of those is a block of its own.
                stack.append((iter(node.children), True, False))
            elif node.name == "tr":
                yield from _table_row(node, header)
            elif node.name == "dt":
                if term := normalise(_html_text(node)):
                    yield ENTRY, term
            elif node.name == "pre":  # a console session or a file: a unit per line
                for line in _html_text(node).splitlines():
                    if text := normalise(line):
                        yield 0, text
            elif node.name in _HTML_BLOCKS:
                if text := normalise(_html_text(node)):
                    yield 0, text
            else:
                if node.name == "table":
                    header = []
                stack.append((iter(node.children), node.name in _HTML_BREAKS,
                              node.name in ("dl", "table")))
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            loose.append(str(node))


def _table_row(row: Tag, header: list[str]) -> Iterator[tuple[int, str]]:
    """A table row as one block.  A row of only ``<th>`` cells is the header: not a block,
    but the column names (``header``, filled in place), which the rows after it name ("Month:
    June; Task: Dead-head the flowers") as a Markdown table's rows do.  An FAQ's question row
    is the heading of the answer row after it (``ENTRY``).  A table inside a table's cell
    starts its own header, which the outer table's rows after it then keep (rare enough)."""
    cells = row.find_all(["td", "th"], recursive=False)
    texts = [normalise(_html_text(c)) for c in cells]
    if "question" in (row.get("class") or []):
        if question := " ".join(t for t in texts if t and not _NUMBERING.match(t)):
            yield ENTRY, question
        return
    if cells and all(c.name == "th" for c in cells):
        header[:] = texts
        return
    if header and len(header) == len(texts):
        text = "; ".join(f"{name}: {cell}" if name else cell
                         for name, cell in zip(header, texts, strict=True) if cell)
    else:
        text = " | ".join(t for t in texts if t)
    if text:
        yield 0, text


def _links_only(tag: Tag) -> bool:
    """Only links, besides numbering and punctuation: a table of contents ("1.1. How do you
    pronounce Valgrind? 1.2. Where does ...") or a menu, which repeats the headings of the
    sections that follow and would be read out as an answer instead of them."""
    from bs4.element import NavigableString

    links = tag.find_all("a", href=True)
    if not links:
        return False
    inside = {id(s) for a in links for s in a.descendants}
    rest = "".join(str(s) for s in tag.descendants
                   if isinstance(s, NavigableString) and id(s) not in inside)
    return not re.sub(r"[\W\d_]+", "", rest)


def _flush_loose(loose: list[str]) -> Iterator[tuple[int, str]]:
    if text := normalise("".join(loose)):
        yield 0, text
    loose.clear()
