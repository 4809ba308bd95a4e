"""``/api/events``: the bus as Server-Sent Events, for the live overview.

Each open page gets its own bus subscription with a small buffer: a tab that stops reading
loses events (counted by the bus as dropped), the voice loop never waits for it.  Between
events a status snapshot goes out every few seconds (memory, models, breakers, uptime: things
that change without an event), which also keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from xnai_edge.web.api import error
from xnai_edge.web.app import MAX_EVENT_STREAMS, state_of

LIVE = frozenset({"state-changed", "tier-changed", "answer-end", "breaker-opened", "error",
                  "mute-changed", "knowledge-changed", "wake-detected", "stt-end",
                  "interrupted"})
SNAPSHOT_S = 5.0
BUFFER = 64
SNAPSHOT_KEYS = ("state", "tier", "tier_name", "tier_reason", "models", "breakers", "memory",
                 "uptime_s", "muted", "mqtt", "last_interaction")


def message(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def voice_state(controls: Any, status: dict[str, Any]) -> str:
    """The voice loop's own state (idle, listening, thinking, ...) while it runs, else the
    daemon's (ready, no-audio, ...): the loop starts "idle" without announcing it."""
    loop = controls.loop
    return str(loop.state) if loop is not None else str(status.get("state"))


def snapshot(controls: Any, status: dict[str, Any]) -> dict[str, Any]:
    return {**{k: status.get(k) for k in SNAPSHOT_KEYS},
            "voice_state": voice_state(controls, status)}


async def events(request: Request) -> Response:
    state = state_of(request)
    if state.streams >= MAX_EVENT_STREAMS:
        return error(503, f"{MAX_EVENT_STREAMS} live pages are open already; close one",
                     "busy")
    controls = state.controls

    async def stream() -> AsyncIterator[bytes]:
        state.streams += 1
        try:
            async with controls.bus.subscribe("web-page", max_buffer=BUFFER) as bus_events:
                yield b"retry: 2000\n\n" + message("status", snapshot(controls, controls.status()))
                next_snapshot = anyio.current_time() + SNAPSHOT_S
                while True:
                    event = None
                    with anyio.move_on_after(max(0.0, next_snapshot - anyio.current_time())):
                        try:
                            event = await bus_events.receive()
                        except anyio.EndOfStream:
                            return
                    if event is None:
                        yield message("status", snapshot(controls, controls.status()))
                        next_snapshot = anyio.current_time() + SNAPSHOT_S
                    elif event.TYPE in LIVE:
                        yield message(event.TYPE, event.to_dict())
        finally:
            state.streams -= 1

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})
