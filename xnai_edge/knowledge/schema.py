"""The knowledge base schema, as an ordered list of migrations.

Each migration is a small function applied once, in order, inside one transaction, and recorded
in ``schema_migrations`` (the simonw/llm pattern): a database from any earlier release upgrades
itself on open and a half-applied migration is impossible.  Append new migrations; never edit
a released one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime


def _run(db: sqlite3.Connection, script: str) -> None:
    """Execute ``;``-separated statements one by one (``executescript`` would COMMIT early)."""
    for statement in script.split(";"):
        if statement.strip() and not all(
            line.strip().startswith("--") or not line.strip() for line in statement.splitlines()
        ):
            db.execute(statement)


def _m001_initial(db: sqlite3.Connection) -> None:
    _run(db, """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta (key, value) VALUES ('change_id', '0');

        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,       -- absolute path, or a pseudo path such as bundled://
            title TEXT NOT NULL,
            kind TEXT NOT NULL,              -- txt, md, html or pdf
            sha256 TEXT NOT NULL,            -- of the file bytes: unchanged file = no-op
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            encoding TEXT NOT NULL DEFAULT '',
            chunk_count INTEGER NOT NULL,
            ingested_at TEXT NOT NULL
        );

        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,          -- FAISS id and FTS rowid
            doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            heading TEXT NOT NULL,
            text TEXT NOT NULL,
            embedding BLOB NOT NULL,         -- float32, little endian, unit length
            embedder TEXT NOT NULL
        );
        CREATE INDEX chunks_doc ON chunks (doc_id, ordinal);

        -- BM25. Its own copy of the text (rowid = chunks.id), kept in step inside the same
        -- transactions, and `kb check` verifies the two agree.
        CREATE VIRTUAL TABLE chunks_fts USING fts5 (
            text, heading, title,
            tokenize = 'porter unicode61 remove_diacritics 2'
        );
        """)


def _m002_interactions(db: sqlite3.Connection) -> None:
    _run(db, """
        CREATE TABLE interactions (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,                -- wall-clock time the answer ended (UTC, ISO 8601)
            wake_score REAL NOT NULL,
            transcript TEXT NOT NULL,
            answer TEXT NOT NULL,
            sources TEXT NOT NULL,           -- JSON list of {title, path, chunk_id}
            tier INTEGER NOT NULL,
            method TEXT NOT NULL,
            stamps TEXT NOT NULL,            -- JSON: audio-time seconds of wake, speech_end, ...
            timings_ms TEXT NOT NULL         -- JSON: latencies and busy time per stage
        );
        CREATE INDEX interactions_at ON interactions (at)
        """)


def _m003_answer_cache(db: sqlite3.Connection) -> None:
    """Tier 3's memory of grounded answers, valid for one KB ``change_id`` (brain/answer_cache)."""
    _run(db, """
        CREATE TABLE answer_cache (
                    id INTEGER PRIMARY KEY,
                    key TEXT NOT NULL,               -- normalise_question(question)
                    change_id INTEGER NOT NULL,      -- meta.change_id when the answer was given
                    question TEXT NOT NULL,          -- as first asked
                    answer TEXT NOT NULL,
                    sources TEXT NOT NULL,           -- JSON list of {title, path, chunk_id}
                    tier INTEGER NOT NULL,           -- the tier that produced the answer
                    method TEXT NOT NULL,            -- llm or extractive
                    created_at TEXT NOT NULL,        -- UTC, ISO 8601
                    used_at TEXT NOT NULL,
                    hits INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (key, change_id)
                );
                CREATE INDEX answer_cache_used ON answer_cache (used_at)
        """)


def _m004_sentence_vectors(db: sqlite3.Connection) -> None:
    """The embedding of each sentence of a chunk (one row per sentence of
    ``passage_sentences(text)``, in order; ``store.pack_vectors``): retrieval ranks a chunk by
    its closest sentence.
    NULL for chunks written by an earlier release; retrieval embeds those when it meets them."""
    _run(db, "ALTER TABLE chunks ADD COLUMN sentence_vectors BLOB")


MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("initial", _m001_initial),
    ("interactions", _m002_interactions),
    ("answer_cache", _m003_answer_cache),
    ("sentence_vectors", _m004_sentence_vectors),
]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the pending migrations; returns the schema version.

    Runs on a plain ``sqlite3`` connection (called through aiosqlite's worker thread), in
    autocommit mode with explicit transactions, so DDL and the version record commit together.
    """
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
               "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
    for version, (name, apply) in enumerate(MIGRATIONS, start=1):
        if version in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            apply(db)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                       (version, name, datetime.now(UTC).isoformat(timespec="seconds")))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
