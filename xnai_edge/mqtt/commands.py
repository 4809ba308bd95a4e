"""Commands from Home Assistant (or any MQTT client): parsed strictly, then run via Controls.

``parse`` is pure: bytes in, a ``Command`` or a ``CommandError`` out -- never another
exception, whatever arrives (a property test feeds it random bytes).  Home Assistant sends bare
payloads (``ON``/``OFF`` for the switch, ``PRESS`` for buttons, the text of a text entity);
scripts may send a JSON object instead, with an ``id`` that comes back on the response topic.
``Executor`` runs them without ever blocking the MQTT reader: ``mute`` and ``stop`` at once,
the slow ones (``ask``, ``say``, ``reindex``) one at a time with a short queue; beyond it a
command is refused as busy rather than piled up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from xnai_edge.errors import InputError, XnaiError

if TYPE_CHECKING:
    from xnai_edge.control import Controls

MAX_PAYLOAD = 64 * 1024
"""Bytes; a command is a sentence or a word, so anything near this is not one."""
MAX_ID = 200
COMMANDS = ("ask", "say", "mute", "stop", "reindex")
SLOW = ("ask", "say", "reindex")
MAX_WAITING = 4
_TRUE, _FALSE = ("on", "true", "1", "yes"), ("off", "false", "0", "no")
_FIELDS = {"ask": {"text", "question", "speak"}, "say": {"text"}, "mute": {"muted", "state"},
           "stop": set(), "reindex": set()}


class CommandError(InputError):
    """A command that is ignored: malformed, oversized, of the wrong type, or unknown."""

    code = "mqtt-command"

    def __init__(self, message: str, *, id: str | int | None = None) -> None:
        super().__init__(message)
        self.id = id


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    id: str | int | None = None
    correlation: bytes | None = None
    """MQTT v5 correlation data, echoed on the response."""


def correlation_id(data: bytes | None) -> str | None:
    """MQTT v5 correlation data as text for the response body (it also goes back as bytes)."""
    if not data:
        return None
    try:
        return data.decode("utf-8")[:MAX_ID]
    except UnicodeDecodeError:
        return data.hex()[:MAX_ID]


def _flag(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise CommandError(f"{what} must be ON/OFF or true/false, not {json.dumps(value)[:40]}")


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise CommandError(f"{what} must be text, not {type(value).__name__}")
    if not value.strip():
        raise CommandError(f"{what} is empty")
    return value.strip()


def parse(name: str, payload: bytes, correlation: bytes | None = None) -> Command:
    """Validate one command message (``name`` = the last level of ``<base>/cmd/<name>``)."""
    cid: str | int | None = correlation_id(correlation)
    if len(payload) > MAX_PAYLOAD:
        raise CommandError(f"payload of {len(payload):,} bytes; the limit is "
                           f"{MAX_PAYLOAD // 1024} KiB", id=cid)
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise CommandError(f"payload is not UTF-8 text (byte {exc.start})", id=cid) from None
    fields: dict[str, Any] | None = None
    if text.startswith(("{", "[")):
        try:
            loaded = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise CommandError(f"payload is not valid JSON: {msg}", id=cid) from None
        if not isinstance(loaded, dict):
            raise CommandError("a JSON payload must be an object", id=cid)
        fields = loaded
        raw_id = fields.pop("id", None)
        if raw_id is not None:
            if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
                raise CommandError("'id' must be text or a number", id=cid)
            cid = raw_id if isinstance(raw_id, int) else raw_id[:MAX_ID]
    if name not in COMMANDS:
        raise CommandError(f"unknown command {name[:40]!r}; known: {', '.join(COMMANDS)}",
                           id=cid)
    try:
        return Command(name, _args(name, text, fields), cid, correlation or None)
    except CommandError as exc:
        exc.id = cid
        raise


def _args(name: str, text: str, fields: dict[str, Any] | None) -> dict[str, Any]:
    if fields is not None:
        extra = sorted(set(fields) - _FIELDS[name])
        if extra:
            raise CommandError(f"unexpected field {extra[0][:40]!r} for {name}")
    if name in ("ask", "say"):
        if fields is None:
            plain: dict[str, Any] = {"text": _text(text, "the text")}
            return {**plain, "speak": True} if name == "ask" else plain
        value = fields.get("text", fields.get("question"))
        args: dict[str, Any] = {"text": _text(value, "'text'")}
        if name == "ask":
            args["speak"] = _flag(fields.get("speak", True), "'speak'")
        return args
    if name == "mute":
        if fields is None:
            return {"muted": _flag(text, "the payload")}
        if "muted" not in fields and "state" not in fields:
            raise CommandError("mute needs 'muted' (true/false)")
        return {"muted": _flag(fields.get("muted", fields.get("state")), "'muted'")}
    if fields is None and text.upper() not in ("", "PRESS"):
        raise CommandError(f"{name} takes PRESS or a JSON object, not {text[:40]!r}")
    return {}


class Executor:
    """Runs commands against ``Controls``; every result goes to ``respond``."""

    def __init__(self, controls: Controls, tg: Any,
                 respond: Callable[[Command, dict[str, Any]], None]) -> None:
        self._controls, self._tg, self._respond = controls, tg, respond
        self._slow = anyio.Lock()
        self.waiting = 0
        self.done = 0

    def submit(self, cmd: Command) -> None:
        """Start ``cmd`` without waiting for it (called from the MQTT reader)."""
        if cmd.name not in SLOW:
            self._respond(cmd, self._quick(cmd))
            return
        if self.waiting >= MAX_WAITING:
            self._respond(cmd, {"ok": False, "error": f"busy: {self.waiting} slow commands "
                                                       "are already waiting"})
            return
        self.waiting += 1
        self._tg.start_soon(self._run_slow, cmd)

    def _quick(self, cmd: Command) -> dict[str, Any]:
        self.done += 1
        try:
            if cmd.name == "mute":
                self._controls.set_muted(cmd.args["muted"], origin="mqtt")
                return {"ok": True, "muted": cmd.args["muted"]}
            return {"ok": True, "stopped": self._controls.stop_speaking()}
        except XnaiError as exc:
            return {"ok": False, "error": f"error[{exc.code}]: {exc.message}"}

    async def _run_slow(self, cmd: Command) -> None:
        try:
            async with self._slow:
                result = await self._slow_one(cmd)
        except XnaiError as exc:
            result = {"ok": False, "error": f"error[{exc.code}]: {exc.message}"}
        finally:
            self.waiting -= 1
            self.done += 1
        self._respond(cmd, result)

    async def _slow_one(self, cmd: Command) -> dict[str, Any]:
        if cmd.name == "ask":
            answer = await self._controls.ask(cmd.args["text"], speak=cmd.args["speak"],
                                              origin="mqtt")
            return {"ok": True, **answer}
        if cmd.name == "say":
            return {"ok": True, "spoken": await self._controls.say(cmd.args["text"])}
        return {"ok": True, **await self._controls.reindex()}
