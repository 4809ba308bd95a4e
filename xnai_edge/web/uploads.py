"""Receive one uploaded document: streamed to a temp file, counted, refused early.

The multipart body is parsed as it arrives (python-multipart's streaming parser), and the file
part is written chunk by chunk to a hidden temp file in the documents folder, with a running
size check: an upload over ``max_upload_mb`` stops at the limit (413) and its temp file is
removed, so a 2 GB upload costs neither memory nor more than the limit in disk.  The type is
checked from the file name's suffix before any byte is stored (415), and the client's file name
is only ever reduced to a safe base name inside the documents folder (``../../x.md`` -> ``x.md``).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from xnai_edge.knowledge.extract import SUPPORTED_SUFFIXES

DOCUMENTS_DIR = "documents"
FIELD = "file"
MAX_NAME = 120
MAX_OTHER_FIELD = 64 * 1024
DISK_RESERVE = 64 * 1024 * 1024
"""Free space kept beyond the upload itself: a document must not fill the disk SQLite needs."""


class UploadRefused(Exception):
    def __init__(self, status: int, message: str, code: str = "upload") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass
class Incoming:
    name: str
    temp: Path
    size: int = 0


def safe_name(filename: str) -> str:
    """The client's file name as a plain base name: no directories, no hidden file, no odd
    characters, at most ``MAX_NAME`` characters; the suffix kept."""
    base = unicodedata.normalize("NFKC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^\w.\- ]", "_", base).strip(" .")
    base = re.sub(r"\.{2,}", ".", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem[:MAX_NAME - len(suffix) - 1].strip(" .") or "upload"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def documents_dir(data_dir: Path) -> Path:
    folder = data_dir / DOCUMENTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class _Parts:
    """The parser's callbacks: which part we are in, and the file part's temp file."""

    folder: Path
    max_bytes: int
    incoming: Incoming | None = None
    ended: bool = False
    _fd: int | None = None
    _in_file: bool = False
    _other: int = 0
    _field: bytearray = field(default_factory=bytearray)
    _value: bytearray = field(default_factory=bytearray)
    _disposition: bytes = b""

    def callbacks(self) -> dict[str, object]:
        return {"on_part_begin": self._begin, "on_header_field": self._hfield,
                "on_header_value": self._hvalue, "on_header_end": self._hend,
                "on_headers_finished": self._headers_done, "on_part_data": self._data,
                "on_part_end": self._end, "on_end": self._finished}

    def _begin(self) -> None:
        self._disposition, self._in_file = b"", False

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _hend(self) -> None:
        if bytes(self._field).lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_done(self) -> None:
        _, params = parse_options_header(self._disposition)
        if params.get(b"name") != FIELD.encode():
            return
        if self.incoming is not None:
            raise UploadRefused(400, "send one file per upload")
        raw = params.get(b"filename")
        if raw is None:
            raise UploadRefused(400, f"the form field {FIELD!r} is not a file")
        name = safe_name(raw.decode("utf-8", errors="replace"))
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise UploadRefused(415, f"{name}: only {', '.join(sorted(SUPPORTED_SUFFIXES))} "
                                "files can be added", "unsupported-type")
        free = shutil.disk_usage(self.folder).free
        if free < self.max_bytes + DISK_RESERVE:
            raise UploadRefused(507, f"only {free // 2**20} MiB free on the data disk; free "
                                "some space first", "storage")
        temp = self.folder / f".upload-{secrets.token_hex(8)}.part"
        self._fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.incoming = Incoming(name, temp)
        self._in_file = True

    def _data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_file:
            self._other += end - start
            if self._other > MAX_OTHER_FIELD:
                raise UploadRefused(413, "the form's other fields are too large", "too-large")
            return
        assert self.incoming is not None and self._fd is not None
        self.incoming.size += end - start
        if self.incoming.size > self.max_bytes:
            raise UploadRefused(413, f"{self.incoming.name} is larger than the upload limit of "
                                f"{self.max_bytes // 2**20} MiB ([web] max_upload_mb)",
                                "too-large")
        view = memoryview(data)[start:end]
        while view:
            view = view[os.write(self._fd, view):]

    def _end(self) -> None:
        self._in_file = False

    def _finished(self) -> None:
        self.ended = True

    def close(self, keep: bool) -> None:
        if self._fd is not None:
            if keep:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if not keep and self.incoming is not None:
            self.incoming.temp.unlink(missing_ok=True)


async def receive(request: Request, folder: Path, max_bytes: int) -> Incoming:
    """Stream the ``file`` field into a temp file in ``folder``; ``UploadRefused`` if not."""
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRefused(400, f"send the document as multipart/form-data with a field "
                            f"{FIELD!r}")
    parts = _Parts(folder, max_bytes)
    keep = False
    try:
        parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
        if not parts.ended:
            raise UploadRefused(400, "the multipart body ended early")
        if parts.incoming is None:
            raise UploadRefused(400, f"no file in the form field {FIELD!r}")
        keep = True
        return parts.incoming
    except (MultipartParseError, ValueError) as exc:
        raise UploadRefused(400, f"the multipart body is malformed: {exc}") from exc
    except ClientDisconnect as exc:
        raise UploadRefused(400, "the client went away during the upload") from exc
    except OSError as exc:
        raise UploadRefused(507, f"cannot store the upload: {exc.strerror or exc}",
                            "storage") from exc
    finally:
        parts.close(keep)
