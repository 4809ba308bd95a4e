"""Files -> title + blocks: real fixture files, every refusal with its message, bounded memory."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from xnai_edge.errors import IngestError
from xnai_edge.knowledge import extract as extract_module
from xnai_edge.knowledge.chunking import chunk_blocks
from xnai_edge.knowledge.extract import (
    SUPPORTED_SUFFIXES,
    Block,
    ExtractedDocument,
    extract,
    iter_files,
)

DOCS = Path(__file__).resolve().parent.parent / "data" / "docs"
BIG = 10**9  # max_bytes that never refuses


def make_pdf(pages: Sequence[Sequence[tuple[float, float, float, str]]], *,
             title: str | None = None) -> bytes:
    """A minimal valid PDF: each page is a list of (x, y, font size, text) lines in Helvetica;
    a page without lines has no text layer, like a scan."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"",  # 2 = page tree, filled in below
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
               b"/Encoding /WinAnsiEncoding >>"]
    kids = []
    for lines in pages:
        ops = []
        for x, y, size, text in lines:
            escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"BT /F1 {size} Tf {x} {y} Td ({escaped}) Tj ET")
        stream = "\n".join(ops).encode("cp1252")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
                       % len(objects))
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    info = b""
    if title is not None:
        objects.append(b"<< /Title (%s) >>" % title.encode("latin-1"))
        info = b" /Info %d 0 R" % len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, info, xref)
    return bytes(out)


# The committed tests/data/docs/kettle_manual.pdf is exactly this (see test_committed_pdf).
KETTLE_PAGES: list[list[tuple[float, float, float, str]]] = [
    [(72, 720, 20, "Kettle Owner Manual"),
     (72, 680, 11, "The kettle boils one litre of water in two minutes."),
     (72, 666, 11, "It switches off by it-"),
     (72, 652, 11, "self when the water boils."),
     (72, 620, 11, "Descale it every month with vinegar and water."),
     (72, 606, 11, "Rinse it twice afterwards (important).")],
    [],  # an image-only page
    [(72, 720, 11, "Warranty: two years from the date of purchase.")],
]


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def blocks_of(path: Path, **kw: int) -> list[Block]:
    return list(extract(path, max_bytes=kw.get("max_bytes", BIG)).blocks)


def refusal(path: Path, max_bytes: int = BIG) -> str:
    with pytest.raises(IngestError) as info:
        list(extract(path, max_bytes=max_bytes).blocks)
    message = str(info.value)
    assert info.value.code == "ingest"
    assert "\n" not in message and str(path) in message
    return message


# --- fixture files -----------------------------------------------------------------------------

def test_markdown_fixture() -> None:
    doc = extract(DOCS / "garden_guide.md", max_bytes=BIG)
    assert (doc.kind, doc.title, doc.encoding) == ("markdown", "Garden Guide", "utf-8")
    blocks = list(doc.blocks)
    assert [b.heading for b in blocks] == [
        "Garden Guide", "Garden Guide > Roses", "Garden Guide > Roses > Pests",
        "Garden Guide > Tomatoes", "Garden Guide > Tomatoes", "Garden Guide > Tomatoes"]
    intro, roses, pests, sow, code, table = (b.text for b in blocks)
    assert intro == ("A short guide for the allotment, written for the local club.")
    assert roses == ("Water roses deeply once a week. Prune them in March, just above an "
                     "outward-facing bud.")
    assert pests == "Aphids: spray with soapy water. Black spot: remove the fallen leaves."
    assert sow == ("Sow tomato seeds indoors in March and plant out after the last frost.")
    assert code == "# not a heading: a comment in code\nwater --litres 2"  # kept as it is
    assert table == "Month: May; Task: Feed roses."  # a row names its columns
    assert not any("roses.jpg" in b.text or "photo" in b.text or "https" in b.text
                   for b in blocks)


