"""One utterance being heard: its audio, where speech began, and where it *really* ended.

The loop feeds every listened chunk with the VAD's per-window probabilities.  This keeps

- the audio from ``preroll_s`` before the onset (the silence before it is dropped), so the
  transcriber sees the first phoneme whole;
- ``speech_end``: the end of the last 32 ms VAD window at or above the threshold.  That is the
  honest end of speech, what a person perceives as their last word; the old stamp was the moment
  the segmenter *decided*, a whole hangover later;
- the VAD's verdict on it (speech seconds, the longest unbroken run), which the transcriber's
  gate needs and would otherwise compute again with the same model;
- the ``Segmenter`` for onset, the no-speech timeout, the length limit and the fallback hangover;
- after a wake word, the rest of the wake phrase out of the question: the detector fires while
  "...Jarvis" may still be sounding, and that tail, transcribed as "Jarvis." or "Yes.", reads
  as a complete sentence to the turn policy.  So speech still running when listening starts
  does not begin the utterance; the first non-speech window does ("armed").  A person who runs
  on without any pause is heard anyway: after ``wake_tail_s`` of unbroken speech it counts,
  from the start of listening.

No models and no clocks: the loop and the WER harness (``tools``/tests) drive it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from xnai_edge.audio.chunk import SAMPLE_RATE, AudioChunk
from xnai_edge.backends.vad import SpeechSummary
from xnai_edge.voice.segmenter import Segmenter, SegmenterSettings

WINDOW_S = 512 / SAMPLE_RATE
"""One VAD decision (Silero: 512 samples)."""


@dataclass(frozen=True)
class UtteranceSettings:
    vad_threshold: float = 0.5
    preroll_s: float = 0.3
    wake_tail_s: float = 0.6
    segmenter: SegmenterSettings = field(default_factory=SegmenterSettings)


class Utterance:
    def __init__(self, settings: UtteranceSettings, origin: float, *,
                 after_wake: bool = False) -> None:
        self.settings = settings
        self.armed = not after_wake
        """False while the wake phrase may still be sounding (see the module docstring)."""
        self._run_on = False
        self.segmenter = Segmenter(settings.segmenter)
        self.origin = origin
        """Audio time at which the VAD stream (reset with this utterance) began."""
        self.now = origin
        self.chunks: list[AudioChunk] = []
        self.onset = -1.0
        """Audio time speech began (valid once ``started``)."""
        self.speech_end = -1.0
        """End of the last VAD window at or above the threshold (audio seconds)."""
        self._windows = 0
        self._last_prob = 0.0
        self._speech_windows = self._run_windows = self._longest_windows = 0

    @property
    def started(self) -> bool:
        return self.segmenter.started

    @property
    def reason(self) -> str:
        """"silence", "max-length", "no-speech" once the segmenter gave up; else ""."""
        return self.segmenter.reason

    @property
    def speech_s(self) -> float:
        return self.segmenter.speech_s

    @property
    def silence_s(self) -> float:
        """Silence since the last speech window (0 before speech began)."""
        return max(0.0, self.now - self.speech_end) if self.started else 0.0

    def feed(self, chunk: AudioChunk, probs: npt.NDArray[np.float32]) -> bool:
        """Add one chunk and the probabilities of the VAD windows it completed; True when this
        chunk is the one where speech began."""
        threshold = self.settings.vad_threshold
        self.now = chunk.end
        self.chunks.append(chunk)
        was_armed = self.armed
        for p in probs:
            self._windows += 1
            if p >= threshold:
                self.speech_end = self.origin + self._windows * WINDOW_S
                if self.armed:
                    self._speech_windows += 1
                    self._run_windows += 1
                    self._longest_windows = max(self._longest_windows, self._run_windows)
            else:
                self.armed = True
                self._run_windows = 0
        if len(probs):
            self._last_prob = float(probs[-1])
        speech = bool(len(probs) and float(np.max(probs)) >= threshold) or (
            not len(probs) and self._last_prob >= threshold)
        if not was_armed:
            if not self.armed and self.now - self.origin >= self.settings.wake_tail_s:
                self.armed = self._run_on = True  # no pause after the wake word at all
            else:
                speech = False  # the wake phrase's tail (or the chunk where it ended)
        was_started = self.started
        self.segmenter.process(chunk.duration, speech)
        if not self.started or was_started:
            return False
        seg = self.segmenter
        self.onset = self.now - (seg.elapsed - seg.start_at)
        keep_from = self.origin if self._run_on else self.onset - self.settings.preroll_s
        self.chunks = [c for c in self.chunks if c.end >= keep_from]
        return True

    def speech_summary(self) -> SpeechSummary:
        """The VAD's verdict on the speech heard so far (the wake phrase's tail left out)."""
        return SpeechSummary(self._speech_windows * WINDOW_S, self._longest_windows * WINDOW_S)

    def audio(self) -> npt.NDArray[np.int16]:
        """Everything kept so far (pre-roll + speech + silence after it)."""
        if not self.chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([c.samples for c in self.chunks])
