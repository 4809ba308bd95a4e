"""Answer quality of the grounded answerer on SQuAD dev (used by squad_eval.py ``answer``).

* answerable: the gold passage is in the knowledge base; right = the answer contains a gold
  span (case and punctuation normalised), as in MODELS.md's measurements.
* unanswerable: the same questions with every passage of the gold *article* hidden from
  retrieval (as if that document had never been ingested); right = "I don't know".
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from dataclasses import dataclass

import anyio

from xnai_edge.backends.registry import load_llm
from xnai_edge.brain.answerer import Answerer
from xnai_edge.brain.extractive import SourceText, best_sentence
from xnai_edge.knowledge.base import KnowledgeBase
from xnai_edge.knowledge.retrieve import Passage


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def contains_gold(answer: str, golds: list[str]) -> bool:
    a = f" {norm(answer)} "
    return any(f" {norm(g)} " in a for g in golds if norm(g))


@dataclass
class HidingSearcher:
    """Retrieval with one article removed: the 'not in your documents' case."""

    kb: KnowledgeBase
    hidden_title: str

    async def search(self, query: str, k: int | None = None) -> list[Passage]:
        found = await self.kb.search(query, 100)
        return [p for p in found if p.title != self.hidden_title][: k or 5]


async def answer_quality(kb: KnowledgeBase, questions: list[dict[str, object]],
                         args: argparse.Namespace) -> dict[str, object]:
    llm = None if getattr(args, "no_llm", False) else await anyio.to_thread.run_sync(
        load_llm, args.models_dir_path, kb.config)
    answerer = Answerer(kb, llm, kb.config)
    titles = {}
    for row in await kb.store.fetchall("SELECT path, title FROM documents"):
        titles[row[0].removeprefix("squad://")] = row[1]
    right = extract_right = abstained = 0
    methods: dict[str, int] = {}
    first: list[float] = []
    total: list[float] = []
    for q in questions:
        golds = [str(g) for g in q["answers"]]  # type: ignore[attr-defined]
        answer = await answerer.answer(str(q["question"]))
        right += contains_gold(answer.text, golds)
        abstained += answer.method == "abstain"
        methods[answer.method] = methods.get(answer.method, 0) + 1
        first.append(answer.timings_ms["first_token"])
        total.append(answer.timings_ms["total"])
        passages = await kb.search(str(q["question"]), kb.config.answer.passages)
        ext = best_sentence(str(q["question"]), [
            SourceText(p.title, p.heading, p.text, p.path, p.chunk_id) for p in passages])
        extract_right += ext is not None and contains_gold(ext.sentence, golds)
    n = len(questions)
    unanswered = 0
    start = time.perf_counter()
    for q in questions:
        hider = HidingSearcher(kb, titles[str(q["gold_passage"])])
        result = await Answerer(hider, llm, kb.config).answer(str(q["question"]))
        unanswered += result.method == "abstain"
    return {
        "questions": n,
        "answer_contains_gold": round(right / n, 3),
        "extractive_sentence_contains_gold": round(extract_right / n, 3),
        "abstained_when_answerable": round(abstained / n, 3),
        "methods": methods,
        "says_dont_know_when_not_in_kb": round(unanswered / n, 3),
        "first_token_ms_p50": round(statistics.median(first), 1),
        "first_token_ms_p95": round(percentile(first, 0.95), 1),
        "total_ms_p50": round(statistics.median(total), 1),
        "total_ms_p95": round(percentile(total, 0.95), 1),
        "unanswerable_seconds": round(time.perf_counter() - start, 1),
    }