def test_html_fixture() -> None:
    doc = extract(DOCS / "garden_page.html", max_bytes=BIG)
    assert (doc.kind, doc.title, doc.encoding) == ("html", "Garden Club – Notes", "utf-8")
    blocks = [(b.heading, b.text) for b in doc.blocks]
    assert blocks == [
        ("Roses", "Water roses deeply once a week. Prune them in March."),
        ("Roses", "Feed them in May with compost."),
        ("Roses > Pests", "Aphids: spray with soapy water."),
        ("Roses > Pests", "Black spot: remove the fallen leaves."),
        ("Roses > Pests", "Month: June; Task: Dead-head the flowers"),  # names its columns
        ("Roses > Tools", "secateurs"), ("Roses > Tools", "gloves"),  # a <pre>: per line
    ]
    text = " ".join(t for _, t in blocks)
    for unwanted in ("tracking", "color", "Home", "Join", "Copyright", "comment"):
        assert unwanted not in text


def test_html_faq_questions_and_terms_head_their_answers(tmp_path: Path) -> None:
    """An FAQ's question (DocBook's question row) and a definition list's term are the heading
    of the text after them, up to the end of their table or list; a table of contents (only
    links) is left out, and a section title inside a table row is still a heading."""
    page = tmp_path / "faq.html"
    page.write_text(
        "<html><body><h1>Tool FAQ</h1>"
        "<dl><dt>1. <a href='#a'>Building</a></dt><dd><dl><dt>1.1. <a href='#q'>Make fails"
        "</a></dt></dl></dd></dl>"
        "<table><tr class='qandadiv'><td><h3>1. Building</h3></td></tr>"
        "<tr class='toc'><td>1.1. <a href='#q'>Make fails with -lc</a><br></td></tr>"
        "<tr class='question'><td><b>1.1.</b></td><td><b>Make fails with this:</b>"
        "<pre>cannot find -lc</pre></td></tr>"
        "<tr class='answer'><td></td><td><p>Install the static libc package.</p></td></tr>"
        "</table>"
        "<p>Outside the table.</p>"
        "<dl><dt>--quiet</dt><dd>Print nothing.</dd></dl><p>After the list.</p>"
        "</body></html>", encoding="utf-8")
    blocks = [(b.heading, b.text) for b in extract(page, max_bytes=BIG).blocks]
    assert blocks == [
        ("Tool FAQ > 1. Building > Make fails with this: cannot find -lc",
         "Install the static libc package."),
        ("Tool FAQ > 1. Building", "Outside the table."),
        ("Tool FAQ > 1. Building > --quiet", "Print nothing."),
        ("Tool FAQ > 1. Building", "After the list."),
    ]


def test_sphinx_html_headings_lose_their_anchor_and_a_pre_keeps_its_lines(
        tmp_path: Path) -> None:
    """Sphinx puts a "¶" link after every heading, which became part of every heading path;
    a console session in a <pre> ran together into one block ("... init enter password
    for repository: created restic repository ...")."""
    page = tmp_path / "backup.html"
    page.write_text(
        '<html><body><h1>Backing up<a class="headerlink" href="#b">¶</a></h1>'
        "<p>Run the following command:</p>"
        '<div class="highlight"><pre><span></span>$ restic -r /srv/repo init\n'
        "enter password for repository:\n\ncreated restic repository</pre></div>"
        "</body></html>", encoding="utf-8")
    assert [(b.heading, b.text) for b in extract(page, max_bytes=BIG).blocks] == [
        ("Backing up", "Run the following command:"),
        ("Backing up", "$ restic -r /srv/repo init"),
        ("Backing up", "enter password for repository:"),
        ("Backing up", "created restic repository")]


def test_a_quote_or_an_item_holding_paragraphs_or_a_list_is_read_block_by_block(
        tmp_path: Path) -> None:
    """Sphinx indents with <blockquote>: a list of options inside one was a single block
    ("--force: ... --ignore-ctime: require mtime to match ..."), so the picker saw every
    option's words in one sentence."""
    page = tmp_path / "flags.html"
    page.write_text(
        "<html><body><h1>Change detection</h1><p>These flags modify the rules:</p>"
        "<blockquote><div><ul class='simple'>"
        "<li><p><code>--force</code>: turn off change detection.</p></li>"
        "<li><p><code>--ignore-ctime</code>: require mtime to match.</p>"
        "<ul><li>a nested item</li></ul></li>"
        "</ul></div></blockquote><blockquote>A plain quote.</blockquote></body></html>",
        encoding="utf-8")
    assert [b.text for b in extract(page, max_bytes=BIG).blocks] == [
        "These flags modify the rules:", "--force: turn off change detection.",
        "--ignore-ctime: require mtime to match.", "a nested item", "A plain quote."]


