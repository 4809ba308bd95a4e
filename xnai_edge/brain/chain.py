"""The answer chain: the cheapest tier that can still answer well, given memory and breakers.

| tier | answers with |
|---|---|
| 0-1 | retrieval + LLM phrasing + grounding check (``Answerer`` with the LLM) |
| 2 | retrieval + the extractive sentence (``Answerer`` without the LLM) |
| 3 | the answer cache (same question, KB unchanged), then a template |
| 4 | nothing is spoken; the state is reported over status/MQTT only |

The memory monitor says which tier the device is in; a backend whose breaker is open (or that
fails or times out right now) pushes *this* answer one tier further down.  Each answer reports
the tier that actually produced it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio

from xnai_edge.brain.answer_cache import AnswerCache, canned
from xnai_edge.brain.answerer import Answer, Answerer, ChatModel, Searcher, check_question
from xnai_edge.brain.breaker import CircuitBreaker
from xnai_edge.brain.extractive import SourceText
from xnai_edge.config import Config
from xnai_edge.errors import BackendError, KnowledgeError
from xnai_edge.events import Event

OnSentence = Callable[[str], Awaitable[None]]


class OneCallAtATime:
    """The LLM for one call at a time, counting calls abandoned by a timeout or a barge-in.

    llama.cpp is not re-entrant, and a call cut off by the breaker timeout runs on in its worker
    thread until it returns by itself (the anyio limiter is released at once on abandon).  A
    call that arrives while one is still inside fails at once with ``BackendError`` (a breaker
    failure: a hung backend keeps its breaker open), and ``close`` while a call is inside frees
    the model when that call returns, never under it.
    """

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.model_id = model.model_id
        self._mutex = threading.Lock()
        self._busy = False
        self._closed = False

    @property
    def busy(self) -> bool:
        """A call is inside the model (perhaps one that was cut off and runs on)."""
        return self._busy

    def close(self) -> None:
        with self._mutex:
            self._closed = True
            if self._busy:
                return  # the call inside closes it when it returns
        self.model.close()

    def stream(self, messages: list[dict[str, str]], *, max_tokens: int,
               temperature: float = 0.0, cancel: threading.Event | None = None,
               ) -> Iterator[str]:
        with self._mutex:
            if self._closed:
                raise BackendError("the LLM was unloaded", code="llm")
            if self._busy:
                raise BackendError("the LLM is still busy with a call that was cut off",
                                   code="llm")
            self._busy = True
        try:
            yield from self.model.stream(messages, max_tokens=max_tokens,
                                         temperature=temperature, cancel=cancel)
        finally:
            with self._mutex:
                self._busy = False
                close = self._closed
            if close:
                self.model.close()


class TieredAnswerer:
    def __init__(self, searcher: Searcher, config: Config, *, cache: AnswerCache,
                 change_id: Callable[[], Awaitable[int]], tier: Callable[[], int],
                 breakers: dict[str, CircuitBreaker], publish: Callable[[Event], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._searcher, self._config, self._cache = searcher, config, cache
        self._change_id, self._tier, self._breakers = change_id, tier, breakers
        self._publish, self._clock = publish, clock
        self._llm: OneCallAtATime | None = None

    @property
    def llm(self) -> OneCallAtATime | None:
        """Set by whoever loads/unloads the model (tier 0-1 only when it is loaded); it is
        kept behind ``OneCallAtATime``, so close it through this attribute."""
        return self._llm

    @llm.setter
    def llm(self, model: ChatModel | None) -> None:
        self._llm = None if model is None else \
            model if isinstance(model, OneCallAtATime) else OneCallAtATime(model)

    async def answer(self, question: str, on_sentence: OnSentence | None = None,
                     previous: tuple[str, str] | None = None) -> Answer:
        question = check_question(question, self._config.answer.max_question_chars)
        tier = self._tier()
        if tier <= 1 and self.llm is not None:
            answer = await self._guarded("llm", Answerer(
                self._searcher, self.llm, self._config, publish=self._publish), question,
                previous, self._config.breakers.llm_timeout_s)
            if answer is not None:
                answer.tier = tier
                return await self._done(answer, on_sentence)
            tier = 2
        if tier <= 2:
            answer = await self._guarded("embed", Answerer(
                self._searcher, None, self._config, publish=self._publish), question,
                previous, self._config.breakers.embed_timeout_s)
            if answer is not None:
                return await self._done(answer, on_sentence)
        if tier <= 3:
            return await self._done(await self._cached(question), on_sentence)
        return Answer(question, "", [], 4, "silent")

    async def _guarded(self, backend: str, answerer: Answerer, question: str,
                       previous: tuple[str, str] | None, timeout_s: float) -> Answer | None:
        """Run one tier's answerer under its breaker; None = fall through to the next tier."""
        breaker = self._breakers[backend]
        if not breaker.allow(self._clock()):
            return None
        try:
            with anyio.fail_after(timeout_s):
                answer = await answerer.answer(question, previous=previous)
        except TimeoutError:
            breaker.record_failure(self._clock(), f"no answer within {timeout_s:g} s")
            return None
        except _FAILURES as exc:
            breaker.record_failure(self._clock(), str(exc))
            return None
        except ExceptionGroup as group:
            # The answerer runs the LLM in a task group: its failure arrives wrapped.
            failure = _only_failure(group)
            if failure is None:
                raise
            breaker.record_failure(self._clock(), str(failure))
            return None
        breaker.record_success(self._clock())
        return answer

    async def _cached(self, question: str) -> Answer:
        hit = await self._cache.get(question, await self._change_id())
        if hit is None:
            return Answer(question, canned("memory"), [], 3, "canned")
        sources = [SourceText(s.get("title", ""), "", "", s.get("path", ""),
                              int(s.get("chunk_id", 0))) for s in hit.sources]
        return Answer(question, hit.text, sources, 3, "cached")

    async def _done(self, answer: Answer, on_sentence: OnSentence | None) -> Answer:
        if answer.method in ("llm", "extractive"):
            await self._cache.put(answer.question, await self._change_id(), answer.text,
                                  _source_dicts(answer), tier=answer.tier, method=answer.method)
        if on_sentence is not None and answer.text:
            await on_sentence(answer.text)
        return answer


_FAILURES = (BackendError, KnowledgeError, OSError)


def _only_failure(group: ExceptionGroup[Exception]) -> Exception | None:
    """The first backend failure in ``group`` if that is all it holds, else None."""
    failures, rest = group.split(_FAILURES)
    if failures is None or rest is not None:
        return None
    first: Exception = failures
    while isinstance(first, ExceptionGroup):
        first = first.exceptions[0]
    return first


def _source_dicts(answer: Answer) -> list[dict[str, Any]]:
    return [{"title": s.title, "path": s.path, "chunk_id": s.chunk_id} for s in answer.sources]
