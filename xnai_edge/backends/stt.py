"""Speech to text with faster-whisper (CTranslate2), behind a gate that keeps non-speech out.

Whisper invents text for noise, music and silence ("you", "Thank you.", "."): on an appliance
that turns into a spoken answer to a question nobody asked.  ``SpeechGate`` stops it in three
places, cheapest first:

1. the VAD must find at least ``min_speech_seconds`` of speech in the clip, some of it in one
   unbroken run of ``min_speech_run_seconds`` (music fools Silero in isolated 32 ms windows),
   else Whisper is not run at all (saving ~1 s of CPU per false trigger);
2. each segment is dropped when Whisper itself doubts it: ``no_speech_prob`` high together with
   a low ``avg_logprob``, a very low ``avg_logprob`` alone, or a ``compression_ratio`` that
   means repetition loops;
3. what is left must contain a letter or digit, and the stock hallucinations ("thank you",
   "thanks for watching", ...) are dropped when the clip has little speech or Whisper thought
   it likely silent.

The encoder window.  faster-whisper pads every clip to Whisper's 30 s window, and the encoder
costs the same for "stop" as for 30 s of speech: 1.6 s of CPU with tiny.en on this 2-core
EPYC, most of the wait after a question.  CTranslate2 takes shorter inputs, so a clip that fits
is encoded in the shortest of ``WINDOWS_S`` that holds it with ``WINDOW_SPARE_S`` (2 s) to
spare.  The encoder costs ~40 ms per second of window (tiny.en, one thread: 10 s 0.37 s, 6 s
0.2 s, 4 s 0.13 s for a 2.3 s question), but windows under 10 s were tried and not taken:
on files they changed nothing (WER 0.068 on the 12 recordings for floors of 4, 5, 6 and 10 s),
yet through ``listen`` in real time, where the pass ends ~0.1 s after the last speech frame,
they lost words ("made amiable himself" -> "made am you, himself"; 0.097 with a 6 s floor
against raw 0.078).  Short windows sometimes make Whisper loop ("How do I add documents? How
do I add documents?"), so a result that repeats itself, or runs past ``6 tokens/s + 12``
(the decoder is capped there: a loop must not cost 448 tokens), is decoded again in a window
at least 1.5x as long.  Passes while the person is still speaking (``quick=True``) take the
first window and no second try: only their stable prefix is used.

Threads.  With glibc's default heaps (one per thread, up to 8 per core) CTranslate2's encoder
ran no faster on two threads than on one in a 10 s window (0.27-0.30 s either way), though it
did in 30 s (1.38 -> 0.70 s).  With at most two heaps (``heap.limit_arenas``, which ``cli.main``
sets before anything starts a thread: set after the other models are loaded it does not help)
a 10 s window takes 0.15 s on two threads, and a whole pass over a 1.1 s / 3.0 s recording
0.28 / 0.32 s against 0.39 / 0.45 s on one (tiny.en int8, quiet machine, 2026-12-02).

The gate's VAD check needs Silero over the whole clip (~40 ms for a 2 s question, window by
window).  The voice loop has already run the same model over the same audio as it streamed
in, so it hands its verdict over (``speech=``) instead of having it computed again.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xnai_edge.audio.chunk import SAMPLE_RATE
from xnai_edge.backends.vad import SpeechSummary, VoiceActivity
from xnai_edge.errors import BackendError, ModelError

DECODE_OPTIONS: dict[str, Any] = {
    "language": "en", "task": "transcribe", "beam_size": 1, "best_of": 1,
    "temperature": 0.0, "condition_on_previous_text": False, "without_timestamps": True,
    "vad_filter": False,
}
"""The faster-whisper settings (greedy, one temperature: bounded time, repeatable output).
``tests/integration/test_wer.py`` calls faster-whisper directly with the same ones."""

WINDOWS_S = (10.0, 15.0, 30.0)
"""Encoder windows, shortest first (30 s: faster-whisper's own padding)."""

WINDOW_SPARE_S = 2.0
"""A clip is encoded in the shortest window at least this much longer than it."""

HALLUCINATIONS = frozenset({
    "you", "thank you", "thanks", "thank you very much", "thanks for watching",
    "thank you for watching", "thanks for listening", "thank you for listening", "bye",
    "subtitles by the amara org community", "please subscribe", "so", "okay", "oh", "hmm",
})
"""Normalised texts Whisper produces from non-speech (lower case, letters/digits/spaces)."""


@dataclass(frozen=True)
class SpeechGate:
    min_speech_seconds: float = 0.25
    """VAD speech needed before Whisper runs at all ..."""
    min_speech_run_seconds: float = 0.2
    """... with at least this much of it unbroken."""
    max_no_speech_prob: float = 0.6
    """A segment above this is dropped when its avg_logprob is also below ``doubt_logprob``."""
    doubt_logprob: float = -1.0
    """faster-whisper's own ``log_prob_threshold``: with ``max_no_speech_prob`` its own rule,
    so the gate never drops a segment faster-whisper keeps for being in doubt.  It was -0.8:
    "five five" (1.6 s) in the 10 s window came out at no_speech 0.70 / logprob -0.88 and was
    dropped, where faster-whisper in 30 s keeps "5 5" (0.56 / -0.72); no non-speech clip of
    the tests is let through by the change (they stop at the VAD or at layer 3)."""
    min_logprob: float = -1.2
    """A segment below this is dropped whatever its no_speech_prob."""
    max_compression_ratio: float = 2.4
    hallucination_speech_seconds: float = 1.0
    """A stock hallucination is dropped when the clip has less VAD speech than this ..."""
    hallucination_no_speech_prob: float = 0.3
    """... or when Whisper's no_speech_prob is above this."""


@dataclass(frozen=True)
class Transcript:
    text: str
    """What was said; empty when nothing was, or the gate rejected it."""
    no_speech_prob: float
    """Highest of the kept segments (1.0 when Whisper did not run)."""
    avg_logprob: float
    """Mean over the kept segments (0.0 when none)."""
    seconds: float
    """Wall time of this call (VAD + Whisper)."""
    audio_seconds: float
    speech_seconds: float
    """VAD speech found in the clip (-1.0 without a VAD)."""
    rejected: str = ""
    """Why the gate gave no text: "vad" (too little speech), "whisper" (Whisper found or kept
    no words), "hallucination", or "" when the text stands."""


_NON_WORD = re.compile(r"[^a-z0-9 ]+")


def normalise(text: str) -> str:
    """Lower case, letters/digits/spaces only, single spaces."""
    return " ".join(_NON_WORD.sub(" ", text.lower().replace("'", "")).split())


class Transcriber:
    """``transcribe(int16 16 kHz samples) -> Transcript``; blocking, call from a worker thread."""

    def __init__(self, model_dir: Path, *, threads: int = 2, vad: VoiceActivity | None = None,
                 gate: SpeechGate | None = None, compute_type: str = "int8",
                 windows_s: tuple[float, ...] = WINDOWS_S,
                 window_spare_s: float = WINDOW_SPARE_S) -> None:
        if not (model_dir / "model.bin").is_file():
            raise ModelError(f"speech-to-text model missing in {model_dir}; run `xnai-edge "
                             "models install --set tiny`")
        from faster_whisper import WhisperModel

        try:
            self._model = WhisperModel(str(model_dir), device="cpu", compute_type=compute_type,
                                       cpu_threads=threads, num_workers=1)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"cannot load speech-to-text model {model_dir}: {exc}; reinstall "
                             "with `xnai-edge models install --set tiny`") from exc
        self._vad = vad
        self.gate = gate or SpeechGate()
        self.windows_s = windows_s
        self.window_spare_s = window_spare_s
        self._frames = threading.local()  # this call's encoder window (frames), per thread
        encode = self._model.encode

        def encode_in_window(features: Any) -> Any:
            frames = getattr(self._frames, "n", None)
            return encode(np.ascontiguousarray(features[..., :frames]) if frames else features)

        self._model.encode = encode_in_window

    def transcribe(self, samples: npt.NDArray[np.int16], *, prefix: str = "",
                   quick: bool = False, speech: SpeechSummary | None = None) -> Transcript:
        """``prefix``: words already agreed on by earlier passes, forced as the start of the
        decoded text (decoded in one step instead of token by token).  ``quick``: a pass while
        speech goes on (the short window, no second try).  ``speech``: the VAD's verdict on
        ``samples`` when the caller has it (the loop's streaming VAD); else it is computed."""
        started = time.perf_counter()
        audio_seconds = len(samples) / SAMPLE_RATE
        summary = speech if speech is not None else (
            self._vad.summary(samples) if self._vad is not None else None)
        speech_s = -1.0
        if summary is not None:
            speech_s = summary.total
            if (speech_s < self.gate.min_speech_seconds
                    or summary.longest < self.gate.min_speech_run_seconds):
                return Transcript("", 1.0, 0.0, time.perf_counter() - started, audio_seconds,
                                  speech_s, "vad")
        audio = samples.astype(np.float32) / 32768.0
        fitting = [w for w in self.windows_s
                   if len(audio) / SAMPLE_RATE + self.window_spare_s <= w] or [30.0]
        window = fitting[0]
        while True:
            segments, capped = self._decode(audio, prefix, window)
            wider = [w for w in fitting if w >= 1.5 * window]
            if quick or not wider or not (capped or _loops(" ".join(s.text for s in segments))):
                break
            window = wider[0]
        g = self.gate
        kept = [s for s in segments
                if not (s.no_speech_prob > g.max_no_speech_prob
                        and s.avg_logprob < g.doubt_logprob)
                and s.avg_logprob >= g.min_logprob
                and s.compression_ratio <= g.max_compression_ratio]
        text = " ".join(s.text.strip() for s in kept).strip()
        no_speech = max((s.no_speech_prob for s in kept), default=1.0)
        logprob = float(np.mean([s.avg_logprob for s in kept])) if kept else 0.0
        rejected = ""
        words = normalise(text)
        if not words:
            rejected = "whisper"
        elif words in HALLUCINATIONS and (
                0 <= speech_s < g.hallucination_speech_seconds
                or no_speech > g.hallucination_no_speech_prob):
            rejected = "hallucination"
        return Transcript("" if rejected else text, no_speech, logprob,
                          time.perf_counter() - started, audio_seconds, speech_s, rejected)

    def _decode(self, audio: npt.NDArray[np.float32], prefix: str, window_s: float,
                ) -> tuple[list[Any], bool]:
        """faster-whisper on ``audio`` encoded in ``window_s`` (< 30: the decoder capped, see
        the module docstring); the segments, and whether the cap was reached."""
        short = window_s < 30
        self._frames.n = int(window_s * 100) if short else None
        options = {**DECODE_OPTIONS, **({"prefix": prefix} if prefix else {})}
        cap = int(6 * len(audio) / SAMPLE_RATE) + 12
        if short:
            options["max_new_tokens"] = cap
        try:
            segments = list(self._model.transcribe(audio, **options)[0])
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"speech-to-text failed: {exc}", code="stt") from exc
        finally:
            self._frames.n = None
        return segments, short and sum(len(s.tokens) for s in segments) >= cap


def _loops(text: str) -> bool:
    """True when ``text`` ends in (or holds) a run of two or more words said twice in a row,
    Whisper's failure in a short window ("how do i add documents how do i add documents")."""
    words = normalise(text).split()
    for size in range(2, len(words) // 2 + 1):
        for start in range(len(words) - 2 * size + 1):
            if words[start:start + size] == words[start + size:start + 2 * size]:
                return True
    return False
