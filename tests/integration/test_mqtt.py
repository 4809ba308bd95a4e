"""Home Assistant over MQTT against a real Mosquitto and a real daemon (``xnai-edge run``).

One broker and one daemon (input "none": typed questions only) are shared by the tests of this
module, in order: discovery and state, Home Assistant's restart, commands (ask, bad ones, mute),
memory pressure, and last SIGTERM.  The test side is a paho client, as Home Assistant is.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from daemon_helpers import build_template, psi_text
from mosquitto import Broker, Message, Watcher, XnaiDaemon

from xnai_edge.mqtt.state import truncate

pytestmark = pytest.mark.slow

START_S = 120.0
OBJECT_IDS = {"voice_state", "tier", "memory_available", "psi_some_avg10", "last_latency",
              "interactions_today", "last_question", "last_answer", "kb_documents",
              "kb_chunks", "model_set", "breaker_stt", "breaker_embed", "breaker_llm",
              "breaker_tts", "mute", "stop", "reindex", "ask", "say"}
STATUS_URL = "http://127.0.0.1:8080/"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("broker"))
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def daemon(broker: Broker, live: Watcher, models_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[XnaiDaemon]:
    template = build_template(models_dir, tmp_path_factory.mktemp("template") / "data")
    d = XnaiDaemon.start(tmp_path_factory.mktemp("daemon"), template, models_dir, broker,
                         mqtt=f'status_page_url = "{STATUS_URL}"\ndevice_name = "xnai-edge"')
    yield d
    d.kill()


@pytest.fixture(scope="module")
def base(daemon: XnaiDaemon) -> str:
    return f"xnai-edge/{daemon.device_id()}"


@pytest.fixture(scope="module")
def live(broker: Broker) -> Iterator[Watcher]:
    """Subscribed before the daemon connects: sees the first publications as they happen."""
    with Watcher(broker, "homeassistant/#", "xnai-edge/#") as w:
        yield w


@pytest.fixture
def ha(broker: Broker, base: str) -> Iterator[Watcher]:
    """Home Assistant's view: discovery, and everything under the device's base topic."""
    with Watcher(broker, "homeassistant/#", f"{base}/#") as w:
        yield w


def retained(messages: list[Message], topic: str) -> Message | None:
    """The retained message a fresh subscriber got on ``topic`` (a live one may come first)."""
    return next((m for m in messages if m.topic == topic and m.retain), None)


def discovery_messages(ha: Watcher, node: str, since: float = 0.0) -> dict[str, Message]:
    found = {}
    for m in ha.messages:
        parts = m.topic.split("/")
        if len(parts) == 5 and parts[2] == node and parts[4] == "config" and m.at >= since:
            found[parts[3]] = m
    return found


def test_discovery_availability_and_state_are_retained(live: Watcher, broker: Broker,
                                                       base: str, daemon: XnaiDaemon) -> None:
    node = "xnai-edge-" + base.split("/")[1]
    live.wait(lambda _: set(discovery_messages(live, node)) >= OBJECT_IDS, START_S,
              "every discovery message")
    live.last(f"{base}/availability", timeout_s=10, match=lambda m: m.text == "online")
    live.last(f"{base}/state", timeout_s=10)  # the last of the first publications
    with Watcher(broker, "homeassistant/#", f"{base}/#") as ha:  # joins later: retained ones
        ha.wait(lambda _: set(discovery_messages(ha, node)) >= OBJECT_IDS, 10,
                "every retained discovery message")
        online = ha.wait(lambda ms: retained(ms, f"{base}/availability"), 10,
                         "retained availability")
        state_msg = ha.wait(lambda ms: retained(ms, f"{base}/state"), 10, "retained state")
        configs = discovery_messages(ha, node)
    assert online.text == "online" and online.retain
    assert state_msg.retain
    state = state_msg.json()
    assert set(configs) == OBJECT_IDS
    bodies: dict[str, dict[str, Any]] = {}
    for oid, m in configs.items():
        assert m.retain and m.qos == 1, (oid, m.retain, m.qos)
        body = m.json()
        bodies[oid] = body
        component = m.topic.split("/")[1]
        assert body["object_id"] == f"xnai-edge_{oid}"
        assert body["default_entity_id"] == f"{component}.xnai_edge_{oid}"
        assert "xnai" not in body["name"].lower()
        assert body["availability"][0]["topic"] == f"{base}/availability"
    assert len({b["unique_id"] for b in bodies.values()}) == len(OBJECT_IDS)
    devices = [json.dumps(b["device"], sort_keys=True) for b in bodies.values()]
    assert len(set(devices)) == 1, "one shared device block"
    device = bodies["tier"]["device"]
    assert device["name"] == "xnai-edge" and device["configuration_url"] == STATUS_URL
    assert {"identifiers", "manufacturer", "model", "sw_version"} <= set(device)
    assert configs["tier"].topic == f"homeassistant/sensor/{node}/tier/config"
    assert configs["mute"].topic.startswith("homeassistant/switch/")
    assert configs["ask"].topic.startswith("homeassistant/text/")
    assert configs["breaker_llm"].topic.startswith("homeassistant/binary_sensor/")
    assert bodies["memory_available"]["unit_of_measurement"] == "MB"
    assert bodies["last_latency"]["unit_of_measurement"] == "ms"
    assert bodies["last_latency"]["state_class"] == "measurement"
    # Every value template renders from the retained state as Home Assistant would.
    env = jinja2.Environment()
    shown = {oid: env.from_string(b["value_template"]).render(value_json=state)
             for oid, b in bodies.items() if "value_template" in b}
    assert shown["tier"] == "0" and shown["mute"] == "OFF"
    assert shown["memory_available"] == "8192"  # 8,000,000 kB of the fake meminfo
    assert shown["psi_some_avg10"] == "0.0"
    assert shown["kb_documents"] == "1" and int(shown["kb_chunks"]) > 5
    assert shown["model_set"] == "tiny"
    assert {shown[f"breaker_{n}"] for n in ("stt", "embed", "llm", "tts")} == {"OFF"}
    assert shown["voice_state"] in ("ready", "no-audio")
    status = daemon.status()
    assert status["mqtt"]["connected"] and status["mqtt"]["base_topic"] == base
    assert daemon.lines("mqtt: connected to broker"), daemon.output()


def test_home_assistant_online_republishes_discovery_and_state(ha: Watcher, base: str) -> None:
    node = "xnai-edge-" + base.split("/")[1]
    ha.last(f"{base}/state", timeout_s=START_S)
    since = time.monotonic()
    ha.send("homeassistant/status", "online")
    ha.wait(lambda _: set(discovery_messages(ha, node, since)) >= OBJECT_IDS, 15,
            "discovery re-published")
    assert ha.last(f"{base}/availability", since=since).text == "online"
    assert ha.last(f"{base}/state", since=since).json()["model_set"] == "tiny"
    late = min(m.at for m in discovery_messages(ha, node, since).values()) - since
    print(f"re-published {late * 1000:.0f} ms after Home Assistant's online")
    ha.send("homeassistant/status", "offline")  # HA going away changes nothing


def test_ask_answers_with_sources_and_responds_with_the_id(ha: Watcher, base: str) -> None:
    ha.last(f"{base}/state", timeout_s=START_S)
    since = time.monotonic()
    ha.send(f"{base}/cmd/ask", json.dumps({"text": "How do I add documents?", "id": "q-1"}))
    reply = ha.last(f"{base}/response", since=since, timeout_s=60,
                    match=lambda m: m.json().get("id") == "q-1").json()
    assert reply["ok"] and reply["command"] == "ask", reply
    assert reply["answer"] and reply["sources"] and reply["spoken"] is False, reply
    event = ha.last(f"{base}/events", since=since, timeout_s=10,
                    match=lambda m: m.json()["type"] == "answer-end").json()
    assert event["origin"] == "mqtt" and event["sources"], event
    assert event["sources"][0]["title"] and "timings_ms" in event
    state = ha.last(f"{base}/state", since=since, timeout_s=10,
                    match=lambda m: m.json()["last_question"] != "").json()
    assert state["last_question"] == "How do I add documents?"
    assert state["interactions_today"] >= 1 and state["last_answer"] == truncate(reply["answer"])
    # As Home Assistant's text entity sends it (bare text), with v5 correlation data.
    since = time.monotonic()
    ha.send(f"{base}/cmd/ask", "What is your wake word?", correlation=b"corr-7")
    reply_msg = ha.last(f"{base}/response", since=since, timeout_s=60,
                        match=lambda m: m.correlation == b"corr-7")
    reply = reply_msg.json()
    assert reply["ok"] and reply["id"] == "corr-7" and reply["answer"], reply
    assert not reply_msg.retain


BAD = [("ask", b"{not json", "not valid JSON"), ("launch", b"PRESS", "unknown command"),
       ("say", b"x" * 1_000_000, "1,000,000 bytes"), ("ask", b'{"text": 42}', "must be text"),
       ("mute", b'{"muted": "perhaps"}', "ON/OFF"), ("mute", b"MAYBE", "ON/OFF"),
       ("stop", b"\xff\xfe\x00", "not UTF-8"), ("say", b"[1, 2]", "must be an object")]


def test_bad_commands_are_logged_once_and_ignored(ha: Watcher, base: str,
                                                  daemon: XnaiDaemon) -> None:
    ha.last(f"{base}/state", timeout_s=START_S)
    before = len(daemon.lines("error[mqtt-command]"))
    since = time.monotonic()
    for i, (name, payload, _) in enumerate(BAD):
        ha.send(f"{base}/cmd/{name}", payload, correlation=f"bad-{i}".encode())
    replies = ha.wait(lambda _: len(ha.on(f"{base}/response", since)) >= len(BAD) and
                      ha.on(f"{base}/response", since), 30, "a response to every bad command")
    by_id = {m.correlation: m.json() for m in replies}
    for i, (name, _, why) in enumerate(BAD):
        reply = by_id[f"bad-{i}".encode()]
        assert reply["ok"] is False and why in reply["error"], (name, reply)
    logged = daemon.wait_line("error[mqtt-command]", 10, count=before + len(BAD))[before:]
    assert len(logged) == len(BAD), logged
    for line, (name, _, why) in zip(logged, BAD, strict=True):
        assert f"ignored {base}/cmd/{name}: " in line and why in line, line
        assert len(line) < 300, line
    # Unharmed: the next commands work and the daemon answers its status socket.
    since = time.monotonic()
    ha.send(f"{base}/cmd/mute", "ON")
    assert ha.last(f"{base}/state", since=since, timeout_s=10,
                   match=lambda m: m.json()["muted"]).json()["muted"] is True
    assert daemon.status()["muted"] is True
    ha.send(f"{base}/cmd/mute", "OFF")
    ha.last(f"{base}/state", since=since, timeout_s=10, match=lambda m: not m.json()["muted"])
    event = ha.last(f"{base}/events", since=since, timeout_s=10,
                    match=lambda m: m.json()["type"] == "mute-changed").json()
    assert event["origin"] == "mqtt"
    ha.send(f"{base}/cmd/stop", "PRESS", correlation=b"stop-1")
    stop = ha.last(f"{base}/response", since=since, match=lambda m: m.correlation == b"stop-1")
    assert stop.json() == {"command": "stop", "id": "stop-1", "ok": True, "stopped": False}
    status = daemon.status()
    assert status["mqtt"]["rejected"] >= len(BAD) and status["mqtt"]["connected"]
    assert daemon.proc.poll() is None


def test_say_and_reindex_answer_on_the_response_topic(ha: Watcher, base: str) -> None:
    ha.last(f"{base}/state", timeout_s=START_S)
    since = time.monotonic()
    ha.send(f"{base}/cmd/say", "The washing machine is done.", correlation=b"say-1")
    said = ha.last(f"{base}/response", since=since, timeout_s=30,
                   match=lambda m: m.correlation == b"say-1").json()
    # No sound card here ([audio] input "none"): accepted, but nothing could be spoken.
    assert said == {"command": "say", "id": "say-1", "ok": True, "spoken": False}
    ha.send(f"{base}/cmd/reindex", "PRESS", correlation=b"re-1")
    done = ha.last(f"{base}/response", since=since, timeout_s=60,
                   match=lambda m: m.correlation == b"re-1").json()
    assert done["ok"] and done["vectors"] > 5, done
    event = ha.last(f"{base}/events", since=since, timeout_s=10,
                    match=lambda m: m.json()["type"] == "knowledge-changed").json()
    assert event["reason"] == "reindexed" and event["chunks"] == done["vectors"]
    state = ha.last(f"{base}/state", timeout_s=10).json()  # unchanged: the same passages
    assert state["kb_documents"] == 1 and state["kb_chunks"] == done["vectors"]


def test_memory_pressure_moves_the_published_tier(ha: Watcher, base: str,
                                                  daemon: XnaiDaemon) -> None:
    ha.last(f"{base}/state", timeout_s=START_S)
    since = time.monotonic()
    daemon.psi.write_text(psi_text(25.0))
    state = ha.last(f"{base}/state", since=since, timeout_s=10,
                    match=lambda m: m.json()["tier"] == 2).json()
    took = time.monotonic() - since
    assert "psi" in state["tier_reason"] and state["psi_some_avg10"] == 25.0, state
    event = ha.last(f"{base}/events", since=since, timeout_s=5,
                    match=lambda m: m.json()["type"] == "tier-changed").json()
    assert event["tier"] == 2 and event["previous"] == 0
    print(f"PSI 25% -> published tier 2 after {took * 1000:.0f} ms (monitor interval 100 ms, "
          f"state interval 200 ms)")
    daemon.psi.write_text(psi_text(0.0))
    ha.last(f"{base}/state", since=since, timeout_s=30, match=lambda m: m.json()["tier"] == 0)


def test_sigterm_publishes_offline_before_disconnecting(broker: Broker, base: str,
                                                        daemon: XnaiDaemon) -> None:
    with Watcher(broker, f"{base}/availability") as live:
        live.last(f"{base}/availability", timeout_s=START_S, match=lambda m: m.text == "online")
        since = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(30) == 0, daemon.output()
        offline = live.last(f"{base}/availability", since=since, timeout_s=10)
        assert offline.text == "offline"
    with Watcher(broker, f"{base}/availability") as later:  # retained for whoever comes next
        retained = later.last(f"{base}/availability", timeout_s=10)
        assert retained.text == "offline" and retained.retain
    client = f"xnai-edge-{base.split('/')[1]}"
    assert broker.log_lines(f"Client {client} disconnected."), broker.log.read_text()[-2000:]
