"""Streaming voice activity: Silero VAD (v4 ONNX, LSTM state ``h``/``c``) via onnxruntime.

Audio is cut into 512-sample windows (32 ms at 16 kHz); each window gives a speech probability
and advances the model's state, so feed chunks in order and ``reset()`` between streams.
Partial windows wait for the next chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xnai_edge.audio.chunk import SAMPLE_RATE, AudioChunk
from xnai_edge.errors import BackendError, ModelError

WINDOW = 512
"""Samples per VAD decision (32 ms)."""

_State = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]


@dataclass(frozen=True)
class SpeechSummary:
    total: float
    """Seconds of windows at or above the threshold."""
    longest: float
    """Seconds of the longest run of such windows: speech comes in runs of several hundred
    milliseconds, music and noise that fool the model in isolated windows (measured: <= 0.13 s
    for a synthetic band, >= 0.45 s for every recorded utterance)."""


class VoiceActivity:
    """``probability(chunk)`` / ``is_speech(chunk)`` over a stream; ``probabilities(samples)``
    for a whole clip."""

    def __init__(self, model_path: Path, *, threshold: float = 0.5, threads: int = 1) -> None:
        import onnxruntime as ort

        if not model_path.is_file():
            raise ModelError(f"VAD model missing: {model_path}; run `xnai-edge models install "
                             "--set tiny`")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._session: Any = ort.InferenceSession(str(model_path), sess_options=opts,
                                                      providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"cannot load VAD model {model_path}: {exc}; reinstall with "
                             "`xnai-edge models install --set tiny`") from exc
        names = {i.name for i in self._session.get_inputs()}
        if not {"input", "sr", "h", "c"} <= names:
            raise ModelError(f"{model_path} is not a Silero v4 VAD (inputs: {sorted(names)})")
        self.threshold = threshold
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = _fresh_state()
        self._pending = np.zeros(0, dtype=np.float32)
        self._last = 0.0

    def probability(self, chunk: AudioChunk) -> float:
        """The highest speech probability among the windows this chunk completes; with none
        completed, the last window's probability."""
        probs = self.frames(chunk)
        return float(probs.max()) if len(probs) else self._last

    def frames(self, chunk: AudioChunk) -> npt.NDArray[np.float32]:
        """The probabilities of the windows this chunk completes, in order (window ``k`` since
        ``reset()`` ends ``(k + 1) * 32 ms`` after the first sample fed): where speech
        really ended, to the window rather than to the chunk."""
        probs = self._feed(chunk.samples)
        if len(probs):
            self._last = float(probs[-1])
        return probs

    def is_speech(self, chunk: AudioChunk) -> bool:
        return self.probability(chunk) >= self.threshold

    def probabilities(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
        """Per-window probabilities of a whole clip, from a fresh state.  Leaves the stream's
        state alone, so one instance may serve the live stream and, from another thread, the
        transcriber's gate (onnxruntime sessions are thread-safe)."""
        state = _fresh_state()
        probs, _ = self._run(samples.astype(np.float32) / 32768.0, state)
        return probs

    def speech_seconds(self, samples: npt.NDArray[np.int16]) -> float:
        """Seconds of ``samples`` whose windows are at or above the threshold."""
        return self.summary(samples).total

    def summary(self, samples: npt.NDArray[np.int16]) -> SpeechSummary:
        """Total speech and the longest unbroken stretch of it in a clip."""
        speech = self.probabilities(samples) >= self.threshold
        longest = run = 0
        for flag in speech:
            run = run + 1 if flag else 0
            longest = max(longest, run)
        return SpeechSummary(float(speech.sum()) * WINDOW / SAMPLE_RATE,
                             longest * WINDOW / SAMPLE_RATE)

    def _feed(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
        audio = np.concatenate([self._pending, samples.astype(np.float32) / 32768.0])
        probs, self._state = self._run(audio, self._state)
        self._pending = audio[len(probs) * WINDOW:]
        return probs

    def _run(self, audio: npt.NDArray[np.float32], state: _State,
             ) -> tuple[npt.NDArray[np.float32], _State]:
        """Probabilities of the whole windows of ``audio`` and the state after them."""
        n = len(audio) // WINDOW
        out = np.empty(n, dtype=np.float32)
        h, c = state
        try:
            for i in range(n):
                prob, h, c = self._session.run(None, {
                    "input": audio[None, i * WINDOW:(i + 1) * WINDOW], "sr": self._sr,
                    "h": h, "c": c})
                out[i] = prob.reshape(-1)[0]
        except Exception as exc:
            raise BackendError(f"VAD model failed: {exc}", code="vad") from exc
        return out, (h, c)


def _fresh_state() -> _State:
    return (np.zeros((2, 1, 64), dtype=np.float32), np.zeros((2, 1, 64), dtype=np.float32))
