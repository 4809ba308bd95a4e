"""``serve(controls, cfg)``: the daemon's MQTT interface (Home Assistant), one task.

It reports started at once (the broker may be down), then runs four small readers: connection
facts from paho's thread (logs an outage once when lost and once when restored; re-publishes
discovery, availability and state after every connect), incoming messages (commands, and
Home Assistant's ``online`` which re-publishes after a short random delay so a restarted Home
Assistant is not flooded by every device at once), the event bus (events topic + state
changes), and the state publisher (on change, at most every ``state_interval_s``).  A broken
interface is an ``ErrorEvent`` plus the ``mqtt`` part of the status; the daemon runs on.
"""

from __future__ import annotations

import json
import random
import socket
import time
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus
from paho.mqtt.client import MQTTMessage
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from xnai_edge.config import MqttConfig
from xnai_edge.errors import XnaiError
from xnai_edge.events import (
    AnswerEnd,
    BreakerOpened,
    ErrorEvent,
    Event,
    Interrupted,
    KnowledgeChanged,
    MuteChanged,
    SttEnd,
    TierChanged,
    WakeDetected,
)
from xnai_edge.mqtt import discovery
from xnai_edge.mqtt.commands import Command, CommandError, Executor, parse
from xnai_edge.mqtt.connection import MqttLink
from xnai_edge.mqtt.outage import Reporter
from xnai_edge.mqtt.state import StateTracker, midnight_utc_iso
from xnai_edge.mqtt.topics import Topics

if TYPE_CHECKING:
    from xnai_edge.control import Controls

PUBLISHED = (WakeDetected, SttEnd, AnswerEnd, TierChanged, MuteChanged, Interrupted,
             BreakerOpened, KnowledgeChanged, ErrorEvent)
"""Events sent on ``<base>/events`` (audio ticks, tokens and state flips are not)."""
REPUBLISH_DELAY_S = (0.2, 2.0)
BUS_BUFFER = 256
LOG_LIMIT = 10
"""Rejected commands logged per minute at most (a flood must not flood the journal)."""


