"""Percentiles and charts of the Interactions page; the metrics fed from bus events."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from xnai_edge.bus import EventBus
from xnai_edge.events import AnswerEnd, BreakerOpened, ErrorEvent, WakeDetected
from xnai_edge.web.charts import stage_charts
from xnai_edge.web.guard import _basic
from xnai_edge.web.metrics import WebMetrics
from xnai_edge.web.stats import buckets, overall, percentile, stages_of


def rows(n: int) -> list[dict[str, Any]]:
    return [{"at": f"2026-12-01T09:{i:02d}:00.000+00:00",
             "timings_ms": {"total": 100.0 + i, "retrieve": 10.0, "odd": "x"}}
            for i in range(n)]


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95
    assert percentile([7.0], 95) == 7.0


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50))
def test_p50_never_exceeds_p95_and_both_are_values(values: list[float]) -> None:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    assert p50 <= p95 and p50 in values and p95 in values


def test_stages_and_buckets_of_interactions() -> None:
    data = rows(30)
    assert stages_of(data) == ["retrieve", "total"]  # known stages first, text values skipped
    stats = overall(data)
    assert stats["total"]["n"] == 30 and stats["total"]["p95"] == 128.0
    points = buckets(data, "total", count=6)
    assert len(points) == 6 and all(p50 <= p95 for _, p50, p95 in points)
    assert points == sorted(points)
    svg = stage_charts(data)
    assert svg.count("<figure") == 2 and svg.count("<polyline") == 4
    assert "No interactions yet" in stage_charts([])


def test_basic_header_parsing() -> None:
    assert _basic("Basic YWRtaW46cDpx") == ("admin", "p:q")  # the password may hold ':'
    for bad in ("", "Basic", "Bearer YWRtaW46eA==", "Basic ***", "Basic YWRtaW4="):
        assert _basic(bad) is None


@pytest.fixture
def metrics(tmp_path: Path) -> WebMetrics:
    status = {"tier": 2, "breakers": {"llm": {"state": "open"}, "stt": {"state": "closed"}},
              "memory": {"memory": {"psi_some_avg10": 12.5, "mem_available_mb": 100.0}},
              "models": {"llm": "unloaded at tier 2", "embed": "loaded"}, "uptime_s": 3.0}
    (tmp_path / "kb.sqlite3").write_bytes(b"x" * 4096)
    controls = SimpleNamespace(status=lambda: status, bus=EventBus(),
                               kb=SimpleNamespace(store=SimpleNamespace(path=tmp_path /
                                                                        "kb.sqlite3")))
    return WebMetrics(controls)  # type: ignore[arg-type]


def test_metrics_from_events_and_the_snapshot(metrics: WebMetrics) -> None:
    metrics.observe(AnswerEnd(question="q", answer="a", sources=[], tier=2, method="extractive",
                              timings_ms={"total": 250.0, "retrieve": 40.0}, stamps={}))
    metrics.observe(WakeDetected(score=0.9, audio_s=1.0))
    metrics.observe(BreakerOpened(backend="llm", reason="timeout"))
    metrics.observe(ErrorEvent(code="web-port", message="in use"))
    metrics.watch_models({"llm": "loading"}, 10.0)
    metrics.watch_models({"llm": "loaded"}, 12.5)
    text = metrics.render().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert all(name.startswith("xnai_edge_") for name in families)
    sample = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in families.values() for s in f.samples}
    assert sample[("xnai_edge_tier", ())] == 2
    assert sample[("xnai_edge_interactions_total", (("method", "extractive"), ("tier", "2")))] \
        == 1
    assert sample[("xnai_edge_stage_latency_seconds_count", (("stage", "total"),))] == 1
    assert sample[("xnai_edge_stage_latency_seconds_sum", (("stage", "total"),))] == 0.25
    assert sample[("xnai_edge_wake_detections_total", ())] == 1
    assert sample[("xnai_edge_breaker_state", (("backend", "llm"),))] == 2
    assert sample[("xnai_edge_breaker_state", (("backend", "stt"),))] == 0
    assert sample[("xnai_edge_breaker_opened_total", (("backend", "llm"),))] == 1
    assert sample[("xnai_edge_errors_total", (("code", "web-port"),))] == 1
    assert sample[("xnai_edge_memory_psi_some_avg10", ())] == 12.5
    assert sample[("xnai_edge_memory_available_bytes", ())] == 100 * 1024 * 1024
    assert sample[("xnai_edge_kb_size_bytes", ())] == 4096
    assert sample[("xnai_edge_model_load_seconds", (("role", "llm"),))] == 2.5
    assert sample[("xnai_edge_model_loaded", (("role", "embed"),))] == 1
    assert sample[("xnai_edge_rss_bytes", ())] > 0


def test_request_rate_allows_bursts_then_refills() -> None:
    from xnai_edge.web.limits import RequestRate

    now = [0.0]
    rate = RequestRate(rate_per_s=10, burst=20, clock=lambda: now[0])
    assert all(rate.allow("a") for _ in range(20))
    assert not rate.allow("a") and rate.allow("b")
    now[0] = 0.5  # five tokens back
    assert [rate.allow("a") for _ in range(6)] == [True] * 5 + [False]
    assert rate.refused == 2


def test_the_mqtt_part_is_shown_briefly() -> None:
    from xnai_edge.web.pages import mqtt_text

    assert mqtt_text(None) == "not configured"
    assert mqtt_text({"connected": True, "broker": "hub:1883", "published": 12,
                      "last_error": ""}) == "connected; broker: hub:1883"
    assert mqtt_text({"connected": False, "last_error": "refused"}) == \
        "not connected; last_error: refused"
