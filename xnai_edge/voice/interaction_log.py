"""Every finished interaction, stored in SQLite from the event stream (never from a stage).

A bus reader with an unbounded buffer: the log must not lose an interaction, and it writes
a handful of rows per minute, so the buffer never grows in practice.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from xnai_edge.bus import UNBOUNDED, EventBus
from xnai_edge.events import AnswerEnd
from xnai_edge.knowledge.store import KnowledgeStore, storage_error


async def record(store: KnowledgeStore, event: AnswerEnd) -> None:
    try:
        await store.execute(
            "INSERT INTO interactions (at, wake_score, transcript, answer, sources, tier, "
            "method, stamps, timings_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (datetime.now(UTC).isoformat(timespec="milliseconds"), event.wake_score,
             event.question, event.answer, json.dumps(event.sources), event.tier,
             event.method, json.dumps(event.stamps), json.dumps(event.timings_ms)))
    except sqlite3.OperationalError as exc:
        raise storage_error(exc, store.path) from exc


async def run_interaction_log(bus: EventBus, store: KnowledgeStore) -> None:
    """Runs until cancelled; start it in the daemon's (or ``listen``'s) task group."""
    async with bus.subscribe("interaction-log", max_buffer=UNBOUNDED) as stream:
        async for event in stream:
            if isinstance(event, AnswerEnd):
                await record(store, event)
