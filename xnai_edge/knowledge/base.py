"""The knowledge base as one object: store + embedder + vector cache + retriever + ingestor.

Commands and the daemon open it with ``async with KnowledgeBase.open(...)``; it makes sure the
bundled user manual is in (so a fresh device can answer questions about itself) and that the
FAISS cache matches SQLite before the first search.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import anyio

from xnai_edge.config import Config
from xnai_edge.knowledge import vectors
from xnai_edge.knowledge.ingest import Embedder, Ingestor, IngestReport
from xnai_edge.knowledge.retrieve import Passage, Retriever
from xnai_edge.knowledge.store import KnowledgeStore

MANUAL_KEY = "bundled://xnai-edge-manual.md"


def manual_path() -> Path:
    """The bundled manual (package data; a real file in both wheel and editable installs)."""
    return Path(str(resources.files("xnai_edge").joinpath("data/manual.md")))


@dataclass
class KnowledgeBase:
    store: KnowledgeStore
    embedder: Embedder
    config: Config
    data_dir: Path
    limiter: anyio.CapacityLimiter
    _index: vectors.VectorIndex | None = None
    index_rebuilt: bool = False

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

    async def ingest(self, paths: Iterable[Path], progress: bool = False) -> IngestReport:
        report = await self.ingestor().ingest_paths(paths, progress=progress)
        if report.changed:
            await self.rebuild_index()
        return report

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
                         limiter=self.limiter)

    async def search(self, query: str, k: int | None = None) -> list[Passage]:
        return await (await self.retriever()).search(query, k)
