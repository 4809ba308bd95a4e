"""Rank fusion (pure): min-max normalisation, the weighted fusion we use, and the RRF anchor."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from xnai_edge.knowledge.fusion import (
    minmax,
    reciprocal_rank_fusion,
    sentence_rerank,
    weighted_fusion,
)

any_scores = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
any_maps = st.dictionaries(st.integers(0, 60), any_scores, max_size=25)
# Orders are only well defined when scores differ by more than rounding: BM25 and cosine values
# of real candidates do.  Whole numbers (any scale) keep the properties free of float noise.
scores = st.integers(-1000, 1000).map(float)
score_maps = st.dictionaries(st.integers(0, 60), scores, max_size=25)
weights = st.floats(0.0, 1.0)


def order(ranked: list[tuple[int, float]]) -> list[int]:
    return [key for key, _ in ranked]


# --- minmax -------------------------------------------------------------------------------------

def test_minmax_examples() -> None:
    assert minmax({}) == {}
    assert minmax({1: 5.0}) == {1: 1.0}
    assert minmax({1: 2.0, 2: 2.0}) == {1: 1.0, 2: 1.0}  # no information: all equal
    assert minmax({1: -3.0, 2: 1.0, 3: 0.0}) == {1: 0.0, 2: 1.0, 3: 0.75}


@given(any_maps)
def test_minmax_is_in_unit_range_and_keeps_the_order(raw: dict[int, float]) -> None:
    norm = minmax(raw)
    assert norm.keys() == raw.keys()
    assert all(0.0 <= v <= 1.0 for v in norm.values())
    for a in raw:
        for b in raw:
            if raw[a] < raw[b]:
                assert norm[a] <= norm[b]
    if raw and max(raw.values()) - min(raw.values()) > 1e-9:
        assert math.isclose(max(norm.values()), 1.0)
        assert math.isclose(min(norm.values()), 0.0)


# --- weighted fusion ----------------------------------------------------------------------------

def test_weighted_fusion_example() -> None:
    lexical = {1: 10.0, 2: 5.0, 3: 0.0}
    dense = {1: 0.2, 2: 0.9, 3: 0.5}
    fused = dict(weighted_fusion(lexical, dense, 0.5))
    assert fused == pytest.approx({1: 0.5, 2: 0.75, 3: 3 / 14})
    assert order(weighted_fusion(lexical, dense, 0.5)) == [2, 1, 3]
    assert order(weighted_fusion(lexical, dense, 0.0)) == [1, 2, 3]  # BM25 only
    assert order(weighted_fusion(lexical, dense, 1.0)) == [2, 3, 1]  # dense only


def test_a_candidate_missing_from_one_list_gets_that_lists_minimum() -> None:
    fused = dict(weighted_fusion({1: 4.0, 2: 2.0}, {2: 0.8, 3: 0.4}, 0.5))
    # lexical: 3 -> min 2.0 -> 0; dense: 1 -> min 0.4 -> 0
    assert fused == pytest.approx({1: 0.5, 2: 0.5, 3: 0.0})


def test_empty_inputs() -> None:
    assert weighted_fusion({}, {}, 0.5) == []
    assert order(weighted_fusion({}, {7: 0.1, 8: 0.9}, 0.5)) == [8, 7]
    assert order(weighted_fusion({7: 1.0, 8: 3.0}, {}, 0.5)) == [8, 7]


@given(any_maps, any_maps, weights)
def test_fusion_covers_the_union_best_first_in_unit_range(lexical: dict[int, float],
                                                           dense: dict[int, float],
                                                           w: float) -> None:
    ranked = weighted_fusion(lexical, dense, w)
    assert sorted(order(ranked)) == sorted(set(lexical) | set(dense))
    values = [v for _, v in ranked]
    assert values == sorted(values, reverse=True)
    assert all(-1e-12 <= v <= 1 + 1e-12 for v in values)
    # ties are broken by the key, so the order is deterministic
    for (k1, v1), (k2, v2) in itertools.pairwise(ranked):
        if v1 == v2:
            assert k1 < k2


@given(score_maps, score_maps, weights)
def test_a_candidate_ahead_in_both_lists_is_ahead_in_the_fusion(lexical: dict[int, float],
                                                               dense: dict[int, float],
                                                               w: float) -> None:
    keys = set(lexical) & set(dense)
    ranked = order(weighted_fusion(lexical, dense, w))
    for a in keys:
        for b in keys:
            if lexical[a] > lexical[b] and dense[a] > dense[b]:
                assert ranked.index(a) < ranked.index(b)


@given(score_maps, score_maps, weights,
       st.floats(0.01, 100.0), st.floats(-100.0, 100.0),
       st.floats(0.01, 100.0), st.floats(-100.0, 100.0))
def test_fusion_ignores_the_scale_of_each_retrievers_scores(
        lexical: dict[int, float], dense: dict[int, float], w: float,
        a: float, b: float, c: float, d: float) -> None:
    """BM25 and cosine live on different scales: only positions within each list matter."""
    before = dict(weighted_fusion(lexical, dense, w))
    after = dict(weighted_fusion({k: a * v + b for k, v in lexical.items()},
                                 {k: c * v + d for k, v in dense.items()}, w))
    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == pytest.approx(before[key], abs=1e-6)


@given(score_maps, weights)
def test_identical_lists_keep_their_order(raw: dict[int, float], w: float) -> None:
    assume(len(set(raw.values())) == len(raw))
    assert order(weighted_fusion(raw, raw, w)) == sorted(raw, key=lambda k: -raw[k])


# --- reciprocal rank fusion ---------------------------------------------------------------------

def test_rrf_example() -> None:
    fused = reciprocal_rank_fusion([1, 2, 3], [3, 1], k=60)
    assert dict(fused) == pytest.approx({1: 1 / 61 + 1 / 62, 2: 1 / 62, 3: 1 / 63 + 1 / 61})
    assert order(fused) == [1, 3, 2]
    assert reciprocal_rank_fusion() == []


rankings = st.lists(st.integers(0, 40), unique=True, max_size=15)


@given(rankings)
def test_rrf_of_one_ranking_keeps_it(ranking: list[int]) -> None:
    assert order(reciprocal_rank_fusion(ranking)) == ranking


@given(rankings, rankings)
def test_rrf_does_not_depend_on_the_order_of_the_rankings(r1: list[int], r2: list[int]) -> None:
    assert reciprocal_rank_fusion(r1, r2) == reciprocal_rank_fusion(r2, r1)


@given(rankings, rankings)
def test_rrf_rewards_agreement(r1: list[int], r2: list[int]) -> None:
    """An item found by both rankings beats one found by one only at no better a rank."""
    fused = dict(reciprocal_rank_fusion(r1, r2))
    both = set(r1) & set(r2)
    for a in both:
        for b in set(r1) - set(r2):
            if r1.index(a) <= r1.index(b):
                assert fused[a] > fused[b]
    assert all(0 < v <= 2 / 61 for v in fused.values())


# --- sentence rerank ----------------------------------------------------------------------------

TEXTS = {1: "Boats\n\nThe harbour is busy in summer. Ferries leave every hour.",
         2: "Ferries\n\nThe ferry to the island leaves every hour from pier 3."}


def test_a_sentence_holding_the_question_lifts_its_chunk() -> None:
    head = [(1, 1.0), (2, 0.95)]
    assert order(sentence_rerank("When does the ferry to the island leave?", head, TEXTS,
                                 0.5)) == [2, 1]
    assert sentence_rerank("When does the ferry leave?", head, TEXTS, 0.0) == head  # off


def test_the_closest_sentence_by_meaning_counts_with_its_weight() -> None:
    head = [(1, 1.0), (2, 0.95)]
    closest = {1: 0.2, 2: 0.7}
    assert order(sentence_rerank("the", head, TEXTS, 0.5, closest, 1.0)) == [2, 1]
    assert sentence_rerank("the", head, TEXTS, 0.5, closest, 0.0) == head
    moved = dict(sentence_rerank("the", head, TEXTS, 0.5, closest, 2.0))
    assert moved == {1: pytest.approx(1.4), 2: pytest.approx(2.35)}


@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6), st.floats(0.0, 3.0))
def test_rerank_keeps_every_chunk_once(scores: list[float], weight: float) -> None:
    head = sorted(enumerate(scores), key=lambda kv: -kv[1])
    closest = {cid: 0.1 * cid for cid, _ in head}
    texts = {cid: f"Sentence number {cid} about ferries." for cid, _ in head}
    out = sentence_rerank("Which ferries?", head, texts, 0.5, closest, weight)
    assert sorted(order(out)) == sorted(order(head))
    assert [s for _, s in out] == sorted((s for _, s in out), reverse=True)
