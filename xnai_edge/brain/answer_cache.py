"""Tier 3 ("canned"): answers from the answer cache, else a template.

At tier 3 the embedder, FAISS and every LLM are unloaded, so the only answers left are the ones
given before: the same question (normalised: lower case, no punctuation, filler words dropped,
word order kept) asked while the knowledge base had the same ``change_id``.  Any change to the
documents makes every entry stale (older ones are pruned on the next ``put``).

The stop list is deliberately *not* ``knowledge.text.STOPWORDS``: that one drops "on", "off",
"not", "how", "up" ... which is right for search but would make "how do I turn it on" and "how
do I turn it off" the same cache key.  Here only articles, auxiliaries, pronouns and polite
filler go.

Storage is the ``answer_cache`` table of the knowledge base, written through any object with
``fetchone``/``execute`` (``KnowledgeStore``); ``create_table_sql()`` is its schema.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from xnai_edge.knowledge.text import words

CANNED = {
    "memory": "I'm low on memory right now; please try again in a minute.",
    "busy": "I can't answer that right now; please try again in a minute.",
    "unavailable": "I can't look things up right now; please try again later.",
}

_FILLER = frozenset("""
a an the is are was were be been being am do does did doing done please can could would will
shall should may might must i me my mine you your yours we us our it its this that these those
there here just tell say said hey ok okay so well um uh oh really actually kindly let lets
""".split())
_NOT_SUFFIX = {"can": "can", "won": "will", "shan": "shall"}


def canned(reason: str = "memory") -> str:
    """The template for ``reason`` ("memory", "busy" or "unavailable")."""
    return CANNED.get(reason, CANNED["busy"])


def _expand(word: str) -> list[str]:
    """Contractions: "don't" -> do not, "what's" -> what (the dropped part is filler)."""
    base, _, suffix = word.partition("'")
    if suffix == "t":
        return [_NOT_SUFFIX.get(base, base[:-1] if base.endswith("n") else base), "not"]
    return [base]


def normalise_question(question: str) -> str:
    """The cache key of a question: "What's the Wi-Fi password?" -> "what wi fi password"."""
    text = unicodedata.normalize("NFKC", question)
    tokens = [t for w in words(text) for t in _expand(w) if t]
    kept = [t for t in tokens if t not in _FILLER]
    return " ".join(kept or tokens)


def create_table_sql() -> str:
    """The schema (for knowledge/schema.py migration 3); ``;``-separated statements."""
    return """
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
        """


class Executor(Protocol):
    async def fetchone(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    async def execute(self, sql: str, params: Sequence[Any] = ...) -> None: ...


@dataclass(frozen=True)
class CachedAnswer:
    question: str
    text: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    tier: int = 0
    """The tier that first produced it (the cache itself answers at tier 3)."""
    method: str = "llm"
    hits: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class AnswerCache:
    def __init__(self, db: Executor, *, max_entries: int = 2000) -> None:
        self._db = db
        self.max_entries = max_entries

    async def get(self, question: str, change_id: int) -> CachedAnswer | None:
        key = normalise_question(question)
        if not key:
            return None
        row = await self._db.fetchone(
            "SELECT id, question, answer, sources, tier, method, hits FROM answer_cache "
            "WHERE key = ? AND change_id = ?", (key, change_id))
        if row is None:
            return None
        await self._db.execute("UPDATE answer_cache SET hits = hits + 1, used_at = ? "
                               "WHERE id = ?", (_now(), row[0]))
        return CachedAnswer(row[1], row[2], json.loads(row[3]), int(row[4]), row[5],
                            int(row[6]) + 1)

    async def put(self, question: str, change_id: int, answer: str,
                  sources: Sequence[dict[str, Any]] = (), *, tier: int = 0,
                  method: str = "llm") -> bool:
        """Remember a grounded answer (not "I don't know", not a template); False if skipped."""
        key = normalise_question(question)
        if not key or not answer.strip() or method not in ("llm", "extractive"):
            return False
        now = _now()
        await self._db.execute(
            "INSERT INTO answer_cache (key, change_id, question, answer, sources, tier, method, "
            "created_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key, change_id) DO UPDATE SET answer = excluded.answer, "
            "sources = excluded.sources, tier = excluded.tier, method = excluded.method, "
            "used_at = excluded.used_at",
            (key, change_id, question, answer, json.dumps(list(sources)), tier, method, now,
             now))
        await self._db.execute("DELETE FROM answer_cache WHERE change_id < ?", (change_id,))
        await self._db.execute(
            "DELETE FROM answer_cache WHERE id IN (SELECT id FROM answer_cache "
            "ORDER BY used_at DESC, id DESC LIMIT -1 OFFSET ?)", (self.max_entries,))
        return True

    async def size(self) -> int:
        row = await self._db.fetchone("SELECT count(*) FROM answer_cache")
        return int(row[0])
