"""End of speech, decided from (seconds, is_speech) steps alone (pure, like HA's assist_pipeline).

After the wake word the user may pause before speaking (``start_timeout_s``); once speech has
begun, the utterance ends after ``hangover_s`` of silence, or at ``max_utterance_s``.  Speech
shorter than ``min_speech_s`` (a click, a cough) does not count as the start of speech.  The
hangover grows with a short utterance so far, because slow speakers pause most between their first
words ("what is... the wake word"), and cutting them off is the complaint we hear most.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmenterSettings:
    hangover_s: float = 0.8
    slow_start_extra_s: float = 0.4
    """Extra hangover while less than ``slow_start_below_s`` of speech has been heard."""
    slow_start_below_s: float = 1.0
    min_speech_s: float = 0.15
    start_timeout_s: float = 5.0
    max_utterance_s: float = 15.0


class Segmenter:
    def __init__(self, settings: SegmenterSettings) -> None:
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        self.elapsed = 0.0
        self.speech_s = 0.0
        self.started = False
        self._run = 0.0  # current run of speech (before start) or silence (after)
        self.reason = ""
        self.start_at = 0.0
        """Seconds since reset at which speech began (valid once ``started``)."""

    def process(self, chunk_seconds: float, is_speech: bool) -> bool:
        """Feed one step; True once the utterance is over (see ``reason``)."""
        if self.reason:
            return True
        s = self.settings
        self.elapsed += chunk_seconds
        if not self.started:
            self._run = self._run + chunk_seconds if is_speech else 0.0
            if self._run >= s.min_speech_s:
                self.started = True
                self.start_at = self.elapsed - self._run
                self.speech_s = self._run
                self._run = 0.0
            elif self.elapsed >= s.start_timeout_s:
                self.reason = "no-speech"
        else:
            if is_speech:
                self.speech_s += chunk_seconds
                self._run = 0.0
            else:
                self._run += chunk_seconds
            hangover = s.hangover_s + (s.slow_start_extra_s
                                       if self.speech_s < s.slow_start_below_s else 0.0)
            if self._run >= hangover:
                self.reason = "silence"
            elif self.elapsed - self.start_at >= s.max_utterance_s:
                self.reason = "max-length"
        return bool(self.reason)
