"""Token streaming from a GGUF chat model through llama-cpp-python.

Generation is a blocking iterator; callers run it in a worker thread and may set ``cancel`` to
stop it between tokens (barge-in).  The thread count comes from config: on 2 cores, using both
for llama.cpp while the wake word runs stalls generation (see MODELS.md).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from xnai_edge.errors import BackendError, ModelError


class LlamaChat:
    def __init__(self, model_path: Path, *, threads: int, context_tokens: int,
                 seed: int = 0, omp_wait_policy: str = "PASSIVE") -> None:
        if not model_path.is_file():
            raise ModelError(f"LLM file missing: {model_path}; run `xnai-edge models install "
                             "--set tiny`")
        # Read by the OpenMP runtime when llama.cpp first starts its threads.
        os.environ.setdefault("OMP_WAIT_POLICY", omp_wait_policy)
        from llama_cpp import Llama

        try:
            self._llm = Llama(str(model_path), n_ctx=context_tokens, n_threads=threads,
                              n_threads_batch=threads, seed=seed, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"cannot load LLM {model_path}: {exc}; reinstall with "
                             "`xnai-edge models install --set tiny`") from exc
        self.context_tokens = context_tokens
        self.model_id = model_path.name

    def close(self) -> None:
        """Free the model's memory now (not whenever the garbage collector gets to it)."""
        self._llm.close()

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode(), add_bos=False))

    def stream(self, messages: Sequence[dict[str, str]], *, max_tokens: int,
               temperature: float = 0.0, stop: Sequence[str] = (),
               cancel: threading.Event | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; stops early when ``cancel`` is set."""
        try:
            chunks: Any = self._llm.create_chat_completion(
                messages=list(messages),  # type: ignore[arg-type]
                stream=True, max_tokens=max_tokens, temperature=temperature,
                stop=list(stop) or None)
            for chunk in chunks:
                if cancel is not None and cancel.is_set():
                    return
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"LLM generation failed: {exc}", code="llm") from exc
