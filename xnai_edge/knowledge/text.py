"""Word-level helpers shared by retrieval and the grounded answerer (pure)."""

from __future__ import annotations

import itertools
import re

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves also many much whose did does one ones may might shall
s t don doesn isn aren wasn weren won tell please know kind type name called
""".split())


def words(text: str) -> list[str]:
    """Lower-case word tokens (letters and digits, inner apostrophes kept)."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


# A command-line option: "-t", "--no-name" (not the hyphen inside "e-mail", not a dash "--").
_OPTION = re.compile(r"(?<![\w-])--?([^\W_][\w-]*)")


def key_terms(text: str) -> list[str]:
    """The words that carry meaning, in order, without repeats.  The words of an option
    ("-t", "-s", "--no-name") always do, stop word or not: in "what does the -t option do?"
    the "t" is the whole question."""
    options = {w for m in _OPTION.finditer(text) for w in words(m.group(1))}
    seen: dict[str, None] = {}
    for word in words(text):
        if word not in STOPWORDS or word in options:
            seen.setdefault(word, None)
    return list(seen)


MIN_JOINED = 5
"""Shortest word two neighbours make together that is asked for ("login", "setup")."""


def joined_pairs(text: str) -> list[str]:
    """Two neighbouring words written as one, as documents often spell them: "in flight" ->
    "inflight", "user name" -> "username", "log in" -> "login".  Not two stop words, and not
    a stop word ("in to" -> "into")."""
    tokens = words(text)
    out: dict[str, None] = {}
    for a, b in itertools.pairwise(tokens):
        joined = a + b
        if (len(joined) >= MIN_JOINED and joined not in STOPWORDS
                and not (a in STOPWORDS and b in STOPWORDS) and joined.isalpha()):
            out.setdefault(joined, None)
    return list(out)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression: any of the key terms (quoted, so no FTS syntax leaks in), or
    of two neighbouring words written as one (``joined_pairs``: a word the documents do not
    have matches nothing and costs nothing)."""
    terms = key_terms(text) or list(dict.fromkeys(words(text)))
    if not terms:
        return None
    terms += [t for t in joined_pairs(text) if t not in terms]
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
