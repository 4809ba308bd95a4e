"""What the journal says about the broker connection: an outage once when lost, once when
restored; a refusal (wrong password, TLS, a client certificate wanted) once per kind and outage,
never once per retry -- an appliance nobody watches must not fill its journal while it waits.

``Reporter.on_event`` takes the link's facts in order and returns True on a (re)connect, when
the caller re-publishes everything.  Errors go out as ``ErrorEvent`` (the daemon prints
``error[code]: message``); good news as one ``mqtt: ...`` line on stderr.
"""

from __future__ import annotations

from collections.abc import Callable

from xnai_edge.config import MqttConfig
from xnai_edge.events import ErrorEvent, Event
from xnai_edge.journal import say
from xnai_edge.mqtt.connection import AUTH_REFUSED, LinkEvent


def info(message: str) -> None:
    say(f"mqtt: {message}")


class Reporter:
    def __init__(self, cfg: MqttConfig, *, broker: str, client_id: str, base_topic: str,
                 publish: Callable[[Event], None], say: Callable[[str], None] = info,
                 started_at: float = 0.0) -> None:
        self.cfg, self.broker, self.client_id, self.base = cfg, broker, client_id, base_topic
        self._publish, self._say = publish, say
        self.last_error: str | None = None
        self._reported: set[str] = set()
        self._down_since: float | None = started_at
        self._ever_connected = False

    def on_event(self, event: LinkEvent, attempts: int = 0) -> bool:
        retry = f"retrying with backoff up to {self.cfg.reconnect_max_s:g} s apart"
        if event.kind == "connected":
            away = event.at - (event.at if self._down_since is None else self._down_since)
            if not self._ever_connected:
                late = f" after {away:.1f} s and {attempts} failed attempts" if attempts else ""
                self._say(f"connected to broker {self.broker} as {self.client_id} (topics "
                          f"under {self.base}/){late}")
            else:
                self._say(f"connection to broker {self.broker} restored after {away:.1f} s "
                          f"({attempts} failed attempts so far)")
            self._ever_connected, self._down_since = True, None
            self._reported.clear()
            self.last_error = None
            return True
        if event.kind == "disconnected":
            if self._down_since is None:  # we were up: the outage, once
                self._down_since = event.at
                self._report("mqtt-offline", f"lost the connection to MQTT broker "
                             f"{self.broker} ({event.reason}); reconnecting with backoff (at "
                             f"most {self.cfg.reconnect_max_s:g} s apart)")
        elif event.kind == "refused":
            who = f"user {self.cfg.username!r}" if self.cfg.username else "anonymous"
            auth = event.code in AUTH_REFUSED
            self._report("mqtt-auth" if auth else "mqtt-refused",
                         f"MQTT broker {self.broker} refused the connection: {event.reason} "
                         f"({who}; check [mqtt] username and the password file); {retry}")
        elif event.kind == "dropped":
            self._report("mqtt-refused", f"MQTT broker {self.broker} closed the connection "
                         f"before accepting it ({event.reason}): does it want a client "
                         f"certificate (tls_cert_file), TLS, or another port? {retry}")
        else:  # "failed": no connection at all
            kind = "mqtt-tls" if event.reason.startswith("TLS") else "mqtt-offline"
            self._report(kind, f"cannot connect to MQTT broker {self.broker}: {event.reason}; "
                         f"{retry}")
        return False

    def _report(self, kind: str, message: str) -> None:
        self.last_error = f"error[{kind}]: {message}"
        if kind not in self._reported:
            self._reported.add(kind)
            self._publish(ErrorEvent(code=kind, message=message))
