"""Topic names and Home Assistant ids, derived once from the config and the device id.

Everything the outside relies on (the issue's "Interface the checks rely on") is spelt here and
nowhere else, so a topic can never differ between the publisher, the subscriber and the docs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xnai_edge.config import MqttConfig
from xnai_edge.errors import ConfigError

AVAILABLE, NOT_AVAILABLE = "online", "offline"
_SLUG = re.compile(r"[^a-z0-9]+")
_TOPIC_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def slug(text: str) -> str:
    """Home Assistant's entity-id slug: lower case, runs of anything else become one ``_``
    (``xnai-edge_tier`` -> ``xnai_edge_tier``)."""
    return _SLUG.sub("_", text.lower()).strip("_") or "unnamed"


@dataclass(frozen=True)
class Topics:
    base: str
    discovery_prefix: str
    node_id: str
    """The ``<node_id>`` level of the discovery topics: one per device, topic-safe."""
    device_name: str
    device_id: str

    @classmethod
    def from_config(cls, cfg: MqttConfig, device_id: str) -> Topics:
        """Raises ``ConfigError`` for a topic with MQTT wildcards in it."""
        for key in ("base_topic", "discovery_prefix"):
            value = getattr(cfg, key)
            if any(c in value for c in "+#\0"):
                raise ConfigError(f"[mqtt] {key} = {value!r}: a topic cannot contain '+', '#' "
                                  "or NUL")
        base = cfg.base_topic.strip("/") or f"xnai-edge/{device_id}"
        node = _TOPIC_UNSAFE.sub("_", f"xnai-edge-{device_id}")
        return cls(base=base, discovery_prefix=cfg.discovery_prefix.strip("/") or "homeassistant",
                   node_id=node, device_name=cfg.device_name, device_id=device_id)

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def response(self) -> str:
        return f"{self.base}/response"

    @property
    def commands(self) -> str:
        """The subscription for every command: ``<base>/cmd/+``."""
        return f"{self.base}/cmd/+"

    def command(self, name: str) -> str:
        return f"{self.base}/cmd/{name}"

    def command_name(self, topic: str) -> str | None:
        prefix = f"{self.base}/cmd/"
        return topic[len(prefix):] if topic.startswith(prefix) else None

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth/last-will topic: ``online`` after it (re)starts."""
        return f"{self.discovery_prefix}/status"

    def discovery(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node_id}/{object_id}/config"

    def unique_id(self, object_id: str) -> str:
        return f"xnai_edge_{self.device_id}_{object_id}"

    def entity_object_id(self, object_id: str) -> str:
        """``<device_name>_<object_id>``: what Home Assistant names the entity after."""
        return f"{self.device_name}_{object_id}"

    def default_entity_id(self, component: str, object_id: str) -> str:
        return f"{component}.{slug(self.entity_object_id(object_id))}"
