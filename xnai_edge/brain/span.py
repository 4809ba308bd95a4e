"""What kind of thing the question asks for, and the shortest span of a sentence that is one.

"When ..." wants a date, "how many ..." a number, "who ..." a name.  A sentence that holds a
candidate of that type (one the question does not already contain) is likelier to answer it,
and the candidate is what a person would say.  Patterns, not a model: they work on any English
document, and every span is cut out of the sentence itself (never invented).  Pure.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from xnai_edge.brain.terms import question_terms, stems
from xnai_edge.knowledge.text import STOPWORDS

_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|"
          r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?")
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_NUMWORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
            r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|"
            r"sixty|seventy|eighty|ninety|hundred|thousand|million|billion|dozen|half|several)")
_DATE = re.compile(
    rf"\b(?:(?:early|late|mid|the)[ -])?(?:\d{{1,2}} {_MONTH},? \d{{3,4}}|{_MONTH} \d{{1,2}}"
    rf"(?:st|nd|rd|th)?,? \d{{3,4}}|{_MONTH},? \d{{3,4}}|{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?|"
    rf"\d{{3,4}}s?(?:\s?(?:BC|AD|BCE|CE))?|\d{{1,2}}(?:st|nd|rd|th)(?: (?:to|and|or) "
    rf"\d{{1,2}}(?:st|nd|rd|th))? centur(?:y|ies)|{_MONTH}|{_WEEKDAY}|"
    rf"\d{{1,2}}(?::\d\d)? ?(?:am|pm|a\.m\.|p\.m\.)|noon|midnight)\b")
_NUMBER = re.compile(
    rf"(?:[$£€]\s?)?\b(?:(?<![A-Za-z]-)\d+(?:,\d{{3}})*(?:\.\d+)?|{_NUMWORD})"
    rf"(?:[ -](?:{_NUMWORD}|percent|per cent|%))*(?:\s?%)?(?-i: [a-z]+)?", re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+(?:of|the|de|von|van|and|du|da|al|bin|la|le|"
                   r"del|y)?\s*[A-Z][\w'’.-]*)*")
_PATH = re.compile(r"(?<![\w/])(?:~|\$\w+)?(?:/[\w.@-]+)+/?")
_CODE = re.compile(r"`[^`]+`|(?<!\w)(?:/[\w.-]+)+/?|\b[\w.-]+ [\w-]+ (?:--?[\w-]+|[A-Z]{3,})\b")
"""Marked code, a path, or "word word --option" / "word word PLACEHOLDER" ("kb remove PATH";
three capitals at least, so that "a 16 GB" is no command)."""

# "What uid does www-data have?", "What is the default block size?", "Which port ...?": a
# technical document's quantities, asked for by their name rather than by "how many".
_MEASURE = re.compile(
    r"(?:what|which)(?: (?:is|are|was|were|does|do|did))?(?: (?:the|a|an|its|their))?"
    r"(?: [\w-]+){0,2}? (?:uid|gid|pid|id|port|version|size|length|limit|count|timeout|"
    r"interval|delay|duration|capacity|voltage|ratio|rate|level(?! of))s?\b")

# "Which setting controls how many records are cached?" asks for the setting, not a number:
# the entry's name answers it (``entry.name_entry``).
_NAMED_THING = re.compile(r"(?:which|what) (?:setting|option|parameter|variable|directive|"
                          r"switch|flag|key)s?\b")

_ASKS_OPTION = re.compile(r"(?:^|, )(?:which|what) (?:(?:command[- ]line )?(?:option|flag|"
                          r"switch)|environment variable)s?\b")
"""A question for a command-line option or an environment variable: in a manual's option list
the option is the entry's term (``entry.name_entry``); in an FAQ or a guide it sits in a
sentence ("use the --run-libc-freeres=no option", "export GLIBCXX_FORCE_NEW").  Also after a
phrase that sets the scene ("With GCC 3.4, which environment variable ...?")."""
_OPTION = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*(?:=[^\s,;:)'\"]+)?")
_ENVIRONMENT = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")
_LAST_QUESTION = re.compile(r"[.!?]\s+((?:what|which|who|whom|whose|how|where|when|why)\b[^.!?]*"
                            r"[.!?]?)\s*$", re.IGNORECASE)
"""The question proper after a sentence that sets the scene ("My program crashes at exit.
Which option works around that?")."""

KINDS = ("date", "number", "person", "place", "command", "option", "other")


@dataclass(frozen=True)
class Span:
    text: str
    start: int
    """Character offset in the sentence; ``sentence[start:start + len(text)] == text``."""
    kind: str


_AUX = r"(?:did|was|were|is|are|do|does|will|would|can|could|has|have|had|should|may|might)"
_LEADING_CLAUSE = re.compile(
    rf"(?:when|if|while|after|before|once) (?!(?:{_AUX}|what|which|who|whom|whose|how|where)\b)"
    r"([^,?]+)(?:, )?")
"""A condition in front of the question proper ("When root-squashing is used over NFS, which
user ...?", "When a pathogen is eaten it becomes trapped in what?"): "when" + a subject, not
"when" + an auxiliary ("when did ...") or a question word ("before what year ...?").  The kind
is read from what follows the comma."""

_AGENT = re.compile(r"(\b(?:was|were|is|are|been|be) )?([\w'’]+) by(?: [\w'’-]+){0,4} $")
"""What comes before a name that does the verb: "designed by ", "was written by the artist "."""

_HABITUAL_WHEN = re.compile(r"when (?:do|does|is|are|can|could|should|will|would|may)\b")
""""When do treaties apply?", "When is the debate held?": asked of a rule or a habit, answered
as often by a condition ("as soon as they enter into force") as by a date."""


def question_proper(question: str) -> str:
    """The question after a sentence that sets its scene: what it asks for is asked there
    ("Restic doesn't record access times by default. Which option makes it save atime?" asks
    for an option, not a default)."""
    last = _LAST_QUESTION.search(question)
    return last.group(1) if last else question


@functools.lru_cache(maxsize=64)
def answer_kind(question: str) -> str:
    """date / number / person / place / command / option / other, from the question's
    wording.  Asked once for every candidate sentence of an answer, so it is remembered."""
    q = " ".join(question_proper(question).lower().split())
    clause = _LEADING_CLAUSE.match(q)
    if clause:
        q = q[clause.end():] if clause.group(0).endswith(", ") else ""
    if _ASKS_OPTION.search(q):
        return "option"
    if _NAMED_THING.match(q):
        return "other"
    if re.match(r"(when|in what (year|month|decade|century)|what (year|month|day|date|decade|"
                r"century|time|period|era)|which (year|month|century|decade)|since when|"
                r"by what year|during what)\b", q) or re.search(
                    r"\b(what|which) (year|month|date|decade|century)\b", q):
        return "date"
    if re.match(r"(how (many|much|long|old|far|big|large|tall|high|deep|wide|fast|often|heavy)"
                r"|what (percentage|percent|number|amount|proportion|share|fraction|size|"
                r"population|age|distance|temperature|speed|price|cost))\b", q) or \
            re.search(r"\b(how many|how much|what percentage|how long)\b", q) or \
            _MEASURE.match(q):
        return "number"
    if re.match(r"(who|whom|whose|what (person|man|woman|group|company|organi[sz]ation|"
                r"king|queen|president|emperor|scientist|team|band))\b", q) or \
            re.search(r"\b(by whom|to whom|(?:which|what) (?:person|people|individual))\b", q):
        return "person"
    if re.match(r"(where|what (country|city|state|place|region|area|continent|town|location|"
                r"river|island|nation)|which (country|city|state|place|region|continent|town|"
                r"river|island|nation)|in (which|what) (country|city|state|region|town))\b", q):
        return "place"
    if re.match(r"how (do|can|should|would) (i|you|we|one)\b", q) or \
            re.search(r"\b(command|run|type)\b", q):
        return "command"
    return "other"


def candidates(question: str, sentence: str, kind: str | None = None) -> list[Span]:
    """Spans of ``sentence`` of the question's kind, not made only of the question's words.
    A number the question holds itself ("... in 2010?", "Super Bowl 50") is none either, and a
    stop word after a number is no unit ("19 of 28" gives "19"): number spans right where one
    is gold, SQuAD dev fit half 97 -> 102 of 132; contains gold report half 0.671 -> 0.672."""
    kind = kind or answer_kind(question)
    if kind in ("person", "place", "other"):
        pattern = _NAME
    else:
        pattern = {"date": _DATE, "number": _NUMBER, "command": _CODE, "option": _OPTION}[kind]
    if kind == "option" and "variable" in question.lower():
        pattern = _ENVIRONMENT
    asked = stems(question)
    found: list[Span] = []
    matches = list(pattern.finditer(sentence))
    if kind == "place":  # "Where is the configuration file?": a path is a place too
        matches = sorted([*matches, *_PATH.finditer(sentence)], key=lambda m: m.start())
    elif kind == "command":  # "How do I ...?": "use the --trace-children=yes option"
        matches = sorted([*matches, *_OPTION.finditer(sentence)], key=lambda m: m.start())
    for m in matches:
        text, start = m.group(0).rstrip(" ,;:"), m.start()
        if pattern is _NAME:
            first, _, rest = text.partition(" ")
            if first.lower() in _COMMON_STARTS:  # "The Normans" -> "Normans"
                text, start = rest.strip(), start + len(first) + 1
        elif pattern is _NUMBER:
            number, _, unit = text.rpartition(" ")
            if number and unit.lower() in STOPWORDS:  # "19 of 28" -> "19", not "19 of"
                text = number
            lead = stems(text.split()[0])  # "$ 5 million": "$" has none, so not the question's
            if lead and lead <= asked:  # the question's own "Super Bowl 50"
                continue
        if kind == "option":  # "--keep" answers "Which option keeps the files?"
            if not text or text.lower() in question.lower():
                continue
        elif not text or not (stems(text) - asked):
            continue
        found.append(Span(text, sentence.find(text, start), kind))
    if kind == "command" and any(f.text.startswith("`") for f in found):
        # The author marked the commands: a guess from the word shapes is worse than theirs.
        found = [f for f in found if f.text.startswith("`")]
    return found


_COMMON_STARTS = frozenset("the a an in on at it this that these those there he she they we "
                           "its his her their after before during when while however as by "
                           "for from of to with although since under despite following instead "
                           "many several some most both each all until upon".split())
"""Capitalised only because they open a sentence ("Under Kubiak, ..." names Kubiak)."""


def wants_value(question: str) -> bool:
    """The question asks for a number or a date, so an answer without one is no answer:
    "What uid does www-data have?" is not answered by "Some web servers run as www-data.".
    A habitual "when" ("When do treaties apply?") is left out (see ``_HABITUAL_WHEN``)."""
    kind = answer_kind(question)
    q = " ".join(question.lower().split())
    return kind == "number" or (kind == "date" and not _HABITUAL_WHEN.match(q))


def has_candidate(question: str, sentence: str) -> bool:
    """Does the sentence hold something of the kind the question asks for?"""
    kind = answer_kind(question)
    if kind == "other":
        return False
    return bool(candidates(question, sentence, kind))


def pick_span(question: str, sentence: str) -> Span | None:
    """The candidate of new words nearest to where the question's key words are in the sentence.

    Only key words place it ("the", "of" are everywhere), and only those outside the candidate
    itself: "Denver Broncos" holding the question's "Broncos" is not thereby the answer to
    "Who is the coach of the Broncos?" (SQuAD dev report half, contains gold 0.643 -> 0.651).
    Commands and numbers are the exception: the question's "install" inside "xnai-edge models
    install" is what makes it the answer to "How do I install the models?", and its "yards"
    inside "194 yards" the number asked by "How many yards ...?" (SQuAD dev fit half 0.611 ->
    0.615).  And a name after "<the question's verb> by" or "was <verb> by" answers "who"
    before any nearer one: the doer (fit half 0.615 -> 0.619, report half 0.668 -> 0.669).
    """
    spans = candidates(question, sentence)
    if not spans:
        return None
    asked = set(question_terms(question)) or stems(question)
    anchors = [m.start() for m in re.finditer(r"[\w'’]+", sentence)
               if stems(m.group(0)) & asked]
    if not anchors:
        return spans[0]

    def distance(span: Span) -> int:
        end = span.start + len(span.text)
        outside = anchors if span.kind in ("command", "option", "number") else \
            [a for a in anchors if not span.start <= a < end] or anchors
        return min(0 if span.start <= a <= end else min(abs(a - span.start), abs(a - end))
                   for a in outside)

    doer_named = re.search(r"\bby\s+\w", question, re.IGNORECASE) is not None

    def agent(span: Span) -> bool:
        """"... was designed by Tiffany & Co.": the doer of the question's verb, named after
        "by" (a few words of description between: "by the British rock group Coldplay").
        Not when the question names the doer itself ("Who was defeated by the Broncos?")."""
        if span.kind != "person" or doer_named:
            return False
        before = sentence[:span.start]
        m = _AGENT.search(before)
        return m is not None and (m.group(1) is not None or bool(stems(m.group(2)) & asked))

    return min(spans, key=lambda s: (not agent(s), distance(s), s.start))

