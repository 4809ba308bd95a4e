"""The Starlette application: routes, the guard, and the state the handlers share.

``WebState`` is everything a handler may use: the ``Controls`` (the one way in), the ``[web]``
section, the authenticator, the memory history and the metrics.  Handlers never see the Daemon.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xnai_edge.config import WebConfig
from xnai_edge.web.auth import Authenticator
from xnai_edge.web.guard import BodyTooLarge, Guard, ReceiveTimeout, drain
from xnai_edge.web.history import MemoryHistory
from xnai_edge.web.metrics import WebMetrics

if TYPE_CHECKING:
    from xnai_edge.context import AppContext
    from xnai_edge.control import Controls

MAX_UPLOADS = 2
"""Uploads stored and ingested at the same time; a third gets 429 (ingest is CPU-bound)."""
MAX_EVENT_STREAMS = 16
"""Open live-update streams (browser tabs); more get 503."""
STATUS_CACHE_S = 0.2


@dataclass
class WebState:
    controls: Controls
    cfg: WebConfig
    auth: Authenticator
    context: Callable[[], AppContext] | None = None
    url: str | None = None
    history: MemoryHistory = field(default_factory=MemoryHistory)
    metrics: WebMetrics | None = None
    uploads: anyio.Semaphore = field(default_factory=lambda: anyio.Semaphore(MAX_UPLOADS))
    streams: int = 0
    _status: tuple[float, bytes] | None = None

    def __post_init__(self) -> None:
        if self.metrics is None:
            self.metrics = WebMetrics(self.controls)
        self.controls.bus.add_listener(self._forget_status)

    def status_json(self) -> bytes:
        """``controls.status()`` as JSON, re-made at most every ``STATUS_CACHE_S`` unless an
        event came in since: a client polling ``/api/status`` in a tight loop costs one
        snapshot per interval, and never sees a state older than the last event."""
        now = time.monotonic()
        if self._status is None or now - self._status[0] > STATUS_CACHE_S:
            data = json.dumps(self.controls.status(), ensure_ascii=False,
                              separators=(",", ":")).encode()
            self._status = (now, data)
        return self._status[1]

    def _forget_status(self, event: object) -> None:
        self._status = None

    async def run_background(self) -> None:
        """The memory sampler and the metrics' bus reader, until cancelled."""
        assert self.metrics is not None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.history.run, self.controls.status)
            tg.start_soon(self.metrics.run)


def state_of(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


async def _too_large(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyTooLarge)
    await drain(request.receive, state_of(request).cfg.request_timeout_s)
    return JSONResponse({"error": str(exc), "code": "too-large"}, status_code=413,
                        headers={"connection": "close"})


async def _timeout(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc), "code": "timeout"}, status_code=408,
                        headers={"connection": "close"})


def build_app(state: WebState) -> Any:
    from xnai_edge.web import api, documents, pages, sse

    routes = [
        Route("/healthz", api.healthz, methods=["GET", "HEAD"]),
        Route("/login", pages.login, methods=["GET", "POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/", pages.overview),
        Route("/interactions", pages.interactions),
        Route("/knowledge", pages.knowledge),
        Route("/system", pages.system),
        Route("/static/{name:str}", pages.static),
        Route("/api/status", api.status),
        Route("/api/ask", api.ask, methods=["POST"]),
        Route("/api/documents", documents.list_documents, methods=["GET"]),
        Route("/api/documents", documents.upload, methods=["POST"]),
        Route("/api/documents/{doc_id:int}", documents.remove, methods=["DELETE"]),
        Route("/api/reindex", documents.reindex, methods=["POST"]),
        Route("/api/interactions", api.interactions),
        Route("/api/history", api.history),
        Route("/api/events", sse.events),
        Route("/metrics", api.metrics),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, auth=state.auth,
                               max_upload_bytes=state.cfg.max_upload_mb * 1024 * 1024,
                               timeout_s=state.cfg.request_timeout_s)],
        exception_handlers={BodyTooLarge: _too_large, ReceiveTimeout: _timeout})
    app.state.web = state
    return app
