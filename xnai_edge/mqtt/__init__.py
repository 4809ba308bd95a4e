"""Home Assistant over MQTT: discovery, availability, state, events and commands.

``serve(controls, cfg)`` is the daemon's one entry point (docs/home-assistant.md).  Modules:
topics (every topic and id), discovery (entity configs), state (the retained state JSON),
commands (parsing and running), connection (paho's thread bridged into AnyIO), serve.
"""

from xnai_edge.mqtt.serve import serve

__all__ = ["serve"]
