"""Text to the output timeline: clause by clause, the first one short, held until the turn ends.

Piper's cost grows with the text, so the first audio comes sooner from a short first part: the
first clause of an answer is cut at its first comma once it has ``FIRST_CHARS`` characters
(later parts use ``brain.sentences.clauses``, ~60 characters).  Each part is synthesised in a
worker thread and queued as soon as it exists, while the previous one plays.

A speculative answer (made during the pause, before the turn is known to be over) synthesises
as usual but waits on ``turn.committed`` before queueing anything: if the person goes on
speaking it is cancelled and nothing of it was ever audible.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import anyio

from xnai_edge.brain.sentences import clauses
from xnai_edge.voice.playback import OutputTimeline
from xnai_edge.voice.ports import Speech
from xnai_edge.voice.turn import Turn

FIRST_CHARS = 20


def speech_parts(sentence: str, *, first: bool) -> list[str]:
    """``sentence`` in the parts it is synthesised in (a short first one if ``first``)."""
    parts = clauses(sentence)
    if not first or not parts:
        return parts
    pieces = re.split(r"(?<=[,;:])\s+", parts[0])
    if len(pieces) > 1 and len(pieces[0]) >= FIRST_CHARS:
        return [pieces[0], " ".join(pieces[1:]), *parts[1:]]
    return parts


class Mouth:
    def __init__(self, tts: Speech, timeline: OutputTimeline,
                 limiter: anyio.CapacityLimiter) -> None:
        self._tts, self._timeline, self._limiter = tts, timeline, limiter

    async def say(self, sentence: str, turn: Turn, *, first: bool = False,
                  on_queued: Callable[[], None] = lambda: None) -> None:
        """Synthesise ``sentence`` and queue it (after ``turn.committed``); ``first``: the
        answer's first sentence (its first part is cut short)."""
        for part in speech_parts(sentence, first=first):
            start = time.perf_counter()
            audio = await anyio.to_thread.run_sync(self._tts.synthesize, part,
                                                   limiter=self._limiter,
                                                   abandon_on_cancel=True)
            turn.busy_ms["tts_total"] += (time.perf_counter() - start) * 1000
            await turn.committed.wait()
            self._timeline.enqueue(audio)
            on_queued()
