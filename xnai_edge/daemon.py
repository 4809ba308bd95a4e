"""``xnai-edge run``: the composition root of the appliance.

Config -> knowledge base -> answer chain -> (audio, voice loop) + memory monitor + model manager
+ interaction log + status socket + systemd heartbeat, all in one AnyIO task group.

* READY=1 as soon as the lowest answering tier works (KB open, embedder loaded); the LLM and the
  voice models load afterwards (EXTEND_TIMEOUT_USEC while they do).
* WATCHDOG=1 comes from a task on the event loop itself: a blocked loop sends none and systemd
  restarts the service.
* SIGTERM/SIGINT: stop audio and cut speech, drain the interaction log, close SQLite; SIGHUP:
  re-read the config (voice settings apply live; a bad file is reported and ignored).
"""

from __future__ import annotations

import gc
import os
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from xnai_edge import journal
from xnai_edge.backends import registry
from xnai_edge.brain.answer_cache import AnswerCache
from xnai_edge.brain.breaker import BreakerSettings, CircuitBreaker
from xnai_edge.brain.chain import TieredAnswerer
from xnai_edge.bus import EventBus
from xnai_edge.config import load_config
from xnai_edge.context import AppContext
from xnai_edge.control import Controls
from xnai_edge.errors import XnaiError
from xnai_edge.events import AnswerEnd, ErrorEvent, Event, StateChanged, TierChanged
from xnai_edge.health import status_socket
from xnai_edge.health.monitor import MemoryMonitor
from xnai_edge.health.notify import Notifier, watchdog_interval
from xnai_edge.health.tiers import check_fit
from xnai_edge.identity import device_id
from xnai_edge.knowledge.base import KnowledgeBase
from xnai_edge.voice.audio_io import open_sink, open_source
from xnai_edge.voice.interaction_log import run_interaction_log
from xnai_edge.voice.loop import VoiceLoop
from xnai_edge.voice.session import VoiceBackends, loop_settings

BACKENDS = ("stt", "embed", "llm", "tts")


