"""One calibrated score that decides: answer, or "I don't know".

Two logistic models over the evidence features of ``extractive`` (fitted by
``tools/fit_answerability.py`` on part of the SQuAD dev split, checked on the rest, shipped as
``xnai_edge/data/answerability.json``):

* ``sentence``: how likely a sentence holds the answer; the best one is picked.
* ``answerable``: how likely the documents answer the question at all, from the picked
  sentence's evidence.  Below ``threshold`` the answer is "I don't know".

Each weight has a fixed sign (``SIGNS``): more evidence can never lower the score, so the
fitted model cannot learn that covering *more* of the question is a reason to abstain.  Pure
apart from reading the packaged file once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from xnai_edge.errors import XnaiError

# Feature -> sign of its weight (+1 evidence for, -1 evidence against, 0 free).
SENTENCE: dict[str, int] = {
    "cov": 1, "ctx": 1, "head": 1, "pairs": 1, "kind": 1, "defines": 1, "novel": 1,
    "rank": -1, "fused": 1, "dense": 1, "sdense": 1}
ANSWER: dict[str, int] = {
    "cov": 1, "support": 1, "pairs": 1, "kind": 1, "dense": 1, "fused": 1, "sel": 1,
    "margin": 1, "terms": 1, "missing": -1, "absent": -1, "unmatched_name": -1,
    "unmatched_negation": -1, "no_value": -1}
FORMAT = 1


@dataclass(frozen=True)
class Linear:
    """``sigmoid(bias + sum(weight * feature))``; unknown features count 0."""

    weights: Mapping[str, float]
    bias: float = 0.0
    threshold: float = 0.5

    def raw(self, features: Mapping[str, float]) -> float:
        return self.bias + sum(w * features.get(name, 0.0) for name, w in self.weights.items())

    def prob(self, features: Mapping[str, float]) -> float:
        z = self.raw(features)
        return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"bias": self.bias, "weights": dict(self.weights), "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], signs: Mapping[str, int]) -> Linear:
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        for name, w in weights.items():
            if name not in signs or signs[name] * w < 0:
                raise AnswerModelError(f"weight {name}={w} breaks its sign or is unknown")
        return cls(weights, float(data.get("bias", 0.0)), float(data.get("threshold", 0.5)))


class AnswerModelError(XnaiError):
    code = "answer-model"


@dataclass(frozen=True)
class AnswerModel:
    sentence: Linear
    answerable: Linear
    version: str
    full_cover_min_dense: float = 0.25
    """A sentence holding every key word of a question of two or more (itself or with its
    section's headings: "-r --recursive" / "Travel the directory structure recursively." for
    "What does the -r option do?") is answered when its
    passage is at least this similar, whatever the fitted score says: the fit is made on
    SQuAD, whose topical paragraphs embed close to their questions, while a manual's short
    multi-topic sections do not (cosine 0.2-0.4 for questions they answer word for word)."""

    def answers(self, features: Mapping[str, float]) -> bool:
        """Answer (True) or say "I don't know"; monotone in the evidence, like both parts.

        A question that asks for a number or a date (``span.wants_value``) is not answered by
        a sentence holding neither (``no_value``), whatever else it shares with the question:
        "What uid does the www-data user have?" -> "Some web servers run as www-data." is a
        non-answer.  On the SQuAD dev report half this veto refused ~13 more SQuAD 2.0
        unanswerables and ~10 more answerable questions, ~7 of them answered wrongly before;
        on the manual set 2 more unanswerables and no answerable one (docs/answering.md)."""
        if features.get("no_value", 0.0) >= 1.0:
            return False
        if self.answerable.prob(features) >= self.answerable.threshold:
            return True
        covered = features.get("cov", 0.0) + features.get("head", 0.0)
        return (covered >= 0.999 and features.get("terms", 0.0) >= 0.5
                and features.get("dense", 0.0) >= self.full_cover_min_dense)


# Hand-set starting point (the earlier heuristic), used when no fitted file is packaged.
DEFAULT = AnswerModel(
    sentence=Linear({"cov": 1.0, "ctx": 0.3, "head": 0.5, "pairs": 0.3, "kind": 0.3,
                     "novel": 0.4, "rank": -0.1}),
    answerable=Linear({"support": 12.0, "dense": 4.0}, bias=-7.0),
    version="default")


def parse(data: Mapping[str, Any]) -> AnswerModel:
    if data.get("format") != FORMAT:
        raise AnswerModelError(f"answerability file format {data.get('format')!r}, "
                               f"expected {FORMAT}")
    return AnswerModel(Linear.from_json(data["sentence"], SENTENCE),
                       Linear.from_json(data["answerable"], ANSWER), str(data["version"]),
                       float(data.get("full_cover_min_dense", 0.25)))


@cache
def model() -> AnswerModel:
    """The packaged fitted model (``xnai_edge/data/answerability.json``), else ``DEFAULT``."""
    path = resources.files("xnai_edge").joinpath("data/answerability.json")
    if not path.is_file():
        return DEFAULT
    return parse(json.loads(path.read_text(encoding="utf-8")))