def test_cp1252_text_fixture() -> None:
    doc = extract(DOCS / "kitchen_notes_cp1252.txt", max_bytes=BIG)
    assert (doc.kind, doc.encoding, doc.title) == ("text", "cp1252", "kitchen notes cp1252")
    assert [b.text.split() for b in doc.blocks] == [
        "Café au lait – “the usual” – costs €3. The naïve recipe: steam the milk first.".split(),
        "Clean the machine every Friday.".split()]


def test_utf16_text_fixture() -> None:
    doc = extract(DOCS / "reisebericht_utf16.txt", max_bytes=BIG)
    assert doc.encoding == "utf-16"
    assert [b.text.strip() for b in doc.blocks] == [
        "Grüße aus Köln!", "Der Dom ist 157 m hoch. 日本語も話せます。"]


def test_committed_pdf_is_the_generated_one() -> None:
    assert (DOCS / "kettle_manual.pdf").read_bytes() == make_pdf(KETTLE_PAGES,
                                                                 title="Kettle KT-200")


def test_pdf_fixture() -> None:
    doc = extract(DOCS / "kettle_manual.pdf", max_bytes=BIG)
    assert (doc.kind, doc.title, doc.encoding) == ("pdf", "Kettle KT-200", None)
    # The title is set larger than the text: it heads the text after it, over the pages.
    assert [(b.heading, b.text) for b in doc.blocks] == [
        ("Kettle Owner Manual", "The kettle boils one litre of water in two minutes.\n"
                                "It switches off by itself when the water boils."),
        ("Kettle Owner Manual", "Descale it every month with vinegar and water.\n"
                                "Rinse it twice afterwards (important)."),
        ("Kettle Owner Manual", "Warranty: two years from the date of purchase."),
    ]


def test_pdf_sections_come_from_the_size_of_their_headings(tmp_path: Path) -> None:
    """Larger letters are a heading, larger still a higher level; the running head and the
    page numbers are left out; a heading with nothing under it is text."""
    pages = [
        [(72, 760, 10, "Heater HT-1 manual"), (72, 720, 24, "Heater Manual"),
         (72, 680, 16, "1. Safety"), (72, 650, 10, "Keep it away from water."),
         (72, 610, 16, "2. Cleaning"), (72, 580, 13, "2.1. Filter"),
         (72, 550, 10, "Wash the filter every month."),
         (72, 536, 10, "Let it dry."), (300, 40, 10, "1")],
        [(72, 760, 10, "Heater HT-1 manual"), (72, 720, 10, "Dry it before use."),
         (72, 706, 10, "Unplug it first."), (72, 680, 16, "3. Warranty"),
         (300, 40, 10, "- 2 -")],
    ]
    path = write(tmp_path, "heater.pdf", make_pdf(pages))
    assert [(b.heading, b.text) for b in extract(path, max_bytes=BIG).blocks] == [
        ("page 1", "Heater HT-1 manual"),
        ("Heater Manual > 1. Safety", "Keep it away from water."),
        ("Heater Manual > 2. Cleaning > 2.1. Filter", "Wash the filter every month.\nLet it dry."),
        ("Heater Manual > 2. Cleaning > 2.1. Filter", "Dry it before use.\nUnplug it first."),
        ("Heater Manual", "3. Warranty"),
    ]
    # A table of contents' lines are left out: the sections themselves follow.
    contents = write(tmp_path, "contents.pdf", make_pdf([[
        (72, 720, 10, "1 Safety . . . . . . . . . . 2"), (72, 706, 10, "2 Cleaning.......... 3"),
        (72, 692, 10, "Appendix . . . . . . iv"), (72, 650, 10, "Keep it dry.")]]))
    assert [b.text for b in extract(contents, max_bytes=BIG).blocks] == ["Keep it dry."]
    # A PDF whose only text is its title set large still has that text.
    only = write(tmp_path, "title.pdf", make_pdf([[(72, 720, 24, "Heater Manual")]]))
    assert [(b.heading, b.text) for b in extract(only, max_bytes=BIG).blocks] == [
        ("page 1", "Heater Manual")]


