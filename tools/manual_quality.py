"""Answer quality on real technical documents (not SQuAD): the manual set.

    nice -n 15 .venv/bin/python tools/manual_quality.py [--set DIR] [--show]

SQuAD's paragraphs are encyclopaedia prose whose questions were written against them; an
owner's documents are manuals: option lists, command lines, definition lists, headings.  So
the answerer is also measured on ``tests/data/manual-eval/`` (the gzip(1) man page and
Debian's "Users and Groups" document, licences in tests/data/LICENSES.md), with 40 questions
whose gold answers are short phrases of the text and 10 on the same topic that it does not
answer (``questions.jsonl``, written before the answerer was run on them).

The documents go through the real code path of ``xnai-edge ingest`` (a temporary data dir,
``KnowledgeBase.ingest``, the bundled manual as on a fresh device), and the real ``Answerer``
(extractive tier, no LLM, as in ``tests/integration/test_answer_quality.py``) answers.  Beside
it, the naive anchor: the sentence of the top BM25 passage sharing most words with the
question, read out whole.  Prints one JSON object (and, with ``--show``, every answer).

``--set DIR`` measures another set of the same shape (``questions.jsonl`` and the documents its
questions name): ``tests/data/manual-dev1``, ``manual-dev2``, ``manual-dev3`` (an HTML FAQ and
a PDF), ``manual-dev4`` (a text FAQ and a Sphinx HTML chapter; all four written without seeing
the answerer, then tuned on), ``manual-holdout`` and ``manual-holdout2`` (only ever measured);
docs/answering.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.answer_quality import contains_gold, load_jsonl, percentile  # noqa: E402

__all__ = ["Result", "contains_gold", "replay_items", "run", "summarise"]
from xnai_edge import paths  # noqa: E402
from xnai_edge.brain.answerer import Answer, Answerer  # noqa: E402
from xnai_edge.brain.extractive import SourceText, top_sentences  # noqa: E402
from xnai_edge.brain.sentences import passage_sentences  # noqa: E402
from xnai_edge.config import Config  # noqa: E402
from xnai_edge.knowledge.base import KnowledgeBase  # noqa: E402
from xnai_edge.knowledge.text import fts_query, key_terms, words  # noqa: E402

MANUAL_EVAL = ROOT / "tests" / "data" / "manual-eval"


@dataclass(frozen=True)
class Result:
    question: dict[str, Any]
    answer: Answer
    naive: str
    """The naive read-out ('' when BM25 finds nothing)."""


async def naive_answer(kb: KnowledgeBase, question: str) -> str:
    """The sentence of the top BM25 passage that shares most key words with the question."""
    match = fts_query(question)
    if not match:
        return ""
    retriever = await kb.retriever()
    top = await retriever.lexical(match, 1)
    if not top:
        return ""
    rows = await kb.store.fetchall("SELECT text FROM chunks WHERE id = ?", [top[0][0]])
    asked = set(key_terms(question))
    sentences = passage_sentences(str(rows[0][0]))
    return max(sentences, key=lambda s: len(asked & set(words(s))), default="")


async def run(models_dir: Path, config: Config | None = None,
              question_set: Path = MANUAL_EVAL) -> list[Result]:
    """Ingest a question set's documents (those its questions name, beside its
    ``questions.jsonl``) into a fresh data dir and answer every question."""
    config = config or Config()
    questions = load_jsonl(question_set / "questions.jsonl")
    documents = sorted({q["doc"] for q in questions})
    async with fresh_kb(models_dir, config, [question_set / d for d in documents]) as kb:
        answerer = Answerer(kb, None, config)
        return [Result(q, await answerer.answer(q["question"]),
                       await naive_answer(kb, q["question"])) for q in questions]


@asynccontextmanager
async def fresh_kb(models_dir: Path, config: Config,
                   documents: list[Path]) -> AsyncIterator[KnowledgeBase]:
    """A knowledge base in a temporary data dir holding the bundled manual and ``documents``,
    ingested as ``xnai-edge ingest`` does."""
    with tempfile.TemporaryDirectory(prefix="xnai-manual-eval-") as tmp:
        async with KnowledgeBase.open(Path(tmp) / "data", models_dir, config) as kb:
            await kb.ensure_manual()
            report = await kb.ingest(documents)
            if report.failed:
                raise SystemExit(f"ingest failed: {report.failed}")
            yield kb


async def replay_items(models_dir: Path, question_set: Path, config: Config | None = None,
                       leave_out: bool = True) -> list[dict[str, Any]]:
    """What the answerer reads for every question of a set, so that the sentence picker and
    the answerability score can be replayed with other weights (``tools/fit_answerability.py
    --manual``): the passages found and the cosine of each of their sentences to the question.

    With ``leave_out``, each answerable question is also asked of the set's other documents
    alone, its own left out: the everyday "not in my documents" case, an item that is not
    answerable.  Items are dicts: question, answers, answerable, passages (``SourceText``),
    cosines, set and hidden (the document left out, or None)."""
    config = config or Config()
    questions = load_jsonl(question_set / "questions.jsonl")
    documents = sorted({q["doc"] for q in questions})
    items: list[dict[str, Any]] = []
    for hidden in [None, *documents] if leave_out else [None]:
        asked = [q for q in questions if hidden is None or (q["doc"] == hidden and q["answers"])]
        kept = [question_set / d for d in documents if d != hidden]
        async with fresh_kb(models_dir, config, kept) as kb:
            for q in asked:
                found = await kb.search(q["question"], k=config.answer.passages)
                passages = [SourceText(p.title, p.heading, p.text, p.path, p.chunk_id,
                                       p.similarity, p.score) for p in found]
                texts = top_sentences(q["question"], passages, 10_000)  # every sentence
                similar = await kb.similarities(q["question"], list(set(texts.values())))
                items.append({
                    "question": q["question"], "passages": passages,
                    "answers": q["answers"] if hidden is None else [],
                    "answerable": bool(q["answers"]) and hidden is None,
                    "cosines": {s: similar[t] for s, t in texts.items()},
                    "set": question_set.name, "hidden": hidden})
    return items


def summarise(results: list[Result]) -> dict[str, Any]:
    """Right / refused / abstained and answer lengths, for the answerer and the naive anchor."""
    answerable = [r for r in results if r.question["answers"]]
    unanswerable = [r for r in results if not r.question["answers"]]
    spoken = [r.answer for r in answerable if r.answer.method != "abstain"]
    lengths = [len(a.text.split()) for a in spoken] or [0]
    naive_lengths = [len(r.naive.split()) for r in answerable if r.naive] or [0]
    n = max(1, len(answerable))
    return {
        "answerable": len(answerable), "unanswerable": len(unanswerable),
        "answer_contains_gold": round(sum(
            r.answer.method != "abstain" and contains_gold(r.answer.text, r.question["answers"])
            for r in answerable) / n, 3),
        "abstained_when_answerable": round(sum(
            r.answer.method == "abstain" for r in answerable) / n, 3),
        "abstained_when_unanswerable": round(sum(
            r.answer.method == "abstain" for r in unanswerable) / max(1, len(unanswerable)), 3),
        "source_is_gold_doc": round(sum(
            bool(a.answer.sources) and a.answer.sources[0].path.endswith(a.question["doc"])
            for a in answerable) / n, 3),
        "words_median": statistics.median(lengths), "words_p95": percentile(lengths, 0.95),
        "naive_contains_gold": round(sum(
            contains_gold(r.naive, r.question["answers"]) for r in answerable) / n, 3),
        "naive_words_median": statistics.median(naive_lengths),
        "naive_words_p95": percentile(naive_lengths, 0.95),
    }


def show(results: list[Result]) -> None:
    for r in results:
        golds = r.question["answers"]
        if golds:
            mark = ("IDK " if r.answer.method == "abstain" else
                    "ok  " if contains_gold(r.answer.text, golds) else "MISS")
        else:
            mark = "abst" if r.answer.method == "abstain" else "ANS!"
        naive = "n+" if golds and contains_gold(r.naive, golds) else "n-"
        print(f"{mark} {naive} {r.answer.confidence:.2f} {r.question['question']}\n"
              f"     -> {r.answer.text}\n     gold {golds}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--set", type=Path, default=MANUAL_EVAL, metavar="DIR",
                        help="a question set: questions.jsonl and the documents it names "
                             "(default: %(default)s)")
    parser.add_argument("--show", action="store_true", help="every answer, on stderr")
    parser.add_argument("--no-manual", action="store_true",
                        help="without the bundled manual in the KB")
    args = parser.parse_args()
    if not (args.set / "questions.jsonl").is_file():
        parser.error(f"{args.set}: no questions.jsonl there (a set is a directory holding it "
                     "and the documents its questions name)")
    config = Config()
    if args.no_manual:
        config = replace(config, ingest=replace(config.ingest, bundled_manual=False))
    results = anyio.run(run, paths.models_dir(args.models_dir), config, args.set)
    if args.show:
        show(results)
    print(json.dumps(summarise(results), indent=1))


if __name__ == "__main__":
    main()
