"""The answerability score: monotone in the evidence, sign-checked weights, packaged file."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xnai_edge.brain.answerability import (
    ANSWER,
    DEFAULT,
    SENTENCE,
    AnswerModelError,
    Linear,
    model,
    parse,
)

unit = st.floats(0.0, 1.0)
features = st.fixed_dictionaries({name: unit for name in ANSWER})


@pytest.mark.parametrize("which", ["fitted", "default"])
@given(base=features, name=st.sampled_from(sorted(ANSWER)), more=st.floats(0.0, 1.0))
def test_more_evidence_never_lowers_the_score(which: str, base: dict[str, float], name: str,
                                              more: float) -> None:
    scorer = model().answerable if which == "fitted" else DEFAULT.answerable
    stronger = dict(base)
    # Evidence for answering grows; evidence against (question terms missing) shrinks.
    stronger[name] = base[name] + more if ANSWER[name] > 0 else base[name] - more
    assert scorer.prob(stronger) >= scorer.prob(base) - 1e-12
    assert 0.0 <= scorer.prob(base) <= 1.0


@given(base=st.fixed_dictionaries({n: unit for n in SENTENCE}),
       name=st.sampled_from([n for n, s in SENTENCE.items() if s != 0]), more=unit)
def test_the_sentence_score_is_monotone_in_its_signed_features(base: dict[str, float],
                                                               name: str, more: float) -> None:
    scorer = model().sentence
    stronger = dict(base)
    stronger[name] = base[name] + more * SENTENCE[name]
    assert scorer.raw(stronger) >= scorer.raw(base) - 1e-12


def test_the_packaged_model_is_fitted_and_versioned() -> None:
    path = resources.files("xnai_edge").joinpath("data/answerability.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == 1 and data["version"] and data["fitted_by"]
    fitted = model()
    assert fitted.version == data["version"] != "default"
    assert 0.0 < fitted.answerable.threshold < 1.0


def test_a_weight_against_its_sign_is_refused() -> None:
    good = {"format": 1, "version": "x", "sentence": DEFAULT.sentence.to_json(),
            "answerable": DEFAULT.answerable.to_json()}
    assert parse(good).version == "x"
    bad = {**good, "answerable": {"bias": 0, "weights": {"missing": 2.0}}}
    with pytest.raises(AnswerModelError, match="missing"):
        parse(bad)
    with pytest.raises(AnswerModelError, match="format"):
        parse({**good, "format": 99})
    with pytest.raises(AnswerModelError, match="unknown"):
        Linear.from_json({"weights": {"nonsense": 1.0}}, ANSWER)


def test_full_cover_by_the_sentence_and_its_heading_is_answered() -> None:
    """"What does the -r option do?": 'r' and 'option' are in "OPTIONS > -r --recursive", not
    in "Travel the directory structure recursively." -- as good as a sentence holding both."""
    weak = {"cov": 0.0, "head": 1.0, "terms": 0.5, "dense": 0.42}
    assert model().answerable.prob(weak) < model().answerable.threshold
    assert model().answers(weak)
    assert not model().answers({**weak, "head": 0.5})  # a key word found nowhere
    assert not model().answers({**weak, "dense": 0.1})  # a passage about something else


@given(base=st.fixed_dictionaries({n: unit for n in [*ANSWER, "head"]}),
       name=st.sampled_from(["cov", "head", "terms", "dense", "support"]), more=unit)
def test_the_answer_decision_is_monotone_in_the_evidence(base: dict[str, float], name: str,
                                                         more: float) -> None:
    stronger = {**base, name: base[name] + more}
    assert model().answers(stronger) or not model().answers(base)


def test_a_question_wanting_a_value_the_sentence_lacks_is_not_answered() -> None:
    strong = {"cov": 1.0, "support": 1.0, "head": 1.0, "terms": 1.0, "dense": 0.9,
              "sel": 1.0, "margin": 1.0, "kind": 0.0}
    assert model().answers({**strong, "no_value": 0.0})
    assert not model().answers({**strong, "no_value": 1.0})


@given(base=st.fixed_dictionaries({n: unit for n in [*ANSWER, "head"]}), less=unit)
def test_less_evidence_against_never_turns_an_answer_into_a_refusal(base: dict[str, float],
                                                                    less: float) -> None:
    weaker_against = {**base, "no_value": max(0.0, base["no_value"] - less)}
    assert model().answers(weaker_against) or not model().answers(base)
