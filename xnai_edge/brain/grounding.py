"""Is what the LLM said backed by the passages?  (pure)

A tiny model paraphrases loosely and sometimes invents a name or a number.  We accept an LLM
sentence only if every content word in it appears (after crude stemming) in the passages it
was shown or in the question, and every number in it appears verbatim in the passages.
"""

from __future__ import annotations

import re

from xnai_edge.brain.extractive import stem, stems
from xnai_edge.knowledge.text import key_terms

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_ABSTAIN = re.compile(r"\b(i don'?t know|i do not know|not (?:mentioned|stated|provided|given)|"
                      r"no information|cannot answer|can't answer|unknown)\b", re.IGNORECASE)


def unsupported_terms(answer: str, context: str, question: str) -> list[str]:
    allowed = stems(context) | stems(question)
    missing = [t for t in key_terms(answer) if stem(t) not in allowed]
    numbers = set(_NUMBER.findall(context))
    missing += [n for n in _NUMBER.findall(answer) if n not in numbers]
    return list(dict.fromkeys(missing))


def is_grounded(answer: str, context: str, question: str) -> bool:
    return bool(key_terms(answer)) and not unsupported_terms(answer, context, question)


def is_abstention(answer: str) -> bool:
    return bool(_ABSTAIN.search(answer))
