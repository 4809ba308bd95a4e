"""A short spoken answer cut out of the answer sentence (pure).

People answer "In 1169." rather than reading out a 40-word sentence.  The answer is the
sentence itself when it is short; otherwise a stretch of it: around the picked span when the
question asks for a kind of thing the sentence has (a date, a number, a name), kept short
because we know where the answer is; around the question's words, and longer, when it does not
(most "what ..." questions: on SQuAD dev, 15 words kept the answer of the right sentence 70% of
the time, 25 words 84%).  Always a piece of the sentence, so it stays grounded in the passage.
"""

from __future__ import annotations

import re

from xnai_edge.brain.span import answer_kind, pick_span, question_proper
from xnai_edge.brain.terms import question_terms, stems

_TOKEN = re.compile(r"\S+")
# The spare words of a typed answer's window go a quarter before the span and the rest after
# it: what completes a number or a date follows it ("by less than two percent per year").
# SQuAD dev fit half, contains gold: half before 0.588, a third 0.590, a quarter 0.591.
BEFORE_SHARE = 4


def short_answer(question: str, sentence: str, max_words: int,
                 typed_words: int | None = None) -> str:
    """At most ``max_words`` of ``sentence``; at most ``typed_words`` when the question asks for
    a date, number, name, place or command and the sentence has one (we know where it is)."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(sentence)]
    # A name is no better a guess than the words after the question's for "what ...?"; and an
    # option is often one of a pair ("-1 or --fast"), which the clause keeps whole.
    span = None if answer_kind(question) in ("other", "option") else \
        pick_span(question, sentence)
    if span is not None and typed_words is not None:
        max_words = min(max_words, typed_words)
    if len(tokens) <= max_words:
        return sentence
    asked = _asked(question)
    anchors = [i for i, (a, b) in enumerate(tokens) if stems(sentence[a:b]) & asked]
    colon = sentence.find(": ")
    before = sum(tokens[a][1] <= colon for a in anchors)
    if colon > 0 and anchors and before >= len(anchors) - before:
        # "... these types of files: plain text, Markdown, ...": what follows the colon.
        listed = sentence[colon + 2:].strip()
        if 0 < len(listed.split()) <= max_words:
            return listed
    if span is not None:
        first = next(i for i, (a, b) in enumerate(tokens) if b > span.start)
        last = max(i for i, (a, _) in enumerate(tokens) if a < span.start + len(span.text))
        start, end = _around(first, last, anchors, len(tokens), max_words)
    elif (clauses := _clauses(question, sentence, max_words)) is not None:
        start, stop = clauses
        if _HOW.match(question_proper(question)):
            # "How ...?" is answered by what follows the clause that restates the question
            # ("..., either by setting $AVAHI_BROWSE_DOMAINS"): a few words after it too.
            first = next(i for i, (a, _) in enumerate(tokens) if a >= start)
            said = len(sentence[start:stop].split())
            last = _after(sentence, tokens, first + said - 1, HOW_EXTRA_WORDS)
            last = min(len(tokens) - 1, first + max_words - 1, last)
            stop = max(stop, tokens[last][1])
        return sentence[start:stop].strip(" ,;:")
    elif anchors:
        start, end = _best_window(anchors, len(tokens), max_words)
    else:
        start, end = 0, max_words - 1
    stop = tokens[end][1]
    if span is not None:  # the window's spare words stop at the next clause: no "...; the"
        semi = sentence.find("; ", span.start + len(span.text), stop)
        stop = semi if semi > 0 else stop
    return sentence[tokens[start][0]:stop].strip().rstrip(",;:")


HOW_EXTRA_WORDS = 5
"""At most this many words after the clauses for "how": the way is said in the first few
("either by setting $AVAHI_BROWSE_DOMAINS"), and the answer stays short (manual-dev2: 0, 5,
8 extra words gave 0.575, 0.60, 0.60 right; median 15 / 15.5 / 15.5 words)."""
_HOW = re.compile(r"\s*how\b(?!\s+(?:many|much|long|old|far|big|large|tall|high|deep|wide|"
                  r"fast|often|heavy|soon)\b)", re.IGNORECASE)


def _after(sentence: str, tokens: list[tuple[int, int]], last: int, extra: int) -> int:
    """The index of the ``extra``-th token after ``last`` that is not inside parentheses: an
    aside ("... command sockets (by default listening on localhost) by adding cmdport 0 to
    the configuration file") does not use up the words that say how."""
    depth = 0
    while extra > 0 and last + 1 < len(tokens):
        last += 1
        word = sentence[tokens[last][0]:tokens[last][1]]
        depth += word.count("(")
        if depth == 0:
            extra -= 1
        depth = max(0, depth - word.count(")"))
    return last


def _asked(question: str) -> set[str]:
    """The question's key words (stems): "the", "in", "of" anchor nothing."""
    return set(question_terms(question)) or stems(question)


_CLAUSE = re.compile(r"(?<=[,;:])\s+|\s+(?=\((?!\d))|\s+(?=(?:which|while|whereas|although|"
                     r"but)\b)")


def _clauses(question: str, sentence: str, max_words: int) -> tuple[int, int] | None:
    """Where the run of whole clauses holding the most *different* question words (then the
    most clauses) within ``max_words`` starts and ends: a clause is a unit a listener can
    follow, a word window is not.  Different words, as clauses that repeat the topic ("the
    main server ...") are not the one that answers (SQuAD dev contains gold, fit half 0.619
    -> 0.620, report half 0.669 -> 0.671)."""
    bounds, start = [], 0
    for m in _CLAUSE.finditer(sentence):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(sentence)))
    # Offsets, not texts: a clause can repeat an earlier one (", ,"), and a search for its
    # text would find the earlier one and overrun the limit (found by Hypothesis).
    bounds = [(a, b) for a, b in bounds if sentence[a:b].strip()]
    parts = [sentence[a:b] for a, b in bounds]
    asked = _asked(question)
    found = [stems(p) & asked for p in parts]
    best: tuple[tuple[int, int, int], int, int] | None = None
    for i in range(len(parts)):
        n = 0
        covered: set[str] = set()
        for j in range(i, len(parts)):
            n += len(parts[j].split())
            if n > max_words:
                break
            covered |= found[j]
            key = (len(covered), j - i, -n)
            if best is None or key > best[0]:
                best = (key, i, j)
    if best is None:
        return None
    _, i, j = best
    return bounds[i][0], bounds[j][1]


def _around(first: int, last: int, anchors: list[int], n: int, size: int) -> tuple[int, int]:
    """A window of ``size`` tokens holding [first, last] and as many of the nearest anchors
    (question words) as fit; what is left over is shared out on both sides, mostly after."""
    if last - first + 1 >= size:
        return first, first + size - 1
    lo, hi = first, last
    for a in sorted(anchors, key=lambda a: min(abs(a - first), abs(a - last))):
        if max(hi, a) - min(lo, a) + 1 > size:
            break
        lo, hi = min(lo, a), max(hi, a)
    lo = max(0, lo - (size - (hi - lo + 1)) // BEFORE_SHARE)
    hi = min(n - 1, lo + size - 1)
    return max(0, hi - size + 1), hi


def _best_window(anchors: list[int], n: int, size: int) -> tuple[int, int]:
    """The window with the most anchors, starting just before its first anchor."""
    best = (0, 0)
    for a in anchors:
        lo = max(0, a - 2)
        hits = sum(lo <= x < lo + size for x in anchors)
        if hits > best[0]:
            best = (hits, lo)
    lo = min(best[1], max(0, n - size))
    return lo, min(n - 1, lo + size - 1)
