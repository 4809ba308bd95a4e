"""Schema migrations of the knowledge base: applied once each, in order, all or nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import anyio
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xnai_edge.errors import KnowledgeError
from xnai_edge.knowledge import schema
from xnai_edge.knowledge.schema import MIGRATIONS, migrate
from xnai_edge.knowledge.store import DB_NAME, KnowledgeStore, pack_vectors, unpack_vectors


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    yield conn
    conn.close()


def versions(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    return [tuple(r) for r in conn.execute(
        "SELECT version, name FROM schema_migrations ORDER BY version")]


def objects(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in conn.execute(
        "SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name")]


def test_a_fresh_database_gets_every_migration(db: sqlite3.Connection) -> None:
    assert migrate(db) == len(MIGRATIONS)
    assert versions(db) == [(i, name) for i, (name, _) in enumerate(MIGRATIONS, start=1)]
    tables = {name for kind, name, _ in objects(db) if kind == "table"}
    assert {"meta", "documents", "chunks", "chunks_fts", "schema_migrations"} <= tables
    assert db.execute("SELECT value FROM meta WHERE key = 'change_id'").fetchone() == ("0",)


def test_opening_again_changes_nothing(db: sqlite3.Connection) -> None:
    migrate(db)
    before = (objects(db), list(db.execute("SELECT * FROM schema_migrations")))
    assert migrate(db) == len(MIGRATIONS)
    assert migrate(db) == len(MIGRATIONS)
    assert (objects(db), list(db.execute("SELECT * FROM schema_migrations"))) == before


def test_the_store_opens_a_fresh_dir_at_the_latest_version(tmp_path: Path) -> None:
    async def open_twice() -> None:
        for _ in range(2):
            store = await KnowledgeStore.open(tmp_path / "data")
            try:
                rows = await store.fetchall("SELECT version FROM schema_migrations")
                assert sorted(r[0] for r in rows) == list(range(1, len(MIGRATIONS) + 1))
                assert await store.change_id() == 0
                mode = await store.fetchone("PRAGMA journal_mode")
                assert mode[0] == "wal"
            finally:
                await store.close()

    anyio.run(open_twice)


def test_an_older_database_is_upgraded_and_keeps_its_data(db: sqlite3.Connection,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS[:1])
    assert migrate(db) == 1
    db.execute("INSERT INTO documents (path, title, kind, sha256, size, mtime_ns, chunk_count, "
               "ingested_at) VALUES ('/a.txt', 'A', 'text', 'x', 1, 0, 0, 'now')")
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS)
    assert migrate(db) == len(MIGRATIONS)
    assert [v for v, _ in versions(db)] == list(range(1, len(MIGRATIONS) + 1))
    assert db.execute("SELECT path, title FROM documents").fetchall() == [("/a.txt", "A")]


def test_a_failing_migration_leaves_no_trace(db: sqlite3.Connection,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    migrate(db)
    before = objects(db)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        conn.execute("INSERT INTO meta (key, value) VALUES ('half', 'yes')")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(schema, "MIGRATIONS", [*MIGRATIONS, ("broken", broken)])
    with pytest.raises(sqlite3.OperationalError):
        migrate(db)
    assert objects(db) == before
    assert [v for v, _ in versions(db)] == list(range(1, len(MIGRATIONS) + 1))
    assert db.execute("SELECT count(*) FROM meta WHERE key = 'half'").fetchone() == (0,)
    assert not db.in_transaction

    def fixed(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")

    monkeypatch.setattr(schema, "MIGRATIONS", [*MIGRATIONS, ("fixed", fixed)])
    assert migrate(db) == len(MIGRATIONS) + 1
    assert versions(db)[-1] == (len(MIGRATIONS) + 1, "fixed")


def test_migrations_have_unique_names() -> None:
    names = [name for name, _ in MIGRATIONS]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("content", [b"this is not a database" * 100, b"\x00" * 4096])
def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DB_NAME).write_bytes(content)

    async def open_it() -> None:
        store = await KnowledgeStore.open(data)
        await store.close()

    with pytest.raises(KnowledgeError) as err:
        anyio.run(open_it)
    assert str(data / DB_NAME) in err.value.message and "ingest again" in err.value.message


@given(st.integers(0, 12), st.integers(0, 2**32 - 1))
def test_packed_sentence_vectors_keep_their_cosines(rows: int, seed: int) -> None:
    vectors = np.random.default_rng(seed).standard_normal((rows, 384)).astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    blob = pack_vectors(vectors)
    assert len(blob) == rows * (384 + 2)
    back = unpack_vectors(blob, 384)
    assert back.shape == (rows, 384)
    query = np.random.default_rng(seed + 1).standard_normal(384).astype(np.float32)
    query /= np.linalg.norm(query)
    assert np.abs(back @ query - vectors @ query).max(initial=0.0) < 0.002
