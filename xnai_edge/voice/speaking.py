"""Text to the output timeline: clause by clause, the first one short, held until the turn ends.

Piper's cost grows with the audio it makes (~0.2 s of CPU per second of speech with two
threads here), so the first audio comes sooner from a short first part.  The first clause of an
answer is cut after its first ``FIRST_WORDS_MIN`` words at the first natural break: a comma,
semicolon or colon, or before a word that starts a phrase ("with", "and", "which", "on", ...),
leaving at least ``REST_WORDS_MIN`` words for the next part -- "Remove a document | with
xnai-edge kb remove PATH."  Clauses of up to ``FIRST_WORDS_MAX`` words stay whole: their audio
is short anyway and a cut would only add a pause.  Later parts use ``brain.sentences.clauses``
(~60 characters).  Each part is synthesised in a worker thread and queued as soon as it
exists, while the previous one plays.

A speculative answer (made during the pause, before the turn is known to be over) synthesises
as usual but waits on ``turn.committed`` before queueing anything: if the person goes on
speaking it is cancelled and nothing of it was ever audible.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import anyio

from xnai_edge.brain.sentences import clauses
from xnai_edge.voice.playback import OutputTimeline
from xnai_edge.voice.ports import Speech
from xnai_edge.voice.turn import Turn

FIRST_WORDS_MIN = 2
FIRST_WORDS_MAX = 6
REST_WORDS_MIN = 3
PHRASE_STARTS = frozenset("""and or but so because which that when where while if until unless
with without for in on from by after before then""".split())
"""Words a spoken phrase can start with: a cut before one sounds like a breath, not a stop."""


def first_cut(clause: str) -> int:
    """How many words of ``clause`` go into the first part (all of them: no cut)."""
    words = clause.split()
    if len(words) <= FIRST_WORDS_MAX:
        return len(words)
    for i in range(FIRST_WORDS_MIN, len(words) - REST_WORDS_MIN + 1):
        if words[i - 1][-1] in ",;:" or words[i].lower() in PHRASE_STARTS:
            return i
    return len(words)


def speech_parts(sentence: str, *, first: bool) -> list[str]:
    """``sentence`` in the parts it is synthesised in (a short first one if ``first``)."""
    parts = clauses(sentence)
    if not first or not parts:
        return parts
    words = parts[0].split()
    cut = first_cut(parts[0])
    if cut < len(words):
        return [" ".join(words[:cut]), " ".join(words[cut:]), *parts[1:]]
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
            quiet = not self._timeline.speaking  # nothing of this answer plays yet
            audio = await anyio.to_thread.run_sync(
                functools.partial(self._tts.synthesize, part, quiet=quiet),
                limiter=self._limiter, abandon_on_cancel=True)
            turn.busy_ms["tts_total"] += (time.perf_counter() - start) * 1000
            await turn.committed.wait()
            self._timeline.enqueue(audio)
            on_queued()
