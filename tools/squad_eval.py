"""Retrieval and answer quality on SQuAD v1.1 dev (tests/data/squad-dev), with timings.

    .venv/bin/python tools/squad_eval.py retrieval --questions 1000
    .venv/bin/python tools/squad_eval.py answer     # every dev question, from a retrieval cache

Latency per method is each method's own work per question (dense and RRF include the query
embedding, which is also given alone).  Peak RSS of the run is in ``peak_rss_mb``.

The knowledge base (all 2,067 passages, one document each) is built once in --data-dir and
reused; building it reports the ingest throughput.  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xnai_edge import paths  # noqa: E402
from xnai_edge.config import Config  # noqa: E402
from xnai_edge.knowledge.base import KnowledgeBase  # noqa: E402
from xnai_edge.knowledge.fusion import reciprocal_rank_fusion  # noqa: E402
from xnai_edge.knowledge.text import fts_query  # noqa: E402

SQUAD = ROOT / "tests" / "data" / "squad-dev"


def load_jsonl(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def spread(items: list[dict[str, object]], n: int) -> list[dict[str, object]]:
    """n questions evenly spaced over the file (so every topic is represented)."""
    if n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def build(kb: KnowledgeBase, passages: list[dict[str, object]]) -> dict[str, float]:
    ingestor = kb.ingestor()
    start = time.perf_counter()
    chunks = 0
    for p in passages:
        chunks += await ingestor.ingest_text(f"squad://{p['id']}", str(p["title"]),
                                             str(p["text"]))
    if chunks:
        await kb.rebuild_index()
    seconds = time.perf_counter() - start
    return {"passages": len(passages), "chunks_added": chunks, "seconds": round(seconds, 1),
            "chunks_per_s": round(chunks / seconds, 1) if chunks else 0.0}


def doc_of(path: str) -> str:
    return path.removeprefix("squad://")


async def retrieval(kb: KnowledgeBase, questions: list[dict[str, object]],
                    k: int) -> dict[str, object]:
    retriever = await kb.retriever()
    chunk_doc = {int(r[0]): doc_of(r[1]) for r in await kb.store.fetchall(
        "SELECT c.id, d.path FROM chunks c JOIN documents d ON d.id = c.doc_id")}
    modes = ("bm25", "dense", "rrf", "hybrid")
    hits = {m: [0, 0] for m in modes}
    # Milliseconds per question: each mode's own work; dense and RRF include the query
    # embedding, which is also reported alone.
    latency: dict[str, list[float]] = {m: [] for m in (*modes, "query_embedding")}
    for q in questions:
        text, gold = str(q["question"]), str(q["gold_passage"])
        start = time.perf_counter()
        hybrid = [doc_of(p.path) for p in await retriever.search(text, k)]
        t0 = time.perf_counter()
        qvec = await retriever.embed_query(text)
        t1 = time.perf_counter()
        match = fts_query(text)
        lex = [c for c, _ in await retriever.lexical(match, 40)] if match else []
        t2 = time.perf_counter()
        den = [c for c, _ in retriever.dense(qvec, 40)]
        t3 = time.perf_counter()
        rrf = [c for c, _ in reciprocal_rank_fusion(lex, den)]
        t4 = time.perf_counter()
        for mode, seconds in (("hybrid", t0 - start), ("query_embedding", t1 - t0),
                              ("bm25", t2 - t1), ("dense", t1 - t0 + t3 - t2),
                              ("rrf", t4 - t0)):
            latency[mode].append(seconds * 1000)
        ranked = {"bm25": [chunk_doc[c] for c in lex], "dense": [chunk_doc[c] for c in den],
                  "rrf": [chunk_doc[c] for c in rrf], "hybrid": hybrid}
        for mode in modes:
            hits[mode][0] += ranked[mode][:1] == [gold]
            hits[mode][1] += gold in ranked[mode][:k]
    n = len(questions)
    return {
        "questions": n,
        **{f"{m}_recall@1": round(hits[m][0] / n, 3) for m in modes},
        **{f"{m}_recall@{k}": round(hits[m][1] / n, 3) for m in modes},
        "k": k,
        "hybrid_latency_ms_p50": round(statistics.median(latency["hybrid"]), 1),
        "hybrid_latency_ms_p95": round(percentile(latency["hybrid"], 0.95), 1),
        "latency_ms": {m: {"p50": round(statistics.median(v), 1),
                           "p95": round(percentile(v, 0.95), 1)} for m, v in latency.items()},
    }


@asynccontextmanager
async def open_squad_kb(data_dir: str, models_dir: str | None,
                        passages: int = 0,
                        ) -> AsyncIterator[tuple[KnowledgeBase, dict[str, float]]]:
    """The SQuAD dev KB (all passages, or ``passages`` evenly spread), built if missing, and
    the ingest figures of building it."""
    base = Config()
    config = replace(base, ingest=replace(base.ingest, bundled_manual=False))
    docs = load_jsonl(SQUAD / "passages.jsonl")
    if passages:
        docs = spread(docs, passages)
    async with KnowledgeBase.open(Path(data_dir), paths.models_dir(models_dir), config) as kb:
        yield kb, await build(kb, docs)


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    result: dict[str, object] = {}
    async with open_squad_kb(args.data_dir, args.models_dir, args.passages) as (kb, built):
        result["ingest"] = built
        if args.what == "retrieval":
            kept = {doc_of(str(r[0])) for r in await kb.store.fetchall(
                "SELECT path FROM documents")}
            questions = spread([q for q in load_jsonl(SQUAD / "questions-dev.jsonl")
                                if q["gold_passage"] in kept], args.questions)
            result["retrieval"] = await retrieval(kb, questions, args.k)
        else:
            from tools.answer_quality import (
                Replay,
                build_cache,
                cache_is_current,
                evaluate,
                load_cache,
            )
            from tools.answer_quality import split as halves

            cache = Path(args.cache)
            if not cache_is_current(cache):
                await build_cache(kb, cache)
            data = load_cache(cache)
            fit, report = halves(data["items"], data["chunks"])
            knobs = Replay.of(kb.config)
            result["answer"] = {"report_half": evaluate(data, report, knobs, hidden=True),
                                "fit_half": evaluate(data, fit, knobs),
                                "all": evaluate(data, data["items"], knobs)}
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("retrieval", "answer"))
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--passages", type=int, default=0,
                        help="use only this many passages, evenly spread (default: all); "
                        "use a --data-dir of its own")
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / "squad-kb"))
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--cache", default="/tmp/xnai-squad-cache.json",
                        help="retrieval cache of every dev question (built if missing)")
    args = parser.parse_args()
    print(json.dumps(anyio.run(main_async, args), indent=2))


if __name__ == "__main__":
    main()
