"""Sentence splitting, for picking answer sentences and for handing finished sentences to TTS.

A pure function plus a tiny incremental splitter: tokens go in, complete sentences come out.
"""

from __future__ import annotations

import re

_ABBREV = frozenset("mr mrs ms dr prof st sr jr vs etc e.g i.e no fig approx inc ltd co".split())
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])"
                       r"|(?<=[^\W\d_]{3}\.)\s+(?=[a-z])")
# Before a small letter only a plain word's full stop ends a sentence ("... in the past.
# chronyd is not portable"): a manual's sentence may start with a command's name.  Not these
# abbreviations ("et al. found", "approx. two"), nor a dotted word ("e.g.", "U.S.").
_ABBREV_BEFORE_SMALL = _ABBREV | frozenset(
    "al ave resp incl esp viz dept univ gen gov sgt capt col est misc corp bros blvd rev hon "
    "sen rep vol chap sec nos ibid cca".split())


def split_sentences(text: str) -> list[str]:
    """Split after . ! ? followed by space and a capital/digit, except after abbreviations
    and single initials ("J. S. Bach"); and after a plain word's full stop before a small
    letter (see ``_ABBREV_BEFORE_SMALL``)."""
    text = " ".join(text.split())
    if not text:
        return []
    out: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        candidate = text[start:match.start()].rstrip()
        last = candidate.rsplit(" ", 1)[-1].rstrip(".!?\"')]").lower()
        if last in _ABBREV or (len(last) == 1 and last.isalpha()):
            continue
        if text[match.end()].islower() and (not last.isalpha() or last in _ABBREV_BEFORE_SMALL):
            continue
        out.append(text[start:match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def passage_sentences(text: str) -> list[str]:
    """The sentences of a retrieved passage: a line break there is a block break (chunks join
    paragraphs, list items and option entries with one), so no sentence runs across it.

    Manuals are full of blocks without a full stop ("-k --keep", "root", "OPTIONS"); split as
    prose, "... decompressed. -V --version Version." and "... systems. postgres Postgresql
    databases ..." would be one sentence, which neither the picker nor the shortener can undo.
    """
    return [s for line in _continued(text.splitlines())
            for s in _labels_joined(split_sentences(line))]


def sentence_embedding_text(heading: str, sentence: str) -> str:
    """What the embedder sees of one sentence: the innermost heading's label in front, since
    "-r --recursive: Travel the directory structure recursively." is about ``-r``, which the
    sentence alone never says.  Ingest stores these vectors and the answerer asks for the
    same texts, so a stored vector is found by its text."""
    label = heading.rsplit(" > ", 1)[-1].strip()
    return f"{label}: {sentence}" if label else sentence


_ENDED = re.compile(r"[.!?][\"')\]]*\s*$")
BULLETS = frozenset("•◦▪▫‣●○■□►▸➢➤✓✔")
"""A line that starts with one of these is a list item of its own (a PDF's bullet list keeps
its glyphs: "• <MIME>/globs2 (contains ...)" is not the end of the item above it)."""


def _continued(lines: list[str]) -> list[str]:
    """A line that stops mid-sentence ("... can be recovered using", "For example:") runs on
    into a next line that does not start a sentence ("zcat file > recover"): a manual's
    example sits on its own line, and the sentence leading into it is its answer.  So does
    a line ending in "e.g." ("... generated with the command e.g." / "openssl dhparam ...").
    A bulleted line never runs on (``BULLETS``)."""
    out: list[str] = []
    for line in (line.strip() for line in lines):
        if not line:
            continue
        if out and not _ended(out[-1]) and not line[0].isupper() and line[0] not in BULLETS:
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def _ended(line: str) -> bool:
    """The line ends a sentence: a full stop that is not an abbreviation's ("... can be
    generated with the command e.g." runs on into its example)."""
    if not _ENDED.search(line):
        return False
    last = line.rsplit(" ", 1)[-1].rstrip(".!?\"')]").lower()
    return last not in _ABBREV


def _labels_joined(sentences: list[str]) -> list[str]:
    """A one-word sentence joined to the sentence after it: "Test. Check the
    compressed file integrity then quit." is one statement (a label and what it means), and
    "Test." alone answers nothing."""
    out: list[str] = []
    label = ""
    for i, sentence in enumerate(sentences):
        sentence, label = f"{label} {sentence}".lstrip(), ""
        if len(sentence.split()) == 1 and i < len(sentences) - 1:
            label = sentence
            continue
        out.append(sentence)
    return out


def window(text: str, sentence: str, radius: int = 1) -> str:
    """``sentence`` with up to ``radius`` sentences either side of it in passage ``text``."""
    sentences = passage_sentences(text)
    if sentence not in sentences:
        return sentence
    i = sentences.index(sentence)
    return " ".join(sentences[max(0, i - radius): i + radius + 1])


def clauses(sentence: str, min_chars: int = 60) -> list[str]:
    """A long sentence cut after commas/semicolons into parts of at least ``min_chars``, so
    speech synthesis can start on the first part (Piper's cost grows with length)."""
    parts: list[str] = []
    current = ""
    for piece in re.split(r"(?<=[,;:])\s+", sentence.strip()):
        current = f"{current} {piece}".strip()
        if len(current) >= min_chars:
            parts.append(current)
            current = ""
    if current:
        if parts and len(current) < min_chars // 3:
            parts[-1] = f"{parts[-1]} {current}"
        else:
            parts.append(current)
    return parts


class SentenceStream:
    """Feed text pieces; get back the sentences that are certainly complete."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, piece: str) -> list[str]:
        self._buffer += piece
        sentences = split_sentences(self._buffer)
        if len(sentences) <= 1:
            return []
        trailing = " " if self._buffer[-1:].isspace() else ""
        self._buffer = sentences[-1] + trailing
        return sentences[:-1]

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, ""
        return split_sentences(rest)
