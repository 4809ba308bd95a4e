"""sd_notify: tell systemd we are ready, what we are doing, and that the main loop is alive.

The protocol is one datagram of ``KEY=value`` lines sent to the unix socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace).  Without the variable
(not started by systemd, a test, a terminal) every call is a no-op that returns False.

Sends never block the event loop: the socket is non-blocking, and a datagram the kernel cannot
queue right now is dropped and counted (``failed``) -- for ``WATCHDOG=1`` the next heartbeat
comes half a watchdog period later; systemd drains its notify socket promptly, so in practice
nothing is lost.  ``WATCHDOG=1`` must come from the main loop's own heartbeat, never from a
helper thread (a thread that pings proves only that the thread is alive).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()  # abstract namespace
    if value.startswith("/"):
        return value
    return None  # e.g. vsock: addresses systemd may hand out, not used on the appliance


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``$WATCHDOG_USEC``, None when disabled.

    As ``sd_watchdog_enabled``: ``$WATCHDOG_PID``, when set, must be this process.
    """
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2 / 1e6


class Notifier:
    """``Notifier()`` reads ``$NOTIFY_SOCKET``; ``Notifier(socket_path=...)`` for tests."""

    def __init__(self, socket_path: str | None = None) -> None:
        target = os.environ.get("NOTIFY_SOCKET", "") if socket_path is None else socket_path
        self.target = target
        self._address = _address(target) if target else None
        self._sock: socket.socket | None = None
        self.sent = 0
        self.failed = 0
        self.last_error = ""

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *lines: str, **fields: object) -> bool:
        """Send ``KEY=value`` lines (positional, e.g. "READY=1") and/or keyword fields."""
        payload = [*lines, *(f"{k}={v}" for k, v in fields.items())]
        if self._address is None or not payload:
            return False
        message = "\n".join(line.replace("\n", " ") for line in payload).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX,
                                           socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(message, self._address)
        except OSError as exc:
            self.failed += 1
            if str(exc) != self.last_error:  # say it once, not on every heartbeat
                log.warning("sd_notify to %s failed: %s", self.target, exc)
            self.last_error = str(exc)
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: the lowest tier can answer (optionally with a ``STATUS=``)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """``STATUS=``: one line for ``systemctl status`` (state and tier)."""
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        """``WATCHDOG=1`` -- from the main loop's heartbeat only."""
        return self.notify("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        """``EXTEND_TIMEOUT_USEC``: still starting (or stopping), give us ``seconds`` more."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(1, round(seconds * 1e6))}")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        """``RELOADING=1`` while a SIGHUP reload runs; send ``ready()`` when it is done."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
