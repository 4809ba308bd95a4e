"""Files in, chunks with embeddings out, one atomic transaction per document.

A document is re-read only when its bytes changed (sha256), so ingesting a folder again is a
cheap no-op.  Text is streamed: extraction yields blocks, the chunker packs them, and chunks are
embedded and written in batches inside the document's open transaction, so a 200 MB file needs a
few MB of memory, and a ``kill -9`` halfway leaves the previous version (or nothing) behind.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import anyio
import numpy as np
import numpy.typing as npt

from xnai_edge.brain.sentences import passage_sentences, sentence_embedding_text
from xnai_edge.config import IngestConfig
from xnai_edge.errors import IngestError
from xnai_edge.knowledge.chunking import Chunk, chunk_blocks
from xnai_edge.knowledge.extract import Block, ExtractedDocument, extract, iter_files
from xnai_edge.knowledge.store import KnowledgeStore, NewChunk


class Embedder(Protocol):
    embedder_id: str

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)


def embedding_text(title: str, heading: str, text: str) -> str:
    """What the embedder sees: the chunk with the document title and section heading in front,
    so a passage that never repeats its topic's name is still found by it."""
    context = " > ".join(part for part in (title, heading) if part)
    return f"{context}\n{text}" if context else text


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class _VectorCache:
    """Identical chunk texts (boilerplate, repeated log lines) are embedded once."""

    def __init__(self, capacity: int = 4096) -> None:
        self._items: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._capacity = capacity

    def get(self, key: str) -> npt.NDArray[np.float32] | None:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, key: str, vector: npt.NDArray[np.float32]) -> None:
        self._items[key] = vector
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)


class Ingestor:
    def __init__(self, store: KnowledgeStore, embedder: Embedder, config: IngestConfig,
                 *, batch_size: int = 32, limiter: anyio.CapacityLimiter | None = None) -> None:
        self._store = store
        self._embedder = embedder
        self._config = config
        self._batch_size = batch_size
        self._limiter = limiter or anyio.CapacityLimiter(1)
        self._cache = _VectorCache()
        self._sentence_cache = _VectorCache()

    async def ingest_paths(self, paths: Iterable[Path],
                           progress: bool = False) -> IngestReport:
        """Every supported file under ``paths``; a bad file is reported and skipped."""
        report = IngestReport()
        files: list[Path] = []
        for path in paths:
            try:
                files.extend(iter_files([path]))
            except IngestError as exc:
                report.failed.append((str(path), exc.message))
        bar = progress_bar(len(files), progress)
        try:
            for path in files:
                try:
                    outcome, chunks = await self.ingest_file(path)
                except IngestError as exc:
                    report.failed.append((str(path), exc.message))
                else:
                    getattr(report, outcome).append(str(path))
                    report.chunks += chunks
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(chunks=report.chunks)
        finally:
            if bar is not None:
                bar.close()
        return report

    async def ingest_file(self, path: Path, key: str | None = None) -> tuple[str, int]:
        """('added' | 'updated' | 'unchanged', chunks written) for one file, stored under
        ``key`` (default: its absolute path)."""
        path = path.resolve()
        try:
            stat = path.stat()
            sha = await anyio.to_thread.run_sync(file_sha256, path)
        except OSError as exc:
            raise IngestError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        key = key or str(path)
        existing = await self._store.document(key)
        if existing is not None and existing.sha256 == sha:
            return "unchanged", 0
        doc = extract(path, max_bytes=self._config.max_file_mb * 1024 * 1024)
        written = await self.write_document(key, doc, sha=sha, size=stat.st_size,
                                            mtime_ns=stat.st_mtime_ns)
        return ("added" if existing is None else "updated"), written

    async def ingest_text(self, key: str, title: str, text: str, kind: str = "txt") -> int:
        """A document that is not a file of its own (bundled manual, evaluation corpora)."""
        sha = hashlib.sha256(f"{title}\0{text}".encode()).hexdigest()
        existing = await self._store.document(key)
        if existing is not None and existing.sha256 == sha:
            return 0
        doc = ExtractedDocument(path=Path(key), kind=kind, title=title,
                                blocks=iter([Block(heading="", text=text)]))
        return await self.write_document(key, doc, sha=sha, size=len(text), mtime_ns=0)

    async def write_document(self, key: str, doc: ExtractedDocument, *, sha: str, size: int,
                             mtime_ns: int) -> int:
        chunks = chunk_blocks(doc.blocks, chunk_chars=self._config.chunk_chars,
                              overlap_chars=self._config.overlap_chars)
        written = 0
        async with self._store.write() as writer:
            doc_id = await writer.add_document(
                path=key, title=doc.title, kind=doc.kind, sha256=sha, size=size,
                mtime_ns=mtime_ns, encoding=doc.encoding or "")
            for batch in _batched(chunks, self._batch_size):
                vectors = await self._embed(doc.title, batch)
                sentences = await self.sentence_vectors([(c.heading, c.text) for c in batch])
                await writer.add_chunks(doc_id, doc.title, [
                    NewChunk(c.ordinal, c.heading, c.text, v, sv)
                    for c, v, sv in zip(batch, vectors, sentences, strict=True)],
                    self._embedder.embedder_id)
                written += len(batch)
            if written == 0:
                raise IngestError(f"{key}: no text found in the document; nothing stored")
        return written

    async def remove(self, key: str) -> bool:
        async with self._store.write() as writer:
            return await writer.remove_document(key)

    async def sentence_vectors(self, chunks: Sequence[tuple[str, str]],
                               ) -> list[npt.NDArray[np.float32]]:
        """The embedding of every sentence of each (heading, text) chunk, one matrix per chunk
        (rows in ``passage_sentences`` order; the text embedded is
        ``sentence_embedding_text``).  Retrieval ranks a chunk by its closest sentence, and
        the answerer reads these instead of embedding its candidate sentences again.  Costs
        about as much embedding as the chunks themselves (sentences are short)."""
        return await embed_sentences(self._embedder, chunks, self._limiter,
                                     self._sentence_cache)

    async def _embed(self, title: str, batch: list[Chunk]) -> list[npt.NDArray[np.float32]]:
        texts = [embedding_text(title, c.heading, c.text) for c in batch]
        keys = [_key(t) for t in texts]
        found: dict[str, npt.NDArray[np.float32]] = {}
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            cached = self._cache.get(key)
            if cached is not None:
                found[key] = cached
            else:
                missing.setdefault(key, text)
        if missing:
            fresh = await anyio.to_thread.run_sync(
                self._embedder.embed, list(missing.values()), limiter=self._limiter)
            for key, vector in zip(missing, fresh, strict=True):
                found[key] = vector
                self._cache.put(key, vector)
        return [found[key] for key in keys]


