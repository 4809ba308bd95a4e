"""Prometheus metrics, all ``xnai_edge_*``, in the web server's own registry.

Two kinds:

* counted from the event bus (one bounded subscription; a slow scrape never holds the voice
  loop): stage latencies from ``answer-end`` timings, interactions by tier and method, wake
  detections, breaker openings, errors by code;
* read at scrape time from the one status snapshot (``controls.status()``): the tier (gauge
  ``xnai_edge_tier``, no labels), breaker states, PSI and available memory, the process RSS, the
  knowledge base's size, which models are loaded.

Model load times are not on the bus; the reader watches the snapshot's ``models`` (every 0.5 s)
and times each role from when the daemon started it ("loading", or the web server's own start
for models loaded right after READY) to "loaded": a 0.5 s resolution, said in ``docs/web.md``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import anyio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from xnai_edge.events import AnswerEnd, BreakerOpened, ErrorEvent, KnowledgeChanged, WakeDetected

if TYPE_CHECKING:
    from xnai_edge.control import Controls

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BREAKER_VALUES = {"closed": 0, "half-open": 1, "open": 2}
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process (``/proc/self/statm``: no psutil needed)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


class _Snapshot(Collector):
    """Gauges read from the status snapshot at scrape time."""

    def __init__(self, metrics: WebMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = self.metrics.controls.status()
        yield GaugeMetricFamily("xnai_edge_tier", "Current answer tier (0 full .. 4 silent)",
                                value=status["tier"])
        breakers = GaugeMetricFamily("xnai_edge_breaker_state",
                                     "Circuit breaker per backend: 0 closed, 1 half-open, 2 open",
                                     labels=["backend"])
        for name, snap in sorted(status.get("breakers", {}).items()):
            breakers.add_metric([name], BREAKER_VALUES.get(str(snap.get("state")), 2))
        yield breakers
        reading = (status.get("memory") or {}).get("memory") or {}
        yield _gauge("xnai_edge_memory_psi_some_avg10",
                     "Memory pressure: PSI some avg10 (percent)", reading.get("psi_some_avg10"))
        available = reading.get("mem_available_mb")
        yield _gauge("xnai_edge_memory_available_bytes", "MemAvailable (bytes)",
                     None if available is None else available * 1024 * 1024)
        yield _gauge("xnai_edge_rss_bytes", "Resident memory of the daemon (bytes)", rss_bytes())
        yield _gauge("xnai_edge_uptime_seconds", "Seconds since the daemon started",
                     status.get("uptime_s"))
        kb = self.metrics.kb
        yield _gauge("xnai_edge_kb_documents", "Documents in the knowledge base",
                     kb.get("documents"))
        yield _gauge("xnai_edge_kb_chunks", "Chunks in the knowledge base", kb.get("chunks"))
        yield _gauge("xnai_edge_kb_size_bytes", "Size of the knowledge base files (bytes)",
                     self.metrics.kb_bytes())
        loaded = GaugeMetricFamily("xnai_edge_model_loaded", "1 if the role's model is loaded",
                                   labels=["role"])
        for role, state in sorted(status.get("models", {}).items()):
            loaded.add_metric([role], 1.0 if state == "loaded" else 0.0)
        yield loaded


def _gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float("nan") if value is None else float(value))


class WebMetrics:
    def __init__(self, controls: Controls) -> None:
        self.controls = controls
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.latency = Histogram("xnai_edge_stage_latency_seconds",
                                 "Latency per stage of an interaction (from answer-end timings)",
                                 ["stage"], buckets=BUCKETS, registry=r)
        self.interactions = Counter("xnai_edge_interactions", "Answered interactions",
                                    ["tier", "method"], registry=r)
        self.wakes = Counter("xnai_edge_wake_detections", "Wake word detections", registry=r)
        self.breaker_opened = Counter("xnai_edge_breaker_opened", "Circuit breaker openings",
                                      ["backend"], registry=r)
        self.errors = Counter("xnai_edge_errors", "Error events by code", ["code"], registry=r)
        self.model_load = Gauge("xnai_edge_model_load_seconds",
                                "Seconds the last load of the role's model took (0.5 s "
                                "resolution)", ["role"], registry=r)
        self.kb: dict[str, int] = {}
        self._started_loading: dict[str, float] = {}
        r.register(_Snapshot(self))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def kb_bytes(self) -> int:
        base = self.controls.kb.store.path
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += os.stat(f"{base}{suffix}").st_size
        return total

    def observe(self, event: Any) -> None:
        if isinstance(event, AnswerEnd):
            self.interactions.labels(tier=str(event.tier), method=event.method).inc()
            for stage, ms in event.timings_ms.items():
                if isinstance(ms, int | float) and ms >= 0:
                    self.latency.labels(stage=stage).observe(ms / 1000.0)
        elif isinstance(event, WakeDetected):
            self.wakes.inc()
        elif isinstance(event, BreakerOpened):
            self.breaker_opened.labels(backend=event.backend).inc()
        elif isinstance(event, ErrorEvent):
            self.errors.labels(code=event.code).inc()

    async def refresh_kb(self) -> None:
        docs = await self.controls.documents()
        self.kb = {"documents": len(docs), "chunks": sum(int(d["chunks"]) for d in docs)}

    def watch_models(self, models: dict[str, str], now: float) -> None:
        for role, state in models.items():
            if state == "loading":
                self._started_loading.setdefault(role, now)
            elif state == "loaded" and role in self._started_loading:
                self.model_load.labels(role=role).set(round(now - self._started_loading.pop(
                    role), 2))
            elif state != "loaded":  # unloaded, or did not fit
                self._started_loading.pop(role, None)
        for role in ("wake", "vad", "stt", "tts"):  # loaded right after READY, if at all
            if role not in models:
                self._started_loading.setdefault(role, now)

    async def run(self) -> None:
        await self.refresh_kb()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._models)
            async with self.controls.bus.subscribe("web-metrics", max_buffer=1024) as events:
                async for event in events:
                    self.observe(event)
                    if isinstance(event, KnowledgeChanged):
                        self.kb = {"documents": event.documents, "chunks": event.chunks}
            tg.cancel_scope.cancel()

    async def _models(self) -> None:
        while True:
            self.watch_models(dict(self.controls.status().get("models", {})), time.monotonic())
            await anyio.sleep(0.5)
