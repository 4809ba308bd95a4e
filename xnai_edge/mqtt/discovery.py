"""Home Assistant MQTT discovery: one retained config message per entity, all on one device.

Pure functions from (topics, device info, breaker names) to ``(topic, payload)`` pairs; the
caller publishes them retained at QoS 1 on every connect and when Home Assistant announces
``online``.  Each payload carries ``unique_id``, ``object_id`` (= ``<device_name>_<object_id>``,
what names the entity in Home Assistant 2024.x) and ``default_entity_id`` (2025.10+), a human
``name`` without the device name (Home Assistant prefixes the device name itself), the shared
``device`` block, and the availability topic, so every entity goes ``unavailable`` with the
device.  Sensors read the one retained state JSON through ``value_template``s (see state.py for
its keys); device classes, units and state classes let the history graphs work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xnai_edge import __version__
from xnai_edge.config import WebConfig
from xnai_edge.mqtt.topics import AVAILABLE, NOT_AVAILABLE, Topics

TEXT_MAX = 255
"""Home Assistant keeps at most 255 characters of a state (text sensors and text entities)."""
PRESS = "PRESS"
BREAKER_NAMES = {"stt": "Speech recognition", "embed": "Embedder", "llm": "Language model",
                 "tts": "Speech synthesis"}


@dataclass(frozen=True)
class Entity:
    component: str
    object_id: str
    name: str
    fields: dict[str, Any] = field(default_factory=dict)


def _sensor(object_id: str, name: str, key: str, **fields: Any) -> Entity:
    return Entity("sensor", object_id, name,
                  {"value_template": f"{{{{ value_json.{key} }}}}", **fields})


def entities(breakers: list[str]) -> list[Entity]:
    """Every entity the device offers; ``breakers`` are the backends with a circuit breaker."""
    out = [
        _sensor("voice_state", "Voice state", "voice_state", icon="mdi:account-voice"),
        _sensor("tier", "Tier", "tier", state_class="measurement", icon="mdi:layers-triple",
                json_attributes_template="{{ {'reason': value_json.tier_reason, 'name': "
                                         "value_json.tier_name} | tojson }}"),
        _sensor("memory_available", "Memory available", "memory_available_mb",
                device_class="data_size", unit_of_measurement="MB", state_class="measurement",
                suggested_display_precision=0, icon="mdi:memory"),
        _sensor("psi_some_avg10", "Memory pressure", "psi_some_avg10",
                unit_of_measurement="%", state_class="measurement", icon="mdi:gauge"),
        _sensor("last_latency", "Last response latency", "last_latency_ms",
                device_class="duration", unit_of_measurement="ms", state_class="measurement",
                icon="mdi:timer-outline"),
        _sensor("interactions_today", "Interactions today", "interactions_today",
                state_class="total_increasing", icon="mdi:counter"),
        _sensor("last_question", "Last question", "last_question", icon="mdi:comment-question"),
        _sensor("last_answer", "Last answer", "last_answer", icon="mdi:comment-text",
                json_attributes_template="{{ {'sources': value_json.last_sources, 'tier': "
                                         "value_json.last_tier, 'method': value_json.last_method}"
                                         " | tojson }}"),
        _sensor("kb_documents", "Documents", "kb_documents", state_class="measurement",
                icon="mdi:file-document-multiple"),
        _sensor("kb_chunks", "Passages", "kb_chunks", state_class="measurement",
                icon="mdi:text-box-multiple"),
        _sensor("model_set", "Model set", "model_set", entity_category="diagnostic",
                icon="mdi:brain"),
    ]
    for backend in breakers:
        out.append(Entity("binary_sensor", f"breaker_{backend}",
                          f"{BREAKER_NAMES.get(backend, backend)} breaker", {
                              "value_template": f"{{{{ 'ON' if value_json.breakers.{backend} "
                                                f"!= 'closed' else 'OFF' }}}}",
                              "payload_on": "ON", "payload_off": "OFF",
                              "device_class": "problem", "entity_category": "diagnostic"}))
    out += [
        Entity("switch", "mute", "Microphone muted", {
            "command": "mute", "value_template": "{{ 'ON' if value_json.muted else 'OFF' }}",
            "payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF",
            "icon": "mdi:microphone-off"}),
        Entity("button", "stop", "Stop speaking", {"command": "stop", "payload_press": PRESS,
                                                   "icon": "mdi:stop"}),
        Entity("button", "reindex", "Rebuild search index", {
            "command": "reindex", "payload_press": PRESS, "entity_category": "config",
            "icon": "mdi:database-refresh"}),
        Entity("text", "ask", "Ask", {"command": "ask", "min": 1, "max": TEXT_MAX,
                                      "mode": "text", "icon": "mdi:chat-question"}),
        Entity("text", "say", "Say", {"command": "say", "min": 1, "max": TEXT_MAX,
                                      "mode": "text", "icon": "mdi:bullhorn"}),
    ]
    return out


def status_url(configured: str, web: WebConfig, web_status: dict[str, Any] | None,
               hostname: str) -> str:
    """The status page's address for the device's "Visit" link ('' when there is none): the
    configured one, else this host's name and the page's port (the bound one when the config
    says 0)."""
    if configured:
        return configured
    if not web.enabled:
        return ""
    port = web.port or (web_status or {}).get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not port:
        return ""
    host = "localhost" if web.bind.startswith("127.") else hostname
    return f"http://{host}:{port}/"


def device_block(topics: Topics, *, model_set: str, configuration_url: str) -> dict[str, Any]:
    block: dict[str, Any] = {
        "identifiers": [f"xnai_edge_{topics.device_id}"], "name": topics.device_name,
        "manufacturer": "xnai-edge", "model": f"Offline voice assistant ({model_set} models)",
        "sw_version": __version__}
    if configuration_url:
        block["configuration_url"] = configuration_url
    return block


def payload(entity: Entity, topics: Topics, device: dict[str, Any]) -> dict[str, Any]:
    """The discovery config of one entity."""
    body: dict[str, Any] = {
        "name": entity.name,
        "unique_id": topics.unique_id(entity.object_id),
        "object_id": topics.entity_object_id(entity.object_id),
        "default_entity_id": topics.default_entity_id(entity.component, entity.object_id),
        "device": device,
        "availability": [{"topic": topics.availability, "payload_available": AVAILABLE,
                          "payload_not_available": NOT_AVAILABLE}],
    }
    fields = dict(entity.fields)
    command = fields.pop("command", None)
    if command is not None:
        body["command_topic"] = topics.command(command)
    if "value_template" in fields:
        body["state_topic"] = topics.state
    if "json_attributes_template" in fields:
        body["json_attributes_topic"] = topics.state
    body.update(fields)
    return body


def messages(topics: Topics, device: dict[str, Any], breakers: list[str],
             ) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) of every discovery message, in a stable order."""
    return [(topics.discovery(e.component, e.object_id), payload(e, topics, device))
            for e in entities(breakers)]
