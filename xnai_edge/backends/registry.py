"""Backends by role, built from the model store and config; heavy imports happen here, lazily.

Nothing outside ``backends/`` imports onnxruntime or llama_cpp: callers ask for a role.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xnai_edge.backends.embedder import OnnxEmbedder
from xnai_edge.backends.llm import LlamaChat
from xnai_edge.config import Config
from xnai_edge.modelstore import ModelStore

if TYPE_CHECKING:
    from xnai_edge.backends.stt import Transcriber
    from xnai_edge.backends.tts import Synthesizer
    from xnai_edge.backends.vad import VoiceActivity
    from xnai_edge.backends.wake import WakeDetector


def load_embedder(models_dir: Path, config: Config) -> OnnxEmbedder:
    store = ModelStore(models_dir)
    set_name = config.models.set
    return OnnxEmbedder(store.verified_path("embed", "model.onnx", set_name=set_name),
                        store.verified_path("embed", "tokenizer.json", set_name=set_name),
                        threads=config.embed.threads, max_tokens=config.embed.max_tokens)


def load_llm(models_dir: Path, config: Config) -> LlamaChat:
    store = ModelStore(models_dir)
    return LlamaChat(store.verified_path("llm", "model.gguf", set_name=config.models.set),
                     threads=config.llm.threads, context_tokens=config.llm.context_tokens,
                     omp_wait_policy=config.llm.omp_wait_policy)


def load_wake(models_dir: Path, config: Config) -> WakeDetector:
    from xnai_edge.backends.wake import WakeDetector

    store, set_name = ModelStore(models_dir), config.models.set
    return WakeDetector(store.path("wake", "melspectrogram.onnx", set_name=set_name),
                        store.path("wake", "embedding_model.onnx", set_name=set_name),
                        store.path("wake", config.voice.wake_model, set_name=set_name))


def load_vad(models_dir: Path, config: Config) -> VoiceActivity:
    from xnai_edge.backends.vad import VoiceActivity

    return VoiceActivity(ModelStore(models_dir).path("vad", "silero_vad.onnx",
                                                     set_name=config.models.set),
                         threshold=config.voice.vad_threshold)


def load_stt(models_dir: Path, config: Config) -> Transcriber:
    from xnai_edge.backends.stt import Transcriber

    return Transcriber(ModelStore(models_dir).path("stt", set_name=config.models.set),
                       threads=config.stt.threads, vad=load_vad(models_dir, config))


def load_tts(models_dir: Path, config: Config) -> Synthesizer:
    from xnai_edge.backends.tts import Synthesizer

    store = ModelStore(models_dir)
    onnx = next(f.name for f in store.spec("tts", set_name=config.models.set).files
                if f.name.endswith(".onnx"))
    return Synthesizer(store.path("tts", onnx, set_name=config.models.set),
                       threads=config.tts.threads, quiet_threads=config.tts.quiet_threads,
                       vary=config.tts.vary)
