"""Model files fetched from ``https://`` URLs (the production sets).

The bytes go to ``<name>.part`` beside the final file, with a progress bar.  A dropped connection
keeps the ``.part`` and the next attempt (in this run or the next) resumes it with an HTTP
``Range`` request; a server that ignores ``Range``, answers with the wrong range or refuses it
gets a clean restart from byte 0.  Only a complete file whose size and sha256 match the manifest
is renamed to its final name; a mismatching one is deleted.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import io
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from xnai_edge import __version__
from xnai_edge.errors import ModelError
from xnai_edge.modelstore.files import (
    CHUNK,
    disk_error,
    finish_part,
    mismatch,
    sha256_file,
    write_chunk,
)
from xnai_edge.modelstore.manifest import FileSpec, check_url

TIMEOUT_S = 30.0


class _Interrupted(Exception):
    """The transfer stopped early; the ``.part`` file is worth resuming."""


class _Restart(Exception):
    """The ``.part`` file cannot be resumed; start again from byte 0."""


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (model hubs send you to a CDN) but never to a plain-http host."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SafeRedirects)


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def fetch_url(spec: FileSpec, dest: Path, *, progress: bool = True, attempts: int = 3,
              timeout: float = TIMEOUT_S, retry_delay: float = 1.0) -> None:
    """Download ``spec.url`` to ``dest``: resumable, verified, atomic."""
    assert spec.url is not None
    check_url(spec.url)
    part = part_path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_error(exc, dest) from exc
    reason, failures, restarted = "", 0, False
    while failures < attempts:
        try:
            _attempt(spec, dest, part, progress=progress, timeout=timeout)
            return
        except _Restart as exc:
            part.unlink(missing_ok=True)
            reason = str(exc)
            if not restarted:  # one clean restart from byte 0 is not a failed attempt
                restarted = True
                continue
        except _Interrupted as exc:
            reason = str(exc)
        failures += 1
        if failures < attempts and retry_delay > 0:
            time.sleep(retry_delay * failures)
    kept = f"; run the command again to resume from {part.name}" if part.exists() else ""
    raise ModelError(f"cannot download {spec.name} from {spec.url}: {reason} "
                     f"(tried {attempts} times){kept}")


def _attempt(spec: FileSpec, dest: Path, part: Path, *, progress: bool, timeout: float) -> None:
    assert spec.url is not None
    have = part.stat().st_size if part.exists() else 0
    if have >= spec.size:
        if have == spec.size and sha256_file(part) == spec.sha256:
            finish_part(part, dest)  # complete already: interrupted just before the rename
            return
        raise _Restart(f"{part.name} is larger than the file or corrupt")
    digest = hashlib.sha256()
    if have:
        with part.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
    request = urllib.request.Request(spec.url, headers={
        "User-Agent": f"xnai-edge/{__version__}", "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            raise _Restart("server refused to resume (HTTP 416)") from None
        if exc.code == 404:
            raise ModelError(f"{spec.url}: not found (HTTP 404); the manifest entry for "
                             f"{spec.name} is out of date") from None
        raise ModelError(f"{spec.url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _Interrupted(f"cannot connect: {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Interrupted(f"cannot connect: {exc}") from None
    with response:
        resumed = bool(have) and response.status == 206
        if resumed:
            if not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
                raise _Restart("server sent a different range than asked for")
        elif have:
            have, digest = 0, hashlib.sha256()  # Range ignored (HTTP 200): take it from byte 0
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) != spec.size - have:
            part.unlink(missing_ok=True)
            raise ModelError(f"{spec.url} offers {int(length) + have} bytes, the manifest "
                             f"expects {spec.size} for {spec.name}; nothing was installed")
        have = _stream(response, spec, part, have, digest, progress=progress)
    if have < spec.size:
        raise _Interrupted(f"connection closed after {have} of {spec.size} bytes")
    if digest.hexdigest() != spec.sha256:
        part.unlink(missing_ok=True)
        if resumed:  # the kept .part was bad: one clean download from byte 0
            raise _Restart("the resumed file did not verify")
        raise mismatch(dest, spec.url, size=spec.size, got_size=have, sha256=spec.sha256,
                       got_sha256=digest.hexdigest())
    finish_part(part, dest)


def _stream(response: http.client.HTTPResponse, spec: FileSpec, part: Path, have: int,
            digest: Any, *, progress: bool) -> int:
    """Append the body to ``part`` (or rewrite it when ``have`` is 0); return bytes on disk."""
    try:
        fh = io.FileIO(part, "ab" if have else "wb")
    except OSError as exc:
        raise disk_error(exc, part) from exc
    with fh, tqdm(total=spec.size, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=spec.name, disable=not progress) as bar:
        while True:
            try:
                chunk = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                raise _Interrupted(f"connection lost after {have} of {spec.size} bytes "
                                   f"({exc or type(exc).__name__})") from None
            if not chunk:
                return have
            have += len(chunk)
            if have > spec.size:
                fh.close()
                part.unlink(missing_ok=True)
                raise ModelError(f"{spec.url} sent more than the {spec.size} bytes the "
                                 f"manifest expects for {spec.name}; nothing was installed")
            digest.update(chunk)
            try:
                write_chunk(fh, chunk, part)
            except ModelError as exc:
                if isinstance(exc.__cause__, OSError) and exc.__cause__.errno == errno.ENOSPC:
                    fh.close()
                    part.unlink(missing_ok=True)  # give the space back
                raise
            bar.update(len(chunk))
