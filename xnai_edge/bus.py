"""One event stream, many readers; a slow reader never blocks the voice loop.

``publish`` is synchronous and never waits: each subscriber has a bounded buffer, and when it is
full the event is dropped *for that subscriber* and counted (a status page that stalls loses
updates; the microphone does not).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from xnai_edge.events import Event


@dataclass
class _Subscriber:
    send: MemoryObjectSendStream[Event]
    name: str
    dropped: int = 0


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[_Subscriber] = []
        self._listeners: list[Callable[[Event], None]] = []
        self.published = 0

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """A synchronous reader called inside ``publish``: it must be quick and never block."""
        self._listeners.append(listener)

    def publish(self, event: Event) -> None:
        self.published += 1
        for listener in self._listeners:
            listener(event)
        for sub in list(self._subscribers):
            try:
                sub.send.send_nowait(event)
            except anyio.WouldBlock:
                sub.dropped += 1
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._subscribers.remove(sub)

    @asynccontextmanager
    async def subscribe(self, name: str = "reader", max_buffer: float = 256,
                        ) -> AsyncIterator[MemoryObjectReceiveStream[Event]]:
        """``max_buffer=math.inf`` for readers that must see everything (tests, the log)."""
        send, receive = anyio.create_memory_object_stream[Event](max_buffer_size=max_buffer)
        sub = _Subscriber(send, name)
        self._subscribers.append(sub)
        try:
            async with receive:
                yield receive
        finally:
            if sub in self._subscribers:
                self._subscribers.remove(sub)
            send.close()

    def close(self) -> None:
        """End every subscription: readers see the events already queued, then the end."""
        for sub in self._subscribers:
            sub.send.close()
        self._subscribers.clear()

    def dropped(self) -> dict[str, int]:
        return {s.name: s.dropped for s in self._subscribers}


class EventRecorder:
    """Collects every event synchronously (for ``listen --json``, tests and benchmarks)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)


UNBOUNDED = math.inf
