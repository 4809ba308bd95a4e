"""Ingest throughput: the SQuAD dev passages into a fresh data dir, through the real ingest path.

    .venv/bin/python tools/bench_ingest.py [--passages N] [--data-dir bench/squad-kb] [--no-cli]

1. In process: ``Ingestor.ingest_text`` per passage (chunking, embedding, one SQLite
   transaction per document), then the FAISS build (``KnowledgeBase.rebuild_index``), timed
   apart.  Keys and titles are those of ``tools/squad_eval.py``, so the retrieval and answer
   benchmarks reuse this knowledge base.  The embedder is wrapped to time its share.
2. The user's command: the passages as Markdown files (``# title`` + text) and a cold
   ``xnai-edge ingest DIR`` subprocess into another fresh data dir (process start, model load,
   bundled manual, extraction, FAISS build included).

Prints one JSON object (progress on stderr).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.bench import (  # noqa: E402
    BENCH_DIR,
    SQUAD,
    emit,
    fresh_dir,
    load_jsonl,
    log,
    run_measured,
    size_mb,
    spread,
)
from xnai_edge import paths  # noqa: E402
from xnai_edge.backends.registry import load_embedder  # noqa: E402
from xnai_edge.config import Config  # noqa: E402
from xnai_edge.knowledge import vectors  # noqa: E402
from xnai_edge.knowledge.base import KnowledgeBase  # noqa: E402
from xnai_edge.knowledge.ingest import Embedder  # noqa: E402
from xnai_edge.knowledge.store import DB_NAME  # noqa: E402


@dataclass
class TimedEmbedder:
    """The real embedder, with the seconds spent in it and the texts it saw counted."""

    inner: Embedder
    seconds: float = 0.0
    texts: int = 0
    calls: int = 0
    embedder_id: str = ""

    def __post_init__(self) -> None:
        self.embedder_id = self.inner.embedder_id

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        start = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - start
            self.texts += len(texts)
            self.calls += 1


async def in_process(passages: list[dict[str, object]], data_dir: Path,
                     models_dir: Path) -> dict[str, object]:
    base = Config()
    config = replace(base, ingest=replace(base.ingest, bundled_manual=False))
    start = time.perf_counter()
    embedder = TimedEmbedder(await anyio.to_thread.run_sync(load_embedder, models_dir, config))
    model_load = time.perf_counter() - start
    fresh_dir(data_dir)
    async with KnowledgeBase.open(data_dir, models_dir, config, embedder=embedder) as kb:
        ingestor = kb.ingestor()
        chunks = 0
        start = time.perf_counter()
        for i, p in enumerate(passages, start=1):
            chunks += await ingestor.ingest_text(f"squad://{p['id']}", str(p["title"]),
                                                 str(p["text"]))
            if i % 500 == 0:
                log(f"ingest: {i}/{len(passages)} passages, "
                    f"{chunks / (time.perf_counter() - start):.1f} chunks/s")
        ingest_s = time.perf_counter() - start
        start = time.perf_counter()
        index = await kb.rebuild_index()
        faiss_s = time.perf_counter() - start
        start = time.perf_counter()
        loaded, rebuilt = await vectors.load_or_rebuild(kb.store, data_dir,
                                                        config.retrieval.hnsw_min_chunks)
        load_s = time.perf_counter() - start
        assert not rebuilt and loaded.ntotal == index.ntotal
    total = ingest_s + faiss_s
    return {
        "passages": len(passages), "chunks": chunks,
        "ingest_s": round(ingest_s, 1), "faiss_build_s": round(faiss_s, 2),
        "faiss_kind": index.kind, "faiss_load_s": round(load_s, 3), "total_s": round(total, 1),
        "chunks_per_s": round(chunks / total, 1), "passages_per_s": round(len(passages) / total,
                                                                          1),
        "embed_s": round(embedder.seconds, 1), "embed_calls": embedder.calls,
        "embedded_texts": embedder.texts, "embed_share": round(embedder.seconds / ingest_s, 3),
        "other_s": round(ingest_s - embedder.seconds, 1),
        "model_load_s": round(model_load, 2),
        "sqlite_mb": size_mb(data_dir / DB_NAME, data_dir / f"{DB_NAME}-wal"),
        "faiss_mb": size_mb(data_dir / vectors.INDEX_NAME),
    }


def via_cli(passages: list[dict[str, object]], work: Path) -> dict[str, object]:
    """A cold ``xnai-edge ingest`` of the passages written as Markdown files."""
    docs = fresh_dir(work / "md")
    for p in passages:
        name = re.sub(r"[^\w.-]+", "_", str(p["id"]))
        (docs / f"{name}.md").write_text(f"# {p['title']}\n\n{p['text']}\n", encoding="utf-8")
    data_dir = fresh_dir(work / "data")
    cmd = [str(Path(sys.executable).with_name("xnai-edge")), "--quiet", "--data-dir",
           str(data_dir), "ingest", str(docs)]
    out, code, rss, wall = run_measured(cmd)
    if code != 0:
        raise RuntimeError(f"xnai-edge ingest exited with {code}: {out}")
    found = re.search(r"(\d+) chunks written", out)
    chunks = int(found[1]) if found else 0
    return {"files": len(passages), "chunks": chunks, "wall_s": round(wall, 1),
            "chunks_per_s": round(chunks / wall, 1), "files_per_s": round(len(passages) / wall, 1),
            "peak_rss_mb": rss, "output": out.strip(),
            "sqlite_mb": size_mb(data_dir / DB_NAME, data_dir / f"{DB_NAME}-wal")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=0, help="default: all 2,067")
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / "squad-kb")
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--no-cli", action="store_true", help="skip the `xnai-edge ingest` run")
    args = parser.parse_args()
    passages = load_jsonl(SQUAD / "passages.jsonl")
    if args.passages:
        passages = spread(passages, args.passages)
    log(f"ingest: {len(passages)} passages into fresh {args.data_dir}")
    result = anyio.run(in_process, passages, args.data_dir, paths.models_dir(args.models_dir))
    if not args.no_cli:
        log("ingest: the same passages as .md files through a cold `xnai-edge ingest`")
        result["cli"] = via_cli(passages, BENCH_DIR / "ingest-cli")
    emit(result)


if __name__ == "__main__":
    main()
