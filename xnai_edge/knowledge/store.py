"""The knowledge base in SQLite: the only source of truth.

One writer connection (aiosqlite runs it on its own thread), WAL, ``synchronous=FULL``.  Every
change to documents happens inside ``store.write()`` -- one ``BEGIN IMMEDIATE`` transaction that
also bumps ``change_id`` -- so ``kill -9`` at any moment leaves either the old or the new version
of a document, never half of one.  Disk-full and read-only failures become ``StorageError``
after the rollback, so the caller can say "nothing was changed" truthfully.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import anyio
import numpy as np
import numpy.typing as npt

from xnai_edge.errors import KnowledgeError, StorageError
from xnai_edge.knowledge.schema import migrate

DB_NAME = "knowledge.sqlite3"


@dataclass(frozen=True)
class DocumentRow:
    id: int
    path: str
    title: str
    kind: str
    sha256: str
    size: int
    mtime_ns: int
    chunk_count: int


@dataclass(frozen=True)
class NewChunk:
    ordinal: int
    heading: str
    text: str
    embedding: npt.NDArray[np.float32]
    sentence_vectors: npt.NDArray[np.float32] | None = None
    """One row per sentence of ``passage_sentences(text)``; stored by ``pack_vectors``."""


def pack_vectors(matrix: npt.NDArray[np.float32]) -> bytes:
    """Rows as int8 with one float16 scale each (``dim`` + 2 bytes a row, a quarter of
    float32): a cosine read back is within 0.002 of the float32 one, and a 200 MB text's
    two million sentences take 0.8 GB instead of 3 GB."""
    rows = np.asarray(matrix, dtype=np.float32)
    scale = np.maximum(np.abs(rows).max(axis=1, initial=0.0), 1e-12) / 127.0
    quantised = np.clip(np.rint(rows / scale[:, None]), -127, 127).astype(np.int8)
    return bytes(scale.astype("<f2").tobytes() + quantised.tobytes())


def unpack_vectors(blob: bytes, dim: int) -> npt.NDArray[np.float32]:
    """``pack_vectors`` undone: an (n, dim) float32 matrix."""
    n = len(blob) // (dim + 2)
    scale = np.frombuffer(blob, dtype="<f2", count=n).astype(np.float32)
    quantised = np.frombuffer(blob, dtype=np.int8, offset=2 * n).reshape(n, dim)
    return quantised.astype(np.float32) * scale[:, None]


def storage_error(exc: sqlite3.Error | OSError, where: Path) -> StorageError:
    """Name the cause a user can fix: full disk, read-only filesystem, or something else."""
    text = str(exc).lower()
    if "full" in text or getattr(exc, "errno", None) == 28:
        return StorageError(f"disk full while writing {where}; free some space. Nothing was "
                            "changed in the knowledge base.")
    if "readonly" in text or "read-only" in text or getattr(exc, "errno", None) == 30 \
            or _read_only_fs(where):
        return StorageError(f"{where} is on a read-only filesystem; choose a writable "
                            "--data-dir. Nothing was changed in the knowledge base.")
    return StorageError(f"cannot write {where}: {exc}. Nothing was changed in the knowledge "
                        "base.")


def _read_only_fs(where: Path) -> bool:
    """SQLite says only "unable to open database file" when it cannot create its WAL files."""
    try:
        return bool(os.statvfs(where.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _prepare(path: Path) -> None:
    """Schema migrations and a quick integrity check, before the async connection opens."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or mode[0] != "wal":
            raise KnowledgeError(f"{path}: cannot switch the database to WAL mode")
        migrate(db)
        ok = db.execute("PRAGMA quick_check").fetchone()
        if ok is None or ok[0] != "ok":
            raise KnowledgeError(f"{path} is damaged ({ok}); move it away and ingest again")
    finally:
        db.close()


