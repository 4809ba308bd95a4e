"""The grounded answer: find it in the passages, let the LLM phrase it, check the phrasing.

1. Retrieve passages; pick the best answer sentence (``extractive``).  Too little of the
   question found in the documents -> "I don't know", without asking the LLM to guess.
2. The LLM streams an answer; the first complete sentence is checked against the passages it
   was shown (``grounding``).  Grounded -> spoken (tier 0).  Invented words or numbers, or an
   "I don't know" although the documents clearly cover the question -> generation is cancelled
   and the extractive sentence is spoken instead (tier 2).
Sentences (not raw tokens) leave this module, because a sentence is the unit that is checked
and the unit that the speech synthesiser needs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import anyio
import anyio.from_thread
from anyio.streams.memory import MemoryObjectSendStream

from xnai_edge.brain.answerability import model
from xnai_edge.brain.entry import name_entry
from xnai_edge.brain.extractive import Extract, SourceText, best_sentence, top_sentences
from xnai_edge.brain.followup import carried_terms, needs_context, rewrite
from xnai_edge.brain.grounding import is_abstention, is_grounded
from xnai_edge.brain.prompt import answer_messages
from xnai_edge.brain.sentences import SentenceStream, window
from xnai_edge.brain.shorten import short_answer
from xnai_edge.config import Config
from xnai_edge.errors import InputError
from xnai_edge.events import Event, LlmToken, RetrieveEnd
from xnai_edge.knowledge.retrieve import Passage
from xnai_edge.knowledge.text import key_terms

DONT_KNOW = "I don't know that from your documents."


class Searcher(Protocol):
    async def search(self, query: str, k: int | None = None) -> list[Passage]: ...

    async def similarities(self, query: str, texts: Sequence[str]) -> dict[str, float]: ...


class ChatModel(Protocol):
    model_id: str

    def close(self) -> None: ...

    def stream(self, messages: list[dict[str, str]], *, max_tokens: int,
               temperature: float = ..., cancel: threading.Event | None = ...,
               ) -> Iterator[str]: ...


@dataclass
class Answer:
    question: str
    text: str
    sources: list[SourceText]
    tier: int
    method: str  # "llm", "extractive" or "abstain"
    timings_ms: dict[str, float] = field(default_factory=dict)
    support: float = 0.0
    confidence: float = 0.0
    """The answerability score (0-1) of the best sentence found."""

    def to_json(self) -> dict[str, object]:
        return {
            "question": self.question, "answer": self.text,
            "sources": [{"title": s.title, "path": s.path, "chunk_id": s.chunk_id}
                        for s in self.sources],
            "tier": self.tier, "method": self.method,
            "confidence": round(self.confidence, 3),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


def check_question(question: str, max_chars: int) -> str:
    question = " ".join(question.split())
    if not question:
        raise InputError("the question is empty; ask something, e.g. 'what is your wake word?'")
    if len(question) > max_chars:
        raise InputError(f"the question is {len(question)} characters long; the limit is "
                         f"{max_chars} ([answer] max_question_chars)")
    return question


class Answerer:
    def __init__(self, searcher: Searcher, llm: ChatModel | None, config: Config, *,
                 llm_limiter: anyio.CapacityLimiter | None = None,
                 publish: Callable[[Event], None] | None = None) -> None:
        self._publish = publish or (lambda event: None)
        self._searcher = searcher
        self._llm = llm
        self._config = config
        self._limiter = llm_limiter or anyio.CapacityLimiter(1)

    async def answer(self, question: str,
                     on_sentence: Callable[[str], Awaitable[None]] | None = None,
                     previous: tuple[str, str] | None = None) -> Answer:
        """Answer ``question``; ``previous`` = the last (question, answer) of a follow-up."""
        question = check_question(question, self._config.answer.max_question_chars)
        start = time.perf_counter()
        carried = carried_terms(question, previous)
        extract = await self._find(question, carried)
        if previous is not None and not carried and not self._answerable(extract):
            # Not worded as a follow-up, but alone it finds nothing: try it with the context.
            extract = await self._find(question, " ".join(key_terms(previous[0])))
        timings = {"retrieve": (time.perf_counter() - start) * 1000}
        tier = 2 if self._llm is None else 0
        confidence = self._confidence(extract)
        if extract is None or not self._answerable(extract) or (
                previous is None and needs_context(question)):
            result = Answer(question, DONT_KNOW, [], tier, "abstain",
                            support=0.0 if extract is None else extract.support,
                            confidence=confidence)
        else:
            cfg = self._config.answer
            spoken = name_entry(question, extract.source.heading,
                                short_answer(question, extract.sentence, cfg.max_answer_words,
                                             cfg.typed_answer_words))
            if self._llm is None or len(spoken.split()) < self._config.answer.llm_min_words:
                # A short piece of the documents is already the best spoken answer: the LLM
                # could only make it less accurate, and slower.
                result = Answer(question, spoken, [extract.source], tier, "extractive",
                                support=extract.support, confidence=confidence)
            else:
                llm_start = time.perf_counter()
                result = await self._phrase(question, extract, spoken, timings, start)
                result.confidence = confidence
                timings["llm_total"] = (time.perf_counter() - llm_start) * 1000
        timings.setdefault("first_token", (time.perf_counter() - start) * 1000)
        if on_sentence is not None:
            await on_sentence(result.text)
        timings["total"] = (time.perf_counter() - start) * 1000
        result.timings_ms = timings
        return result

    async def _find(self, question: str, carried: str = "") -> Extract | None:
        query = rewrite(question, carried)
        passages = await self._searcher.search(query, k=self._config.answer.passages)
        self._publish(RetrieveEnd(passages=[f"{p.title} ({p.path})" for p in passages]))
        sources = [SourceText(p.title, p.heading, p.text, p.path, p.chunk_id, p.similarity,
                              p.score) for p in passages]
        similar = self._config.answer.similar_sentences
        if not similar or not sources:
            return best_sentence(question, sources, carried=carried)
        top = top_sentences(question, sources, similar, carried=carried)
        found = await self._searcher.similarities(question, list(set(top.values())))
        cosines = {sentence: found[text] for sentence, text in top.items()}
        return best_sentence(question, sources, carried=carried, cosines=cosines)

    def _confidence(self, extract: Extract | None) -> float:
        return 0.0 if extract is None else model().answerable.prob(extract.features)

    def _answerable(self, extract: Extract | None) -> bool:
        """Do the documents say enough to answer at all?  (the fitted answerability score)"""
        if extract is None:
            return False
        if self._config.answer.min_answerability:
            return self._confidence(extract) >= self._config.answer.min_answerability
        return model().answers(extract.features)

    async def _phrase(self, question: str, extract: Extract, spoken: str,
                      timings: dict[str, float], start: float) -> Answer:
        """Let the LLM say it; keep its first sentence only if the passages back it."""
        assert self._llm is not None
        # Only the neighbourhood of the answer sentence: a second passage tempts the tiny model
        # to answer from the wrong one, and every prompt token costs ~5 ms before first audio.
        shown = [replace(extract.source, text=window(extract.source.text, extract.sentence))]
        messages = answer_messages(question, shown, hint=extract.sentence)
        context = f"{extract.source.title} {extract.source.heading} {shown[0].text}"
        splitter = SentenceStream()
        sentence: str | None = None
        cancel = threading.Event()
        send, receive = anyio.create_memory_object_stream[str](max_buffer_size=1024)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._generate, messages, cancel, send)
                async with receive:
                    async for piece in receive:
                        self._publish(LlmToken(text=piece))
                        timings.setdefault("first_token", (time.perf_counter() - start) * 1000)
                        done = splitter.feed(piece)
                        if done:
                            sentence = done[0]
                            break
                cancel.set()  # one checked sentence is the answer: stop generating
        finally:
            cancel.set()  # barge-in or timeout: the worker stops at its next token
        if sentence is None:
            rest = splitter.flush()
            sentence = rest[0] if rest else ""
        if sentence and not is_abstention(sentence) and is_grounded(sentence, context,
                                                                    question):
            return Answer(question, name_entry(question, extract.source.heading, sentence),
                          [extract.source], 0, "llm", support=extract.support)
        return Answer(question, spoken, [extract.source], 0, "extractive",
                      support=extract.support)

    async def _generate(self, messages: list[dict[str, str]], cancel: threading.Event,
                        send: MemoryObjectSendStream[str]) -> None:
        """Run the blocking LLM iterator in a worker thread, forwarding pieces to ``send``."""
        assert self._llm is not None
        llm, config = self._llm, self._config.llm

        def run() -> None:
            with send:
                for piece in llm.stream(messages, max_tokens=config.max_answer_tokens,
                                        temperature=config.temperature, cancel=cancel):
                    try:
                        anyio.from_thread.run_sync(send.send_nowait, piece)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        return  # the reader has its sentence

        # On cancellation the thread is abandoned (a hung llama.cpp cannot block barge-in or a
        # breaker timeout); it still holds the limiter until it really returns.
        await anyio.to_thread.run_sync(run, limiter=self._limiter, abandon_on_cancel=True)
