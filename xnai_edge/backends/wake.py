"""Wake word: openWakeWord's three ONNX models run directly with onnxruntime.

The ``openwakeword`` package is not used: 0.6.0 ships no models, pulls scikit-learn and
tflite-runtime, and costs ~3 s to import.  Its streaming front end is small and reproduced here:

    every 1280 samples (80 ms): melspectrogram of the last 1760 samples -> 8 frames of 32 bins,
    scaled ``mel / 10 + 2``; the last 76 frames -> embedding model -> one 96-d embedding;
    the last 16 embeddings -> the wake-word classifier -> score in [0, 1].

Upstream starts its buffers with mel frames of ones and embeddings of random noise; the jump
from those to real audio gave scores up to 0.29 on plain noise 1 s after a start or reset
(measured).  Here the buffers start as if the stream had been preceded by a microphone's noise
floor (~-70 dBFS white noise, seeded; the state after 28 hops of it, computed once at load),
which brings that below 0.08 (pink noise switched on after digital silence still scores
0.11: the model reacts to the onset; the usual threshold is 0.5).  As upstream, the
first five scores after a reset are 0.  The threshold is the caller's decision.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xnai_edge.audio.chunk import CHUNK_SAMPLES, AudioChunk
from xnai_edge.errors import BackendError, ModelError

_CONTEXT = 480  # extra samples before each hop, so the mel frames line up across hops
_WINDOW = 76  # mel frames per embedding
_STEP = 8  # mel frames per hop
_WARMUP = 5  # scores forced to 0 after a reset


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    if not path.is_file():
        raise ModelError(f"wake-word model missing: {path}; run `xnai-edge models install "
                         "--set tiny`")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), sess_options=opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"cannot load wake-word model {path}: {exc}; reinstall with "
                         "`xnai-edge models install --set tiny`") from exc


class WakeDetector:
    """``process(chunk) -> score`` per 80 ms; chunks of any length are re-cut into hops."""

    def __init__(self, melspec_path: Path, embedding_path: Path, model_path: Path, *,
                 threads: int = 1) -> None:
        self._mel = _session(melspec_path, threads)
        self._emb = _session(embedding_path, threads)
        self._clf = _session(model_path, threads)
        self.name = model_path.stem
        """The wake word's model name, e.g. ``hey_jarvis_v0.1``."""
        self._mel_in = self._mel.get_inputs()[0].name
        self._emb_in = self._emb.get_inputs()[0].name
        self._clf_in = self._clf.get_inputs()[0].name
        self._frames = int(self._clf.get_inputs()[0].shape[1])  # 16 embeddings
        self._audio = np.zeros(_CONTEXT, dtype=np.float32)
        self._mels = np.ones((_WINDOW, 32), dtype=np.float32)
        self._features = np.zeros((self._frames, 96), dtype=np.float32)
        self._hops = 0
        floor = np.random.default_rng(0).standard_normal(
            (_WINDOW // _STEP + self._frames + 2, CHUNK_SAMPLES)).astype(np.float32) * 10.0
        for hop in floor:
            self._hop(hop)
        self._initial = (self._mels.copy(), self._features.copy())
        self.reset()

    def reset(self) -> None:
        """Forget all audio (call after a detection, or when the stream restarts)."""
        self._audio = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._mels, self._features = (a.copy() for a in self._initial)
        self._hops = 0

    def fresh(self) -> WakeDetector:
        """A detector with its own streaming state over the SAME loaded ONNX sessions (their
        ``run`` is thread-safe): one per Wyoming client, a few KB each, no second copy of the
        weights, and the voice loop's state is never touched."""
        other = copy.copy(self)
        other.reset()
        return other

    def process(self, chunk: AudioChunk) -> float:
        """The highest score among the 80 ms hops this chunk completes (0.0 if none)."""
        samples = np.concatenate([self._pending, chunk.samples.astype(np.float32)])
        best = 0.0
        n_hops = len(samples) // CHUNK_SAMPLES
        for i in range(n_hops):
            best = max(best, self._hop(samples[i * CHUNK_SAMPLES:(i + 1) * CHUNK_SAMPLES]))
        self._pending = samples[n_hops * CHUNK_SAMPLES:]
        return best

    def _hop(self, hop: npt.NDArray[np.float32]) -> float:
        audio = np.concatenate([self._audio, hop])
        self._audio = audio[-_CONTEXT:]
        try:
            mel = self._melspec(audio)
            self._mels = np.concatenate([self._mels, mel])[-_WINDOW:]
            emb = self._emb.run(None, {self._emb_in: self._mels[None, :, :, None]})[0]
            self._features = np.concatenate([self._features, emb.reshape(1, -1)])[
                -self._frames:]
            score = float(self._clf.run(None, {self._clf_in: self._features[None]})[0]
                          .reshape(-1)[0])
        except Exception as exc:
            raise BackendError(f"wake-word model failed: {exc}", code="wake") from exc
        self._hops += 1
        return 0.0 if self._hops <= _WARMUP else score

    def _melspec(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = self._mel.run(None, {self._mel_in: audio[None, :]})[0]
        mel: npt.NDArray[np.float32] = (np.squeeze(out).reshape(-1, 32) / 10.0 + 2.0).astype(
            np.float32)
        return mel
