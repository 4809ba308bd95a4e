"""``/api/documents`` (list, upload, remove) and ``/api/reindex``, through ``Controls``.

An upload is stored under ``<data_dir>/documents/`` and ingested; the answer comes once the
document can be searched.  Replacing a file of the same name keeps the previous copy until the
new one is in, so a broken replacement leaves the old document answering.  At most two uploads
run at once (ingest is CPU-bound and shares the cores with the voice loop); a third gets 429.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from xnai_edge.errors import XnaiError
from xnai_edge.web.api import error
from xnai_edge.web.app import state_of
from xnai_edge.web.guard import drain
from xnai_edge.web.system_info import documents_with_times
from xnai_edge.web.uploads import UploadRefused, documents_dir, receive


async def list_documents(request: Request) -> Response:
    return JSONResponse(await documents_with_times(state_of(request).controls))


async def upload(request: Request) -> Response:
    state = state_of(request)
    try:
        state.uploads.acquire_nowait()
    except anyio.WouldBlock:
        return error(429, "two uploads are already in progress; try again when they are done",
                     "busy")
    try:
        folder = documents_dir(state.controls.data_dir)
        try:
            incoming = await receive(request, folder, state.cfg.max_upload_mb * 1024 * 1024)
        except UploadRefused as exc:
            await drain(request.receive, state.cfg.request_timeout_s)
            return error(exc.status, exc.message, exc.code)
        try:
            doc = await _store_and_ingest(state.controls, incoming.temp, folder / incoming.name)
        except XnaiError as exc:
            return error(422, exc.message, exc.code)
        return JSONResponse(doc, status_code=201)
    finally:
        state.uploads.release()


async def _store_and_ingest(controls: Any, temp: Path, final: Path) -> dict[str, Any]:
    """Move the temp file into place and ingest it; on failure put back what was there."""
    backup = final.with_name(f".{final.name}.previous")
    had_old = done = placed = False
    try:
        if final.exists():
            os.replace(final, backup)
            had_old = True
        os.replace(temp, final)
        placed = True
        doc: dict[str, Any] = await controls.add_document(final)
        done = True
        return doc
    finally:
        temp.unlink(missing_ok=True)
        if done:
            backup.unlink(missing_ok=True)
        else:
            with contextlib.suppress(OSError):
                if placed:
                    final.unlink(missing_ok=True)
                if had_old:
                    os.replace(backup, final)


async def remove(request: Request) -> Response:
    state = state_of(request)
    doc_id = int(request.path_params["doc_id"])
    docs = {d["id"]: d for d in await state.controls.documents()}
    doc = docs.get(doc_id)
    if doc is None or not await state.controls.remove_document(doc_id):
        return error(404, f"no document with id {doc_id}", "not-found")
    stored = Path(doc["path"])
    folder = documents_dir(state.controls.data_dir).resolve()
    if stored.parent == folder:  # our own copy of an upload: remove the file too
        stored.unlink(missing_ok=True)
    return JSONResponse({"removed": doc})


async def reindex(request: Request) -> Response:
    try:
        result = await state_of(request).controls.reindex()
    except XnaiError as exc:
        return error(503, exc.message, exc.code)
    return JSONResponse(result)