def test_pdf_title_falls_back_to_first_line_then_stem(tmp_path: Path) -> None:
    path = write(tmp_path, "kettle.pdf", make_pdf(KETTLE_PAGES))
    assert extract(path, max_bytes=BIG).title == "Kettle Owner Manual"
    junk = write(tmp_path, "junk.pdf", make_pdf(KETTLE_PAGES, title="Microsoft Word - x.docx"))
    assert extract(junk, max_bytes=BIG).title == "Kettle Owner Manual"


def test_pdf_with_empty_user_password_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "open.pdf", make_pdf(KETTLE_PAGES))
    writer = PdfWriter(clone_from=PdfReader(path))
    writer.encrypt("", owner_password="owner", algorithm="RC4-128")
    writer.write(path)
    assert "Warranty" in blocks_of(path)[-1].text


# --- refusals ----------------------------------------------------------------------------------

def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in refusal(tmp_path / "nowhere.txt")


def test_unsupported_type_names_the_supported_ones(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "letter.docx", "x"))
    assert "unsupported file type '.docx'" in message
    assert all(suffix in message for suffix in SUPPORTED_SUFFIXES)
    assert "without a suffix" in refusal(write(tmp_path, "README", "x"))


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes.md").mkdir()
    assert "is a directory" in refusal(tmp_path / "notes.md")


@pytest.mark.parametrize("name", ["a.txt", "a.md", "a.html", "a.pdf"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    assert "file is empty" in refusal(write(tmp_path, name, b""))


@pytest.mark.parametrize(("name", "data"), [
    ("blank.txt", " \n\t\r\n  \n"),
    ("blank.md", "\n\n   \n"),
    ("headings.md", "# Only\n\n## Headings\n"),
    ("bom.txt", b"\xef\xbb\xbf \n"),
    ("blank16.txt", "  \n\n".encode("utf-16")),
    ("nbsp.txt", "\u00a0\u2003\n"),
    ("script.html", "<html><script>var a = 1;</script><body> </body></html>"),
])
def test_no_text_at_all(tmp_path: Path, name: str, data: str | bytes) -> None:
    assert "contains no text" in refusal(write(tmp_path, name, data))


def test_too_large_names_size_and_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "big.txt", b"word " * (300 * 1024))  # 1.5 MB
    message = refusal(path, max_bytes=1024 * 1024)
    assert "1.5 MB" in message and "limit of 1 MB" in message
    assert "[ingest] max_file_mb" in message


@pytest.mark.parametrize("name", ["photo.txt", "photo.md", "photo.html"])
def test_nul_bytes_are_binary(tmp_path: Path, name: str) -> None:
    message = refusal(write(tmp_path, name, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
    assert "NUL bytes" in message and "binary" in message


def test_nul_byte_far_into_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "late.txt", b"fine text\n" * 100_000 + b"\x00")
    assert "NUL bytes" in refusal(path)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.txt", "top secret")
    if os.geteuid() == 0:  # root reads anything: make open() answer as for anyone else
        real_open = Path.open

        def denied(self: Path, *args: object, **kwargs: object) -> object:
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(Path, "open", denied)
    else:
        path.chmod(0)
    message = refusal(path)
    assert "permission denied" in message and "readable" in message


def test_scanned_pdf_without_text_layer(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "scan.pdf", make_pdf([[], []])))
    assert "no text layer" in message and "OCR" in message


@pytest.mark.parametrize("data", [
    b"%PDF-1.4\nthis is not really a pdf\n",
    b"GIF89a not a pdf at all",
    make_pdf(KETTLE_PAGES)[:300],
])
def test_corrupt_pdf(tmp_path: Path, data: bytes) -> None:
    message = refusal(write(tmp_path, "broken.pdf", data))
    assert "damaged or unreadable" in message and "repair" in message


def test_password_protected_pdf(tmp_path: Path) -> None:
    path = write(tmp_path, "locked.pdf", make_pdf(KETTLE_PAGES))
    writer = PdfWriter(clone_from=PdfReader(path))
    writer.encrypt("secret", algorithm="RC4-128")
    writer.write(path)
    assert "password-protected" in refusal(path)


# --- decoding ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "encoding"), [
    (b"plain ascii", "utf-8"),
    ("naïve café".encode(), "utf-8"),
    (b"\xef\xbb\xbfwith a BOM", "utf-8-sig"),
    ("with a BOM, big-endian".encode("utf-16-be"), None),  # no BOM: NUL bytes -> refused
    (b"\xfe\xff" + "UTF-16 BE".encode("utf-16-be"), "utf-16"),
    ("UTF-32".encode("utf-32"), "utf-32"),
    ("“smart quotes” and €".encode("cp1252"), "cp1252"),
    (b"caf\xe9 \x81 \x9d", "latin-1"),  # bytes that cp1252 lacks
])
def test_encoding_is_detected_and_recorded(tmp_path: Path, data: bytes,
                                           encoding: str | None) -> None:
    path = write(tmp_path, "note.txt", data)
    if encoding is None:
        assert "NUL bytes" in refusal(path)
        return
    doc = extract(path, max_bytes=BIG)
    assert doc.encoding == encoding
    text = "".join(b.text for b in doc.blocks)
    assert text == data.decode(encoding) and "\ufeff" not in text


