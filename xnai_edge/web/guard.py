"""Every request passes here first: body size and receive timeout, who is asking, CSRF, headers.

A pure ASGI middleware (not Starlette's ``BaseHTTPMiddleware``) so request bodies stream
through untouched: an upload is never read into memory here, only counted.

* ``/healthz`` and ``/login`` are open; pages want a session cookie (else a redirect to
  ``/login``); ``/api/*``, ``/metrics`` and ``/static/*`` take the cookie or HTTP Basic (else
  401 with ``WWW-Authenticate``, 429 once the client used up its failed attempts).
* One address may send 100 requests/s (bursts of 200; ``limits.py``), else 429 before any
  other work.
* A state-changing request that came with the cookie must carry the session's CSRF token in
  ``X-CSRF-Token`` (page forms posting to ``/logout`` send it as a form field instead, checked
  there); Basic auth needs none: a browser never sends it by itself to a site it did not log into
  with Basic, so it cannot be forged cross-site.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

import anyio

from xnai_edge.web.auth import Authenticator, Session
from xnai_edge.web.limits import RequestRate

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "xnai_session"
OPEN_PATHS = frozenset({"/healthz", "/login"})
FORM_CSRF_PATHS = frozenset({"/logout"})
"""Checked by their endpoint (the token comes in the form body)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SMALL_BODY = 64 * 1024
"""Largest body of any request but an upload (a question is at most a few KB)."""
DRAIN_CAP = 16 * 1024 * 1024
"""Most of a refused body read and dropped before answering (see ``drain``)."""
UPLOAD_OVERHEAD = 1024 * 1024
"""Room for the multipart framing around the file itself."""
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; "
     b"img-src 'self' data:; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
     b"form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class ReceiveTimeout(Exception):
    pass


@dataclass(frozen=True)
class Identity:
    how: str  # "session" or "basic"
    session: Session | None = None


def api_like(path: str) -> bool:
    return path.startswith(("/api/", "/static/")) or path == "/metrics"


class Guard:
    def __init__(self, app: ASGIApp, auth: Authenticator, max_upload_bytes: int,
                 timeout_s: float) -> None:
        self.app, self.auth, self.max_upload_bytes = app, auth, max_upload_bytes
        self.timeout_s = timeout_s
        """A client that sends nothing for this long is cut off (``[web] request_timeout_s``)."""
        self.rate = RequestRate()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        send = _with_headers(send)
        if not self.rate.allow(client_key(scope)):
            await _json(send, 429, {"error": "too many requests from this address; slow down",
                                    "code": "rate-limited"}, extra=[(b"retry-after", b"1")])
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        limit = self.max_upload_bytes + UPLOAD_OVERHEAD \
            if (path, method) == ("/api/documents", "POST") else SMALL_BODY
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await drain(receive, self.timeout_s)
            await _json(send, 413, {"error": f"the request body ({int(length)} bytes) is larger "
                                    f"than the limit of {limit} bytes", "code": "too-large"},
                        close=True)
            return
        if path not in OPEN_PATHS:
            who = await self._identify(scope, headers)
            if isinstance(who, float):
                await _json(send, 429, {"error": "too many failed logins; try again later",
                                        "code": "rate-limited"},
                            extra=[(b"retry-after", str(int(who) + 1).encode())])
                return
            if who is None:
                await _refuse(send, path)
                return
            if who.how == "session" and method not in SAFE_METHODS and \
                    path not in FORM_CSRF_PATHS and not _csrf_ok(who, headers):
                await _json(send, 403, {"error": "missing or wrong CSRF token (X-CSRF-Token)",
                                        "code": "csrf"})
                return
            scope.setdefault("state", {})["identity"] = who
        await self.app(scope, _limited(receive, limit, self.timeout_s), send)

    async def _identify(self, scope: Scope, headers: dict[str, str]) -> Identity | float | None:
        """The caller, None if anonymous, or the seconds to wait when rate-limited."""
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except CookieError:  # a mangled Cookie header is just no session
            cookie = SimpleCookie()
        morsel = cookie.get(COOKIE)
        session = self.auth.sessions.get(morsel.value if morsel else None)
        if session is not None:
            return Identity("session", session)
        basic = _basic(headers.get("authorization", ""))
        if basic is None:
            return None
        client = client_key(scope)
        wait = self.auth.limiter.retry_after(client)
        if wait > 0:
            return wait
        if await self.auth.check(*basic):
            return Identity("basic")
        self.auth.limiter.failed(client)
        return None


def client_key(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode(
            "utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _csrf_ok(who: Identity, headers: dict[str, str]) -> bool:
    given = headers.get("x-csrf-token", "")
    return who.session is not None and bool(given) and \
        hmac.compare_digest(given.encode(), who.session.csrf.encode())


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *HEADERS]
        await send(message)

    return wrapped


def _limited(receive: Receive, limit: int, timeout_s: float) -> Receive:
    """Count the body as it streams in; raise once it passes ``limit`` or stalls.  Once the
    body is complete, ``receive`` only waits for the disconnect (a live stream): no timeout."""
    seen, complete, over = 0, False, False

    async def wrapped() -> Message:
        nonlocal seen, complete, over
        if complete or over:  # the rest is only drained (or a live stream waits)
            return await receive()
        try:
            with anyio.fail_after(timeout_s):
                message = await receive()
        except TimeoutError as exc:
            raise ReceiveTimeout(f"no data from the client for {timeout_s:g} s") from exc
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                over = True
                raise BodyTooLarge(limit)
            complete = not message.get("more_body", False)
        return message

    return wrapped


async def drain(receive: Receive, timeout_s: float, cap: int = DRAIN_CAP) -> None:
    """Read and drop what is left of a refused body (up to ``cap``), so that an ordinary
    client, still sending, gets to read our 4xx instead of a reset connection; a bigger body
    is cut off (we close the connection after answering)."""
    dropped = 0
    with anyio.move_on_after(timeout_s):
        while dropped < cap:
            try:
                message = await receive()
            except BodyTooLarge:  # the guard's own count: we are dropping it anyway
                continue
            if message["type"] != "http.request":
                return
            dropped += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


async def _refuse(send: Send, path: str) -> None:
    if api_like(path):
        await _json(send, 401, {"error": "log in first (session cookie or HTTP Basic)",
                                "code": "auth"},
                    extra=[(b"www-authenticate", b'Basic realm="xnai-edge", charset="UTF-8"')])
        return
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", b"/login"), (b"content-length", b"0"),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": b""})


async def _json(send: Send, status: int, body: dict[str, Any], *,
                extra: list[tuple[bytes, bytes]] | None = None, close: bool = False) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(data)).encode()), (b"cache-control", b"no-store"),
               *(extra or [])]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
