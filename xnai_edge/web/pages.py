"""The HTML pages: login, overview, interactions, knowledge, system.

Server-rendered, so every page shows real values without JavaScript; ``static/app.js`` then
keeps the overview live from ``/api/events`` and drives the question box, the upload and the
re-index.  The guard has already checked the session for everything here but ``/login``.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xnai_edge.web import charts, system_info
from xnai_edge.web.app import state_of
from xnai_edge.web.auth import USER
from xnai_edge.web.guard import COOKIE, Identity, client_key
from xnai_edge.web.render import asset, esc, page, table, template
from xnai_edge.web.sse import voice_state
from xnai_edge.web.stats import overall, recent_interactions

MQTT_SHOWN = ("broker", "last_error")
STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


def csrf_of(request: Request) -> str:
    who: Identity | None = request.scope.get("state", {}).get("identity")
    return who.session.csrf if who is not None and who.session is not None else ""


# ----------------------------------------------------------------------------- login
def _login_page(request: Request, message: str = "", status: int = 200) -> Response:
    state = state_of(request)
    body = template("login.html").substitute(
        password_file=esc(state.auth.credentials.password_file),
        message=f'<p class="error" role="alert">{esc(message)}</p>' if message else "")
    return page("Log in", body, status=status)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def login(request: Request) -> Response:
    if request.method == "GET":
        return _login_page(request)
    state = state_of(request)
    if not _same_origin(request):
        return _login_page(request, "This form must be sent from this device's own page.", 403)
    client = client_key(request.scope)
    wait = state.auth.limiter.retry_after(client)
    if wait > 0:
        response = _login_page(request, f"Too many failed attempts; try again in "
                               f"{int(wait) + 1} s.", 429)
        response.headers["retry-after"] = str(int(wait) + 1)
        return response
    form = await request.form()
    user, password = form.get("username", ""), form.get("password", "")
    if not isinstance(user, str) or not isinstance(password, str) or \
            not await state.auth.check(user, password):
        state.auth.limiter.failed(client)
        return _login_page(request, "Wrong user or password.", 401)
    state.auth.limiter.succeeded(client)
    session = state.auth.sessions.create()
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, session.token, max_age=int(state.auth.sessions.ttl_s),
                        path="/", httponly=True, samesite="strict", secure=False)
    return response


async def logout(request: Request) -> Response:
    who: Identity | None = request.scope.get("state", {}).get("identity")
    form = await request.form()
    given = form.get("csrf", "")
    if who is None or who.session is None or not isinstance(given, str) or \
            not hmac.compare_digest(given.encode(), who.session.csrf.encode()):
        return page("Log out", "<p class=error>Missing or wrong CSRF token.</p>", status=403)
    state_of(request).auth.sessions.drop(who.session.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", status_code=404)
    return Response(asset(f"static/{name}"), media_type=STATIC[name],
                    headers={"cache-control": "private, max-age=300"})


# ----------------------------------------------------------------------------- overview
def _kv(items: dict[str, Any], table_id: str) -> str:
    return table(("", ""), ((k, v) for k, v in sorted(items.items())), table_id=table_id)


def breaker_rows(breakers: dict[str, Any]) -> dict[str, str]:
    return {name: b.get("state", "?") + (f" (retry in {b['retry_in_s']} s)"
                                         if b.get("retry_in_s") else "")
            for name, b in breakers.items()}


def mqtt_text(part: Any) -> str:
    if not part:
        return "not configured"
    if isinstance(part, dict):
        connected = part.get("connected")
        head = "connected" if connected else "not connected" if connected is False else ""
        rest = ", ".join(f"{k}: {part[k]}" for k in MQTT_SHOWN if part.get(k))
        return "; ".join(x for x in (head, rest) if x) or "on"
    return str(part)


async def overview(request: Request) -> Response:
    state = state_of(request)
    s = state.controls.status()
    reading = (s.get("memory") or {}).get("memory") or {}
    body = template("overview.html").substitute(
        state=esc(voice_state(state.controls, s)), tier=esc(s.get("tier")),
        tier_name=esc(s.get("tier_name")),
        tier_reason=esc(s.get("tier_reason")),
        mem=esc(reading.get("mem_available_mb")), psi=esc(reading.get("psi_some_avg10")),
        models=_kv(s.get("models", {}), "models"),
        breakers=_kv(breaker_rows(s.get("breakers", {})), "breakers"),
        uptime=esc(system_info.duration(s.get("uptime_s") or 0)),
        mqtt=esc(mqtt_text(s.get("mqtt"))),
        muted="muted" if s.get("muted") else "listening",
        speak_checked="checked" if state.controls.loop is not None else "",
        last=_last(s.get("last_interaction")))
    return page("Overview", body, path="/", csrf=csrf_of(request))


def _last(last: dict[str, Any] | None) -> str:
    if not last:
        return "<p class=muted>Nothing asked yet.</p>"
    sources = ", ".join(str(src.get("title") or src.get("path")) for src in last["sources"])
    return (f"<p><strong>{esc(last['question'])}</strong></p><p>{esc(last['answer'])}</p>"
            f"<p class=muted>source: {esc(sources or 'none')} · tier {esc(last['tier'])} · "
            f"{esc(last['method'])}</p>")


# ----------------------------------------------------------------------------- the others
async def interactions(request: Request) -> Response:
    rows = await recent_interactions(state_of(request).controls.kb.store, 500)
    stats = overall(rows)
    summary = table(("stage", "n", "p50 ms", "p95 ms"),
                    ((st, v["n"], round(v["p50"]), round(v["p95"])) for st, v in stats.items()),
                    table_id="stage-stats")
    listing = table(
        ("when (UTC)", "question", "answer", "sources", "tier", "method", "timings ms"),
        ((r["at"][:19].replace("T", " "), r["question"], r["answer"],
          ", ".join(str(x.get("title") or x.get("path")) for x in r["sources"]),
          r["tier"], r["method"],
          " · ".join(f"{k} {round(v)}" for k, v in r["timings_ms"].items()
                     if isinstance(v, int | float)))
         for r in rows[:50]), table_id="interactions")
    body = template("interactions.html").substitute(
        count=len(rows), summary=summary, charts=charts.stage_charts(rows), listing=listing)
    return page("Interactions", body, path="/interactions", csrf=csrf_of(request))


async def knowledge(request: Request) -> Response:
    state = state_of(request)
    docs = await system_info.documents_with_times(state.controls)
    rows = ((esc(d["title"]), f"<code>{esc(d['path'])}</code>", esc(d["kind"]),
             esc(d["chunks"]), esc(system_info.size(d["size"])), esc(d.get("ingested_at", "")),
             f'<button type=button class=remove data-id="{esc(d["id"])}" '
             f'aria-label="Remove {esc(d["title"])}">Remove</button>') for d in docs)
    body = template("knowledge.html").substitute(
        documents=table(("title", "file", "kind", "chunks", "size", "ingested (UTC)", ""),
                        rows, raw=True, table_id="documents"),
        max_mb=esc(state.cfg.max_upload_mb), count=len(docs),
        max_bytes=state.cfg.max_upload_mb * 1024 * 1024)
    return page("Knowledge", body, path="/knowledge", csrf=csrf_of(request))


async def system(request: Request) -> Response:
    state = state_of(request)
    info = await system_info.collect(state)
    sections = "".join(
        f"<section class=card><h2>{esc(name)}</h2>{_kv(values, name.lower().replace(' ', '-'))}"
        "</section>" for name, values in info.items())
    body = f"<h1>System</h1><p class=muted>Signed in as {esc(USER)}.</p>" \
           f"<div class=grid>{sections}</div>"
    return page("System", body, path="/system", csrf=csrf_of(request))