def test_a_cp1252_byte_at_the_very_end_is_found(tmp_path: Path) -> None:
    path = write(tmp_path, "long.txt", b"plain ascii\n" * 100_000 + b"caf\xe9 \x93ok\x94")
    doc = extract(path, max_bytes=BIG)
    assert doc.encoding == "cp1252"
    assert list(doc.blocks)[-1].text.endswith("café “ok”")


def test_utf8_with_a_few_damaged_bytes_stays_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "damaged.txt", "déjà vu, naïve café\n".encode() * 50 + b"\xff end")
    doc = extract(path, max_bytes=BIG)
    text = " ".join(b.text for b in doc.blocks)
    assert doc.encoding == "utf-8" and "naïve café" in text and text.endswith("\ufffd end")


@pytest.mark.parametrize("read_bytes", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("codec", ["utf-8", "utf-16", "cp1252"])
def test_characters_split_across_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       read_bytes: int, codec: str) -> None:
    monkeypatch.setattr(extract_module, "READ_BYTES", read_bytes)
    text = "Grüße, “quotes” – €5.\r\nNext line.\r\n\r\nÆble\rØl\r\rÅ\n"
    if codec == "utf-8":
        text += "日本語 😀\n"
    path = write(tmp_path, "split.txt", text.encode(codec))
    doc = extract(path, max_bytes=BIG)
    assert [b.text.split() for b in doc.blocks] == [
        "Grüße, “quotes” – €5. Next line.".split(), "Æble Øl".split(),
        ("Å 日本語 😀" if codec == "utf-8" else "Å").split()]
    md = write(tmp_path, "split.md", ("# Grüße €\r\n" + text).encode(codec))
    doc = extract(md, max_bytes=BIG)
    assert doc.title == "Grüße €" and "\ufffd" not in "".join(b.text for b in doc.blocks)


def test_old_mac_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path, "mac.txt", "one\rtwo\r\rthree\r")
    assert [b.text.split() for b in blocks_of(path)] == [["one", "two"], ["three"]]


@pytest.mark.parametrize("name", ["line.txt", "line.md"])
def test_a_very_long_line_is_split_without_losing_words(tmp_path: Path, name: str) -> None:
    words = [f"w{i}" for i in range(100_000)]  # ~600 kB on one line, no newline at all
    blocks = blocks_of(write(tmp_path, name, " ".join(words)))
    assert len(blocks) > 10
    assert all(len(b.text) <= extract_module.MAX_BLOCK for b in blocks)
    assert [w for b in blocks for w in b.text.split()] == words


