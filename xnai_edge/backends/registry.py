"""Backends by role, built from the model store and config; heavy imports happen here, lazily.

Nothing outside ``backends/`` imports onnxruntime or llama_cpp: callers ask for a role.
"""

from __future__ import annotations

from pathlib import Path

from xnai_edge.backends.embedder import OnnxEmbedder
from xnai_edge.backends.llm import LlamaChat
from xnai_edge.config import Config
from xnai_edge.modelstore import ModelStore


def load_embedder(models_dir: Path, config: Config) -> OnnxEmbedder:
    store = ModelStore(models_dir)
    set_name = config.models.set
    return OnnxEmbedder(store.verified_path("embed", "model.onnx", set_name=set_name),
                        store.verified_path("embed", "tokenizer.json", set_name=set_name),
                        threads=config.embed.threads, max_tokens=config.embed.max_tokens,
                        batch_size=config.embed.batch_size)


def load_llm(models_dir: Path, config: Config) -> LlamaChat:
    store = ModelStore(models_dir)
    return LlamaChat(store.verified_path("llm", "model.gguf", set_name=config.models.set),
                     threads=config.llm.threads, context_tokens=config.llm.context_tokens,
                     omp_wait_policy=config.llm.omp_wait_policy)
