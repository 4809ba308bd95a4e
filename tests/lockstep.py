"""Feeding a real ``VoiceLoop`` in lock step with its transcription passes.

The next 80 ms chunk is fed only when no pass is running, so every pass happens at exactly the
audio position the loop asks for, however loaded the machine: what a fast machine does in real
time, made repeatable.  Used where the test is about *what* the loop decides (the transcript,
where the turn ends), not how long it takes; real-time behaviour has its own tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import numpy as np

from xnai_edge import events as ev
from xnai_edge.audio.chunk import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk
from xnai_edge.brain.answerer import Answerer
from xnai_edge.bus import EventBus
from xnai_edge.context import AppContext
from xnai_edge.knowledge.base import KnowledgeBase
from xnai_edge.voice.loop import VoiceLoop
from xnai_edge.voice.session import loop_settings

Int16 = np.ndarray[Any, np.dtype[np.int16]]


class NullSink:
    def write(self, samples: Int16) -> None:
        pass


async def heard(ctx: AppContext, backends: Any, kb: KnowledgeBase, audio: Int16,
                ) -> list[ev.Event]:
    """The events of ``audio`` through the loop, up to the end of the first turn (then the
    answer is stopped: what it says is not under test here)."""
    bus = EventBus()
    events: list[ev.Event] = []
    bus.add_listener(events.append)
    loop = VoiceLoop(wake=backends.wake, vad=backends.vad, stt=backends.stt,
                     answerer=Answerer(kb, None, ctx.config), tts=backends.tts, sink=NullSink(),
                     bus=bus, settings=loop_settings(ctx))

    async def source() -> AsyncIterator[AudioChunk]:
        for i in range(0, len(audio), CHUNK_SAMPLES):
            while loop.stt_stats.busy:  # a polled condition, not a sleep to wait for timing
                await anyio.sleep(0.005)
            if any(isinstance(e, ev.VadEnd) for e in events):
                break
            yield AudioChunk(audio[i:i + CHUNK_SAMPLES], i / SAMPLE_RATE)
        if loop.state in ("thinking", "speaking"):
            loop.interrupt("stop-command")

    await loop.run(source())
    return events


def transcript(events: list[ev.Event]) -> str:
    """The transcript the answer started on ("" if none)."""
    texts = [e.text for e in events if isinstance(e, ev.SttEnd)]
    return texts[-1] if texts else ""