class KnowledgeStore:
    """Async access to ``knowledge.sqlite3``; open with ``await KnowledgeStore.open(dir)``."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, data_dir: Path) -> KnowledgeStore:
        path = data_dir / DB_NAME
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            await anyio.to_thread.run_sync(_prepare, path)
            db = await aiosqlite.connect(path, isolation_level=None)
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA busy_timeout = 10000")
            await db.execute("PRAGMA synchronous = FULL")
        except (OSError, sqlite3.OperationalError) as exc:
            raise storage_error(exc, path) from exc
        except sqlite3.DatabaseError as exc:
            raise KnowledgeError(f"{path} is not a usable knowledge base ({exc}); move it "
                                 "away and ingest again") from exc
        return cls(db, path)

    async def close(self) -> None:
        await self._db.close()

    # ----------------------------------------------------------------- reads
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        cursor = await self._db.execute(sql, params)
        return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = await self._db.execute(sql, params)
        return await cursor.fetchone()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """A single autocommitted statement outside the document tables (logs, caches)."""
        await self._db.execute(sql, params)

    async def change_id(self) -> int:
        row = await self.fetchone("SELECT value FROM meta WHERE key = 'change_id'")
        return int(row[0])

    async def get_meta(self, key: str) -> str | None:
        row = await self.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def document(self, path: str) -> DocumentRow | None:
        row = await self.fetchone(
            "SELECT id, path, title, kind, sha256, size, mtime_ns, chunk_count "
            "FROM documents WHERE path = ?", (path,))
        return None if row is None else DocumentRow(*row)

    async def documents(self) -> list[DocumentRow]:
        rows = await self.fetchall(
            "SELECT id, path, title, kind, sha256, size, mtime_ns, chunk_count "
            "FROM documents ORDER BY path")
        return [DocumentRow(*r) for r in rows]

    # ---------------------------------------------------------------- writes
    @asynccontextmanager
    async def write(self) -> AsyncIterator[Writer]:
        """One atomic change: commits on success, rolls back on any error or cancellation.

        BEGIN, COMMIT and ROLLBACK run shielded from cancellation: aiosqlite runs a statement
        in its own thread even when the awaiting task is cancelled, so an unshielded BEGIN cut
        by a barge-in would leave a transaction open on the one writer connection."""
        try:
            with anyio.CancelScope(shield=True):
                await self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise storage_error(exc, self.path) from exc
        try:
            writer = Writer(self._db)
            yield writer
            await writer.index_text()
            await self._db.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_id'")
            with anyio.CancelScope(shield=True):
                await self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            await self._rollback()
            raise storage_error(exc, self.path) from exc
        except sqlite3.Error as exc:
            await self._rollback()
            raise KnowledgeError(f"{self.path}: {exc}; nothing was changed") from exc
        except BaseException:
            await self._rollback()
            raise

    async def _rollback(self) -> None:
        with anyio.CancelScope(shield=True), \
                contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            await self._db.execute("ROLLBACK")

    async def set_meta(self, key: str, value: str) -> None:
        """Bookkeeping outside a document change (e.g. the FAISS stamp): no change_id bump."""
        try:
            await self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
        except sqlite3.Error as exc:
            raise storage_error(exc, self.path) from exc


class Writer:
    """Statements allowed inside ``KnowledgeStore.write()``.

    Chunks reach the BM25 table once per document, at the end of the change (``index_text``),
    not batch by batch: FTS5 writes its pending terms out as a new segment whenever a statement
    that changes it begins inside a transaction, and merging those segments is most of the cost.
    24,000 SQuAD passages went in 7.4-8.6 s in statements of 16, 1.1 s in one (2026-12-01).
    """

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._unindexed: dict[int, str] = {}
        """Documents whose chunks are not in ``chunks_fts`` yet: id -> title."""

    async def remove_document(self, path: str) -> bool:
        row = await (await self._db.execute(
            "SELECT id FROM documents WHERE path = ?", (path,))).fetchone()
        if row is None:
            return False
        await self._db.execute(
            "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?)",
            (row[0],))
        await self._db.execute("DELETE FROM chunks WHERE doc_id = ?", (row[0],))
        await self._db.execute("DELETE FROM documents WHERE id = ?", (row[0],))
        return True

    async def add_document(self, *, path: str, title: str, kind: str, sha256: str, size: int,
                           mtime_ns: int, encoding: str) -> int:
        """Insert a document (replacing any earlier version of the same path)."""
        await self.remove_document(path)
        cursor = await self._db.execute(
            "INSERT INTO documents (path, title, kind, sha256, size, mtime_ns, encoding, "
            "chunk_count, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            (path, title, kind, sha256, size, mtime_ns, encoding,
             datetime.now(UTC).isoformat(timespec="seconds")))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def add_chunks(self, doc_id: int, title: str, chunks: Sequence[NewChunk],
                         embedder: str) -> None:
        if not chunks:
            return
        await self._db.executemany(
            "INSERT INTO chunks (doc_id, ordinal, heading, text, embedding, embedder, "
            "sentence_vectors) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(doc_id, c.ordinal, c.heading, c.text,
              np.ascontiguousarray(c.embedding, dtype="<f4").tobytes(), embedder,
              None if c.sentence_vectors is None else pack_vectors(c.sentence_vectors))
             for c in chunks])
        self._unindexed[doc_id] = title
        await self._db.execute(
            "UPDATE documents SET chunk_count = chunk_count + ? WHERE id = ?",
            (len(chunks), doc_id))

    async def set_sentence_vectors(self, rows: Sequence[tuple[int, npt.NDArray[np.float32]]],
                                   ) -> None:
        """Store the sentence vectors of chunks written without them (an earlier release)."""
        await self._db.executemany("UPDATE chunks SET sentence_vectors = ? WHERE id = ?",
                                   [(pack_vectors(v), cid) for cid, v in rows])

    async def index_text(self) -> None:
        """Put the chunks added in this change into the BM25 table (``write()`` calls it
        before it commits)."""
        for doc_id, title in self._unindexed.items():
            await self._db.execute(
                "INSERT INTO chunks_fts (rowid, text, heading, title) "
                "SELECT id, text, heading, ? FROM chunks WHERE doc_id = ?", (title, doc_id))
        self._unindexed.clear()