def test_a_long_line_without_spaces_is_cut_hard(tmp_path: Path) -> None:
    blocks = blocks_of(write(tmp_path, "blob.txt", "x" * 100_000))
    assert all(len(b.text) <= extract_module.MAX_BLOCK for b in blocks)
    assert "".join(b.text for b in blocks) == "x" * 100_000


# --- Markdown details --------------------------------------------------------------------------

def test_markdown_front_matter_title(tmp_path: Path) -> None:
    path = write(tmp_path, "post.md", '---\nlayout: post\ntitle: "Hello, world"\n---\n'
                 "# Later heading\n\nBody.\n")
    doc = extract(path, max_bytes=BIG)
    assert doc.title == "Hello, world"
    assert [(b.heading, b.text) for b in doc.blocks] == [("Later heading", "Body.")]


def test_markdown_title_falls_back_to_a_nice_stem(tmp_path: Path) -> None:
    path = write(tmp_path, "my_notes--2024.md", "## Not level one\n\nText #hashtag.\n")
    doc = extract(path, max_bytes=BIG)
    assert doc.title == "my notes 2024"
    assert [(b.heading, b.text) for b in doc.blocks] == [("Not level one", "Text #hashtag.")]


def test_markdown_heading_forms_and_markup(tmp_path: Path) -> None:
    path = write(tmp_path, "forms.md", (
        "Setext One\n==========\n\n"
        "## Closed ##\n\n"
        "> Quoted *text* with __strong__, ~~old~~, a <br> tag, <https://x.org> and \\*stars\\*.\n"
        "\n---\n\n"  # a rule, not a heading (no paragraph above it)
        "1. first [ref link][r]\n2. second ![logo][l]\n\n"
        "[r]: https://example.com\n\n"
        "~~~\n## not a heading\n~~~\n"
        "####### seven hashes is text\n"))
    doc = extract(path, max_bytes=BIG)
    assert doc.title == "Setext One"
    assert [(b.heading, b.text) for b in doc.blocks] == [
        ("Setext One > Closed", "Quoted text with strong, old, a tag, https://x.org and *stars*."),
        ("Setext One > Closed", "first ref link second"),
        ("Setext One > Closed", "## not a heading"),
        ("Setext One > Closed", "####### seven hashes is text"),
    ]


# --- HTML details ------------------------------------------------------------------------------

def test_html_declared_charset_and_title_fallbacks(tmp_path: Path) -> None:
    page = ('<html><head><meta charset="windows-1252"></head><body><h1>Caf\u00e9 “menu”</h1>'
            "<p>Tea \u20ac2</p></body></html>").encode("cp1252")
    doc = extract(write(tmp_path, "menu.htm", page), max_bytes=BIG)
    assert (doc.title, doc.encoding) == ("Café “menu”", "cp1252")
    assert [b.text for b in doc.blocks] == ["Tea €2"]
    bare = extract(write(tmp_path, "bare_page.html", "just <i>loose</i> text"), max_bytes=BIG)
    assert bare.title == "bare page" and [b.text for b in bare.blocks] == ["just loose text"]


def test_deeply_nested_html_does_not_recurse(tmp_path: Path) -> None:
    page = "<div>" * 3000 + "<p>deep</p>" + "</div>" * 3000
    assert [b.text for b in blocks_of(write(tmp_path, "deep.html", page))] == ["deep"]


# --- iter_files --------------------------------------------------------------------------------

