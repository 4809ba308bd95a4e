"""The connection's journal lines: once when lost, once when restored, once per refusal kind."""

from __future__ import annotations

from xnai_edge.config import MqttConfig
from xnai_edge.events import ErrorEvent, Event
from xnai_edge.mqtt.connection import LinkEvent
from xnai_edge.mqtt.outage import Reporter


def reporter(**cfg: object) -> tuple[Reporter, list[Event], list[str]]:
    errors: list[Event] = []
    said: list[str] = []
    r = Reporter(MqttConfig(reconnect_max_s=30, **cfg), broker="b:1883",  # type: ignore[arg-type]
                 client_id="xnai-edge-x", base_topic="xnai-edge/x", publish=errors.append,
                 say=said.append, started_at=0.0)
    return r, errors, said


def codes(errors: list[Event]) -> list[str]:
    return [e.code for e in errors if isinstance(e, ErrorEvent)]


def test_an_outage_is_logged_once_when_lost_and_once_when_restored() -> None:
    r, errors, said = reporter()
    assert r.on_event(LinkEvent("connected", at=1.0))
    assert said == ["connected to broker b:1883 as xnai-edge-x (topics under xnai-edge/x/)"]
    assert not r.on_event(LinkEvent("disconnected", "Unspecified error", at=10.0))
    for t in range(11, 40, 2):  # the retries while the broker is away
        assert not r.on_event(LinkEvent("failed", "Connection refused", at=float(t)))
    assert codes(errors) == ["mqtt-offline"]
    assert "lost the connection to MQTT broker b:1883" in errors[0].message  # type: ignore[attr-defined]
    assert r.last_error and "Connection refused" in r.last_error
    assert r.on_event(LinkEvent("connected", at=42.5), attempts=15)
    assert said[-1] == "connection to broker b:1883 restored after 32.5 s (15 failed attempts so " \
        "far)"
    assert r.last_error is None and len(said) == 2 and len(errors) == 1
    # A second outage is reported again.
    r.on_event(LinkEvent("disconnected", at=50.0))
    assert codes(errors) == ["mqtt-offline", "mqtt-offline"]


def test_a_wrong_password_is_one_error_however_often_it_is_retried() -> None:
    r, errors, said = reporter(username="xnai")
    for t in range(8):
        r.on_event(LinkEvent("refused", "Not authorized", 135, at=float(t)))
    assert codes(errors) == ["mqtt-auth"]
    message = errors[0].message  # type: ignore[attr-defined]
    assert "refused the connection: Not authorized (user 'xnai'" in message
    assert "retrying with backoff up to 30 s apart" in message
    assert r.on_event(LinkEvent("connected", at=9.0), attempts=8)
    assert said == ["connected to broker b:1883 as xnai-edge-x (topics under xnai-edge/x/) after "
                    "9.0 s and 8 failed attempts"]


def test_tls_and_dropped_connections_are_their_own_kinds() -> None:
    r, errors, _ = reporter()
    r.on_event(LinkEvent("failed", "TLS certificate verify failed: self-signed", at=1.0))
    r.on_event(LinkEvent("failed", "TLS certificate verify failed: self-signed", at=2.0))
    r.on_event(LinkEvent("dropped", "Unspecified error", at=3.0))
    r.on_event(LinkEvent("failed", "Connection refused", at=4.0))
    assert codes(errors) == ["mqtt-tls", "mqtt-refused", "mqtt-offline"]
    assert "client certificate" in errors[1].message  # type: ignore[attr-defined]
