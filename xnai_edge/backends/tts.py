"""Text to speech with Piper (piper-tts 1.8.0, VITS ONNX voices, espeak-ng phonemes).

``stream`` yields one int16 array per sentence as soon as it is made, so the first sentence can
play while the rest is synthesized, and a barge-in can stop between sentences.  Samples come at
the voice's own rate (22,050 Hz for medium voices); ``to_16k`` converts for the wake/STT path.
The ONNX session is built here, not by ``PiperVoice.load``, to set its thread count: on 2 cores
TTS must not take both while the wake word listens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xnai_edge.audio.chunk import convert
from xnai_edge.errors import BackendError, ModelError

Int16Array = npt.NDArray[np.int16]


class Synthesizer:
    def __init__(self, model_path: Path, config_path: Path | None = None, *, threads: int = 1,
                 length_scale: float | None = None) -> None:
        config_path = config_path or model_path.with_name(model_path.name + ".json")
        for p in (model_path, config_path):
            if not p.is_file():
                raise ModelError(f"TTS voice file missing: {p}; run `xnai-edge models install "
                                 "--set tiny`")
        import onnxruntime as ort
        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
            session = ort.InferenceSession(str(model_path), sess_options=opts,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime and the config parser raise untyped errors
            raise ModelError(f"cannot load TTS voice {model_path}: {exc}; reinstall with "
                             "`xnai-edge models install --set tiny`") from exc
        self._voice: Any = PiperVoice(session=session, config=config)
        self._syn_config: Any = SynthesisConfig(length_scale=length_scale)
        self.sample_rate: int = int(config.sample_rate)
        self.voice_id = model_path.stem

    def stream(self, text: str) -> Iterator[Int16Array]:
        """One int16 array per sentence of ``text``, each as soon as it is synthesized."""
        if not text.strip():
            return
        try:
            for chunk in self._voice.synthesize(text, syn_config=self._syn_config):
                audio: Int16Array = np.asarray(chunk.audio_int16_array, dtype=np.int16)
                if len(audio):
                    yield audio
        except (RuntimeError, ValueError, KeyError) as exc:
            raise BackendError(f"speech synthesis failed: {exc}", code="tts") from exc

    def synthesize(self, text: str) -> Int16Array:
        """All of ``text`` as one int16 array at ``sample_rate``."""
        parts = list(self.stream(text))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def to_16k(self, samples: Int16Array) -> Int16Array:
        """This voice's samples as 16 kHz mono int16 (for the wake word and STT)."""
        return convert(samples, self.sample_rate)
