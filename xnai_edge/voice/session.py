"""Compose the voice loop from config and the model store, and run it over one audio source.

Used by ``listen`` (a WAV file or the microphone) and ``demo``; the daemon builds the same
parts.  Models load in worker threads, side by side with opening the knowledge base.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from xnai_edge.audio.chunk import AudioChunk
from xnai_edge.backends import registry
from xnai_edge.brain.answerer import DONT_KNOW, Answerer
from xnai_edge.bus import EventBus
from xnai_edge.context import AppContext
from xnai_edge.events import AnswerEnd, Event
from xnai_edge.knowledge.base import KnowledgeBase
from xnai_edge.voice.interaction_log import run_interaction_log
from xnai_edge.voice.loop import LoopSettings, VoiceLoop
from xnai_edge.voice.ports import Sink
from xnai_edge.voice.segmenter import SegmenterSettings
from xnai_edge.voice.turn_policy import TurnSettings


def loop_settings(ctx: AppContext) -> LoopSettings:
    v = ctx.config.voice
    segmenter = SegmenterSettings(hangover_s=v.hangover_s, start_timeout_s=v.start_timeout_s,
                                  max_utterance_s=v.max_utterance_s)
    return LoopSettings(
        wake_threshold=v.wake_threshold, wake_cooldown_s=v.wake_cooldown_s,
        vad_threshold=v.vad_threshold, followup_s=v.followup_s, speak_source=v.speak_source,
        segmenter=segmenter,
        turn=TurnSettings(min_silence_s=v.min_silence_s, complete_silence_s=v.complete_silence_s,
                          statement_silence_s=v.statement_silence_s, hangover_s=v.hangover_s,
                          slow_start_extra_s=segmenter.slow_start_extra_s,
                          slow_start_below_s=segmenter.slow_start_below_s),
        incremental=v.incremental_stt, pass_every_s=ctx.config.stt.pass_every_s)


@dataclass
class VoiceBackends:
    wake: Any
    vad: Any
    stt: Any
    tts: Any
    llm: Any

    @classmethod
    async def load(cls, ctx: AppContext, *, llm: bool = True) -> VoiceBackends:
        """Load the models side by side in worker threads (the daemon manages the LLM
        itself: ``llm=False``)."""
        loaded: dict[str, Any] = {"llm": None}
        loaders: dict[str, Callable[..., Any]] = {
            "wake": registry.load_wake, "vad": registry.load_vad, "stt": registry.load_stt,
            "tts": registry.load_tts}
        if llm:
            loaders["llm"] = registry.load_llm

        async def one(name: str) -> None:
            loaded[name] = await anyio.to_thread.run_sync(loaders[name], ctx.models_dir,
                                                          ctx.config)

        async with anyio.create_task_group() as tg:
            for name in loaders:
                tg.start_soon(one, name)
        # The abstention is the one answer known in advance: its first audio needs no wait.
        await anyio.to_thread.run_sync(loaded["tts"].warm, [DONT_KNOW])
        return cls(**loaded)


@dataclass
class ListenResult:
    interactions: list[AnswerEnd] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


async def run_voice(ctx: AppContext, source: AsyncIterable[AudioChunk], sink: Sink, *,
                    backends: VoiceBackends | None = None,
                    on_event: Callable[[Event], None] | None = None) -> ListenResult:
    """Run the loop until the source ends; every event is recorded and passed to ``on_event``."""
    result = ListenResult()
    bus = EventBus()

    def record(event: Event) -> None:
        result.events.append(event)
        if isinstance(event, AnswerEnd):
            result.interactions.append(event)
        if on_event is not None:
            on_event(event)

    bus.add_listener(record)
    async with KnowledgeBase.open(ctx.data_dir, ctx.models_dir, ctx.config) as kb:
        await kb.retriever()  # manual ingested, index loaded before the first question
        if backends is None:
            backends = await VoiceBackends.load(ctx)
        answerer = Answerer(kb, backends.llm, ctx.config, publish=bus.publish)
        loop = VoiceLoop(wake=backends.wake, vad=backends.vad, stt=backends.stt,
                         answerer=answerer, tts=backends.tts, sink=sink, bus=bus,
                         settings=loop_settings(ctx))
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_interaction_log, bus, kb.store)
            await loop.run(source)
            bus.close()  # the log drains what is left, then ends
    return result
