"""Every bound a Wyoming client cannot exceed, and the error a violation becomes.

The protocol has no authentication and anyone on the LAN can connect, so nothing a client sends
may make the daemon allocate without limit or wait forever: a header line, its JSON data and its
binary payload are capped before they are read, a request's audio and text are capped while
they accumulate, idle and half-sent events time out, and the number of clients is bounded.
A client that breaks a bound gets an ``error`` event naming it and is disconnected; the daemon
and the other clients carry on.
"""

from __future__ import annotations

from dataclasses import dataclass

from xnai_edge.errors import XnaiError


@dataclass(frozen=True)
class Limits:
    max_line_bytes: int = 64 * 1024
    """A header line (JSON): ours are ~100 bytes; old clients inline ``data`` there."""
    max_data_bytes: int = 256 * 1024
    """``data_length``: the JSON data after the header (an ``info`` is ~2 KB)."""
    max_payload_bytes: int = 1024 * 1024
    """``payload_length``: one audio chunk (HA sends 2 KB; 1 MiB is 32 s at 16 kHz)."""
    max_audio_s: float = 120.0
    """Audio of one ``transcribe`` request, at 16 kHz after conversion."""
    max_text_chars: int = 10_000
    """Text of one ``synthesize`` request."""
    idle_timeout_s: float = 600.0
    """A client that sends no event for this long is disconnected."""
    event_timeout_s: float = 30.0
    """Data and payload must follow their header within this time."""
    write_timeout_s: float = 30.0
    """A client that stops reading our events is disconnected after this."""
    max_clients: int = 16
    """Connections served at once; more get an ``error`` and are closed."""
    max_loop_wait_s: float = 30.0
    """Longest a request waits for the voice loop to finish thinking/speaking."""


LIMITS = Limits()


class WyomingError(XnaiError):
    """A request that cannot be served; sent to the client as an ``error`` event.

    ``fatal``: the connection is closed afterwards (the stream can no longer be trusted, e.g.
    a malformed event or a broken bound), else the client may send its next request."""

    code = "wyoming"

    def __init__(self, message: str, *, code: str | None = None, fatal: bool = False) -> None:
        super().__init__(message, code=code)
        self.fatal = fatal


class ProtocolError(WyomingError):
    """The bytes are not a Wyoming event within our limits: always fatal."""

    code = "wyoming-protocol"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, fatal=True)
