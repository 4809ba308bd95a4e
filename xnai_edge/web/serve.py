"""Start the status page inside the daemon's task group: ``await tg.start(serve, controls, cfg)``.

uvicorn's ``Server.serve()`` runs on the daemon's own asyncio loop (no second thread, no second
loop), on a socket bound here first, so that a port in use is one clear ``error[web-port]`` and
the daemon goes on without the page, and ``port = 0`` can report the port it got.  uvicorn must
not touch signals (the daemon owns SIGTERM/SIGHUP): ``capture_signals`` is a no-op here, and on
cancellation the server is asked to exit (``should_exit``) and given a few shielded seconds to
close its connections.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import anyio
import uvicorn
from anyio.abc import TaskStatus

from xnai_edge import journal
from xnai_edge.config import WebConfig
from xnai_edge.errors import XnaiError
from xnai_edge.events import ErrorEvent
from xnai_edge.web.app import WebState, build_app
from xnai_edge.web.auth import USER, Authenticator, ensure_password

if TYPE_CHECKING:
    from xnai_edge.context import AppContext
    from xnai_edge.control import Controls

SHUTDOWN_S = 3.0
MAX_CONNECTIONS = 100
"""Connections + requests at once before uvicorn answers 503: bounds a connection flood."""


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the daemon's task group is cancelled instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (IPv4 or IPv6 from the address); OSError if it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def public_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else \
        f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


async def serve(controls: Controls, cfg: WebConfig,
                context: Callable[[], AppContext] | None = None, *,
                task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled.  A port in use, unreadable secrets or a bug in here only turn the
    page off (one ``ErrorEvent`` and the status part say why): the daemon goes on."""
    part: dict[str, Any] = {"url": None, "bind": cfg.bind, "port": cfg.port, "error": None}
    controls.status_parts["web"] = lambda: dict(part)
    started = False

    def ready() -> None:
        nonlocal started
        if not started:
            started = True
            task_status.started()

    def report(code: str, message: str) -> None:
        part.update(error=f"error[{code}]: {message}", url=None)
        controls.bus.publish(ErrorEvent(code=code, message=message))
        ready()

    try:
        await _serve(controls, cfg, context, part, ready, report)
    except Exception as exc:  # noqa: BLE001 - the page is optional; the voice loop is not
        report("web", f"the status page stopped: {type(exc).__name__}: {exc}")


async def _serve(controls: Controls, cfg: WebConfig, context: Callable[[], AppContext] | None,
                 part: dict[str, Any], ready: Callable[[], None],
                 report: Callable[[str, str], None]) -> None:
    try:
        sock = bind(cfg.bind, cfg.port)
    except OSError as exc:
        report("web-port", f"the status page cannot listen on {cfg.bind}:{cfg.port}: "
               f"{exc.strerror or exc}; it is off (set [web] port, or stop what uses it)")
        return
    try:
        credentials = await anyio.to_thread.run_sync(ensure_password, controls.data_dir)
    except XnaiError as exc:
        sock.close()
        report("web-password", f"the status page is off: {exc.message}")
        return
    port = sock.getsockname()[1]
    part.update(url=public_url(cfg.bind, port), port=port)
    state = WebState(controls=controls, cfg=cfg, auth=Authenticator(credentials),
                     context=context, url=part["url"])
    controls.status_parts["web"] = lambda: {**part, "sessions": len(state.auth.sessions)}
    server = _Server(uvicorn.Config(
        build_app(state), log_config=None, log_level="warning", access_log=False,
        lifespan="off", ws="none", http="h11", timeout_keep_alive=5,
        timeout_graceful_shutdown=1, limit_concurrency=MAX_CONNECTIONS,
        h11_max_incomplete_event_size=16 * 1024, server_header=False))
    how = "generated a password" if credentials.created else "password"
    journal.say(f"web: status page at {part['url']} (bound to {cfg.bind}:{port}); user "
                f"{USER}, {how} in {credentials.password_file}")
    async with anyio.create_task_group() as tg:
        tg.start_soon(state.run_background)
        ready()
        try:
            with anyio.CancelScope(shield=True) as shielded:
                tg.start_soon(_stop_on_cancel, server, shielded)
                await server.serve(sockets=[sock])
        finally:
            tg.cancel_scope.cancel()
            sock.close()


async def _stop_on_cancel(server: uvicorn.Server, shielded: anyio.CancelScope) -> None:
    """Wait for the daemon's cancellation, then let uvicorn close within ``SHUTDOWN_S``."""
    try:
        await anyio.sleep_forever()
    finally:
        server.should_exit = True
        shielded.deadline = anyio.current_time() + SHUTDOWN_S
