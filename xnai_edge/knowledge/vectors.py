"""FAISS as a disposable cache of the embeddings stored in SQLite.

The index file is written atomically (temp file, fsync, rename) and then its stamp -- the KB
``change_id`` it was built from, the vector count, the embedder and the file's sha256 -- is
recorded in SQLite.  On load the stamp must match both the database and the file; otherwise
(file deleted, truncated, bit-flipped, left behind by a ``kill -9`` between the two steps) the
index is rebuilt from SQLite.  Ids are chunk rowids, so a hit maps straight to its chunk.
Small knowledge bases use an exact inner-product index; from ``hnsw_min_chunks`` on, HNSW.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt

from xnai_edge.backends.embedder import DIM
from xnai_edge.errors import StorageError
from xnai_edge.knowledge.store import KnowledgeStore

INDEX_NAME = "vectors.faiss"
STAMP_KEY = "faiss_stamp"
HNSW_M = 32
READ_ROWS = 8192  # embeddings read from SQLite (and added to the index) at a time


@dataclass(frozen=True)
class Stamp:
    change_id: int
    ntotal: int
    kind: str
    sha256: str


class VectorIndex:
    """Nearest chunks by cosine similarity (vectors are unit length, so inner product)."""

    def __init__(self, index: Any, kind: str) -> None:
        self._index = index
        self.kind = kind

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> npt.NDArray[np.int64]:
        import faiss

        return np.asarray(faiss.vector_to_array(self._index.id_map), dtype=np.int64)

    def search(self, query: npt.NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        if self.ntotal == 0:
            return []
        scores, ids = self._index.search(query.reshape(1, DIM).astype(np.float32), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def _empty(count: int, hnsw_min_chunks: int) -> VectorIndex:
    """An empty index of the kind that suits ``count`` vectors."""
    import faiss

    inner: Any
    if count >= hnsw_min_chunks:
        # fp16 vectors: half the memory of float32 at no measurable recall cost (scores of
        # unit vectors need ~3 significant digits), and no training pass.
        inner = faiss.IndexHNSWSQ(DIM, faiss.ScalarQuantizer.QT_fp16,  # type: ignore[arg-type]
                                  HNSW_M,
                                  faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efSearch = 128
        inner.hnsw.efConstruction = 80
        kind = "hnsw"
        storage: Any = faiss.downcast_index(inner.storage)
        _reserve(storage.codes, count * storage.code_size)
        # Level 0 holds 2*M neighbours per vector; one vector in M also has an upper level of M.
        _reserve(inner.hnsw.neighbors, count * (2 * HNSW_M + 2))
    else:
        inner = faiss.IndexFlatIP(DIM)
        kind = "flat"
        _reserve(inner.codes, count * inner.code_size)
    return VectorIndex(faiss.IndexIDMap2(inner), kind)


def _reserve(vector: Any, size: int) -> None:
    """Give a faiss vector its final capacity before the adds.  Grown add by add, it doubles:
    for a moment the old and the new copy both exist (the fp16 codes of 278k chunks are
    214 MB; by arithmetic, the last doubling holds ~384 MB), and that moment set the peak
    memory of a big ingest.  ``resize`` allocates exactly; ``clear`` keeps the capacity.
    150k vectors built to a peak of 268 MB this way against 339 MB (measured 2026-12-01)."""
    vector.resize(size)
    vector.clear()


def _add(index: VectorIndex, rows: list[Any]) -> None:
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    block = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), DIM)
    index._index.add_with_ids(np.ascontiguousarray(block, dtype=np.float32), ids)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _save(index: VectorIndex, path: Path) -> str:
    import faiss

    tmp = path.with_name(path.name + ".tmp")
    try:
        faiss.write_index(index._index, str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        digest = _sha256(tmp)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except (OSError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        raise _save_error(exc, path) from exc
    return digest


def _save_error(exc: OSError | RuntimeError, path: Path) -> StorageError:
    """One line naming the cause (faiss reports a full disk as a RuntimeError with the C++
    assertion in it); the documents themselves are safe in SQLite whatever happened here."""
    text = " ".join(str(exc).split())
    if getattr(exc, "errno", None) == errno.ENOSPC or "No space left on device" in text:
        cause = f"disk full while writing the vector index {path}; free some space"
    elif getattr(exc, "errno", None) == errno.EROFS or "Read-only file system" in text:
        cause = f"{path} is on a read-only filesystem; choose a writable --data-dir"
    else:
        cause = f"cannot write the vector index {path}: {text[-200:]}"
    return StorageError(f"{cause}. The documents are stored; until the index can be saved it "
                        "is rebuilt in memory when needed.")


def load_saved(path: Path, stamp: Stamp) -> VectorIndex | None:
    """The saved index if it is exactly the one the stamp describes, else None."""
    import faiss

    try:
        if not path.is_file() or _sha256(path) != stamp.sha256:
            return None
        index = faiss.read_index(str(path))
    except (OSError, RuntimeError):
        return None
    if int(index.ntotal) != stamp.ntotal:
        return None
    return VectorIndex(index, stamp.kind)


async def _build(store: KnowledgeStore, hnsw_min_chunks: int) -> VectorIndex:
    """The index of every stored embedding, read and added ``READ_ROWS`` at a time: memory is
    the index itself, not also a list of all rows and a second copy of all vectors (for
    300k chunks that was 1.5 GB on top of the 0.5 GB index)."""
    count = (await store.fetchone("SELECT count(*) FROM chunks"))[0]
    index = await anyio.to_thread.run_sync(_empty, count, hnsw_min_chunks)
    last = 0
    while rows := await store.fetchall("SELECT id, embedding FROM chunks WHERE id > ? "
                                       "ORDER BY id LIMIT ?", (last, READ_ROWS)):
        await anyio.to_thread.run_sync(_add, index, rows)
        last = rows[-1][0]
    return index


async def rebuild(store: KnowledgeStore, data_dir: Path, hnsw_min_chunks: int, *,
                  must_save: bool = True) -> VectorIndex:
    """Build the index from SQLite, save it, record its stamp.

    The old stamp is cleared before the file is replaced, so a ``kill -9`` between the rename
    and the new stamp leaves "no index yet", never a file that contradicts its stamp.  With
    ``must_save=False`` (search) an index that cannot be saved (disk full) is still returned:
    a cache that cannot be written is still good in memory.
    """
    change_id = await store.change_id()
    index = await _build(store, hnsw_min_chunks)
    path = data_dir / INDEX_NAME
    try:
        await store.set_meta(STAMP_KEY, "")
        digest = await anyio.to_thread.run_sync(_save, index, path)
        stamp = Stamp(change_id=change_id, ntotal=index.ntotal, kind=index.kind, sha256=digest)
        await store.set_meta(STAMP_KEY, json.dumps(asdict(stamp)))
    except StorageError:
        if must_save:
            raise
    return index


async def current_stamp(store: KnowledgeStore) -> Stamp | None:
    raw = await store.get_meta(STAMP_KEY)
    if raw is None:
        return None
    try:
        return Stamp(**json.loads(raw))
    except (TypeError, ValueError):
        return None


async def load_or_rebuild(store: KnowledgeStore, data_dir: Path,
                          hnsw_min_chunks: int) -> tuple[VectorIndex, bool]:
    """The index matching the database, and whether it had to be rebuilt."""
    stamp = await current_stamp(store)
    count = await store.fetchone("SELECT count(*) FROM chunks")
    if stamp is not None and stamp.change_id == await store.change_id() \
            and stamp.ntotal == count[0]:
        index = await anyio.to_thread.run_sync(load_saved, data_dir / INDEX_NAME, stamp)
        if index is not None:
            return index, False
    return await rebuild(store, data_dir, hnsw_min_chunks, must_save=False), True
