"""Combining BM25 and dense scores into one ranking (pure functions).

Reciprocal rank fusion throws the scores away and keeps only ranks, so a passage that BM25 finds
far ahead of the rest counts no more than a narrow win.  We instead score *every* candidate of
either list with *both* retrievers (the retriever fills in the missing score), normalise each
score over the candidate set, and take a weighted sum.  On SQuAD dev this beats BM25, dense
and RRF alone (numbers in docs/retrieval.md, reproduced by ``make bench``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def minmax(scores: Mapping[int, float]) -> dict[int, float]:
    """Scale to [0, 1] over the candidates; all-equal scores become 1 (no information)."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi - lo <= 1e-12:
        return dict.fromkeys(scores, 1.0)
    return {key: (value - lo) / (hi - lo) for key, value in scores.items()}


def weighted_fusion(lexical: Mapping[int, float], dense: Mapping[int, float],
                    dense_weight: float) -> list[tuple[int, float]]:
    """Best first.  Candidates missing from one mapping get that retriever's minimum."""
    keys = set(lexical) | set(dense)
    lex_n = minmax({k: lexical.get(k, min(lexical.values(), default=0.0)) for k in keys})
    den_n = minmax({k: dense.get(k, min(dense.values(), default=0.0)) for k in keys})
    fused = {k: (1 - dense_weight) * lex_n.get(k, 0.0) + dense_weight * den_n.get(k, 0.0)
             for k in keys}
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def reciprocal_rank_fusion(*rankings: list[int], k: int = 60) -> list[tuple[int, float]]:
    """The classic baseline (Cormack et al. 2009); kept for the benchmark's anchor."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def sentence_rerank(query: str, ranked: Sequence[tuple[int, float]], texts: Mapping[int, str],
                    weight: float, closest: Mapping[int, float] | None = None,
                    closest_weight: float = 0.0) -> list[tuple[int, float]]:
    """Re-order the head of a fused ranking by its best *sentence*.

    BM25 and the embedding score a whole chunk; the answer is one sentence, and a chunk whose
    single sentence holds most of the question's rare words (close together) is a better bet
    than one that mentions them all once, far apart.  Adds ``weight`` x (idf-weighted share of
    the question's terms in the chunk's best sentence + half the share of neighbouring question
    terms found close together there) to the fused score, and ``closest_weight`` x the cosine
    of the chunk's closest sentence to the query (``closest``: chunk id -> cosine), the same
    idea by meaning.  Best first; ties keep the order.
    """
    from xnai_edge.brain.sentences import passage_sentences
    from xnai_edge.brain.terms import idf, near_pairs, pairs, question_terms, share, stem_list

    terms = question_terms(query)
    meaning = {cid: closest_weight * (closest or {}).get(cid, 0.0) for cid, _ in ranked}
    if not terms or weight <= 0:
        weight = 0.0
    split = {cid: [stem_list(s) for s in passage_sentences(texts.get(cid, ""))]
             for cid, _ in ranked}
    bags = [set(s) for sentences in split.values() for s in sentences]
    weights = idf(terms, bags)
    term_pairs = pairs(terms)
    rescored = []
    for position, (cid, score) in enumerate(ranked):
        best = max((share(weights, s) + 0.5 * near_pairs(term_pairs, s)
                    for s in split[cid]), default=0.0) if weight else 0.0
        rescored.append((cid, score + weight * best + meaning[cid], position))
    rescored.sort(key=lambda item: (-item[1], item[2]))
    return [(cid, score) for cid, score, _ in rescored]