async def serve(controls: Controls, cfg: MqttConfig, *,
                task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    try:
        bridge = Bridge(controls, cfg)
        controls.status_parts["mqtt"] = bridge.status
        link = MqttLink(cfg, bridge.topics, f"xnai-edge-{controls.device_id}")
    except XnaiError as exc:
        error = f"error[{exc.code}]: {exc.message}"
        controls.status_parts["mqtt"] = lambda: {"connected": False, "last_error": error}
        controls.bus.publish(ErrorEvent(code=exc.code, message=f"{exc.message}; MQTT is off"))
        task_status.started()
        return
    task_status.started()
    try:
        await bridge.run(link)
    except Exception as exc:  # noqa: BLE001 - the interface fails, the appliance does not
        code = exc.code if isinstance(exc, XnaiError) else "mqtt-failed"
        bridge.config_error = f"error[{code}]: MQTT stopped: {exc}"
        controls.bus.publish(ErrorEvent(code=code, message=f"MQTT stopped: "
                                        f"{type(exc).__name__}: {exc}"))


class Bridge:
    def __init__(self, controls: Controls, cfg: MqttConfig) -> None:
        self.controls, self.cfg = controls, cfg
        self.topics = Topics.from_config(cfg, controls.device_id)
        self.tracker = StateTracker(controls.kb.config.models.set)
        self.link: MqttLink | None = None
        self.config_error: str | None = None
        self.reporter: Reporter | None = None
        self.commands = self.rejected = 0
        self._last_state: dict[str, Any] | None = None
        self._last_state_at = 0.0
        self._republish_pending = False
        self._log_window = (0.0, 0)
        self._changed: anyio.Event | None = None

    # ------------------------------------------------------------------ running
    async def run(self, link: MqttLink) -> None:
        self.link = link
        self._changed = anyio.Event()
        async with self.controls.bus.subscribe("mqtt", max_buffer=BUS_BUFFER) as events:
            await self._load_counts()
            link.start()
            try:
                async with anyio.create_task_group() as tg:
                    executor = Executor(self.controls, tg, self._respond)
                    tg.start_soon(self._links, link)
                    tg.start_soon(self._messages, link, executor, tg)
                    tg.start_soon(self._events, events)
                    tg.start_soon(self._state_loop)
            finally:
                with anyio.CancelScope(shield=True):
                    await link.close()

    async def _load_counts(self) -> None:
        docs = await self.controls.documents()
        self.tracker.kb_documents = len(docs)
        self.tracker.kb_chunks = sum(int(d["chunks"]) for d in docs)
        row = await self.controls.kb.store.fetchone(
            "SELECT COUNT(*) FROM interactions WHERE at >= ?", (midnight_utc_iso(date.today()),))
        self.tracker.interactions_today = int(row[0]) if row else 0

    # ------------------------------------------------------------------ the connection
    async def _links(self, link: MqttLink) -> None:
        reporter = Reporter(self.cfg, broker=link.broker, client_id=link.client_id,
                            base_topic=self.topics.base, publish=self.controls.bus.publish,
                            started_at=time.monotonic())
        self.reporter = reporter
        async for event in link.link_events:
            if reporter.on_event(event, link.attempts):
                self.publish_all()

    # ------------------------------------------------------------------ publishing
    def publish_all(self) -> None:
        """Discovery, availability and state: after each connect and Home Assistant's birth."""
        link = self.link
        assert link is not None
        status = self.controls.status()
        device = discovery.device_block(self.topics, model_set=self.tracker.model_set,
                                        configuration_url=self._status_url())
        for topic, body in discovery.messages(self.topics, device,
                                              sorted(status.get("breakers") or {})):
            link.publish(topic, json.dumps(body), qos=1, retain=True)
        link.publish(self.topics.availability, "online", qos=1, retain=True)
        self.publish_state(force=True, status=status)

    def publish_state(self, *, force: bool = False,
                      status: dict[str, Any] | None = None) -> None:
        assert self.link is not None
        state = self.tracker.snapshot(status or self.controls.status())
        if state == self._last_state and not force:
            return
        if self.link.publish(self.topics.state, json.dumps(state), qos=1, retain=True):
            self._last_state, self._last_state_at = state, time.monotonic()

    async def _state_loop(self) -> None:
        interval = self.cfg.state_interval_s
        while True:
            assert self._changed is not None
            with anyio.move_on_after(interval):
                await self._changed.wait()
            self._changed = anyio.Event()
            wait = self._last_state_at + interval - time.monotonic()
            if wait > 0:
                await anyio.sleep(wait)
            self.publish_state()

    async def _events(self, events: Any) -> None:
        async for event in events:
            if self.tracker.on_event(event) and self._changed is not None:
                self._changed.set()
            if isinstance(event, PUBLISHED) and self.link is not None:
                self.link.publish(self.topics.events, json.dumps(event_payload(event),
                                                                 default=str))

    def _status_url(self) -> str:
        part = self.controls.status_parts.get("web")
        try:
            web_status = part() if part is not None else None
        except (TypeError, AttributeError, XnaiError):
            web_status = None
        return discovery.status_url(self.cfg.status_page_url, self.controls.kb.config.web,
                                    web_status if isinstance(web_status, dict) else None,
                                    socket.gethostname())

    # ------------------------------------------------------------------ incoming
    async def _messages(self, link: MqttLink, executor: Executor, tg: Any) -> None:
        async for msg in link.messages:
            if msg.topic == self.topics.ha_status:
                if msg.payload.strip() == b"online" and not self._republish_pending:
                    self._republish_pending = True
                    tg.start_soon(self._republish_later)
                continue
            name = self.topics.command_name(msg.topic)
            if name is None:
                continue
            correlation = _correlation(msg)
            try:
                command = parse(name, bytes(msg.payload), correlation)
            except CommandError as exc:
                self.rejected += 1
                self._log_rejected(msg.topic, exc.message)
                self._respond(Command(name, id=exc.id, correlation=correlation),
                              {"ok": False, "error": f"error[{exc.code}]: {exc.message}"})
                continue
            self.commands += 1
            executor.submit(command)

    async def _republish_later(self) -> None:
        await anyio.sleep(random.uniform(*REPUBLISH_DELAY_S))
        self._republish_pending = False
        self.publish_all()

    def _respond(self, command: Command, result: dict[str, Any]) -> None:
        if self.link is None:
            return
        props = None
        if command.correlation:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.CorrelationData = command.correlation
        body = {"command": command.name, "id": command.id, **result}
        self.link.publish(self.topics.response, json.dumps(body, default=str), qos=1,
                          properties=props)

    def _log_rejected(self, topic: str, why: str) -> None:
        start, count = self._log_window
        now = time.monotonic()
        if now - start > 60:
            start, count = now, 0
        count += 1
        self._log_window = (start, count)
        if count <= LOG_LIMIT:
            more = " (further ones this minute are not logged)" if count == LOG_LIMIT else ""
            self.controls.bus.publish(ErrorEvent(code="mqtt-command",
                                                 message=f"ignored {topic}: {why}{more}"))

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        link = self.link
        return {"connected": bool(link and link.connected), "broker":
                f"{self.cfg.host}:{self.cfg.port}", "base_topic": self.topics.base,
                "client_id": link.client_id if link else None,
                "last_error": self.reporter.last_error if self.reporter else self.config_error,
                "connects": link.connects if link else 0,
                "failed_attempts": link.attempts if link else 0,
                "published": link.published if link else 0,
                "dropped": link.dropped if link else 0,
                "dropped_incoming": link.dropped_in if link else 0,
                "commands": self.commands, "rejected": self.rejected}


def _correlation(msg: MQTTMessage) -> bytes | None:
    props = getattr(msg, "properties", None)
    data = getattr(props, "CorrelationData", None) if props is not None else None
    return bytes(data) if data else None


def event_payload(event: Event) -> dict[str, Any]:
    """``event.to_dict()`` with the wall-clock time (``t`` is this process's monotonic clock)."""
    body = event.to_dict()
    body["at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    return body

