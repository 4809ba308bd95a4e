"""The knowledge base as one object: store + embedder + vector cache + retriever + ingestor.

Commands and the daemon open it with ``async with KnowledgeBase.open(...)``; it makes sure the
bundled user manual is in (so a fresh device can answer questions about itself) and that the
FAISS cache matches SQLite before the first search.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt

from xnai_edge.config import Config
from xnai_edge.heap import give_back
from xnai_edge.knowledge import vectors
from xnai_edge.knowledge.ingest import Embedder, Ingestor, IngestReport, progress_bar
from xnai_edge.knowledge.retrieve import Passage, Retriever
from xnai_edge.knowledge.store import KnowledgeStore

MANUAL_KEY = "bundled://xnai-edge-manual.md"


def manual_path() -> Path:
    """The bundled manual (package data; a real file in both wheel and editable installs)."""
    return Path(str(resources.files("xnai_edge").joinpath("data/manual.md")))


class _Released:
    """Stands in for an embedder released by ``KnowledgeBase.ingest(last=True)``."""

    embedder_id = "released"

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        raise RuntimeError("the embedder was released after the last ingest of this command")


@dataclass
class KnowledgeBase:
    store: KnowledgeStore
    embedder: Embedder
    config: Config
    data_dir: Path
    limiter: anyio.CapacityLimiter
    _index: vectors.VectorIndex | None = None
    index_rebuilt: bool = False
    _recent_queries: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    _recent_sentences: dict[str, npt.NDArray[Any]] = field(default_factory=dict)

    @classmethod
    @asynccontextmanager
    async def open(cls, data_dir: Path, models_dir: Path, config: Config, *,
                   embedder: Embedder | None = None) -> AsyncIterator[KnowledgeBase]:
        store = await KnowledgeStore.open(data_dir)
        try:
            if embedder is None:
                from xnai_edge.backends.registry import load_embedder

                embedder = await anyio.to_thread.run_sync(load_embedder, models_dir, config)
            kb = cls(store, embedder, config, data_dir, anyio.CapacityLimiter(1))
            # This generator's frame lives as long as the KB: it must not keep an embedder
            # alive that ``ingest(last=True)`` released.
            del embedder
            yield kb
        finally:
            await store.close()

    def ingestor(self) -> Ingestor:
        return Ingestor(self.store, self.embedder, self.config.ingest,
                        batch_size=self.config.embed.batch_size, limiter=self.limiter)

    async def ensure_manual(self) -> bool:
        """Ingest (or refresh) the bundled manual; True if the KB changed."""
        if not self.config.ingest.bundled_manual:
            return False
        outcome, _ = await self.ingestor().ingest_file(manual_path(), key=MANUAL_KEY)
        return outcome != "unchanged"

    async def ingest(self, paths: Iterable[Path], progress: bool = False, *,
                     last: bool = False) -> IngestReport:
        """Write ``paths`` and rebuild the vector index if anything changed.

        ``last``: this KB embeds nothing more (a one-shot ``xnai-edge ingest``), so the embedder
        is released before the index is built, and the command's peak memory is the larger
        of the two rather than their sum.  200 MB of text (278k chunks), sampled every 0.5 s:
        250 MB while embedding, then up to 615 MB during the index build with the embedder
        kept and 500 MB with it released (measured 2026-12-01; the test is in
        tests/integration/test_bad_input.py).
        """
        report = await self.ingestor().ingest_paths(paths, progress=progress)
        if last:
            self.embedder = _Released()
            gc.collect()
            give_back()
        if report.changed:
            await self.rebuild_index()
        return report

    async def fill_sentence_vectors(self, progress: bool = False, batch: int = 64) -> int:
        """Store the sentence vectors of chunks an earlier release wrote without them
        (retrieval embeds those at every search that meets them, which costs ~6 ms a
        sentence).  One transaction per ``batch`` chunks, so an interruption keeps what was
        done; returns how many chunks were filled."""
        rows = await self.store.fetchall(
            "SELECT id FROM chunks WHERE sentence_vectors IS NULL ORDER BY id")
        ids = [int(r[0]) for r in rows]
        if not ids:
            return 0
        ingestor = self.ingestor()
        bar = progress_bar(len(ids), progress, unit="chunk", desc="sentence vectors")
        try:
            for start in range(0, len(ids), batch):
                part = ids[start:start + batch]
                texts = await self.store.fetchall(
                    "SELECT id, heading, text FROM chunks WHERE id IN "
                    f"({','.join('?' * len(part))})", part)
                vectors = await ingestor.sentence_vectors([(r[1], r[2]) for r in texts])
                async with self.store.write() as writer:
                    await writer.set_sentence_vectors(
                        [(int(r[0]), v) for r, v in zip(texts, vectors, strict=True)])
                if bar is not None:
                    bar.update(len(part))
        finally:
            if bar is not None:
                bar.close()
        self._index = None  # each write moved change_id on: the next search reloads the stamp
        return len(ids)

    async def remove(self, key: str) -> bool:
        removed = await self.ingestor().remove(key)
        if removed:
            await self.rebuild_index()
        return removed

    async def rebuild_index(self) -> vectors.VectorIndex:
        self._index = await vectors.rebuild(self.store, self.data_dir,
                                            self.config.retrieval.hnsw_min_chunks)
        return self._index

    async def index(self) -> vectors.VectorIndex:
        if self._index is None:
            self._index, self.index_rebuilt = await vectors.load_or_rebuild(
                self.store, self.data_dir, self.config.retrieval.hnsw_min_chunks)
        return self._index

    async def retriever(self) -> Retriever:
        if await self.ensure_manual():
            self._index = None  # stale now: load_or_rebuild sees the new change_id
        return Retriever(self.store, await self.index(), self.embedder, self.config.retrieval,
                         limiter=self.limiter, recent=self._recent_queries,
                         sentences=self._recent_sentences)

    async def search(self, query: str, k: int | None = None) -> list[Passage]:
        return await (await self.retriever()).search(query, k)

    async def similarities(self, query: str, texts: Sequence[str]) -> dict[str, float]:
        """Cosine similarity of each text to ``query`` (one embedder call for all of them)."""
        if not texts:
            return {}
        stored = self._recent_sentences  # read with the search's passages just before
        missing = [t for t in texts if t not in stored]
        known = self._recent_queries.get(query)  # embedded by the search just before
        asked = missing if known is not None else [query, *missing]
        embedded = (await anyio.to_thread.run_sync(self.embedder.embed, asked,
                                                   limiter=self.limiter) if asked else
                    np.zeros((0, 0), dtype=np.float32))
        qvec = known if known is not None else embedded[0]
        fresh = dict(zip(missing, embedded[len(embedded) - len(missing):], strict=True))
        return {text: float(qvec @ (stored[text] if text in stored else fresh[text]))
                for text in texts}
