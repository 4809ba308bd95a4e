"""The voice loop goes first: a Wyoming model call waits while the loop thinks or speaks.

The loop and the server share ``Controls.model_limiter`` (one model call at a time, FIFO).  FIFO
alone would let a queue of Wyoming calls sit in front of the loop's speech-to-text, so every
Wyoming model call is made in three steps:

1. take the server's own lock: at most ONE Wyoming call is ever queued on the shared limiter,
   however many clients are connected;
2. wait while the loop is ``thinking`` or ``speaking`` (an answer in flight: its STT, the
   answerer and its TTS calls come in a burst), woken by its ``StateChanged`` events, at most
   ``max_wait_s`` (a stuck state cannot starve Home Assistant, which has no timeout);
3. take the shared limiter and run the call in a worker thread.

So a loop call waits for at most one Wyoming call (one STT or one TTS clause, ~0.1-1 s with the
tiny models), and the loop's whole answer runs before the next Wyoming call.  Wake-word hops
do not go through here (see ``requests.WakeRequest``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from xnai_edge.bus import EventBus
from xnai_edge.events import StateChanged

T = TypeVar("T")

BUSY_STATES = frozenset({"thinking", "speaking"})


class LoopPriority:
    def __init__(self, limiter: anyio.CapacityLimiter, loop_state: Callable[[], str | None],
                 *, max_wait_s: float = 30.0) -> None:
        self._limiter = limiter
        self._loop_state = loop_state
        self._max_wait_s = max_wait_s
        self._lock = anyio.Lock()
        self._changed = anyio.Event()
        self.waited = 0
        """How many calls had to wait for the loop (the status part shows it)."""

    def loop_busy(self) -> bool:
        return self._loop_state() in BUSY_STATES

    def notify(self) -> None:
        """The loop's state may have changed: wake the waiter to look again."""
        self._changed.set()
        self._changed = anyio.Event()

    async def watch(self, bus: EventBus) -> None:
        """Feed ``notify`` from the bus (runs for the server's lifetime)."""
        async with bus.subscribe("wyoming-priority", max_buffer=64) as events:
            async for event in events:
                if isinstance(event, StateChanged):
                    self.notify()

    async def _wait_for_loop(self) -> None:
        if not self.loop_busy():
            return
        self.waited += 1
        with anyio.move_on_after(self._max_wait_s):
            while self.loop_busy():
                await self._changed.wait()

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` in a worker thread, after the loop, holding the shared limiter.

        Not abandoned on cancel (a client gone, shutdown): the call (one clip or one clause,
        ~1 s at most) runs to its end holding the limiter, so the loop never gets a model that
        is still busy in an orphaned thread."""
        async with self._lock:
            await self._wait_for_loop()
            return await anyio.to_thread.run_sync(func, *args, limiter=self._limiter)
