"""The VoiceLoop: the one place where the stages are sequenced (it contains none of them).

Input chunks drive everything.  Per chunk: wake word (always, so it can barge in), VAD into the
``Utterance`` while listening, and one tick of output audio.  While the person speaks,
``Incremental`` transcribes the utterance so far in a worker thread.  When they pause, the pass
covering all their speech gives the transcript; the answer starts on it at once, as a
*speculation* (``turn.committed`` unset: nothing is queued for playback).  The turn policy
reads the transcript: a complete sentence ends the turn after ~0.3 s of silence, anything else
after the hangover.  Ending the turn commits the answer; speech before that cancels it (AnyIO
cancel scope) and the utterance goes on.  A wake word during thinking or speaking cancels the
answer and drops unplayed audio at once.  After an answer the loop listens for a follow-up
without the wake word for ``followup_s``.
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
from xnai_edge.bus import EventBus
from xnai_edge.voice.incremental import Incremental
from xnai_edge.voice.playback import OutputTimeline
from xnai_edge.voice.ports import Answering, Sink, Speech, SpeechToText, Vad, Wake, silence
from xnai_edge.voice.segmenter import SegmenterSettings
from xnai_edge.voice.speaking import Mouth
from xnai_edge.voice.turn import Turn, answer_end
from xnai_edge.voice.turn_policy import TurnSettings, ends_turn, looks_complete
from xnai_edge.voice.typed import TypedInput
from xnai_edge.voice.utterance import Utterance, UtteranceSettings


@dataclass(frozen=True)
class LoopSettings:
    wake_threshold: float = 0.5
    wake_cooldown_s: float = 1.5
    vad_threshold: float = 0.5
    followup_s: float = 6.0
    preroll_s: float = 0.3
    speak_source: bool = True
    segmenter: SegmenterSettings = field(default_factory=SegmenterSettings)
    turn: TurnSettings = field(default_factory=TurnSettings)
    incremental: bool = True
    """False: the naive loop (no passes while speaking, the full hangover, one pass after)."""
    pass_every_s: float = 1.0
    speculate_s: float = 0.1
    """Silence after the last speech frame at which the covering pass starts."""
    stt_prefix: bool = False


class VoiceLoop(TypedInput):
    def __init__(self, *, wake: Wake, vad: Vad, stt: SpeechToText, answerer: Answering,
                 tts: Speech, sink: Sink, bus: EventBus, settings: LoopSettings,
                 limiter: anyio.CapacityLimiter | None = None) -> None:
        self._wake, self._vad, self._stt = wake, vad, stt
        self._answerer, self._tts, self._sink, self._bus = answerer, tts, sink, bus
        self.settings = settings
        self._limiter = limiter or anyio.CapacityLimiter(1)
        self._timeline = OutputTimeline(tts.sample_rate)
        self._mouth = Mouth(tts, self._timeline, self._limiter)
        self._inc = Incremental(stt.transcribe, self._limiter, on_partial=self._partial)
        self.state = "idle"
        self._now = 0.0  # end of the latest input chunk, in audio seconds
        self._last_wake = -1e9
        self._utt = Utterance(self._utterance_settings(), 0.0)
        self._turn: Turn | None = None
        self._answer_scope: anyio.CancelScope | None = None
        self._speculated_end = -1.0  # speech_end the answer in flight was started for
        self._drained = anyio.Event()
        self._previous: tuple[str, str] | None = None
        self._tg: Any = None
        self.muted = False
        """Microphone muted (switch on MQTT / the page): no wake word, no listening; output
        (answers to typed questions, announcements) still plays."""

    @property
    def stt_stats(self) -> Incremental:
        """The incremental transcriber (passes, seconds) of the current utterance."""
        return self._inc

    # ------------------------------------------------------------------ input side
    async def run(self, source: AsyncIterable[AudioChunk]) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            last: AudioChunk | None = None
            async for chunk in source:
                self._on_chunk(chunk)
                last = chunk
            # Input ended: no follow-up can come, but an utterance in progress is finished and
            # an answer in flight is played out, with the clock running on in real time.  Each
            # tick is due at a fixed moment (as ``pacing.paced`` does): sleeping one chunk's
            # length after the work of the last one drifted ~3 ms a tick, 0.2 s behind after
            # a 6 s answer (tools/bench_wait.py counted those ticks as late playback).
            due = anyio.current_time()
            while last is not None and (self.state == "listening" or self._timeline.speaking
                                        or self._answer_scope is not None):
                if self.state == "follow-up":
                    break
                due += last.duration
                await anyio.sleep(max(0.0, due - anyio.current_time()))
                self._on_chunk(silence(self._now, last.duration))
        self._set_state("idle")

    def _on_chunk(self, chunk: AudioChunk) -> None:
        # Rounded to the microsecond, like every stamp taken from it: a sum of chunk lengths
        # and a chunk's own start differ in the last bit (3.2800000000000002 against 3.28),
        # which put an answer's first audio "before" the end of the turn it followed.
        self._now = round(chunk.start + chunk.duration, 6)
        if self.muted:
            if self.state in ("listening", "follow-up"):
                self._drop_speculation()
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
        self._turn = Turn(wake_score=score, stamps={"wake": self._now})
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
        if log_cut and turn is not None and turn.transcript and turn.committed.is_set():
            self._publish_cut(turn)
        if self._answer_scope is not None:
            self._answer_scope.cancel()
            self._answer_scope = None
        self._timeline.stop()
        self._bus.publish(ev.Interrupted(audio_s=self._now, reason=reason))
        self._bus.publish(ev.OutputStopped(audio_s=self._now))
        if self.state in ("thinking", "speaking"):
            self._set_state("idle")  # a wake word goes on to listening at once

    def _publish_cut(self, turn: Turn) -> None:
        turn.stamps["interrupted"] = turn.stamps["done"] = self._now
        turn.stamps.setdefault("transcript", self._now)
        self._bus.publish(answer_end(turn, turn.transcript, turn.answer, method="interrupted"))

    def _utterance_settings(self, state: str = "listening") -> UtteranceSettings:
        seg = self.settings.segmenter
        if state == "follow-up":  # the window is simply a longer wait for speech to start
            seg = replace(seg, start_timeout_s=self.settings.followup_s)
        return UtteranceSettings(vad_threshold=self.settings.vad_threshold,
                                 preroll_s=self.settings.preroll_s, segmenter=seg)

    def _start_listening(self, state: str = "listening") -> None:
        self._drop_speculation()
        self._utt = Utterance(self._utterance_settings(state), self._now,
                              after_wake=state == "listening")
        self._vad.reset()
        self._inc.reset()
        self._inc.every_s, self._inc.use_prefix = (self.settings.pass_every_s,
                                                   self.settings.stt_prefix)
        self._set_state(state)

    def _listen(self, chunk: AudioChunk) -> None:
        u = self._utt
        if u.feed(chunk, self._vad.frames(chunk)):
            self._bus.publish(ev.VadStart(audio_s=u.onset))
            self._inc.begin(self._now)
            if self.state == "follow-up":  # a follow-up question, no wake word needed
                self._turn = Turn(wake_score=0.0, stamps={"wake": self._now})
                self._set_state("listening")
        if u.reason == "no-speech" or (u.reason and self._turn is None):
            self._bus.publish(ev.VadEnd(audio_s=self._now, speech_s=u.speech_s,
                                        reason=u.reason))
            self._set_state("idle")
        elif u.started:
            self._advance()

    def _advance(self) -> None:
        """Passes, speculation and the end of the turn, after each listened chunk."""
        u, inc, s = self._utt, self._inc, self.settings
        if self._answer_scope is not None and u.speech_end > self._speculated_end:
            self._drop_speculation()  # they went on speaking: the answer was premature
        if not s.incremental:
            if u.reason:
                self._end_turn(u.reason, None)
            return
        pausing = u.silence_s >= s.speculate_s
        speaking = u.silence_s < 0.05  # quick passes only mid-speech, never in a gap
        cover = inc.covering(u.speech_end)
        if cover is None and not inc.busy and (pausing or (speaking and inc.due(self._now))):
            if not inc.passes:
                self._bus.publish(ev.SttStart())
            inc.start(self._tg, u.audio(), self._now, final=pausing, speech=u.speech_summary())
        if cover is not None and pausing and self._answer_scope is None:
            self._start_answer(cover.transcript)
        text = cover.text if cover is not None else None
        if u.reason or ends_turn(u.silence_s, text, u.speech_s, s.turn):
            self._end_turn(u.reason or "silence", cover.transcript if cover else None,
                           complete=not u.reason and text is not None and looks_complete(text))

    def _partial(self, stable: str, text: str) -> None:
        """A pass returned: act on it now, not at the next chunk (up to 80 ms sooner)."""
        self._bus.publish(ev.SttPartial(text=text, stable=stable, audio_s=self._now))
        if self.state == "listening" and self._utt.started and not self._utt.reason:
            self._advance()

    def _start_answer(self, transcript: Any) -> None:
        """The answer task, on ``transcript`` (the covering pass) or, if None, on one pass
        over the utterance made now (the naive path; the hangover ran out first)."""
        assert self._turn is not None
        turn = self._turn
        turn.stamps["speech_end"] = self._speculated_end = self._utt.speech_end
        if transcript is not None:
            turn.stamps["transcript"] = self._now
            self._bus.publish(ev.SttEnd(text=transcript.text, rejected=transcript.rejected))
            self._bus.publish(ev.AnswerSpeculated(audio_s=self._now, question=transcript.text))
        self._answer_scope = anyio.CancelScope()
        self._tg.start_soon(self._answer, self._utt.audio(), transcript, turn,
                            self._answer_scope)

    def _drop_speculation(self) -> None:
        turn = self._turn
        if self._answer_scope is None or turn is None or turn.committed.is_set():
            return
        self._answer_scope.cancel()
        self._answer_scope = None
        for key in ("transcript", "first_token"):
            turn.stamps.pop(key, None)
        self._bus.publish(ev.SpeculationCancelled(audio_s=self._now))
        self._turn = replace(turn, committed=anyio.Event(), said=[], stamps=dict(turn.stamps),
                             busy_ms=dict.fromkeys(turn.busy_ms, 0.0))

    def _end_turn(self, reason: str, transcript: Any, *, complete: bool = False) -> None:
        u = self._utt
        if self._answer_scope is None:
            self._start_answer(transcript)
        assert self._turn is not None
        turn = self._turn
        turn.stamps["end_of_turn"] = self._now
        self._bus.publish(ev.VadEnd(
            audio_s=self._now, speech_s=u.speech_s, reason=reason, speech_end=u.speech_end,
            end_of_turn_ms=round((self._now - u.speech_end) * 1000, 1), complete=complete))
        turn.committed.set()
        self._set_state("speaking" if self._timeline.speaking else "thinking")

    # ----------------------------------------------------------------- output side
    def _play(self, seconds: float) -> None:
        samples, speech = self._timeline.tick(seconds)
        self._sink.write(samples)
        if not self._timeline.speaking:
            self._drained.set()
        turn = self._turn
        if speech and turn is not None and "first_audio" not in turn.stamps:
            turn.stamps["first_audio"] = start = round(self._now - seconds, 6)
            self._bus.publish(ev.AudioOut(audio_s=start, first=True))

    # ---------------------------------------------------------------- answer task
    async def _answer(self, audio: npt.NDArray[np.int16], transcript: Any, turn: Turn,
                      scope: anyio.CancelScope) -> None:
        with scope:
            if transcript is None and self.settings.incremental:
                cover = await self._inc.wait_cover(turn.stamps["speech_end"])
                transcript = cover.transcript if cover is not None else None
                if transcript is not None:
                    turn.stamps["transcript"] = self._now
                    self._bus.publish(ev.SttEnd(text=transcript.text,
                                                rejected=transcript.rejected))
            if transcript is None:
                self._bus.publish(ev.SttStart())
                start = time.perf_counter()
                transcript = await anyio.to_thread.run_sync(self._stt.transcribe, audio,
                                                            limiter=self._limiter)
                turn.busy_ms["stt"] = (time.perf_counter() - start) * 1000
                turn.stamps["transcript"] = self._now
                self._bus.publish(ev.SttEnd(text=transcript.text, rejected=transcript.rejected))
            elif self._inc.latest is not None:
                turn.busy_ms["stt"] = self._inc.latest.cpu_s * 1000
            turn.transcript = transcript.text
            if not transcript.text:
                await turn.committed.wait()
                self._finish(scope, follow_up=False)
                return
            await self._respond(transcript.text, turn, scope, origin="voice")

    async def _respond(self, question: str, turn: Turn, scope: anyio.CancelScope, *,
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
        await turn.committed.wait()
        turn.stamps.setdefault("first_token", turn.stamps["transcript"])
        await self._drain()
        turn.stamps["done"] = self._now
        self._previous = (question, answer.text)
        self._bus.publish(answer_end(turn, question, answer, origin=origin))
        self._finish(scope, follow_up=origin == "voice")

    async def _drain(self) -> None:
        if self._timeline.speaking:
            self._drained = anyio.Event()
            await self._drained.wait()  # set by _play when the last sample has played

    async def _say(self, sentence: str, turn: Turn) -> None:
        """Synthesise clause by clause: the first clause plays while the rest is made."""
        turn.stamps.setdefault("first_token", self._now)
        turn.said.append(sentence)
        announced = False

        def queued() -> None:  # runs once the turn is committed
            nonlocal announced
            if not announced:
                self._bus.publish(ev.TtsStart(sentence=sentence))
                announced = True
            if self.state == "thinking":
                self._set_state("speaking")

        await self._mouth.say(sentence, turn, first=len(turn.said) == 1, on_queued=queued)

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
