"""The JSON API and the two plain routes (``/healthz``, ``/metrics``).

Every answer is the same object the CLI prints: ``/api/status`` is ``controls.status()`` (= ``status
--json``), ``/api/ask`` is ``controls.ask()`` (= ``ask --json``).  Bad input is a 400 with a JSON
``error`` (and the ``XnaiError`` code), never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from xnai_edge.errors import InputError, XnaiError
from xnai_edge.web.app import state_of
from xnai_edge.web.metrics import CONTENT_TYPE
from xnai_edge.web.stats import recent_interactions

MAX_INTERACTIONS = 500


def error(status: int, message: str, code: str = "input") -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status)


async def healthz(request: Request) -> Response:
    """Liveness and the tier only: no login, nothing private (the OS image polls it)."""
    tier = state_of(request).controls.status()["tier"]
    return JSONResponse({"status": "ok", "tier": int(tier)},
                        headers={"cache-control": "no-store"})


async def status(request: Request) -> Response:
    return Response(state_of(request).status_json(), media_type="application/json",
                    headers={"cache-control": "no-store"})


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or ``InputError`` saying what is wrong with it."""
    body = await request.body()
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError('the body must be a JSON object, e.g. {"question": "..."}')
    return data


async def ask(request: Request) -> Response:
    """``{"question": "...", "speak": false}`` -> the ``ask --json`` object (+ ``spoken``)."""
    try:
        data = await read_json(request)
        question, speak = data.get("question"), data.get("speak", False)
        if not isinstance(question, str):
            raise InputError('"question" is missing or not a string')
        if not isinstance(speak, bool):
            raise InputError('"speak" must be true or false')
        answer = await state_of(request).controls.ask(question, speak=speak, origin="web")
    except InputError as exc:
        return error(400, exc.message, exc.code)
    except XnaiError as exc:
        return error(503, exc.message, exc.code)
    return JSONResponse(answer)


async def interactions(request: Request) -> Response:
    try:
        limit = min(MAX_INTERACTIONS, max(1, int(request.query_params.get("limit", "50"))))
    except ValueError:
        return error(400, "limit must be a whole number")
    rows = await recent_interactions(state_of(request).controls.kb.store, limit)
    return JSONResponse(rows)


async def history(request: Request) -> Response:
    return JSONResponse(list(state_of(request).history.samples))


async def metrics(request: Request) -> Response:
    state = state_of(request)
    assert state.metrics is not None
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)
