"""The one way in: every command from outside the voice loop goes through ``Controls``.

MQTT, the status page / HTTP API and the Wyoming server are handed a ``Controls`` (never the
Daemon), so asking a question, speaking a text, muting, stopping, re-indexing and managing
documents mean the same thing whichever interface asked (DESIGN §9).  The voice loop is
optional (no sound card, ``[audio] input = "none"``): typed questions are then answered without
speech, and ``say`` reports that nothing could be spoken.

Every call that changes state publishes an event on the bus, so the other interfaces (and the
interaction log) learn about it from the one event stream.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from xnai_edge.bus import EventBus
from xnai_edge.errors import InputError, XnaiError
from xnai_edge.events import AnswerEnd, KnowledgeChanged, MuteChanged
from xnai_edge.identity import write_private

if TYPE_CHECKING:
    from xnai_edge.brain.chain import TieredAnswerer
    from xnai_edge.knowledge.base import KnowledgeBase
    from xnai_edge.voice.loop import VoiceLoop
    from xnai_edge.voice.session import VoiceBackends

MUTED_FILE = "muted"
"""Present in the data dir while the microphone is muted: a mute survives a restart."""

MAX_SAY_CHARS = 1000


class Controls:
    def __init__(self, *, bus: EventBus, data_dir: Path, kb: KnowledgeBase,
                 answerer: TieredAnswerer, status: Callable[[], dict[str, Any]],
                 voice_backends: Callable[[], Awaitable[VoiceBackends]],
                 model_limiter: anyio.CapacityLimiter, device_id: str) -> None:
        self.bus, self.data_dir, self.kb, self.answerer = bus, data_dir, kb, answerer
        self.device_id = device_id
        self.model_limiter = model_limiter
        """Shared by the voice loop and the Wyoming server: one model call at a time."""
        self._status = status
        self._voice_backends = voice_backends
        self.loop: VoiceLoop | None = None
        """Set by the daemon while the voice loop runs."""
        self.status_parts: dict[str, Callable[[], Any]] = {}
        """Interfaces add their own part of the status snapshot here (e.g. "mqtt", "web")."""
        self._kb_lock = anyio.Lock()
        self.muted = (data_dir / MUTED_FILE).exists()

    # ------------------------------------------------------------------ reading
    def status(self) -> dict[str, Any]:
        """The one status snapshot (``status --json``, ``/api/status``, MQTT state)."""
        snapshot = self._status()
        snapshot["muted"] = self.muted
        snapshot["device_id"] = self.device_id
        for name, part in self.status_parts.items():
            snapshot[name] = part()
        return snapshot

    async def voice_backends(self) -> VoiceBackends:
        """The loaded wake/VAD/STT/TTS models (loaded once, shared: never a second copy)."""
        return await self._voice_backends()

    # ------------------------------------------------------------------ asking and speaking
    async def ask(self, question: str, *, speak: bool = False, origin: str = "api",
                  ) -> dict[str, Any]:
        """Answer a typed question; with ``speak`` it is also said aloud when the loop is free.

        Returns the JSON of ``xnai-edge ask --json`` plus ``spoken`` (bool).  Raises
        ``InputError`` for an empty or too long question.
        """
        if not isinstance(question, str):
            raise InputError("the question must be text")
        loop = self.loop
        if speak and loop is not None and loop.can_take_text():
            answer = await loop.ask_text(question, origin=origin)
            if answer is None:
                raise XnaiError("the answer was interrupted before it was ready",
                                code="interrupted")
            return {**answer.to_json(), "spoken": True}
        start = time.monotonic()
        answer = await self.answerer.answer(question)
        done = time.monotonic()
        timings = {**answer.timings_ms, "total": round((done - start) * 1000, 1)}
        self.bus.publish(AnswerEnd(
            question=answer.question, answer=answer.text,
            sources=[{"title": s.title, "path": s.path, "chunk_id": s.chunk_id}
                     for s in answer.sources],
            tier=answer.tier, method=answer.method, timings_ms=timings,
            stamps={"asked": start, "done": done}, origin=origin))
        return {**answer.to_json(), "timings_ms": timings, "spoken": False}

    async def say(self, text: str) -> bool:
        """Speak ``text``; False if there is no voice output (no sound card, tier 4)."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("nothing to say: the text is empty")
        if len(text) > MAX_SAY_CHARS:
            raise InputError(f"the text is {len(text)} characters long; the limit is "
                             f"{MAX_SAY_CHARS}")
        loop = self.loop
        if loop is None:
            return False
        await loop.say_text(" ".join(text.split()))
        return True

    def set_muted(self, muted: bool, *, origin: str = "api") -> None:
        marker = self.data_dir / MUTED_FILE
        if muted:
            write_private(marker, "muted\n", mode=0o644)
        else:
            marker.unlink(missing_ok=True)
        self.muted = muted
        if self.loop is not None:
            self.loop.muted = muted
        self.bus.publish(MuteChanged(muted=muted, origin=origin))

    def stop_speaking(self) -> bool:
        """Cut what is being said (and the answer being prepared); False if nothing was."""
        loop = self.loop
        if loop is None or loop.state not in ("thinking", "speaking"):
            return False
        loop.interrupt("stop-command")
        return True

    # ------------------------------------------------------------------ knowledge
    async def documents(self) -> list[dict[str, Any]]:
        rows = await self.kb.store.documents()
        return [{"id": r.id, "path": r.path, "title": r.title, "kind": r.kind, "size": r.size,
                 "chunks": r.chunk_count, "sha256": r.sha256} for r in rows]

    async def add_document(self, path: Path) -> dict[str, Any]:
        """Ingest one file (already stored in the data dir); returns its document JSON once it
        can be searched."""
        async with self._kb_lock:
            report = await self.kb.ingest([path])
        if report.failed:
            raise InputError(f"{path.name}: {report.failed[0][1]}")
        await self._announce(f"added {path}")
        for doc in await self.documents():
            if Path(doc["path"]) == path.resolve() or Path(doc["path"]) == path:
                return doc
        raise XnaiError(f"{path.name} was ingested but is not listed", code="ingest")

    async def remove_document(self, doc_id: int) -> bool:
        for doc in await self.documents():
            if doc["id"] == doc_id:
                async with self._kb_lock:
                    removed = await self.kb.remove(doc["path"])
                if removed:
                    await self._announce(f"removed {doc['path']}")
                return removed
        return False

    async def reindex(self) -> dict[str, int]:
        """Rebuild the vector index from SQLite (the source of truth)."""
        async with self._kb_lock:
            index = await self.kb.rebuild_index()
        await self._announce("reindexed")
        return {"vectors": int(index.ntotal)}

    async def _announce(self, reason: str) -> None:
        docs = await self.documents()
        self.bus.publish(KnowledgeChanged(documents=len(docs),
                                          chunks=sum(d["chunks"] for d in docs), reason=reason))
