"""Question terms, crude stems and idf weights shared by sentence scoring and reranking (pure).

One place so that retrieval's sentence reranker and the answerer's sentence picker agree on
what "the question's words" are.  The idf is computed over the candidate sentences at hand, not
the whole corpus: that needs no index and is what distinguishes sentences *here*.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

from xnai_edge.knowledge.text import key_terms, words


def stem(word: str) -> str:
    """A deliberately crude stemmer: 'files' -> 'file', 'boiled'/'boiling' -> 'boil',
    'removes'/'removed' -> 'remov'; a possessive is its noun ("group's" -> 'group')."""
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif word.endswith("es") and word[:-2].endswith(("ss", "x", "z", "ch", "sh")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    if len(word) > 4 and word.endswith("e"):  # 'invade' meets 'invaded', 'invading'
        return word[:-1]
    return word


def stems(text: str) -> set[str]:
    return {stem(w) for w in words(text)}


def stem_list(text: str) -> list[str]:
    """Stems of every word, in order (for adjacency)."""
    return [stem(w) for w in words(text)]


# Words that frame a question rather than name its topic ("what happens if ...").
_SCAFFOLD = frozenset({"happen", "mean"})


def question_terms(question: str) -> list[str]:
    """The question's key terms, stemmed, in order, without repeats."""
    return list(dict.fromkeys(s for s in (stem(t) for t in key_terms(question))
                              if s not in _SCAFFOLD))


def idf(terms: Iterable[str], bags: Sequence[set[str]]) -> dict[str, float]:
    """Smoothed idf of each term over ``bags`` (always > 0, so every term counts a little)."""
    n = len(bags)
    return {t: math.log((n + 1) / (0.5 + sum(t in b for b in bags))) + 1.0 for t in terms}


def share(weights: dict[str, float], present: Iterable[str]) -> float:
    """The idf-weighted share of the terms in ``weights`` that are in ``present``."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    found = set(present)
    return sum(w for t, w in weights.items() if t in found) / total


def pairs(terms: Sequence[str]) -> list[tuple[str, str]]:
    """Neighbouring question terms: a sentence holding them close together is on topic."""
    return list(itertools.pairwise(terms))


def near_pairs(pair_list: Sequence[tuple[str, str]], sequence: Sequence[str],
               gap: int = 3) -> float:
    """Share of ``pair_list`` whose two terms occur within ``gap`` words in ``sequence``."""
    if not pair_list:
        return 0.0
    where: dict[str, list[int]] = {}
    for i, s in enumerate(sequence):
        where.setdefault(s, []).append(i)
    hits = 0
    for a, b in pair_list:
        pa, pb = where.get(a), where.get(b)
        if pa and pb and any(abs(i - j) <= gap for i in pa for j in pb):
            hits += 1
    return hits / len(pair_list)
