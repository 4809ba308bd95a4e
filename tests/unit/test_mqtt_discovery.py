"""Discovery payloads and the state JSON they read, as Home Assistant would use them.

The value templates are rendered with Jinja2 (Home Assistant's template engine) against a
state built by ``StateTracker`` from a status snapshot shaped like ``xnai-edge status --json``.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2
import pytest

from xnai_edge.config import MqttConfig, WebConfig
from xnai_edge.errors import ConfigError
from xnai_edge.events import AnswerEnd, KnowledgeChanged
from xnai_edge.mqtt import discovery
from xnai_edge.mqtt.state import StateTracker, truncate
from xnai_edge.mqtt.topics import Topics, slug

OBJECT_IDS = {"voice_state", "tier", "memory_available", "psi_some_avg10", "last_latency",
              "interactions_today", "last_question", "last_answer", "kb_documents",
              "kb_chunks", "model_set", "breaker_stt", "breaker_embed", "breaker_llm",
              "breaker_tts", "mute", "stop", "reindex", "ask", "say"}
BREAKERS = ["embed", "llm", "stt", "tts"]
STATUS: dict[str, Any] = {
    "state": "idle", "tier": 2, "tier_name": "extractive",
    "tier_reason": "psi some avg10 25.0% >= 20%", "muted": True,
    "memory": {"memory": {"mem_available_mb": 7812.5, "psi_some_avg10": 25.0}},
    "breakers": {n: {"state": "open" if n == "llm" else "closed"} for n in BREAKERS}}


def topics(name: str = "xnai-edge") -> Topics:
    return Topics.from_config(MqttConfig(device_name=name), "0123456789ab")


def render(template: str, state: dict[str, Any]) -> str:
    return jinja2.Environment().from_string(template).render(value_json=state)


def test_every_entity_has_the_ids_home_assistant_names_it_by() -> None:
    t = topics("Kitchen Box")
    device = discovery.device_block(t, model_set="tiny", configuration_url="http://box:8080/")
    msgs = discovery.messages(t, device, BREAKERS)
    assert {body["unique_id"].rsplit("_", 1)[-1] for _, body in msgs} >= {"tier", "ask"}
    seen = {}
    for topic, body in msgs:
        prefix, component, node, object_id, last = topic.split("/")
        assert (prefix, node, last) == ("homeassistant", "xnai-edge-0123456789ab", "config")
        seen[object_id] = body
        assert body["object_id"] == f"Kitchen Box_{object_id}"
        assert body["default_entity_id"] == f"{component}.kitchen_box_{object_id}"
        assert "Kitchen" not in body["name"] and body["name"]
        assert body["device"] is device
        assert body["availability"] == [{"topic": "xnai-edge/0123456789ab/availability",
                                         "payload_available": "online",
                                         "payload_not_available": "offline"}]
        json.dumps(body)  # serialisable
    assert set(seen) == OBJECT_IDS
    assert len({b["unique_id"] for b in seen.values()}) == len(OBJECT_IDS)
    assert device == {"identifiers": ["xnai_edge_0123456789ab"], "name": "Kitchen Box",
                      "manufacturer": "xnai-edge", "model": "Offline voice assistant (tiny "
                      "models)", "sw_version": device["sw_version"],
                      "configuration_url": "http://box:8080/"}
    assert seen["memory_available"]["unit_of_measurement"] == "MB"
    assert seen["memory_available"]["device_class"] == "data_size"
    assert seen["last_latency"]["unit_of_measurement"] == "ms"
    assert seen["last_latency"]["device_class"] == "duration"
    assert seen["last_latency"]["state_class"] == "measurement"
    assert seen["mute"]["command_topic"] == "xnai-edge/0123456789ab/cmd/mute"
    assert seen["ask"]["command_topic"].endswith("/cmd/ask")
    assert seen["say"]["command_topic"].endswith("/cmd/say")
    assert seen["stop"]["payload_press"] == "PRESS"


def test_value_templates_render_the_state() -> None:
    t = topics()
    tracker = StateTracker("tiny")
    tracker.on_event(KnowledgeChanged(documents=3, chunks=40, reason="added x"))
    tracker.on_event(AnswerEnd(question="How do I add documents?", answer="Use ingest.",
                               sources=[{"title": "Manual", "path": "m.md", "chunk_id": 1}],
                               tier=0, method="llm", stamps={},
                               timings_ms={"speech_end_to_first_audio": 812.34}))
    state = tracker.snapshot(STATUS)
    json.dumps(state)
    by_id = {topic.split("/")[3]: body for topic, body in discovery.messages(
        t, discovery.device_block(t, model_set="tiny", configuration_url=""), BREAKERS)}
    shown = {oid: render(b["value_template"], state) for oid, b in by_id.items()
             if "value_template" in b}
    assert shown == {"voice_state": "idle", "tier": "2", "memory_available": "8192",
                     "psi_some_avg10": "25.0", "last_latency": "812.3",
                     "interactions_today": "1", "last_question": "How do I add documents?",
                     "last_answer": "Use ingest.", "kb_documents": "3", "kb_chunks": "40",
                     "model_set": "tiny", "breaker_llm": "ON", "breaker_stt": "OFF",
                     "breaker_embed": "OFF", "breaker_tts": "OFF", "mute": "ON"}
    attrs = json.loads(render(by_id["tier"]["json_attributes_template"], state))
    assert attrs == {"reason": "psi some avg10 25.0% >= 20%", "name": "extractive"}
    answer = json.loads(render(by_id["last_answer"]["json_attributes_template"], state))
    assert answer == {"sources": ["Manual"], "tier": 0, "method": "llm"}
    for oid in ("ask", "say", "stop", "reindex"):
        assert "state_topic" not in by_id[oid]


def test_latency_comes_only_from_spoken_answers_and_texts_are_cut() -> None:
    tracker = StateTracker("tiny")
    assert tracker.snapshot({})["last_latency_ms"] is None
    assert render("{{ value_json.last_latency_ms }}", tracker.snapshot({})) == "None"
    tracker.on_event(AnswerEnd(question="q", answer="a " * 400, sources=[], tier=2,
                               method="extractive", stamps={}, timings_ms={"total": 5.0}))
    state = tracker.snapshot({})
    assert state["last_latency_ms"] is None and state["interactions_today"] == 1
    assert len(state["last_answer"]) <= 255 and state["last_answer"].endswith("…")
    assert truncate("short  text\n") == "short text"


@pytest.mark.parametrize(("name", "entity"), [("xnai-edge", "xnai_edge_tier"),
                                              ("Küche 2", "k_che_2_tier"),
                                              ("--x--", "x_tier")])
def test_slug_matches_home_assistant_entity_ids(name: str, entity: str) -> None:
    assert slug(f"{name}_tier") == entity
    assert topics(name).default_entity_id("sensor", "tier") == f"sensor.{entity}"


def test_base_topic_and_status_url_defaults() -> None:
    assert topics().base == "xnai-edge/0123456789ab"
    custom = Topics.from_config(MqttConfig(base_topic="house/box/"), "0123456789ab")
    assert custom.state == "house/box/state" and custom.command_name("house/box/cmd/ask") == \
        "ask"
    assert custom.command_name("house/other/cmd/ask") is None
    assert custom.ha_status == "homeassistant/status"
    web = WebConfig()
    assert discovery.status_url("", web, None, "box") == "http://box:8080/"
    assert discovery.status_url("https://x/", web, None, "box") == "https://x/"
    assert discovery.status_url("", WebConfig(port=0), {"port": 41234}, "box") == \
        "http://box:41234/"
    assert discovery.status_url("", WebConfig(port=0), None, "box") == ""
    assert discovery.status_url("", WebConfig(bind="127.0.0.1"), None, "box") == \
        "http://localhost:8080/"
    assert discovery.status_url("", WebConfig(enabled=False), None, "box") == ""


@pytest.mark.parametrize("key", ["base_topic", "discovery_prefix"])
def test_a_wildcard_in_a_topic_is_a_config_error(key: str) -> None:
    with pytest.raises(ConfigError, match=f"\\[mqtt\\] {key} = 'home/#'"):
        Topics.from_config(MqttConfig(**{key: "home/#"}), "0123456789ab")
