"""The event bus: publish is synchronous and never waits; a slow reader loses events (counted),
the others do not; close() lets readers drain what is queued, then ends their streams."""

from __future__ import annotations

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from xnai_edge.bus import UNBOUNDED, EventBus, EventRecorder
from xnai_edge.events import Event, LlmToken, StateChanged


def token(i: int) -> LlmToken:
    return LlmToken(text=str(i))


def texts(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, LlmToken)]


def take(stream: MemoryObjectReceiveStream[Event], n: int) -> list[Event]:
    """``n`` events that are already queued (never waits)."""
    return [stream.receive_nowait() for _ in range(n)]


def test_slow_reader_drops_and_never_blocks_publish() -> None:
    async def main() -> None:
        bus = EventBus()
        recorder = EventRecorder()
        bus.add_listener(recorder)
        async with bus.subscribe("slow", max_buffer=4) as slow, \
                bus.subscribe("all", max_buffer=UNBOUNDED) as everything:
            # Neither reader runs while these are published: publish is a plain function call
            # (no await), so it cannot wait for them.
            for i in range(10_000):
                bus.publish(token(i))
            assert bus.published == 10_000
            assert bus.dropped() == {"slow": 10_000 - 4, "all": 0}
            assert texts(take(slow, 4)) == ["0", "1", "2", "3"]
            with pytest.raises(anyio.WouldBlock):
                slow.receive_nowait()
            assert texts(take(everything, 10_000)) == [str(i) for i in range(10_000)]
            # Once the slow reader has caught up it receives new events again.
            bus.publish(token(-1))
            assert slow.receive_nowait() == everything.receive_nowait()
        assert len(recorder.events) == 10_001  # synchronous listeners see everything

    anyio.run(main)


def test_close_drains_then_ends_every_reader() -> None:
    async def main() -> None:
        bus = EventBus()
        seen: dict[str, list[Event]] = {"a": [], "b": []}
        ended = anyio.Event()
        readers_done = 0

        async def reader(name: str, ready: anyio.Event) -> None:
            nonlocal readers_done
            async with bus.subscribe(name, max_buffer=UNBOUNDED) as stream:
                ready.set()
                async for event in stream:
                    seen[name].append(event)
            readers_done += 1
            if readers_done == 2:
                ended.set()

        async with anyio.create_task_group() as tg:
            for name in seen:
                ready = anyio.Event()
                tg.start_soon(reader, name, ready)
                await ready.wait()
            for i in range(100):
                bus.publish(token(i))
            bus.close()  # before the readers had a chance to read anything
            with anyio.fail_after(10):
                await ended.wait()
        for events in seen.values():
            assert texts(events) == [str(i) for i in range(100)]
        bus.publish(token(0))  # nobody left to send to: still fine
        assert bus.dropped() == {}

    anyio.run(main)


def test_a_reader_that_left_is_forgotten() -> None:
    async def main() -> None:
        bus = EventBus()
        async with bus.subscribe("brief") as stream:
            bus.publish(StateChanged(state="listening", previous="idle"))
            event = await stream.receive()
            assert isinstance(event, StateChanged) and event.state == "listening"
        assert bus.dropped() == {}
        bus.publish(StateChanged(state="idle", previous="listening"))  # no error, no reader
        assert bus.published == 2

    anyio.run(main)


def test_a_reader_whose_stream_is_closed_is_removed_on_publish() -> None:
    async def main() -> None:
        bus = EventBus()
        async with bus.subscribe("gone") as stream:
            await stream.aclose()
            bus.publish(token(1))
            assert bus.dropped() == {}

    anyio.run(main)
