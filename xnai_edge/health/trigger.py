"""A PSI poll trigger: the kernel wakes us when memory stalls pass a threshold in a window.

``some 150000 1000000`` written to a PSI file means "tell me when tasks stalled on memory for
150 ms within any 1 s window"; the file descriptor then reports ``POLLPRI`` (it is always
*readable*, so an event loop's reader callback would spin: the wait runs in a worker thread
with ``poll()``).  The kernel refuses triggers where it is not allowed: without
``CAP_SYS_RESOURCE`` the window must be a multiple of 2 s (we widen it, same share); on some
kernels ``/proc/pressure/*`` refuses unprivileged triggers altogether -- then ``open`` returns
``None`` with the reason, and the monitor falls back to plain polling of ``avg10``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading

_MIN_WINDOW_US, _MAX_WINDOW_US, _UNPRIVILEGED_STEP_US = 500_000, 10_000_000, 2_000_000


def parse_spec(spec: str) -> tuple[str, int, int]:
    """``"some 150000 1000000"`` -> ("some", stall µs, window µs); ValueError if malformed."""
    parts = spec.split()
    if len(parts) != 3 or parts[0] not in ("some", "full"):
        raise ValueError(f"PSI trigger {spec!r} must be 'some|full <stall µs> <window µs>'")
    stall, window = int(parts[1]), int(parts[2])
    if not (_MIN_WINDOW_US <= window <= _MAX_WINDOW_US) or not 0 < stall <= window:
        raise ValueError(f"PSI trigger {spec!r}: the window must be 0.5-10 s and the stall "
                         "time between 0 and the window")
    return parts[0], stall, window


def widened(spec: str) -> str | None:
    """The same share of stall time over a window that unprivileged processes may use."""
    kind, stall, window = parse_spec(spec)
    if window % _UNPRIVILEGED_STEP_US == 0:
        return None
    wide = min(-(-window // _UNPRIVILEGED_STEP_US) * _UNPRIVILEGED_STEP_US, _MAX_WINDOW_US)
    return f"{kind} {stall * wide // window} {wide}"


class PsiTrigger:
    """Wait in a worker thread with ``wait(timeout_s)``; ``close()`` wakes and releases it."""

    def __init__(self, fd: int, path: str, spec: str) -> None:
        self.path, self.spec = path, spec
        self._fd = fd
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._lock = threading.Lock()
        self._waiting = False
        self._closed = False
        self.fired = 0
        self.broken = False

    @classmethod
    def open(cls, path: str, spec: str) -> tuple[PsiTrigger | None, str]:
        """(trigger, "") or (None, why there is no trigger)."""
        if not path or not spec:
            return None, "no PSI file" if not path else "PSI trigger disabled"
        try:
            specs = [spec]
            if (wide := widened(spec)) is not None:
                specs.append(wide)
        except ValueError as exc:
            return None, str(exc)
        reason = ""
        for candidate in specs:
            try:
                fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                return None, f"cannot open {path} for a trigger: {exc.strerror}"
            if os.fstat(fd).st_size != 0:  # procfs/cgroupfs files have size 0
                os.close(fd)
                return None, f"{path} is a plain file, not a kernel PSI file"
            try:
                os.write(fd, candidate.encode() + b"\0")
            except OSError as exc:
                os.close(fd)
                reason = f"the kernel refused trigger {candidate!r} on {path}: {exc.strerror}"
                if exc.errno != errno.EINVAL:
                    break
                continue
            return cls(fd, path, candidate), ""
        return None, reason

    def wait(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s``; True when the trigger fired (False: timeout or closed)."""
        with self._lock:
            if self._closed:
                return False
            self._waiting = True
        try:
            poller = select.poll()
            poller.register(self._fd, select.POLLPRI)
            poller.register(self._wake_r, select.POLLIN)
            events = dict(poller.poll(max(0, int(timeout_s * 1000))))
            mask = events.get(self._fd, 0)
            if mask & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                self.broken = True  # e.g. the cgroup was removed: poll would return at once
                return False
            if mask & select.POLLPRI and not self._closed:
                self.fired += 1
                return True
            return False
        finally:
            with self._lock:
                self._waiting = False
                if self._closed:
                    self._release()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._waiting:
                with contextlib.suppress(OSError):
                    os.write(self._wake_w, b"x")  # the waiter wakes and releases the fds
            else:
                self._release()

    def _release(self) -> None:
        for fd in (self._fd, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
