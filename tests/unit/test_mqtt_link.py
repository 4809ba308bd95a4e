"""paho's thread hands its facts to the event loop without ever waiting for the loop.

paho calls back holding its own locks (after a CONNACK it writes the queued messages holding
its out-message lock, and a failed write there calls ``on_disconnect``); the event loop's
``publish`` takes that lock.  A callback that waited for the loop deadlocked the daemon.  Here
the event loop is blocked on purpose -- as it would be, waiting for paho's lock -- while a
thread plays paho's part with the link's real callbacks; the thread must come back on its own.
No broker is needed: the link connects to a closed port, so paho's own thread only retries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import anyio
import paho.mqtt.client as mqtt
from daemon_helpers import free_port
from paho.mqtt.client import DisconnectFlags
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from xnai_edge.config import MqttConfig
from xnai_edge.mqtt.connection import MESSAGE_BUFFER, LinkEvent, MqttLink
from xnai_edge.mqtt.topics import Topics


def _link() -> MqttLink:
    cfg = MqttConfig(enabled=True, host="127.0.0.1", port=free_port(), reconnect_max_s=2)
    return MqttLink(cfg, Topics.from_config(cfg, "feedfacecafe"), "xnai-edge-test-link")


def _returns_while_the_loop_is_blocked(work: Callable[[], None]) -> bool:
    """Run ``work`` on a thread of its own and wait for it *synchronously*: the event loop
    runs nothing meanwhile."""
    returned = threading.Event()

    def paho_thread() -> None:
        work()
        returned.set()

    threading.Thread(target=paho_thread, daemon=True).start()
    return returned.wait(5)


async def _first(link: MqttLink, kind: str) -> LinkEvent:
    with anyio.fail_after(10):
        async for event in link.link_events:
            if event.kind == kind:
                return event
    raise AssertionError("the link ended")


def test_a_lost_connection_is_handed_over_without_waiting_for_the_loop() -> None:
    async def main() -> LinkEvent:
        link = _link()
        link.start()
        try:
            reason = ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")
            assert link.client.on_disconnect is not None
            assert _returns_while_the_loop_is_blocked(lambda: link.client.on_disconnect(
                link.client, None, DisconnectFlags(False), reason, None)), \
                "paho's thread waited for the event loop in on_disconnect"
            return await _first(link, "dropped")  # closed before any CONNACK
        finally:
            await link.close()

    assert anyio.run(main).reason == "Unspecified error"


def test_a_flood_of_messages_is_bounded_and_counted_not_waited_for() -> None:
    async def main() -> tuple[int, int]:
        link = _link()
        link.start()
        try:
            def flood() -> None:
                assert link.client.on_message is not None
                for n in range(MESSAGE_BUFFER + 100):
                    msg = mqtt.MQTTMessage(mid=n, topic=b"xnai-edge/feedfacecafe/cmd/mute")
                    link.client.on_message(link.client, None, msg)

            assert _returns_while_the_loop_is_blocked(flood), \
                "paho's thread waited for the event loop in on_message"
            taken = 0
            with anyio.move_on_after(1):  # the handed-over ones arrive; then nothing more
                async for _ in link.messages:
                    taken += 1
            return taken, link.dropped_in
        finally:
            await link.close()

    taken, dropped = anyio.run(main)
    assert (taken, dropped) == (MESSAGE_BUFFER, 100)
