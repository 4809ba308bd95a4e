"""Typed events: every stage announces its start and end here, and nothing else is shared.

Plain frozen dataclasses with a ``TYPE`` name; ``to_dict``/``from_dict`` are the one place events
are serialised (MQTT, the status page, the interaction log and tests all use them).  ``audio_s``
is the position on the *input audio* timeline, so latencies can be stated in audio time whether
the input is a microphone or a WAV file.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

REGISTRY: dict[str, type[Event]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    TYPE: ClassVar[str] = "event"
    t: float = field(default_factory=time.monotonic)
    """Monotonic wall-clock seconds when the event happened."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        REGISTRY[cls.TYPE] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, **dataclasses.asdict(self)}


def from_dict(data: dict[str, Any]) -> Event:
    fields = dict(data)
    kind = fields.pop("type", None)
    if kind not in REGISTRY:
        raise ValueError(f"unknown event type {kind!r}")
    return REGISTRY[kind](**fields)


@dataclass(frozen=True, kw_only=True)
class StateChanged(Event):
    TYPE: ClassVar[str] = "state-changed"
    state: str
    previous: str


@dataclass(frozen=True, kw_only=True)
class WakeDetected(Event):
    TYPE: ClassVar[str] = "wake-detected"
    score: float
    audio_s: float
    barge_in: bool = False


@dataclass(frozen=True, kw_only=True)
class VadStart(Event):
    TYPE: ClassVar[str] = "vad-start"
    audio_s: float


@dataclass(frozen=True, kw_only=True)
class VadEnd(Event):
    TYPE: ClassVar[str] = "vad-end"
    audio_s: float
    speech_s: float
    reason: str  # "silence", "max-length" or "no-speech"
    speech_end: float = -1.0
    """End of the last VAD speech frame (audio s): the last word.  ``audio_s`` is when the loop
    decided the turn was over; ``end_of_turn_ms`` the time between the two."""
    end_of_turn_ms: float = 0.0
    complete: bool = False
    """The transcript read as a complete sentence: the turn ended on the short silence."""


@dataclass(frozen=True, kw_only=True)
class SttPartial(Event):
    """A transcription pass while the person speaks: ``stable`` is the prefix two successive
    passes agree on, ``text`` the whole of the latest pass."""

    TYPE: ClassVar[str] = "stt-partial"
    text: str
    stable: str
    audio_s: float


@dataclass(frozen=True, kw_only=True)
class AnswerSpeculated(Event):
    """The answer started during a pause, before the end of the turn; nothing of it is played
    unless a ``vad-end`` follows (``speculation-cancelled`` if speech resumes first)."""

    TYPE: ClassVar[str] = "answer-speculated"
    audio_s: float
    question: str


@dataclass(frozen=True, kw_only=True)
class SpeculationCancelled(Event):
    TYPE: ClassVar[str] = "speculation-cancelled"
    audio_s: float


@dataclass(frozen=True, kw_only=True)
class SttStart(Event):
    TYPE: ClassVar[str] = "stt-start"


@dataclass(frozen=True, kw_only=True)
class SttEnd(Event):
    TYPE: ClassVar[str] = "stt-end"
    text: str
    rejected: str = ""  # why the non-speech gate dropped it, if it did


@dataclass(frozen=True, kw_only=True)
class RetrieveEnd(Event):
    TYPE: ClassVar[str] = "retrieve-end"
    passages: list[str]


@dataclass(frozen=True, kw_only=True)
class LlmToken(Event):
    TYPE: ClassVar[str] = "llm-token"
    text: str


@dataclass(frozen=True, kw_only=True)
class TtsStart(Event):
    TYPE: ClassVar[str] = "tts-start"
    sentence: str


@dataclass(frozen=True, kw_only=True)
class AudioOut(Event):
    TYPE: ClassVar[str] = "audio-out"
    audio_s: float
    first: bool


@dataclass(frozen=True, kw_only=True)
class AnswerEnd(Event):
    TYPE: ClassVar[str] = "answer-end"
    question: str
    answer: str
    sources: list[dict[str, Any]]
    tier: int
    method: str
    timings_ms: dict[str, float]
    stamps: dict[str, float]
    """Stage timestamps (wake, speech_end, transcript, first_token, first_audio, done)."""
    wake_score: float = 0.0
    origin: str = "voice"
    """Who asked: "voice" (the microphone), or the interface a typed question came from
    ("mqtt", "web", "api", ...)."""


@dataclass(frozen=True, kw_only=True)
class MuteChanged(Event):
    TYPE: ClassVar[str] = "mute-changed"
    muted: bool
    origin: str


@dataclass(frozen=True, kw_only=True)
class KnowledgeChanged(Event):
    TYPE: ClassVar[str] = "knowledge-changed"
    documents: int
    chunks: int
    reason: str  # "added <path>", "removed <path>", "reindexed"


@dataclass(frozen=True, kw_only=True)
class Interrupted(Event):
    TYPE: ClassVar[str] = "interrupted"
    audio_s: float
    reason: str  # "wake-word", "stop-command", "shutdown"


@dataclass(frozen=True, kw_only=True)
class OutputStopped(Event):
    TYPE: ClassVar[str] = "output-stopped"
    audio_s: float


@dataclass(frozen=True, kw_only=True)
class TierChanged(Event):
    TYPE: ClassVar[str] = "tier-changed"
    tier: int
    previous: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class BreakerOpened(Event):
    TYPE: ClassVar[str] = "breaker-opened"
    backend: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ErrorEvent(Event):
    TYPE: ClassVar[str] = "error"
    code: str
    message: str
