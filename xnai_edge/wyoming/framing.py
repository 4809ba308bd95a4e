"""The Wyoming wire format, read within ``Limits`` on AnyIO byte streams.

An event is one JSON header line ``{"type", "version", "data_length"?, "payload_length"?,
"data"?}``, then ``data_length`` bytes of JSON data (merged over any inline ``data``), then
``payload_length`` bytes of binary payload.  ``wyoming.event.async_read_event`` reads lines of
any length and trusts the lengths it is given (and swallows every error into "disconnected"),
so the framing is done here: each length is checked against its limit *before* anything is
read, and every failure is a ``ProtocolError`` the connection reports to the client.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream
from wyoming.event import Event
from wyoming.version import __version__ as WYOMING_VERSION

from xnai_edge.wyoming.limits import LIMITS, Limits, ProtocolError

MAX_TYPE_CHARS = 64


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(f"{key} must be a non-negative integer, not {value!r}",
                            code="bad-event")
    if value > limit:
        raise ProtocolError(f"{key} {value} exceeds the limit of {limit} bytes",
                            code="too-large")
    return value


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"{what} is not valid JSON: {exc}", code="bad-event") from exc
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be a JSON object, not {type(value).__name__}",
                            code="bad-event")
    return value


def parse_header(line: bytes, limits: Limits = LIMITS) -> tuple[str, dict[str, Any], int, int]:
    """(type, inline data, data_length, payload_length) of one header line."""
    if len(line) > limits.max_line_bytes:
        raise ProtocolError(f"header line of {len(line)} bytes exceeds the limit of "
                            f"{limits.max_line_bytes}", code="too-large")
    header = _json_object(line, "the header line")
    kind = header.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > MAX_TYPE_CHARS:
        raise ProtocolError(f"the header needs a \"type\" string (1-{MAX_TYPE_CHARS} "
                            f"characters), got {kind!r}", code="bad-event")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise ProtocolError("\"data\" in the header must be a JSON object", code="bad-event")
    return (kind, data, _length(header, "data_length", limits.max_data_bytes),
            _length(header, "payload_length", limits.max_payload_bytes))


async def read_event(stream: BufferedByteReceiveStream,
                     limits: Limits = LIMITS) -> Event | None:
    """The next event, or None when the client closed the connection between events.

    Raises ``ProtocolError`` for anything malformed or over a limit, including a connection
    closed in the middle of an event and an idle client."""
    line = b""
    while not line.strip():  # blank lines between events are harmless
        try:
            with anyio.fail_after(limits.idle_timeout_s):
                line = await stream.receive_until(b"\n", limits.max_line_bytes)
        except anyio.IncompleteRead:
            if stream.buffer.strip():
                raise ProtocolError("connection closed in the middle of a header line",
                                    code="incomplete") from None
            return None
        except anyio.DelimiterNotFound:
            raise ProtocolError(f"header line longer than {limits.max_line_bytes} bytes",
                                code="too-large") from None
        except TimeoutError:
            raise ProtocolError(f"no event for {limits.idle_timeout_s:g} s",
                                code="idle") from None
    kind, data, data_length, payload_length = parse_header(line, limits)
    payload: bytes | None = None
    try:
        with anyio.fail_after(limits.event_timeout_s):
            if data_length:
                data = {**data, **_json_object(await stream.receive_exactly(data_length),
                                               "the event data")}
            if payload_length:
                payload = await stream.receive_exactly(payload_length)
    except anyio.IncompleteRead:
        raise ProtocolError(f"connection closed in the middle of a {kind!r} event",
                            code="incomplete") from None
    except TimeoutError:
        raise ProtocolError(f"the data of a {kind!r} event did not arrive within "
                            f"{limits.event_timeout_s:g} s", code="incomplete") from None
    return Event(type=kind, data=data, payload=payload)


def encode_event(event: Event) -> bytes:
    """Header (with ``version``, ``data_length``, ``payload_length``) + data + payload."""
    header: dict[str, Any] = {"type": event.type, "version": WYOMING_VERSION}
    data = b""
    if event.data:
        data = json.dumps(event.data, ensure_ascii=False).encode("utf-8")
        header["data_length"] = len(data)
    if event.payload:
        header["payload_length"] = len(event.payload)
    line = json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n"
    return line + data + (event.payload or b"")