class Daemon:
    def __init__(self, ctx: AppContext, config_path: str | None = None) -> None:
        self.ctx, self.config_path = ctx, config_path
        self.bus = EventBus()
        self.notifier = Notifier()
        self.monitor = MemoryMonitor.from_config(self.bus, ctx.config.memory, ctx.config.tiers)
        self.breakers = {name: CircuitBreaker.from_settings(
            name, BreakerSettings.from_config(ctx.config.breakers, name), self.bus.publish)
            for name in BACKENDS}
        self.state, self.started = "starting", time.monotonic()
        self.models: dict[str, str] = {}
        self.last_interaction: dict[str, Any] | None = None
        self.loop: VoiceLoop | None = None
        self.kb: KnowledgeBase | None = None
        self.chain: TieredAnswerer | None = None
        self.controls: Controls | None = None
        self.model_limiter = anyio.CapacityLimiter(1)
        """One voice-model call at a time, shared by the voice loop and the Wyoming server."""
        self._voice_backends: VoiceBackends | None = None
        self._voice_lock = anyio.Lock()
        self.bus.add_listener(self._on_event)

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> int:
        self.notifier.extend_timeout(120)
        async with KnowledgeBase.open(self.ctx.data_dir, self.ctx.models_dir,
                                      self.ctx.config) as kb:
            self.kb = kb
            await kb.retriever()  # bundled manual, FAISS loaded or rebuilt
            self.models["embed"] = "loaded"
            self.chain = TieredAnswerer(
                kb, self.ctx.config, cache=AnswerCache(kb.store), change_id=kb.store.change_id,
                tier=lambda: self.monitor.tier, breakers=self.breakers,
                publish=self.bus.publish)
            self.controls = Controls(
                bus=self.bus, data_dir=self.ctx.data_dir, kb=kb, answerer=self.chain,
                status=self.status, voice_backends=self.voice_backends,
                model_limiter=self.model_limiter, device_id=device_id(self.ctx.data_dir))
            async with anyio.create_task_group() as outer:
                outer.start_soon(run_interaction_log, self.bus, kb.store)
                async with anyio.create_task_group() as tg:
                    await tg.start(self.monitor.run)
                    tg.start_soon(self._signals, tg.cancel_scope)
                    tg.start_soon(self._heartbeat)
                    await tg.start(status_socket.serve, self.ctx.data_dir /
                                   status_socket.SOCKET_NAME, self.controls.status)
                    await self._start_interfaces(tg, self.controls)
                    self._set_state("ready")
                    self.notifier.ready(self.status_line())
                    tg.start_soon(self._manage_llm)
                    tg.start_soon(self._voice)
                self.bus.close()  # the interaction log drains, then ends
        (self.ctx.data_dir / status_socket.SOCKET_NAME).unlink(missing_ok=True)
        self.notifier.stopping("stopped")
        return 0

    async def _start_interfaces(self, tg: TaskGroup, controls: Controls) -> None:
        """MQTT, the status page and Wyoming: one ``tg.start`` each (DESIGN §9), before READY,
        each given the ``Controls`` and its own config section, never the Daemon."""
        config = self.ctx.config
        if config.mqtt.enabled:  # Home Assistant over MQTT (docs/home-assistant.md)
            from xnai_edge.mqtt import serve as serve_mqtt

            await tg.start(serve_mqtt, controls, config.mqtt)
        if config.wyoming.enabled:
            from xnai_edge.wyoming import serve as serve_wyoming

            await tg.start(serve_wyoming, controls, config.wyoming, self.ctx)
        if config.web.enabled:  # the status page, API and /metrics (docs/web.md)
            from xnai_edge.web import serve as serve_web

            await tg.start(serve_web, controls, config.web, lambda: self.ctx)

    async def voice_backends(self) -> VoiceBackends:
        """Wake, VAD, STT and TTS, loaded once on first use (the voice loop or Wyoming)."""
        async with self._voice_lock:
            if self._voice_backends is None:
                self._voice_backends = await VoiceBackends.load(self.ctx, llm=False)
                self.models.update(dict.fromkeys(("wake", "vad", "stt", "tts"), "loaded"))
            return self._voice_backends

    async def _signals(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
            async for signum in sigs:
                if signum == signal.SIGHUP:
                    self._reload()
                    continue
                self._set_state("stopping")
                self.notifier.stopping("stopping")
                if self.loop is not None and self.loop.state in ("thinking", "speaking"):
                    self.loop.interrupt("shutdown", log_cut=True)
                scope.cancel()
                return

    def _reload(self) -> None:
        if not self.config_path:
            return
        try:
            config = load_config(Path(self.config_path))
        except XnaiError as exc:
            self.bus.publish(ErrorEvent(code=exc.code, message=f"reload ignored: {exc}"))
            return
        self.ctx = replace(self.ctx, config=config)
        if self.loop is not None:
            self.loop.settings = loop_settings(self.ctx)

    async def _heartbeat(self) -> None:
        """WATCHDOG=1 from the event loop itself: it stops when the loop is stuck."""
        interval = watchdog_interval() or 5.0
        while True:
            self.notifier.watchdog()
            await anyio.sleep(interval)

    # ------------------------------------------------------------------ models and tiers
    async def _manage_llm(self) -> None:
        """Load the LLM while the tier allows it; unload it (really freeing it) when not."""
        async with self.bus.subscribe("llm-manager") as events:
            await self._apply_tier()
            async for event in events:
                if isinstance(event, TierChanged):
                    await self._apply_tier()

    async def _apply_tier(self) -> None:
        assert self.chain is not None
        want = self.monitor.tier <= 1
        if want and self.chain.llm is None:
            from xnai_edge.modelstore import ModelStore

            path = ModelStore(self.ctx.models_dir).path("llm", "model.gguf",
                                                        set_name=self.ctx.config.models.set)
            why = check_fit(path.stat().st_size, self.monitor.reader.read(),
                            self.ctx.config.memory.reserve_mb)
            if why is not None:
                self.models["llm"] = f"not loaded: {why}"
                return
            self.models["llm"] = "loading"
            self.chain.llm = await anyio.to_thread.run_sync(registry.load_llm,
                                                            self.ctx.models_dir,
                                                            self.ctx.config)
            self.models["llm"] = "loaded"
        elif not want and self.chain.llm is not None:
            self.chain.llm.close()
            self.chain.llm = None
            gc.collect()
            self.models["llm"] = f"unloaded at tier {self.monitor.tier}"

    # ------------------------------------------------------------------ audio
    async def _voice(self) -> None:
        """Run the voice loop on the configured input; without a sound card, retry now and
        then and keep everything else running."""
        from xnai_edge.audio.error import AudioError

        assert self.chain is not None and self.controls is not None
        if self.ctx.config.audio.input == "none":
            self._set_state("no-audio")
            return
        backends = await self.voice_backends()
        announced = False
        while True:
            try:
                source = open_source(self.ctx.config.audio.input)
                sink = open_sink(self.ctx.config.audio.output, backends.tts.sample_rate)
            except AudioError as exc:
                if not announced:
                    self.bus.publish(ErrorEvent(code=exc.code, message=exc.message))
                    announced = True
                self._set_state("no-audio")
                await anyio.sleep(30)
                continue
            self.loop = VoiceLoop(wake=backends.wake, vad=backends.vad, stt=backends.stt,
                                  answerer=self.chain, tts=backends.tts, sink=sink,
                                  bus=self.bus, settings=loop_settings(self.ctx),
                                  limiter=self.model_limiter)
            self.loop.muted = self.controls.muted
            self.controls.loop = self.loop
            try:
                await self.loop.run(source)
            finally:
                self.controls.loop = None
                sink.close()
            self._set_state("input-ended")
            return  # a WAV input plays once

    # ------------------------------------------------------------------ reporting
    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged) and self.state not in ("stopping",):
            self.state = event.state
            self.notifier.status(self.status_line())
        elif isinstance(event, TierChanged):
            self.notifier.status(self.status_line())
        elif isinstance(event, ErrorEvent):  # the journal: no sound card, a bad reload
            journal.say(f"error[{event.code}]: {event.message}")
        elif isinstance(event, AnswerEnd):
            self.last_interaction = {"question": event.question, "answer": event.answer,
                                     "sources": event.sources, "tier": event.tier,
                                     "method": event.method, "timings_ms": event.timings_ms}

    def _set_state(self, state: str) -> None:
        self.state = state
        self.notifier.status(self.status_line())

    def status_line(self) -> str:
        cur = self.monitor.current
        return f"{self.state}; tier {cur.tier} ({cur.name}): {cur.reason}"

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        mem = self.monitor.status()
        return {"state": self.state, "tier": mem["tier"], "tier_name": mem["tier_name"],
                "tier_reason": mem["tier_reason"], "models": dict(self.models),
                "breakers": {n: b.snapshot(now) for n, b in self.breakers.items()},
                "memory": mem, "last_interaction": self.last_interaction,
                "pid": os.getpid(), "uptime_s": round(now - self.started, 1),
                "events_dropped": self.bus.dropped()}
