"""Fit the sentence picker and the answerability score; write xnai_edge/data/answerability.json.

    .venv/bin/python tools/fit_answerability.py [--cache /tmp/xnai-squad-cache.json] [--write]

Uses the retrieval cache of ``tools/answer_quality.py`` (built on first use from the SQuAD KB
in --data-dir, a few minutes).  The 12 dev articles are split alternately by title: the models
are fitted on one half (``fit``) and the figures printed for the other (``report``), so the
shipped file never saw the questions it is reported on.  Both models are logistic regressions
(numpy, gradient descent on standardised features) whose weights are held to the signs in
``xnai_edge.brain.answerability`` (more evidence never lowers a score).  The abstention
threshold is the score below which ``--abstain`` (default 6%) of the fit half's answerable
questions fall.  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.answer_quality import (  # noqa: E402
    Replay,
    build_cache,
    cache_is_current,
    contains_gold,
    cosines,
    evaluate,
    extract_of,
    load_cache,
    ranked,
    sources,
    split,
)
from xnai_edge.brain.answerability import (  # noqa: E402
    ANSWER,
    DEFAULT,
    FORMAT,
    SENTENCE,
    AnswerModel,
    Linear,
)
from xnai_edge.brain.extractive import score_sentences, top_sentences  # noqa: E402
from xnai_edge.config import Config  # noqa: E402

OUT = ROOT / "xnai_edge" / "data" / "answerability.json"
Matrix = npt.NDArray[np.float64]


def logistic(x: Matrix, y: Matrix, signs: list[int], l2: float = 1e-3,
             steps: int = 3000, lr: float = 0.5) -> tuple[list[float], float]:
    """Weights and bias on the raw features; weight i kept to sign ``signs[i]`` (0 = free)."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    w = np.zeros(x.shape[1])
    b = float(np.log((y.mean() + 1e-6) / (1 - y.mean() + 1e-6)))
    s = np.array(signs, dtype=float)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = p - y
        w -= lr * (z.T @ g / len(y) + l2 * w)
        b -= lr * float(g.mean())
        w = np.where(s > 0, np.maximum(w, 0), np.where(s < 0, np.minimum(w, 0), w))
    raw = w / std  # standardising divides by a positive std: signs are kept
    return [float(v) for v in raw], b - float((w * mean / std).sum())


def fit_sentence(data: dict[str, Any], items: list[dict[str, Any]], knobs: Replay) -> Linear:
    names = list(SENTENCE)
    rows, labels = [], []
    for item in items:
        if not item["answerable"]:
            continue
        passages = sources(item, data["chunks"], ranked(item, data, knobs, knobs.passages))
        similar = None
        if knobs.similar_sentences:
            top = top_sentences(item["question"], passages, knobs.similar_sentences,
                                scorer=DEFAULT.sentence)
            similar = cosines(data, item, top)
        for s in score_sentences(item["question"], passages, scorer=DEFAULT.sentence,
                                 cosines=similar).scored:
            rows.append([s.features.get(n, 0.0) for n in names])
            labels.append(float(contains_gold(s.sentence, item["answers"])))
    w, b = logistic(np.array(rows), np.array(labels), [SENTENCE[n] for n in names])
    return Linear(dict(zip(names, w, strict=True)), b)


def fit_answerable(data: dict[str, Any], items: list[dict[str, Any]], knobs: Replay,
                   sentence: Linear, abstain: float) -> Linear:
    names = list(ANSWER)
    rows, labels = [], []
    chunks = data["chunks"]
    title_of = {v[0]: v[1] for v in chunks.values()}
    for item in items:
        cases = [(ranked(item, data, knobs, knobs.passages), float(item["answerable"]))]
        if item["answerable"]:
            # The same question with its article absent: the everyday "not in my documents"
            # case, where (unlike SQuAD 2.0's look-alikes) covering the question's words is
            # real evidence.  Without these the fit learns to ignore coverage.
            cases.append((ranked(item, data, knobs, knobs.passages,
                                 hidden_title=title_of[item["doc"]]), 0.0))
        for head, label in cases:
            extract = extract_of(data, item, sources(item, chunks, head), knobs, sentence)
            if extract is not None:
                rows.append([extract.features[n] for n in names])
                labels.append(label)
    x, y = np.array(rows), np.array(labels)
    w, b = logistic(x, y, [ANSWER[n] for n in names])
    fitted = Linear(dict(zip(names, w, strict=True)), b)
    probs = sorted(fitted.prob(dict(zip(names, r, strict=True))) for r, lab in zip(x, y,
                                                                                 strict=True)
                   if lab == 1)
    threshold = probs[int(abstain * len(probs))] if probs else 0.5
    return replace(fitted, threshold=round(threshold, 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default="/tmp/xnai-squad-cache.json")
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / "squad-kb"))
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--abstain", type=float, default=0.06,
                        help="share of answerable fit questions allowed below the threshold")
    parser.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(ROOT)}")
    parser.add_argument("--baseline", action="store_true",
                        help="also report the hand-set DEFAULT model")
    args = parser.parse_args()
    cache = Path(args.cache)
    if not cache_is_current(cache):
        anyio.run(make_cache, args, cache)
    data = load_cache(cache)
    knobs = Replay.of(Config())
    fit, report = split(data["items"], data["chunks"])
    sentence = fit_sentence(data, fit, knobs)
    answerable = fit_answerable(data, fit, knobs, sentence, args.abstain)
    fitted = AnswerModel(sentence, answerable, dt.date.today().isoformat())
    result: dict[str, Any] = {
        "knobs": knobs.__dict__,
        "fit": evaluate(data, fit, knobs, fitted),
        "report": evaluate(data, report, knobs, fitted),
    }
    if args.baseline:
        result["default_report"] = evaluate(data, report, knobs, DEFAULT)
    doc = {"format": FORMAT, "version": fitted.version,
           "fitted_by": "tools/fit_answerability.py",
           "data": "SQuAD dev split, fit half (6 of 12 articles, alternate titles)",
           "sentence": sentence.to_json(), "answerable": answerable.to_json(),
           "full_cover_min_dense": fitted.full_cover_min_dense,
           "report_half": result["report"]}
    if args.write:
        OUT.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        result["written"] = {"path": str(OUT.relative_to(ROOT)), "bytes": OUT.stat().st_size}
    result["model"] = {"sentence": sentence.to_json(), "answerable": answerable.to_json()}
    print(json.dumps(result, indent=1))


async def make_cache(args: argparse.Namespace, cache: Path) -> None:
    from tools.squad_eval import open_squad_kb

    async with open_squad_kb(args.data_dir, args.models_dir) as (kb, _):
        await build_cache(kb, cache)


if __name__ == "__main__":
    main()
