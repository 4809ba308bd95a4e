"""Follow-up questions: "and how do I remove one?" leans on the question before it (pure).

A follow-up that is elliptical (starts with "and", "what about", ...) or points back with a
pronoun ("it", "one", "them") does not name its topic; the previous question does.  Its key
words are carried into retrieval and count half in sentence scoring, so the answer comes from
the section the conversation is about rather than any sentence that happens to say "remove".
"""

from __future__ import annotations

import re

from xnai_edge.knowledge.text import key_terms, words

_LEAD = re.compile(r"^\s*(and|but|so|also|then|or|what about|how about|and what about)\b",
                   re.IGNORECASE)
_POINTERS = frozenset("it its one ones them they their theirs that this those these he she "
                      "him her his there such".split())


def is_follow_up(question: str) -> bool:
    """Does the question lean on an earlier one?"""
    if _LEAD.match(question):
        return True
    ws = words(question)
    return bool(_POINTERS & set(ws)) or len(key_terms(question)) <= 1


def needs_context(question: str) -> bool:
    """Worded as the continuation of a conversation ("and how do I remove them?") with at most
    one word of its own: without the previous turn, what it is about is unknown."""
    return bool(_LEAD.match(question)) and len(key_terms(question)) <= 1


def carried_terms(question: str, previous: tuple[str, str] | None) -> str:
    """Key words of the previous question the follow-up does not already say ('' if none)."""
    if previous is None or not is_follow_up(question):
        return ""
    own = set(key_terms(question))
    return " ".join(t for t in key_terms(previous[0]) if t not in own)


def rewrite(question: str, carried: str) -> str:
    """The retrieval query: the follow-up with the carried words added."""
    return f"{question} {carried}".strip() if carried else question
