"""``serve``: the Wyoming TCP listener inside the daemon's task group.

Started by ``Daemon._start_interfaces`` before READY: it binds, caches the ``info`` reply and
reports started at once (it never waits for a client or a model).  The voice models are then
loaded in the background through ``Controls.voice_backends()`` -- the same objects the voice
loop uses, loaded once -- so the first request does not pay for loading.  A port in use is an
``ErrorEvent`` (the journal) and the status part's ``error``; the daemon runs on without it.
A client's bug-triggering request ends that client only.
"""

from __future__ import annotations

import traceback
from typing import Any

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskStatus

from xnai_edge import journal
from xnai_edge.config import WyomingConfig
from xnai_edge.context import AppContext
from xnai_edge.control import Controls
from xnai_edge.errors import XnaiError
from xnai_edge.events import ErrorEvent
from xnai_edge.wyoming.announce import announce
from xnai_edge.wyoming.connection import Connection, Services
from xnai_edge.wyoming.info import build_catalog
from xnai_edge.wyoming.limits import LIMITS, Limits, WyomingError
from xnai_edge.wyoming.priority import LoopPriority


class _State:
    def __init__(self, cfg: WyomingConfig) -> None:
        self.address = f"{cfg.host}:{cfg.port}"
        self.port: int | None = None
        self.error = ""
        self.models = "not loaded"
        self.zeroconf = "off" if not cfg.zeroconf else "starting"


def _status(services: Services, state: _State) -> dict[str, Any]:
    s = services.stats
    return {"enabled": True, "listening": state.port is not None, "address": state.address,
            "port": state.port, "error": state.error, "models": state.models,
            "clients": s.clients, "connections": s.connections, "served": dict(s.served),
            "errors": s.errors, "last_error": s.last_error,
            "waited_for_loop": services.priority.waited, "zeroconf": state.zeroconf}


async def serve(controls: Controls, cfg: WyomingConfig, ctx: AppContext, *,
                limits: Limits = LIMITS,
                task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    state = _State(cfg)
    priority = LoopPriority(controls.model_limiter,
                            lambda: controls.loop.state if controls.loop is not None else None,
                            max_wait_s=limits.max_loop_wait_s)
    services = Services(controls=controls, catalog=build_catalog(ctx.config, ctx.models_dir),
                        priority=priority, voice=ctx.config.voice, limits=limits)
    controls.status_parts["wyoming"] = lambda: _status(services, state)
    try:
        listener = await anyio.create_tcp_listener(local_host=cfg.host or None,
                                                   local_port=cfg.port)
    except OSError as exc:
        state.error = f"cannot listen on {state.address}: {exc.strerror or exc}"
        controls.bus.publish(ErrorEvent(code="wyoming", message=state.error))
        task_status.started()
        return
    state.port = int(listener.listeners[0].extra(SocketAttribute.local_port))
    state.address = f"{cfg.host}:{state.port}"

    async def preload() -> None:
        state.models = "loading"
        try:
            await controls.voice_backends()
            state.models = "loaded"
        except XnaiError as exc:
            state.models = f"failed: {exc.code}: {exc.message}"

    def report(line: str) -> None:
        state.zeroconf = line

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(priority.watch, controls.bus)
        tg.start_soon(preload)
        if cfg.zeroconf:
            tg.start_soon(announce, cfg.host, state.port, controls.device_id, report)
        task_status.started()
        await listener.serve(lambda stream: _client(stream, services), tg)


async def _client(stream: SocketStream, services: Services) -> None:
    stats = services.stats
    async with stream:
        stats.connections += 1
        connection = Connection(stream, services)
        if stats.clients >= services.limits.max_clients:
            await connection.send_error(WyomingError(
                f"too many clients ({stats.clients}); try again later", code="busy"))
            return
        stats.clients += 1
        try:
            await connection.run()
        except Exception as exc:  # noqa: BLE001 -- a bug must end this client, not the daemon
            services.controls.bus.publish(ErrorEvent(
                code="wyoming", message=f"client handler failed: {exc!r}"))
            traceback.print_exc(file=journal.stream())
            await connection.send_error(WyomingError(f"internal error: {exc}",
                                                     code="internal"))
        finally:
            stats.clients -= 1
