"""Text to speech with Piper (piper-tts 1.8.0, VITS ONNX voices, espeak-ng phonemes).

``stream`` yields one int16 array per sentence as soon as it is made, so the first sentence can
play while the rest is synthesized, and a barge-in can stop between sentences.  Samples come at
the voice's own rate (22,050 Hz for medium voices); ``to_16k`` converts for the wake/STT path.
The ONNX session is built here, not by ``PiperVoice.load``, to set its thread count: on 2 cores
TTS must not take both while an answer plays (with two threads, 15-31 input chunks per run set
came > 80 ms late: playback would skip).  Before the first audio nothing plays, so the first
part of an answer is made by a second session with ``quiet_threads`` (``quiet=True``): a late
input chunk then only delays the wake word a little (input queues), and the first audio comes
~0.2 s sooner (docs/voice.md).  The second session costs 130 MB resident (157 -> 286 MB
for the voice).

Memory: onnxruntime's CPU arena keeps the working memory of the longest sentence made so far
for good.  After four sentences of 1-25 words, made by both sessions, the process held 635-657
MB with an arena in each and 338-364 MB with none; without an arena a part takes 3-12% longer
(a 9-word sentence 411-450 -> 465-481 ms with 2 threads).  So the session that makes the parts
while an answer plays, ahead of the speaker, has no arena; the quiet one, whose time is the
wait a person hears and which only makes first parts, keeps it (measured 2026-12-01).

Short texts that come back again and again ("I don't know that from your documents.",
"Source: xnai-edge user manual.") are kept once synthesised (``CACHE_TEXTS`` of at most
``CACHE_MAX_CHARS``): 0.2-0.5 s of CPU each time, and for an abstention the whole wait before
its first audio.  ``warm`` makes them before the first question.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xnai_edge.audio.chunk import convert
from xnai_edge.errors import BackendError, ModelError

Int16Array = npt.NDArray[np.int16]

CACHE_TEXTS = 64
CACHE_MAX_CHARS = 80
LEAD_FLOOR = 64
"""Piper starts each sentence with ~50 ms below this (-54 dBFS): heard as silence."""
LEAD_KEEP_S = 0.005


def trim_lead(audio: Int16Array, rate: int) -> Int16Array:
    """``audio`` without its near-silent lead, but for ``LEAD_KEEP_S`` before the first louder
    sample (the onset's ramp).  That lead is dead air before the first word of an answer and
    a longer gap between the parts of a sentence."""
    loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > LEAD_FLOOR)
    if not len(loud):
        return audio
    return audio[max(0, int(loud[0]) - int(LEAD_KEEP_S * rate)):]


class Synthesizer:
    def __init__(self, model_path: Path, config_path: Path | None = None, *, threads: int = 1,
                 length_scale: float | None = None, quiet_threads: int = 0,
                 vary: bool = True) -> None:
        config_path = config_path or model_path.with_name(model_path.name + ".json")
        for p in (model_path, config_path):
            if not p.is_file():
                raise ModelError(f"TTS voice file missing: {p}; run `xnai-edge models install "
                                 "--set tiny`")
        import onnxruntime as ort
        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig

        def session(n: int, *, arena: bool = True) -> Any:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = n
            opts.inter_op_num_threads = 1
            opts.enable_cpu_mem_arena = arena
            return ort.InferenceSession(str(model_path), sess_options=opts,
                                        providers=["CPUExecutionProvider"])

        quiet = quiet_threads > threads
        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
            self._voice: Any = PiperVoice(session=session(threads, arena=not quiet),
                                          config=config)
            self._quiet_voice: Any = PiperVoice(session=session(quiet_threads),
                                                config=config) if quiet else self._voice
        except Exception as exc:  # onnxruntime and the config parser raise untyped errors
            raise ModelError(f"cannot load TTS voice {model_path}: {exc}; reinstall with "
                             "`xnai-edge models install --set tiny`") from exc
        # Piper draws fresh noise on every call (unseeded); without it, the same samples.
        self._syn_config: Any = SynthesisConfig(length_scale=length_scale) if vary else \
            SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)
        self.sample_rate: int = int(config.sample_rate)
        self.voice_id = model_path.stem
        self._cache: OrderedDict[str, Int16Array] = OrderedDict()
        self._cache_lock = threading.Lock()

    def stream(self, text: str, *, quiet: bool = False) -> Iterator[Int16Array]:
        """One int16 array per sentence of ``text``, each as soon as it is synthesized;
        ``quiet``: nothing is playing, so it may use ``quiet_threads``."""
        if not text.strip():
            return
        voice = self._quiet_voice if quiet else self._voice
        try:
            for chunk in voice.synthesize(text, syn_config=self._syn_config):
                audio = trim_lead(np.asarray(chunk.audio_int16_array, dtype=np.int16),
                                  self.sample_rate)
                if len(audio):
                    yield audio
        except (RuntimeError, ValueError, KeyError) as exc:
            raise BackendError(f"speech synthesis failed: {exc}", code="tts") from exc

    def synthesize(self, text: str, *, quiet: bool = False) -> Int16Array:
        """All of ``text`` as one int16 array at ``sample_rate`` (short texts from the cache;
        the array is shared: do not write to it); ``quiet`` as for ``stream``."""
        key = text.strip()
        cacheable = len(key) <= CACHE_MAX_CHARS
        if cacheable:
            with self._cache_lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
        parts = list(self.stream(text, quiet=quiet))
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        if cacheable and len(audio):
            audio.flags.writeable = False
            with self._cache_lock:
                self._cache[key] = audio
                while len(self._cache) > CACHE_TEXTS:
                    self._cache.popitem(last=False)
        return audio

    def clear_cache(self) -> None:
        """Forget every cached text (a benchmark measuring first synthesis; a voice change)."""
        with self._cache_lock:
            self._cache.clear()

    def warm(self, texts: Iterable[str]) -> None:
        """Synthesise ``texts`` now, so that saying them later costs nothing."""
        for text in texts:
            self.synthesize(text)

    def to_16k(self, samples: Int16Array) -> Int16Array:
        """This voice's samples as 16 kHz mono int16 (for the wake word and STT)."""
        return convert(samples, self.sample_rate)
