"""Retrieval latency at 10k / 100k chunks: a synthetic knowledge base, real queries.

    .venv/bin/python tools/bench_retrieval_scale.py --chunks 100000 [--queries 300] [--keep]

The knowledge base is written directly through ``KnowledgeStore.write()`` /
``Writer.add_chunks``: chunk texts are SQuAD dev sentences sampled and shuffled (~770 chars, the
SQuAD passage mean), so BM25 sees realistic term statistics.  100k chunks are NOT embedded
(about 2 hours on 2 cores).  Their vectors are random unit float32 vectors (``--vectors random``,
the default: dense scores are meaningless, only latencies count, and for HNSW random 384-d
vectors are the worst case) or, with ``--vectors sentences``, the normalised mean of the real
embeddings of the chunk's sentences (the ~10k SQuAD sentences are embedded once and cached in
bench/), which has the clustered structure of real embeddings.  Queries are SQuAD questions through
``Retriever.search``, the query embedding included and also reported alone, with every stage of
the search timed.  Both the exact (flat) index and HNSW (``retrieval.hnsw_min_chunks``) are
measured: build time, file size, load time (sha256 check + read) and HNSW recall@10/@40 against
the exact index (100 query vectors).

Prints one JSON object (progress on stderr).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.bench import (  # noqa: E402
    BENCH_DIR,
    SQUAD,
    emit,
    fresh_dir,
    load_jsonl,
    log,
    ms_stats,
    rss_now_mb,
    size_mb,
    spread,
)
from xnai_edge import paths  # noqa: E402
from xnai_edge.backends.embedder import DIM  # noqa: E402
from xnai_edge.backends.registry import load_embedder  # noqa: E402
from xnai_edge.config import Config, RetrievalConfig  # noqa: E402
from xnai_edge.knowledge import vectors  # noqa: E402
from xnai_edge.knowledge.ingest import Embedder  # noqa: E402
from xnai_edge.knowledge.retrieve import Retriever  # noqa: E402
from xnai_edge.knowledge.store import DB_NAME, KnowledgeStore, NewChunk  # noqa: E402
from xnai_edge.knowledge.text import fts_query  # noqa: E402

CHUNKS_PER_DOC = 100  # one SQLite transaction per document, as in a real ingest
CHUNK_CHARS = 770
VECTOR_KINDS = {
    "random": "random unit float32 (chunks not embedded: too slow)",
    "sentences": "mean of the chunk's sentences' real MiniLM embeddings (chunks not embedded)"}
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def sentences() -> tuple[list[str], list[str]]:
    passages = load_jsonl(SQUAD / "passages.jsonl")
    found = [s.strip() for p in passages for s in _SENTENCE.split(str(p["text"]))
             if len(s.strip()) > 20]
    titles = sorted({str(p["title"]).replace("_", " ") for p in passages})
    return found, titles


def synthetic_chunk(rng: random.Random, pool: list[str]) -> tuple[str, list[int]]:
    """~CHUNK_CHARS of randomly drawn sentences, and which ones."""
    picked: list[int] = []
    size = 0
    while size < CHUNK_CHARS:
        picked.append(rng.randrange(len(pool)))
        size += len(pool[picked[-1]]) + 1
    return " ".join(pool[i] for i in picked), picked


def sentence_vectors(pool: list[str], embedder: Embedder) -> np.ndarray:
    """Real embeddings of the sentence pool (cached in bench/, ~10k short texts)."""
    digest = hashlib.sha256("\n".join([embedder.embedder_id, *pool]).encode()).hexdigest()
    cache = BENCH_DIR / f"sentence-vectors-{digest[:12]}.npy"
    if cache.exists():
        cached: np.ndarray = np.load(cache)
        return cached
    log(f"embedding {len(pool):,} sentences once (cached in {cache.name})")
    start = time.perf_counter()
    vecs = np.concatenate([embedder.embed(pool[i:i + 512]) for i in range(0, len(pool), 512)])
    log(f"embedded in {time.perf_counter() - start:.0f} s")
    np.save(cache, vecs)
    return vecs


async def build(store: KnowledgeStore, n: int, embedder: Embedder,
                vector_kind: str) -> dict[str, Any]:
    pool, titles = sentences()
    sent_vecs = sentence_vectors(pool, embedder) if vector_kind == "sentences" else None
    rng = random.Random(0)
    vec_rng = np.random.default_rng(0)
    start = time.perf_counter()
    written = 0
    doc = 0
    while written < n:
        count = min(CHUNKS_PER_DOC, n - written)
        title = titles[rng.randrange(len(titles))]
        texts = [synthetic_chunk(rng, pool) for _ in range(count)]
        if sent_vecs is None:
            vecs = vec_rng.standard_normal((count, DIM), dtype=np.float32)
        else:  # a chunk's vector: the mean of its sentences' real embeddings
            vecs = np.stack([sent_vecs[picked].mean(axis=0) for _, picked in texts])
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        chunks = [NewChunk(i, "", text, vecs[i]) for i, (text, _) in enumerate(texts)]
        async with store.write() as writer:
            doc_id = await writer.add_document(
                path=f"synthetic://{doc}", title=title, kind="txt",
                sha256=hashlib.sha256(str(doc).encode()).hexdigest(),
                size=sum(len(c.text) for c in chunks), mtime_ns=0, encoding="utf-8")
            await writer.add_chunks(doc_id, title, chunks, embedder.embedder_id)
        written += count
        doc += 1
        if doc % 200 == 0:
            log(f"scale {n:,}: {written:,} chunks written")
    seconds = time.perf_counter() - start
    await store.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"documents": doc, "sqlite_write_s": round(seconds, 1),
            "sqlite_write_chunks_per_s": round(n / seconds), "sentence_pool": len(pool)}


class StageTimer:
    """Wraps the retriever's own stage methods (on the instance) and adds up their time."""

    def __init__(self, retriever: Retriever) -> None:
        self.current: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        for attr, stage in (("embed_query", "embed"), ("lexical", "bm25"), ("dense", "faiss"),
                            ("_cosine", "fill_cosine"), ("_passages", "fetch_passages")):
            setattr(retriever, attr, self._wrap(getattr(retriever, attr), stage))

    def _wrap(self, fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def add_as(start: float, name: str) -> None:
            self.current[name] = self.current.get(name, 0.0) + time.perf_counter() - start
            self.calls[name] = self.calls.get(name, 0) + 1

        def add(start: float) -> None:
            add_as(start, stage)

        if stage == "faiss":
            def sync(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    add(start)
            return sync

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                if stage == "bm25" and kwargs.get("only") is not None:
                    add_as(start, "bm25_fill")  # BM25 of dense-only candidates
                else:
                    add(start)
        return wrapped


async def measure(store: KnowledgeStore, index: vectors.VectorIndex, embedder: Embedder,
                  config: RetrievalConfig, questions: list[str]) -> dict[str, Any]:
    retriever = Retriever(store, index, embedder, config)
    timer = StageTimer(retriever)
    search: Callable[[str], Awaitable[Any]] = retriever.search
    for q in questions[:5]:  # warm-up: first calls of onnxruntime/FTS are slower
        await search(q)
    totals: list[float] = []
    stages: dict[str, list[float]] = {s: [] for s in ("embed", "bm25", "faiss", "bm25_fill",
                                                      "fill_cosine", "fetch_passages",
                                                      "other")}
    timer.calls.clear()
    for q in questions:
        timer.current = {}
        start = time.perf_counter()
        await search(q)
        total = time.perf_counter() - start
        totals.append(total * 1000)
        for stage in stages:
            if stage != "other":
                stages[stage].append(timer.current.get(stage, 0.0) * 1000)
        stages["other"].append((total - sum(timer.current.values())) * 1000)
    return {"search_ms": ms_stats(totals),
            "search_without_embedding_ms": ms_stats([t - e for t, e in
                                                     zip(totals, stages["embed"], strict=True)]),
            "stages_ms": {s: ms_stats(v) for s, v in stages.items()},
            "bm25_fill_calls_per_query": round(timer.calls.get("bm25_fill", 0) / len(questions),
                                               2)}


def top_ids(index: vectors.VectorIndex, qvecs: list[np.ndarray], k: int) -> list[set[int]]:
    return [{i for i, _ in index.search(q, k)} for q in qvecs]


def recall(truth: list[set[int]], found: list[set[int]]) -> float:
    hits = sum(len(t & f) for t, f in zip(truth, found, strict=True))
    return round(hits / max(1, sum(len(t) for t in truth)), 4)


async def index_run(store: KnowledgeStore, data_dir: Path, hnsw_min: int, embedder: Embedder,
                    config: RetrievalConfig, questions: list[str],
                    qvecs: list[np.ndarray]) -> dict[str, Any]:
    start = time.perf_counter()
    index = await vectors.rebuild(store, data_dir, hnsw_min)
    build_s = time.perf_counter() - start
    rss_after_build = rss_now_mb()
    start = time.perf_counter()
    loaded, rebuilt = await vectors.load_or_rebuild(store, data_dir, hnsw_min)
    load_s = time.perf_counter() - start
    assert not rebuilt and loaded.kind == index.kind
    del loaded
    log(f"{index.kind}: built in {build_s:.1f} s; {len(questions)} queries")
    return {"build_s": round(build_s, 1), "load_s": round(load_s, 2),
            "index_mb": size_mb(data_dir / vectors.INDEX_NAME),
            "rss_after_build_mb": rss_after_build,
            "top10": top_ids(index, qvecs, 10), "top40": top_ids(index, qvecs, 40),
            **await measure(store, index, embedder, config, questions)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base = Config()
    models_dir = paths.models_dir(args.models_dir)
    embedder = await anyio.to_thread.run_sync(load_embedder, models_dir, base)
    data_dir = fresh_dir(args.data_dir or BENCH_DIR / f"scale-{args.chunks}-{args.vectors}")
    questions = [str(q["question"]) for q in
                 spread(load_jsonl(SQUAD / "questions-dev.jsonl"), args.queries)]
    result: dict[str, Any] = {"chunks": args.chunks, "queries": len(questions),
                              "vectors": VECTOR_KINDS[args.vectors]}
    store = await KnowledgeStore.open(data_dir)
    try:
        log(f"scale {args.chunks:,}: writing synthetic chunks")
        result.update(await build(store, args.chunks, embedder, args.vectors))
        result["sqlite_mb"] = size_mb(data_dir / DB_NAME, data_dir / f"{DB_NAME}-wal")
        result["rss_after_write_mb"] = rss_now_mb()
        terms = [len((fts_query(q) or "").split(" OR ")) for q in questions]
        result["fts_terms_per_query"] = round(sum(terms) / len(terms), 1)
        config = base.retrieval
        qvecs = [embedder.embed([q])[0] for q in questions[:100]]
        result["flat"] = await index_run(store, data_dir, 100_000_000, embedder,
                                         replace(config, hnsw_min_chunks=100_000_000),
                                         questions, qvecs)
        result["hnsw"] = await index_run(store, data_dir, 1, embedder,
                                         replace(config, hnsw_min_chunks=1), questions, qvecs)
        for k in (10, 40):
            truth = result["flat"].pop(f"top{k}")
            result["hnsw"][f"recall_vs_flat@{k}"] = recall(truth, result["hnsw"].pop(f"top{k}"))
        result["default_index"] = "hnsw" if args.chunks >= config.hnsw_min_chunks else "flat"
        result["hnsw_min_chunks_default"] = config.hnsw_min_chunks
    finally:
        await store.close()
    if not args.keep:
        fresh_dir(data_dir).rmdir()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--vectors", choices=tuple(VECTOR_KINDS), default="random",
                        help="random unit vectors (default), or each chunk's vector the mean "
                        "of its sentences' real embeddings (realistic structure for HNSW)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="default bench/scale-N (emptied first)")
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the knowledge base")
    args = parser.parse_args()
    emit(anyio.run(run, args))


if __name__ == "__main__":
    main()
