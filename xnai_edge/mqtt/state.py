"""The retained state JSON that feeds every sensor, built from the status snapshot and the bus.

``controls.status()`` already holds the tier, memory, breakers and mute; what it does not keep
(the last speech-end -> first-audio latency, interactions since midnight, the knowledge-base
counts) is followed here from the events.  ``snapshot`` is pure given its inputs, so a test can
feed it a status dict; the publisher sends it only when it differs from the last one sent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from xnai_edge.events import (
    AnswerEnd,
    Event,
    KnowledgeChanged,
    MuteChanged,
    StateChanged,
    TierChanged,
)
from xnai_edge.mqtt.discovery import TEXT_MAX

CHANGES = (AnswerEnd, KnowledgeChanged, MuteChanged, StateChanged, TierChanged)
"""Events after which the state is published without waiting for the next poll."""
MIB = 1024 * 1024


def truncate(text: str, limit: int = TEXT_MAX) -> str:
    """At most ``limit`` characters, cut at a word with an ellipsis when it is longer."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def midnight_utc_iso(today: date) -> str:
    """Local midnight of ``today`` as the interaction log writes ``at`` (UTC, ISO, ms)."""
    local = datetime.combine(today, time.min).astimezone()
    return local.astimezone(UTC).isoformat(timespec="milliseconds")


class StateTracker:
    def __init__(self, model_set: str) -> None:
        self.model_set = model_set
        self.last_latency_ms: float | None = None
        self.last: AnswerEnd | None = None
        self.day = date.today()
        self.interactions_today = 0
        self.kb_documents = 0
        self.kb_chunks = 0

    def on_event(self, event: Event) -> bool:
        """Follow one event; True if it changes the state (publish soon)."""
        if isinstance(event, AnswerEnd):
            self._roll_day()
            self.interactions_today += 1
            self.last = event
            latency = event.timings_ms.get("speech_end_to_first_audio")
            if latency is not None:
                self.last_latency_ms = round(float(latency), 1)
        elif isinstance(event, KnowledgeChanged):
            self.kb_documents, self.kb_chunks = event.documents, event.chunks
        return isinstance(event, CHANGES)

    def _roll_day(self) -> None:
        today = date.today()
        if today != self.day:
            self.day, self.interactions_today = today, 0

    def snapshot(self, status: dict[str, Any]) -> dict[str, Any]:
        """The state JSON (keys named in discovery.py's value templates)."""
        self._roll_day()
        memory = (status.get("memory") or {}).get("memory") or {}
        available = memory.get("mem_available_mb")
        last = self.last
        return {
            "voice_state": status.get("state", "unknown"),
            "tier": status.get("tier"),
            "tier_name": status.get("tier_name"),
            "tier_reason": status.get("tier_reason"),
            # status says MiB (kB / 1024); Home Assistant's unit is MB (10^6 bytes)
            "memory_available_mb": None if available is None
            else round(float(available) * MIB / 1e6),
            "psi_some_avg10": memory.get("psi_some_avg10"),
            "last_latency_ms": self.last_latency_ms,
            "interactions_today": self.interactions_today,
            "last_question": truncate(last.question) if last else "",
            "last_answer": truncate(last.answer) if last else "",
            "last_sources": [s.get("title") or s.get("path") for s in last.sources] if last
            else [],
            "last_tier": last.tier if last else None,
            "last_method": last.method if last else None,
            "kb_documents": self.kb_documents,
            "kb_chunks": self.kb_chunks,
            "model_set": self.model_set,
            "breakers": {name: b.get("state", "unknown") if isinstance(b, dict) else str(b)
                         for name, b in (status.get("breakers") or {}).items()},
            "muted": bool(status.get("muted", False)),
        }
