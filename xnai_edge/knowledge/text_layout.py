"""Headings and definition terms of a plain-text document, read from its layout (pure).

Plain-text manuals (man pages rendered to text, READMEs, exported docs) carry their structure
in indentation, not markup: a section heading sits at the left margin above indented text
("OPTIONS"), and an entry of a definition list is a short line with its description indented
under it ("-k --keep" / "Keep (don't delete) input files ...", "plugdev" / "Members of this
group ...").  Read as flat paragraphs, an option's name runs into its description, nothing
says which section a sentence is in, and the answer to "which option keeps the files?" is in no
sentence at all.  So paragraphs are given headings here: the section, and the entry's term
("OPTIONS > -k --keep"), which the chunker keeps per chunk and retrieval and the answerer read
(a chunk never mixes two entries).  Lines indented deeper than the text around them (command
examples, nested field lists) become one block per line, so each is a unit of its own; only
inside a section or entry, so indented prose before any heading keeps its sentences whole.

Numbered section titles ("2. Configuration issues", "2.1. How do I make an NTP server?" on a
paragraph of their own at the margin: an FAQ or a guide exported to text) nest by their
numbers; one with nothing under it but the next number of its level is a numbered list's item,
and stays text.  A "Contents" section's list of numbered titles (the titles again, which would
answer every question with the question) is left out; any other text under it is kept.

Streaming: one paragraph of look-ahead (is the text under a lone short line indented? is a
numbered title followed by text?).  A document without indentation gets headings only from
ALL-CAPS lines, ===/--- underlines and section numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_RULE = re.compile(r"^\s*[_=\-*~]{5,}\s*$")
_UNDERLINE = re.compile(r"^\s*(?:={3,}|-{3,})\s*$")
# Two spaces after a full stop end a sentence even before a small letter: man pages (groff)
# set them so, and there a sentence may start with a command's name ("... to the kernel
# command line.  systemd will ...").  The chunker collapses spaces, so the break is kept as a
# paragraph break.  One space before a small letter is no break ("approx. two").
_WIDE_STOP = re.compile(r"(?<=[.!?]) {2,}(?=[a-z])|(?<=[.!?][\"')\]]) {2,}(?=[a-z])")
# A setting's name at the start of its paragraph, its description on the same line
# (avahi-daemon.conf(5): "use-ipv6= Takes a boolean value ...").
_RUN_IN = re.compile(r"([A-Za-z][\w.-]*=)\s+(?=\S)")
_BROKEN_WORD = re.compile(r"(?<=\w)-\n(?=[a-z])")
# "2.1. What is ...?", "2. Usage", "2.1 Files": a section number, then the title.
_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)(\.?)\s+(?=\S)")
_CONTENTS = re.compile(r"(?:table of )?contents", re.IGNORECASE)
_CONTENTS_LINE = re.compile(r"\s*(?:[o?*•·-]\s+)?\d+(?:\.\d+)*\.?\s+\S")
"""A line of a contents list: "  o 1. chrony compared to other programs", "? 2.1. What is ..."."""
MAX_NUMBERED_CHARS = 120
"""A numbered title may be a whole question ("2.4. Must I specify servers by IP address if DNS
is not available on chronyd start?", 82 characters), wrapped over two lines."""
MAX_HEADING_WORDS = 8
MAX_HEADING_CHARS = 60
MAX_TERM_WORDS = 12
MAX_TERM_CHARS = 80


@dataclass(frozen=True)
class Paragraph:
    """A run of text under ``heading`` ("Section > term", "" when none)."""

    heading: str
    text: str


def indent(line: str) -> int:
    expanded = line.expandtabs(8)
    return len(expanded) - len(expanded.lstrip(" "))


def _is_heading(line: str) -> bool:
    text = line.strip()
    return (0 < len(text) <= MAX_HEADING_CHARS and len(text.split()) <= MAX_HEADING_WORDS
            and text[-1] not in ".,;:!?" and any(c.isalpha() for c in text))


def _is_caps(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return _is_heading(line) and len(letters) >= 2 and all(c.isupper() for c in letters)


def number_depth(lines: list[str]) -> int:
    """How deep the section number that ``lines`` start with at the margin is ("2." 1, "2.1."
    and "2.1" 2); 0 when there is none ("3 eggs" is none either)."""
    m = _NUMBERED.match(lines[0]) if lines and indent(lines[0]) == 0 else None
    if m is None or ("." not in m.group(1) and not m.group(2)):
        return 0
    return m.group(1).count(".") + 1


def numbered_level(lines: list[str]) -> int:
    """``number_depth`` when ``lines`` are a numbered section title; 0 when they are none: over
    two lines, or ending as a sentence or a lead-in does ("1. Unpack the archive.", "2.
    Then:")."""
    depth = number_depth(lines)
    if not depth or len(lines) > 2:
        return 0
    text = " ".join(line.strip() for line in lines)
    if len(text) > MAX_NUMBERED_CHARS or text[-1] in ".,;:":
        return 0
    return depth if any(c.isalpha() for c in _NUMBERED.sub("", text)) else 0


def _is_term(line: str) -> bool:
    text = line.strip()
    return 0 < len(text) <= MAX_TERM_CHARS and len(text.split()) <= MAX_TERM_WORDS


def _term_lines(lines: list[str]) -> int:
    """How many lines the entry's term at the top of ``lines`` takes (0: none): one, or more
    when a list of names wraps at a comma onto a line of the same indentation
    ("SystemMaxUse=, SystemKeepFree=, ...," / "RuntimeMaxUse=, ...")."""
    if not _is_term(lines[0]):
        return 0
    head = 1
    while (head < len(lines) - 1 and lines[head - 1].rstrip().endswith(",")
           and indent(lines[head]) == indent(lines[0]) and _is_term(lines[head])):
        head += 1
    return head


class Layout:
    """Feed the paragraphs of a document (raw, with their indentation); get them back with
    the section and entry they belong to."""

    def __init__(self) -> None:
        self.section = ""
        self.section_indent: int | None = None
        """Indentation of the section's body text (deeper lines are examples/lists)."""
        self.term = ""
        self.term_indent = 0
        self.body_indent = 0
        self.numbered: list[tuple[int, str]] = []
        """The numbered titles the text is under, outermost first, with their depth."""
        self._pending: str | None = None
        self._pending_level = 0

    def heading(self) -> str:
        return " > ".join(p for p in (self.section, self.term) if p)

    def feed(self, raw: str) -> Iterator[Paragraph]:
        lines = [line for line in raw.splitlines() if line.strip()]
        underlined = (len(lines) >= 2 and bool(_UNDERLINE.match(lines[1]))
                      and _is_heading(lines[0]))
        lines = [line for i, line in enumerate(lines)
                 if not _RULE.match(line) and not (underlined and i == 1)]
        if not lines:
            return
        level = 0 if underlined else numbered_level(lines)
        if self._pending is not None:
            pending, self._pending = self._pending, None
            if self._pending_level:
                if 0 < number_depth(lines) <= self._pending_level:  # a list's item
                    yield from self._body([pending])
                else:
                    self._start_numbered(pending, self._pending_level)
            elif indent(lines[0]) > indent(pending) or _is_caps(pending):
                self._start_section(pending)
            else:
                yield from self._body([pending])
        self._pending_level = level
        if level:
            self._pending = " ".join(line.strip() for line in lines)
            return
        if underlined:
            self._start_section(lines[0])
            lines = lines[1:]
        elif len(lines) == 1 and indent(lines[0]) == 0 and _is_heading(lines[0]):
            self._pending = lines[0]
            return
        elif (len(lines) >= 2 and indent(lines[0]) == 0 and _is_heading(lines[0])
              and all(indent(line) > 0 for line in lines[1:])):
            self._start_section(lines[0])
            lines = lines[1:]
        if lines:
            yield from self._body(lines)

    def flush(self) -> Iterator[Paragraph]:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            yield from self._body([pending])

    def _start_section(self, line: str) -> None:
        self.section, self.section_indent, self.term = line.strip(), None, ""
        self.numbered = []

    def _start_numbered(self, title: str, level: int) -> None:
        self.numbered = [(d, t) for d, t in self.numbered if d < level] + [(level, title)]
        self.section, self.section_indent, self.term = (
            " > ".join(t for _, t in self.numbered), None, "")

    def _body(self, lines: list[str]) -> Iterator[Paragraph]:
        if _CONTENTS.fullmatch(self.section) and 2 * sum(
                _CONTENTS_LINE.match(line) is not None for line in lines) >= len(lines):
            return  # the numbered titles that follow, listed once more
        first = indent(lines[0])
        if self.term and first <= self.term_indent:
            self.term = ""  # back at (or left of) the entry's margin: the entry is over
        head = _term_lines(lines)
        if (head and len(lines) > head
                and all(indent(line) > first for line in lines[head:])):
            self.term = " ".join(line.strip() for line in lines[:head])
            self.term_indent, self.body_indent = first, indent(lines[head])
            yield from self._paragraphs(lines[head:])
            return
        run_in = _RUN_IN.match(lines[0].strip())
        if run_in and self.section and (self.section_indent is None
                                        or first <= self.section_indent):
            # "host-name= Set the host name ...": a setting's name run into its description.
            self.term, self.term_indent, self.body_indent = run_in.group(1), first, first
            if self.section_indent is None:
                self.section_indent = first
            yield from self._paragraphs([lines[0].strip()[run_in.end():], *lines[1:]])
            return
        margin = self.body_indent if self.term else self.section_indent
        if margin is None and self.section:
            self.section_indent = margin = first
        if margin is not None and first > margin:
            for line in lines:  # an example or a nested list: one unit per line
                yield Paragraph(self.heading(), line.strip())
        else:
            yield from self._paragraphs(lines)

    def _paragraphs(self, lines: list[str]) -> Iterator[Paragraph]:
        """The text of ``lines``, cut at every wide full stop (see ``_WIDE_STOP``); a word
        broken at its own hyphen across lines is whole again ("avahi-" / "daemon")."""
        text = _BROKEN_WORD.sub("-", "\n".join(line.strip() for line in lines))
        for part in _WIDE_STOP.split(text):
            yield Paragraph(self.heading(), part)


def layout(paragraphs: Iterable[str]) -> Iterator[Paragraph]:
    """``Layout`` over a stream of raw paragraphs."""
    reader = Layout()
    for raw in paragraphs:
        yield from reader.feed(raw)
    yield from reader.flush()