def test_iter_files_walks_sorted_and_skips_hidden_and_unsupported(tmp_path: Path) -> None:
    for name in ["b.md", "a.txt", "c.PDF", "skip.docx", ".hidden.txt", "sub/z.html",
                 "sub/deeper/y.htm", ".git/config.txt", "sub/.cache/x.md"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        write(tmp_path, name, "x")
    (tmp_path / "link").symlink_to(tmp_path / "sub", target_is_directory=True)
    found = [p.relative_to(tmp_path).as_posix() for p in iter_files([tmp_path])]
    assert found == ["a.txt", "b.md", "c.PDF", "sub/deeper/y.htm", "sub/z.html"]
    # a file named directly comes once, even if its directory is named too
    again = list(iter_files([tmp_path / "b.md", tmp_path, tmp_path / ".hidden.txt"]))
    assert again[0] == tmp_path / "b.md" and again.count(tmp_path / "b.md") == 1
    assert tmp_path / ".hidden.txt" in again  # named explicitly: taken


def test_iter_files_refuses_bad_names_before_yielding(tmp_path: Path) -> None:
    good = write(tmp_path, "good.txt", "x")
    with pytest.raises(IngestError, match=r"does not exist"):
        iter_files([good, tmp_path / "missing.md"])
    with pytest.raises(IngestError, match=r"unsupported file type '\.xlsx'; supported: \.htm"):
        iter_files([good, write(tmp_path, "sheet.xlsx", "x")])


def test_extracted_document_can_be_built_by_hand() -> None:
    doc = ExtractedDocument(path=Path("manual"), kind="text", title="Manual",
                            blocks=iter([Block("", "hello")]))
    assert doc.encoding is None and next(doc.blocks).text == "hello"


# --- bounded memory ----------------------------------------------------------------------------

def test_40_mb_text_streams_in_bounded_memory(tmp_path: Path) -> None:
    """~40 MB through extract + chunk_blocks: peak traced memory stays under 2 MB (0.54 MB
    measured), so nothing grows with the file.  The 200 MB file goes through the whole ingest
    in tests/integration/test_bad_input.py; here tracemalloc makes each MB cost ~0.3 s."""
    paragraph = ("The kettle boils one litre in two minutes and switches off by itself; the "
                 "café manual says so. Descale it monthly with vinegar, then rinse twice.\n") * 5
    unit = ((paragraph + "\n") * 300).encode()
    path = tmp_path / "huge.txt"
    with path.open("wb") as fh:
        for _ in range(40 * 2**20 // len(unit)):
            fh.write(unit)
        fh.write(("€uro " * 400_000).encode())  # 2.4 MB in one line without a newline
    size_mb = path.stat().st_size / 2**20
    tracemalloc.start()
    try:
        start = time.perf_counter()
        base = tracemalloc.get_traced_memory()[0]
        doc = extract(path, max_bytes=2**30)
        chunks = longest = 0
        for chunk in chunk_blocks(doc.blocks, chunk_chars=1000, overlap_chars=150):
            chunks += 1
            longest = max(longest, len(chunk.text))
        elapsed = time.perf_counter() - start
        peak = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    finally:
        tracemalloc.stop()
    print(f"\n{size_mb:.0f} MB -> {chunks} chunks in {elapsed:.1f} s under tracemalloc "
          f"({size_mb / elapsed:.1f} MB/s), peak traced {peak:.2f} MB")
    assert chunks > 50_000 and longest <= 1000
    assert peak < 2


def test_markdown_streams_too(tmp_path: Path) -> None:
    """A 3 MB Markdown file never sits in memory whole: peak traced memory stays under 2 MB."""
    section = ("## Care\n\nThe kettle boils **one litre** in [two minutes](http://x).\n"
               "Descale it monthly.\n\n- with vinegar\n- then rinse\n\n"
               "```\nkettle --descale\n```\n\n")
    path = write(tmp_path, "big.md", "# Manual\n\n" + section * (3 * 2**20 // len(section)))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        doc = extract(path, max_bytes=2**30)
        count = sum(1 for _ in chunk_blocks(doc.blocks, chunk_chars=1000, overlap_chars=150))
        peak = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    finally:
        tracemalloc.stop()
    assert doc.title == "Manual" and count > 2_000
    print(f"\npeak traced {peak:.2f} MB")
    assert peak < 2


def test_a_markdown_table_row_is_a_block_that_names_its_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "uids.md", "# UIDs\nThe ranges:\n\n| UID | Purpose | Listed in |\n"
                 "|----:|---------|-----------|\n|   0 | `root` user | /etc/passwd |\n"
                 "| 1…4 | System users | |\nAfter the table.\n")
    assert [(b.heading, b.text) for b in blocks_of(path)] == [
        ("UIDs", "The ranges:"),
        ("UIDs", "UID: 0; Purpose: root user; Listed in: /etc/passwd."),
        ("UIDs", "UID: 1…4; Purpose: System users."),
        ("UIDs", "After the table."),
    ]
