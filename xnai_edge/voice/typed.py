"""Typed input for the voice loop: questions and announcements from MQTT or the web page.

A mixin of ``VoiceLoop`` (the lead's contract, used through ``Controls`` only):
``can_take_text()``, ``await ask_text(q, origin=)``, ``await say_text(text)``.  A typed
question is an already-finished turn: committed from the start, answered and spoken like a
heard one, logged with its ``origin``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from xnai_edge.brain.sentences import clauses
from xnai_edge.voice.playback import OutputTimeline
from xnai_edge.voice.ports import Speech
from xnai_edge.voice.turn import Turn


class TypedInput:
    _now: float
    _turn: Turn | None
    _answer_scope: anyio.CancelScope | None
    _tg: Any
    _timeline: OutputTimeline
    _tts: Speech
    _limiter: anyio.CapacityLimiter
    state: str

    if TYPE_CHECKING:  # provided by VoiceLoop, the class this is mixed into
        def _set_state(self, state: str) -> None: ...

        async def _respond(self, question: str, turn: Turn, scope: anyio.CancelScope, *,
                           origin: str) -> None: ...

        async def _drain(self) -> None: ...

        def _finish(self, scope: anyio.CancelScope, *, follow_up: bool) -> None: ...

    def can_take_text(self) -> bool:
        """True when a typed question can be spoken now (nothing heard or said in flight)."""
        return self._tg is not None and self._answer_scope is None and \
            self.state in ("idle", "follow-up")

    async def ask_text(self, question: str, *, origin: str) -> Any:
        """A typed question (MQTT, the page): answered and spoken like a heard one.

        Returns the ``Answer``, or None if it was cut (wake word, stop command) before the
        answerer returned.  Call only when ``can_take_text()``.
        """
        now = self._now
        turn = Turn(wake_score=0.0, stamps={"wake": now, "speech_end": now, "end_of_turn": now,
                                            "transcript": now}, transcript=question)
        turn.committed.set()
        scope = anyio.CancelScope()
        self._turn, self._answer_scope = turn, scope
        self._set_state("thinking")
        finished = anyio.Event()

        async def run() -> None:
            try:
                with scope:
                    await self._respond(question, turn, scope, origin=origin)
            finally:
                finished.set()

        self._tg.start_soon(run)
        await finished.wait()
        return turn.answer

    async def say_text(self, text: str) -> None:
        """Speak ``text`` (an announcement): now if the loop is free, else after what it says.

        The `stop` command and the wake word cut it like any answer."""
        if self._answer_scope is not None:  # an answer is in flight: queue behind it
            for part in clauses(text):
                self._timeline.enqueue(await anyio.to_thread.run_sync(
                    self._tts.synthesize, part, limiter=self._limiter))
            return
        scope = anyio.CancelScope()
        self._answer_scope = scope
        with scope:
            for part in clauses(text):
                audio = await anyio.to_thread.run_sync(self._tts.synthesize, part,
                                                       limiter=self._limiter,
                                                       abandon_on_cancel=True)
                self._timeline.enqueue(audio)
                self._set_state("speaking")
            await self._drain()
        self._finish(scope, follow_up=False)