async def embed_sentences(embedder: Embedder, chunks: Sequence[tuple[str, str]],
                          limiter: anyio.CapacityLimiter, cache: _VectorCache | None = None,
                          ) -> list[npt.NDArray[np.float32]]:
    """``Ingestor.sentence_vectors`` for any embedder (retrieval uses it for chunks stored by
    an earlier release, which have none).  A sentence seen before (``cache``) is not embedded
    again: documents repeat their boilerplate sentence by sentence."""
    split = [[sentence_embedding_text(heading, s) for s in passage_sentences(text)]
             for heading, text in chunks]
    found: dict[str, npt.NDArray[np.float32]] = {}
    missing: list[str] = []
    for text in dict.fromkeys(t for texts in split for t in texts):
        cached = cache.get(_key(text)) if cache is not None else None
        if cached is not None:
            found[text] = cached
        else:
            missing.append(text)
    if missing:
        fresh = await anyio.to_thread.run_sync(embedder.embed, missing, limiter=limiter)
        for text, vector in zip(missing, fresh, strict=True):
            found[text] = vector
            if cache is not None:
                cache.put(_key(text), vector)
    dim = next(iter(found.values())).shape[0] if found else 0
    return [np.array([found[t] for t in texts], dtype=np.float32).reshape(len(texts), dim)
            for texts in split]


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _batched(items: Iterator[Chunk], size: int) -> Iterator[list[Chunk]]:
    batch: list[Chunk] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def progress_bar(total: int, enabled: bool, *, unit: str = "file",  # type: ignore[no-untyped-def]
                 desc: str = "ingest"):
    """A tqdm bar on stderr for long knowledge-base work, or None (off, or nothing to do)."""
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, dynamic_ncols=True)
