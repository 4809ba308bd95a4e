"""The VoiceLoop: the one place where the stages are sequenced (it contains none of them).

Input chunks drive everything.  Per chunk: wake word (always, so it can barge in), VAD and the
end-of-speech segmenter while listening, and one tick of output audio.  An utterance starts an
answer task in the loop's task group: STT -> grounded answer -> TTS per sentence, each blocking
call in a worker thread.  A wake word during thinking or speaking cancels that task (AnyIO
cancel scope) and drops unplayed audio at once.  After an answer the loop listens for a
follow-up without the wake word for ``followup_s``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt

from xnai_edge import events as ev
from xnai_edge.audio.chunk import AudioChunk
from xnai_edge.brain.sentences import clauses
from xnai_edge.bus import EventBus
from xnai_edge.voice.playback import OutputTimeline
from xnai_edge.voice.ports import (
    Answering,
    Sink,
    Speech,
    SpeechToText,
    Vad,
    Wake,
    silence,
)
from xnai_edge.voice.segmenter import Segmenter, SegmenterSettings


@dataclass(frozen=True)
class LoopSettings:
    wake_threshold: float = 0.5
    wake_cooldown_s: float = 1.5
    vad_threshold: float = 0.5
    followup_s: float = 6.0
    preroll_s: float = 0.3
    speak_source: bool = True
    segmenter: SegmenterSettings = field(default_factory=SegmenterSettings)


@dataclass
class _Turn:
    """One interaction in flight: audio-time stamps and busy time per stage."""

    wake_score: float
    stamps: dict[str, float] = field(default_factory=dict)
    transcript: str = ""
    answer: Any = None
    """The ``Answer`` once the answerer has returned it."""
    said: list[str] = field(default_factory=list)
    busy_ms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("stt", "retrieve", "llm_total", "tts_total"), 0.0))


class VoiceLoop:
    def __init__(self, *, wake: Wake, vad: Vad, stt: SpeechToText, answerer: Answering,
                 tts: Speech, sink: Sink, bus: EventBus, settings: LoopSettings,
                 limiter: anyio.CapacityLimiter | None = None) -> None:
        self._wake, self._vad, self._stt = wake, vad, stt
        self._answerer, self._tts, self._sink, self._bus = answerer, tts, sink, bus
        self.settings = settings
        self._limiter = limiter or anyio.CapacityLimiter(1)
        self._segmenter = Segmenter(settings.segmenter)
        self._timeline = OutputTimeline(tts.sample_rate)
        self.state = "idle"
        self._now = 0.0  # end of the latest input chunk, in audio seconds
        self._last_wake = -1e9
        self._utterance: list[AudioChunk] = []
        self._turn: _Turn | None = None
        self._answer_scope: anyio.CancelScope | None = None
        self._drained = anyio.Event()
        self._previous: tuple[str, str] | None = None
        self._tg: Any = None
        self.muted = False
        """Microphone muted (switch on MQTT / the page): no wake word, no listening; output
        (answers to typed questions, announcements) still plays."""

    # ------------------------------------------------------------------ input side
    async def run(self, source: AsyncIterable[AudioChunk]) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            last: AudioChunk | None = None
            async for chunk in source:
                self._on_chunk(chunk)
                last = chunk
            # Input ended: no follow-up can come, but an utterance in progress is finished and
            # an answer in flight is played out, with the clock running on in real time.
            while last is not None and (self.state == "listening" or self._timeline.speaking
                                        or self._answer_scope is not None):
                if self.state == "follow-up":
                    break
                await anyio.sleep(last.duration)
                self._on_chunk(silence(self._now, last.duration))
        self._set_state("idle")

    def _on_chunk(self, chunk: AudioChunk) -> None:
        self._now = chunk.start + chunk.duration
        if self.muted:
            if self.state in ("listening", "follow-up"):
                self._set_state("idle")
            self._play(chunk.duration)
            return
        score = self._wake.process(chunk)
        if score >= self.settings.wake_threshold and self._now - self._last_wake >= \
                self.settings.wake_cooldown_s:
            self._on_wake(score)
        elif self.state in ("listening", "follow-up"):
            self._listen(chunk)
        self._play(chunk.duration)

    def _on_wake(self, score: float) -> None:
        self._last_wake = self._now
        barge_in = self.state in ("thinking", "speaking")
        self._bus.publish(ev.WakeDetected(score=score, audio_s=self._now, barge_in=barge_in))
        if barge_in:
            self.interrupt("wake-word")
        self._turn = _Turn(wake_score=score, stamps={"wake": self._now})
        self._start_listening()

    def interrupt(self, reason: str, *, log_cut: bool = False) -> None:
        """Stop speaking and cancel the answer in flight (wake word, `stop` command).

        ``log_cut`` (the daemon's shutdown): an interaction whose question was already heard
        still ends with an ``AnswerEnd``, method "interrupted", holding what it had -- the
        answer if the answerer had returned it (its tier and sources), else the sentences
        already sent to speech (tier -1: not known yet).  A barge-in logs nothing: the user
        dropped that question for a new one.
        """
        turn = self._turn if self._answer_scope is not None else None
        if log_cut and turn is not None and turn.transcript:
            self._publish_cut(turn)
        if self._answer_scope is not None:
            self._answer_scope.cancel()
            self._answer_scope = None
        self._timeline.stop()
        self._bus.publish(ev.Interrupted(audio_s=self._now, reason=reason))
        self._bus.publish(ev.OutputStopped(audio_s=self._now))

    def _publish_cut(self, turn: _Turn) -> None:
        answer = turn.answer
        turn.stamps["interrupted"] = turn.stamps["done"] = self._now
        self._bus.publish(ev.AnswerEnd(
            question=turn.transcript,
            answer=answer.text if answer is not None else " ".join(turn.said),
            sources=[] if answer is None else [
                {"title": s.title, "path": s.path, "chunk_id": s.chunk_id}
                for s in answer.sources],
            tier=-1 if answer is None else answer.tier, method="interrupted",
            timings_ms=_timings(turn), stamps=dict(turn.stamps), wake_score=turn.wake_score))

    def _start_listening(self, state: str = "listening") -> None:
        settings = self.settings.segmenter
        if state == "follow-up":  # the window is simply a longer wait for speech to start
            settings = replace(settings, start_timeout_s=self.settings.followup_s)
        self._segmenter = Segmenter(settings)
        self._vad.reset()
        self._utterance = []
        self._set_state(state)

    def _listen(self, chunk: AudioChunk) -> None:
        speech = self._vad.probability(chunk) >= self.settings.vad_threshold
        was_started = self._segmenter.started
        self._utterance.append(chunk)
        done = self._segmenter.process(chunk.duration, speech)
        if self._segmenter.started and not was_started:
            # Keep a short pre-roll before the detected onset, drop the silence before it.
            onset = self._now - (self._segmenter.elapsed - self._segmenter.start_at)
            self._utterance = [c for c in self._utterance
                               if c.start + c.duration >= onset - self.settings.preroll_s]
            self._bus.publish(ev.VadStart(audio_s=onset))
            if self.state == "follow-up":  # a follow-up question, no wake word needed
                self._turn = _Turn(wake_score=0.0, stamps={"wake": self._now})
                self._set_state("listening")
        if not done:
            return
        reason = self._segmenter.reason
        self._bus.publish(ev.VadEnd(audio_s=self._now, speech_s=self._segmenter.speech_s,
                                    reason=reason))
        if reason == "no-speech" or self._turn is None:
            self._set_state("idle")
            return
        self._turn.stamps["speech_end"] = self._now
        audio = np.concatenate([c.samples for c in self._utterance])
        self._utterance = []
        self._set_state("thinking")
        self._answer_scope = anyio.CancelScope()
        self._tg.start_soon(self._answer, audio, self._turn, self._answer_scope)

    # ----------------------------------------------------------------- output side
    def _play(self, seconds: float) -> None:
        samples, speech = self._timeline.tick(seconds)
        self._sink.write(samples)
        if not self._timeline.speaking:
            self._drained.set()
        turn = self._turn
        if speech and turn is not None and "first_audio" not in turn.stamps:
            turn.stamps["first_audio"] = self._now - seconds
            self._bus.publish(ev.AudioOut(audio_s=self._now - seconds, first=True))

    # ---------------------------------------------------------------- answer task
    async def _answer(self, audio: npt.NDArray[np.int16], turn: _Turn,
                      scope: anyio.CancelScope) -> None:
        with scope:
            self._bus.publish(ev.SttStart())
            start = time.perf_counter()
            transcript = await anyio.to_thread.run_sync(self._stt.transcribe, audio,
                                                        limiter=self._limiter,
                                                        abandon_on_cancel=True)
            turn.busy_ms["stt"] = (time.perf_counter() - start) * 1000
            turn.stamps["transcript"] = self._now
            self._bus.publish(ev.SttEnd(text=transcript.text, rejected=transcript.rejected))
            turn.transcript = transcript.text
            if not transcript.text:
                self._finish(scope, follow_up=False)
                return
            await self._respond(transcript.text, turn, scope, origin="voice")

    async def _respond(self, question: str, turn: _Turn, scope: anyio.CancelScope, *,
                       origin: str) -> None:
        """Answer ``question`` and speak it (inside ``scope``, which a barge-in cancels)."""
        answer = await self._answerer.answer(question,
                                             on_sentence=lambda s: self._say(s, turn),
                                             previous=self._previous)
        turn.answer = answer
        for key in ("retrieve", "llm_total"):
            turn.busy_ms[key] = answer.timings_ms.get(key, 0.0)
        if self.settings.speak_source and answer.sources and answer.method != "abstain":
            await self._say(f"Source: {answer.sources[0].title}.", turn)
        turn.stamps.setdefault("first_token", turn.stamps["transcript"])
        await self._drain()
        turn.stamps["done"] = self._now
        self._previous = (question, answer.text)
        self._bus.publish(ev.AnswerEnd(
            question=question, answer=answer.text,
            sources=[{"title": s.title, "path": s.path, "chunk_id": s.chunk_id}
                     for s in answer.sources],
            tier=answer.tier, method=answer.method, timings_ms=_timings(turn),
            stamps=dict(turn.stamps), wake_score=turn.wake_score, origin=origin))
        self._finish(scope, follow_up=origin == "voice")

    async def _drain(self) -> None:
        if self._timeline.speaking:
            self._drained = anyio.Event()
            await self._drained.wait()  # set by _play when the last sample has played

    # ------------------------------------------------------------ typed input
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
        turn = _Turn(wake_score=0.0, stamps={"wake": now, "speech_end": now, "transcript": now},
                     transcript=question)
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

    async def _say(self, sentence: str, turn: _Turn) -> None:
        """Synthesise clause by clause: the first clause plays while the rest is made."""
        turn.stamps.setdefault("first_token", self._now)
        turn.said.append(sentence)
        self._bus.publish(ev.TtsStart(sentence=sentence))
        for part in clauses(sentence):
            start = time.perf_counter()
            audio = await anyio.to_thread.run_sync(self._tts.synthesize, part,
                                                   limiter=self._limiter,
                                                   abandon_on_cancel=True)
            turn.busy_ms["tts_total"] += (time.perf_counter() - start) * 1000
            self._timeline.enqueue(audio)
            if self.state == "thinking":
                self._set_state("speaking")

    def _finish(self, scope: anyio.CancelScope, *, follow_up: bool) -> None:
        if self._answer_scope is scope:
            self._answer_scope = None
            if follow_up and self.settings.followup_s > 0:
                self._start_listening("follow-up")
            else:
                self._set_state("idle")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self._bus.publish(ev.StateChanged(state=state, previous=self.state))
            self.state = state


def _timings(turn: _Turn) -> dict[str, float]:
    s = turn.stamps
    ms = {"speech_end_to_transcript": (s["transcript"] - s["speech_end"]) * 1000,
          "speech_end_to_first_audio": (s.get("first_audio", s["done"]) - s["speech_end"])
          * 1000,
          "total": (s["done"] - s["wake"]) * 1000}
    ms.update(turn.busy_ms)
    return {k: round(v, 1) for k, v in ms.items()}
