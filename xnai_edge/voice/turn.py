"""One interaction in flight, and the latencies reported for it.

Stamps are audio-time seconds on the input timeline:

- ``wake``: the wake word (or, for a follow-up, when its speech began);
- ``speech_end``: the end of the last VAD speech frame -- the person's last word;
- ``end_of_turn``: when the loop *decided* the turn was over (the turn policy or the hangover);
- ``transcript``: when the transcript of all the speech was ready (often before
  ``end_of_turn``: it was made during the pause);
- ``first_token``, ``first_audio``, ``done``.

``speech_end_to_first_audio`` is what the person waits; ``end_of_turn_ms`` is the part of it
spent deciding that they had finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio

from xnai_edge.events import AnswerEnd


@dataclass
class Turn:
    wake_score: float
    stamps: dict[str, float] = field(default_factory=dict)
    transcript: str = ""
    answer: Any = None
    """The ``Answer`` once the answerer has returned it."""
    said: list[str] = field(default_factory=list)
    busy_ms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("stt", "retrieve", "llm_total", "tts_total"), 0.0))
    committed: anyio.Event = field(default_factory=anyio.Event)
    """Set at the end of the turn: until then the answer is a speculation that may still be
    cancelled (speech resumed), and none of it is played."""


def timings(turn: Turn) -> dict[str, float]:
    s = turn.stamps
    speech_end = s["speech_end"]
    end = s.get("first_audio", s["done"])
    ms = {"speech_end_to_transcript": (s["transcript"] - speech_end) * 1000,
          "speech_end_to_first_audio": (end - speech_end) * 1000,
          "end_of_turn_ms": (s.get("end_of_turn", speech_end) - speech_end) * 1000,
          "end_of_turn_to_first_audio": (end - s.get("end_of_turn", speech_end)) * 1000,
          "total": (s["done"] - s["wake"]) * 1000}
    ms.update(turn.busy_ms)
    return {k: round(v, 1) for k, v in ms.items()}


def answer_end(turn: Turn, question: str, answer: Any, *, origin: str = "voice",
               method: str = "") -> AnswerEnd:
    """The ``AnswerEnd`` of ``turn``; ``method="interrupted"`` for an answer cut short, which
    holds what it had (the answer if returned, else what was sent to speech; tier -1)."""
    return AnswerEnd(
        question=question,
        answer=answer.text if answer is not None else " ".join(turn.said),
        sources=[] if answer is None else [
            {"title": s.title, "path": s.path, "chunk_id": s.chunk_id} for s in answer.sources],
        tier=-1 if answer is None else answer.tier, method=method or answer.method,
        timings_ms=timings(turn), stamps=dict(turn.stamps), wake_score=turn.wake_score,
        origin=origin)
