"""Transcription while the person speaks: passes over the utterance so far, one at a time.

Whisper is not a streaming model, so "incremental" means re-transcribing the growing utterance
(tiny.en: ~0.1-0.3 s a pass on one core) every ``every_s`` seconds of new audio, in a worker
thread behind the model limiter.  Two things come out of it:

- a *stable prefix* by local agreement (the words two successive passes agree on, as in
  whisper_streaming): shown as ``SttPartial`` events, and handed to the next pass as the
  decoder prefix when ``use_prefix`` is on, so the pass after the last word decodes only what
  is new;
- the *covering pass*: the first full-quality pass (started at a pause; the passes while speech
  goes on are ``quick``, see ``backends/stt.py``) whose audio reaches past the last speech
  frame.  Its text
  is the transcript of the whole utterance, what the turn policy reads and what the answer
  starts on.  A new pass is started at once when the person pauses and no pass covers
  their speech yet (``request_cover``).

A pass is never abandoned mid-way (a thread cannot be stopped; abandoning it would let two model
calls run at once on 2 cores): a pass made stale by more speech simply finishes and is superseded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt

from xnai_edge.audio.chunk import SAMPLE_RATE
from xnai_edge.backends.vad import SpeechSummary


@dataclass(frozen=True)
class Pass:
    text: str
    """The gate's text for the audio so far ("" when rejected)."""
    audio_end: float
    """Audio time the pass's audio reaches."""
    transcript: Any
    """The backend's ``Transcript`` (text, rejected, ...)."""
    cpu_s: float
    """Wall seconds the pass took in its thread."""
    final: bool = True
    """Made at full quality (a pause); a quick pass never stands as the transcript."""


def agreed_prefix(a: str, b: str) -> str:
    """The leading words ``a`` and ``b`` share (local agreement), taken from ``b``."""
    wa, wb = a.split(), b.split()
    n = 0
    while n < min(len(wa), len(wb)) and _key(wa[n]) == _key(wb[n]):
        n += 1
    return " ".join(wb[:n])


def _key(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


class Incremental:
    """Runs passes for one utterance at a time; ``reset()`` between utterances."""

    def __init__(self, transcribe: Callable[..., Any], limiter: anyio.CapacityLimiter, *,
                 every_s: float = 1.0, first_s: float = 2.5, use_prefix: bool = False,
                 on_partial: Callable[[str, str], None] | None = None) -> None:
        self._transcribe = transcribe
        self._limiter = limiter
        self.every_s = every_s
        self.first_s = first_s
        self.use_prefix = use_prefix
        self._on_partial = on_partial or (lambda stable, text: None)
        self._generation = 0
        self.reset()

    def reset(self) -> None:
        """A new utterance: a pass still running for the old one is ignored when it ends."""
        if hasattr(self, "_done"):
            self._done.set()  # nobody waits on the old utterance's pass
        self._generation += 1
        self.busy = False
        self.latest: Pass | None = None
        self.stable = ""
        self.passes = 0
        self.cpu_s = 0.0
        self.audio_s = 0.0
        """Seconds of audio transcribed (all passes)."""
        self._last_start_end = float("inf")  # no quick pass before ``begin``
        self._done: anyio.Event = anyio.Event()

    def begin(self, onset: float) -> None:
        """Speech began at ``onset``: the first quick pass comes ``first_s`` later.  Most
        questions are shorter: a quick pass still running when they end would hold up the
        pass that matters (measured: +1.4 s on a loaded machine), so they get none."""
        self._last_start_end = onset + self.first_s - self.every_s

    async def wait_cover(self, speech_end: float) -> Pass | None:
        """The covering pass, waiting for the one in flight if there is one (the turn ended
        while it ran); None if none covers ``speech_end``."""
        while self.busy and self.covering(speech_end) is None:
            await self._done.wait()
        return self.covering(speech_end)

    def covering(self, speech_end: float) -> Pass | None:
        """The latest pass if it reaches past ``speech_end``."""
        latest = self.latest
        return latest if latest is not None and latest.final and \
            latest.audio_end >= speech_end else None

    def due(self, now: float) -> bool:
        """Time for another quick pass while speech goes on: ``every_s`` of new audio, or
        twice the last pass's duration if that is longer (a loaded machine sheds passes
        rather than fall behind the wake word, and keeps the pause's pass from waiting)."""
        last = self.latest.cpu_s if self.latest is not None else 0.0
        return not self.busy and now - self._last_start_end >= max(self.every_s, 2 * last)

    def start(self, tg: Any, audio: npt.NDArray[np.int16], audio_end: float, *,
              final: bool, speech: SpeechSummary | None = None) -> None:
        """Start a pass over ``audio`` (ending at ``audio_end``) unless one is running;
        ``final``: the person paused, this pass may be the transcript (full quality);
        ``speech``: the VAD's verdict on ``audio``, passed on to the transcriber."""
        if self.busy or not len(audio):
            return
        self.busy = True
        self._last_start_end = audio_end
        tg.start_soon(self._run, audio, audio_end, self._generation, final, speech)

    async def _run(self, audio: npt.NDArray[np.int16], audio_end: float, generation: int,
                   final: bool, speech: SpeechSummary | None) -> None:
        prefix = self.stable if self.use_prefix and final else ""
        started = time.perf_counter()
        try:
            transcript = await anyio.to_thread.run_sync(
                lambda: self._transcribe(audio, prefix=prefix, quick=not final, speech=speech),
                limiter=self._limiter)
        finally:
            if generation == self._generation:
                self.busy = False
                self._done.set()
                self._done = anyio.Event()
        seconds = time.perf_counter() - started
        if generation != self._generation:  # the utterance it belonged to is over
            return
        self.passes += 1
        self.cpu_s += seconds
        self.audio_s += len(audio) / SAMPLE_RATE
        previous = self.latest.text if self.latest is not None else ""
        self.latest = Pass(transcript.text, audio_end, transcript, seconds, final)
        self.stable = agreed_prefix(previous, transcript.text) if previous else ""
        self._on_partial(self.stable, transcript.text)
