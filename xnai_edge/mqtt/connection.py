"""The broker connection: paho-mqtt's own network thread, bridged into AnyIO.

paho runs the socket (``connect_async`` + ``loop_start``), reconnects with exponential backoff
(``reconnect_delay_set``), and calls us back on its thread.  Those callbacks do only what must
happen on that thread -- restore the subscriptions and say ``online`` on every connect, re-read
the password after a refusal -- and hand everything else to the event loop without waiting for
it (``call_soon_threadsafe``) into bounded memory streams (a full message stream drops and
counts).  ``publish`` is paho's non-blocking queue; while the broker is away it drops and
counts instead of piling up, because every (re)connect re-publishes the full state anyway.
So the voice loop never waits on the broker, and paho's thread never waits on the loop.

Why never wait: paho calls back with its own locks held -- after a CONNACK it writes the queued
messages holding ``_out_message_mutex``, and a write that fails there calls ``on_disconnect``.
A callback that waited for the event loop (``anyio.from_thread.run_sync``) while the loop waited
for that lock in ``publish`` froze the whole daemon: a broker stopped just after a connect left
the status socket silent for the 120 s the test waited (one of the two causes of the
once-in-five CI failure of ``test_outage_reconnect_mute_and_kill_9``; the other is in
``xnai_edge/journal.py``).  The event loop is asyncio's (``anyio.run``'s default backend),
whose ``call_soon_threadsafe`` hands over without waiting.

The password comes from ``password_file`` or the systemd credential ``mqtt-password``; it is
never logged, and it is read again after each refusal (a corrected file is picked up without a
restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import paho.mqtt.client as mqtt
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from xnai_edge.config import MqttConfig
from xnai_edge.errors import ConfigError
from xnai_edge.mqtt.topics import AVAILABLE, NOT_AVAILABLE, Topics

CREDENTIAL = "mqtt-password"
"""The systemd credential name (``LoadCredential=mqtt-password:/etc/...``)."""
AUTH_REFUSED = (134, 135, 4, 5)
"""CONNACK codes for a bad user name/password or not authorised (MQTT 5 and 3.1.1)."""
MESSAGE_BUFFER = 64
MAX_QUEUED = 1000


def read_password(cfg: MqttConfig, env: dict[str, str] | None = None) -> str | None:
    """The broker password (one trailing newline dropped), or None when none is configured."""
    env = dict(os.environ) if env is None else env
    if cfg.password_file:
        path = Path(cfg.password_file).expanduser()
    elif env.get("CREDENTIALS_DIRECTORY") and \
            (Path(env["CREDENTIALS_DIRECTORY"]) / CREDENTIAL).is_file():
        path = Path(env["CREDENTIALS_DIRECTORY"]) / CREDENTIAL
    else:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the MQTT password file {path}: {why}") from None
    return text.removesuffix("\n").removesuffix("\r")


@dataclass(frozen=True)
class LinkEvent:
    """A fact from paho's thread: "connected", "disconnected" (was up), "refused" (CONNACK
    said no), "dropped" (closed before any CONNACK) or "failed" (no connection at all)."""

    kind: str
    reason: str = ""
    code: int = 0
    error: BaseException | None = None
    at: float = 0.0


class _Client(mqtt.Client):
    """paho's client, keeping the exception of a failed connection attempt (paho's
    ``on_connect_fail`` is told nothing about why)."""

    on_attempt_error: Callable[[OSError], None] | None = None

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:
            if self.on_attempt_error is not None:
                self.on_attempt_error(exc)
            raise


class MqttLink:
    def __init__(self, cfg: MqttConfig, topics: Topics, client_id: str, *,
                 password: Callable[[], str | None] | None = None,
                 reconnect_min_s: float = 1.0) -> None:
        self.cfg, self.topics, self.client_id = cfg, topics, client_id
        self._password = password or (lambda: read_password(cfg))
        self._reconnect_min_s = min(reconnect_min_s, cfg.reconnect_max_s)
        self.broker = f"{cfg.host}:{cfg.port}"
        self.published = self.dropped = self.dropped_in = self.attempts = 0
        self.connects = 0
        self._up = self._refused = False  # touched on paho's thread only
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0  # messages handed to the loop and not yet taken (bounded)
        self._in_flight_lock = threading.Lock()
        self._link_send, self.link_events = anyio.create_memory_object_stream[LinkEvent](256)
        self._msg_send: MemoryObjectSendStream[mqtt.MQTTMessage]
        self.messages: MemoryObjectReceiveStream[mqtt.MQTTMessage]
        self._msg_send, self.messages = \
            anyio.create_memory_object_stream[mqtt.MQTTMessage](MESSAGE_BUFFER)
        self.client = self._make_client()

    # ------------------------------------------------------------------ setup
    def _make_client(self) -> _Client:
        """Raises ``ConfigError`` for a TLS file or password file that cannot be used."""
        cfg = self.cfg
        client = _Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                         protocol=mqtt.MQTTv5)
        if cfg.username:
            client.username_pw_set(cfg.username, self._password())
        if cfg.tls_ca_file or cfg.tls_cert_file:
            try:
                client.tls_set(ca_certs=cfg.tls_ca_file or None,
                               certfile=cfg.tls_cert_file or None,
                               keyfile=cfg.tls_key_file or None)
            except (OSError, ssl.SSLError, ValueError) as exc:
                files = ", ".join(f for f in (cfg.tls_ca_file, cfg.tls_cert_file,
                                              cfg.tls_key_file) if f)
                raise ConfigError(f"cannot use the MQTT TLS files ({files}): "
                                  f"{getattr(exc, 'strerror', None) or exc}") from None
        client.will_set(self.topics.availability, NOT_AVAILABLE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=max(1, round(self._reconnect_min_s)),
                                   max_delay=max(1, round(cfg.reconnect_max_s)))
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_attempt_error = self._on_attempt_error
        return client

    def start(self) -> None:
        """Begin connecting in paho's thread; returns at once (the broker may be down)."""
        self._loop = asyncio.get_running_loop()
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s,
                                  clean_start=True)
        self.client.loop_start()

    # ------------------------------------------------------------------ paho's thread
    def _to_loop(self, deliver: Callable[[Any], None], item: Any) -> None:
        """Run ``deliver(item)`` on the event loop soon; return at once (see the module
        docstring for why this must never wait)."""
        if self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # RuntimeError: the event loop has closed
            self._loop.call_soon_threadsafe(deliver, item)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Properties | None) -> None:
        if reason.is_failure:
            self.attempts += 1
            self._refused = True
            if reason.value in AUTH_REFUSED and self.cfg.username:
                with contextlib.suppress(ConfigError):  # a corrected file is used next time
                    client.username_pw_set(self.cfg.username, self._password())
            self._to_loop(self._link, LinkEvent("refused", str(reason), reason.value,
                                                at=time.monotonic()))
            return
        self._up, self._refused = True, False
        client.subscribe([(self.topics.commands, 1), (self.topics.ha_status, 1)])
        client.publish(self.topics.availability, AVAILABLE, qos=1, retain=True)
        self._to_loop(self._link, LinkEvent("connected", at=time.monotonic()))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason: ReasonCode, properties: Properties | None) -> None:
        was_up, self._up = self._up, False
        if not was_up and self._refused:  # the close that follows a refused CONNACK
            self._refused = False
            return
        kind = "disconnected" if was_up else "dropped"  # "dropped": closed before CONNACK
        if not was_up:
            self.attempts += 1
        self._to_loop(self._link, LinkEvent(kind, str(reason), reason.value,
                                            at=time.monotonic()))

    def _on_attempt_error(self, exc: OSError) -> None:
        self.attempts += 1
        self._to_loop(self._link, LinkEvent("failed", describe(exc, self.cfg), error=exc,
                                            at=time.monotonic()))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # Handing over no longer waits, so a flood must be bounded here: at most a stream's
        # worth of messages on their way to the loop, the rest dropped and counted.
        with self._in_flight_lock:
            if self._in_flight >= MESSAGE_BUFFER:
                self.dropped_in += 1
                return
            self._in_flight += 1
        self._to_loop(self._message, msg)

    # ------------------------------------------------------------------ the event loop
    def _link(self, event: LinkEvent) -> None:
        if event.kind == "connected":
            self.connects += 1
        with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError,
                                 anyio.BrokenResourceError):
            self._link_send.send_nowait(event)

    def _message(self, msg: mqtt.MQTTMessage) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1
        try:
            self._msg_send.send_nowait(msg)
        except anyio.WouldBlock:
            with self._in_flight_lock:  # paho's thread counts its drops too
                self.dropped_in += 1
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    @property
    def connected(self) -> bool:
        return self.client.is_connected()

    def publish(self, topic: str, payload: str | bytes, *, qos: int = 0, retain: bool = False,
                properties: Properties | None = None) -> bool:
        """Queue one message; never waits.  False (and counted) when it was dropped."""
        if not self.client.is_connected():
            self.dropped += 1
            return False
        info = self.client.publish(topic, payload, qos=qos, retain=retain,
                                   properties=properties)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.dropped += 1
            return False
        self.published += 1
        return True

    async def close(self, timeout_s: float = 2.0) -> None:
        """Retained ``offline``, then a clean DISCONNECT (which suppresses the will)."""
        if self.client.is_connected():
            info = self.client.publish(self.topics.availability, NOT_AVAILABLE, qos=1,
                                       retain=True)
            with contextlib.suppress(ValueError, RuntimeError):  # not queued: nothing to wait
                await anyio.to_thread.run_sync(info.wait_for_publish, timeout_s)
        self.client.disconnect()
        # Joining paho's thread waits for its select() (up to a second): not on the loop.
        await anyio.to_thread.run_sync(self.client.loop_stop)
        self._link_send.close()
        self._msg_send.close()


def describe(exc: OSError, cfg: MqttConfig) -> str:
    """A failed connection attempt in one line (no secrets in it)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"TLS certificate verify failed: {exc.verify_message} (is "
                f"{cfg.tls_ca_file or 'the system CA store'} the CA that signed the broker's "
                "certificate?)")
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, TimeoutError | ConnectionError):
        return exc.strerror or type(exc).__name__
    return exc.strerror or str(exc) or type(exc).__name__
