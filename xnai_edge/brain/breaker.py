"""Circuit breakers: a backend that keeps failing is skipped, then retried after a cool-down.

``CircuitBreaker`` is a pure state machine (time passed in), one per backend (stt, embed, llm,
tts): *closed* -> *open* after ``failures`` consecutive failures or timeouts -> *half-open* once
``cooldown_s`` has passed (one trial call at a time) -> *closed* on its success, *open* again on
its failure.  ``on_open`` receives a ``BreakerOpened`` event (the daemon passes
``bus.publish``).

``guarded(breaker, fn, *args, timeout_s=...)`` runs a blocking backend call in a worker thread
under the breaker and a timeout.  A Python thread cannot be killed: a call that times out is
*abandoned* -- the caller gets ``BackendTimeoutError`` at once and it counts as a failure, but
the thread runs on until the call returns by itself, and its result is ignored.  Its limiter
token is held until then, so a hung backend is never entered a second time concurrently (later
calls wait for the token within their own timeout, time out and keep the breaker open).
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

from xnai_edge.config import BreakersConfig
from xnai_edge.errors import BackendError, InputError
from xnai_edge.events import BreakerOpened

T = TypeVar("T")


class BreakerOpenError(BackendError):
    """The backend's breaker is open: skip to the next tier that can answer."""

    code = "breaker-open"


class BackendTimeoutError(BackendError):
    """A backend call took longer than its timeout and was abandoned."""

    code = "backend-timeout"


class State(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerSettings:
    failures: int = 3
    """Consecutive failures or timeouts that open the breaker."""
    cooldown_s: float = 30.0
    """Seconds an open breaker waits before letting one trial call through (half-open)."""
    timeout_s: float = 20.0
    """Longest a guarded call may take before it is abandoned and counted as a failure."""

    @classmethod
    def from_config(cls, cfg: BreakersConfig, backend: str) -> BreakerSettings:
        """Settings for backend "stt", "embed", "llm" or "tts"."""
        return cls(cfg.failures, cfg.cooldown_s, float(getattr(cfg, f"{backend}_timeout_s")))


class CircuitBreaker:
    def __init__(self, name: str, *, failures: int = 3, cooldown_s: float = 30.0,
                 on_open: Callable[[BreakerOpened], None] | None = None) -> None:
        if failures < 1:
            raise ValueError("a breaker needs failures >= 1")
        self.name = name
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.on_open = on_open
        self.consecutive = 0
        self.opened_at: float | None = None
        self.last_error = ""
        self.times_opened = 0
        self._state = State.CLOSED
        self._trial = False  # a half-open trial call is in flight

    @classmethod
    def from_settings(cls, name: str, settings: BreakerSettings,
                      on_open: Callable[[BreakerOpened], None] | None = None) -> CircuitBreaker:
        return cls(name, failures=settings.failures, cooldown_s=settings.cooldown_s,
                   on_open=on_open)

    def state(self, now: float) -> State:
        """The state at ``now`` (an open breaker whose cool-down has passed is half-open)."""
        if self._state is State.OPEN and self.opened_at is not None \
                and now - self.opened_at >= self.cooldown_s:
            return State.HALF_OPEN
        return self._state

    def available(self, now: float) -> bool:
        """Would a call be let through now?  (Does not start a trial; see ``allow``.)"""
        state = self.state(now)
        return state is State.CLOSED or (state is State.HALF_OPEN and not self._trial)

    def allow(self, now: float) -> bool:
        """Ask to make a call: closed -> yes; half-open -> yes for one trial at a time."""
        state = self.state(now)
        if state is State.CLOSED:
            return True
        if state is State.HALF_OPEN and not self._trial:
            self._state, self._trial = State.HALF_OPEN, True
            return True
        return False

    def record_success(self, now: float) -> None:
        self.consecutive, self._trial = 0, False
        self._state, self.opened_at = State.CLOSED, None

    def record_failure(self, now: float, reason: str) -> None:
        self.consecutive += 1
        self.last_error = reason
        was_trial, self._trial = self._trial, False
        if was_trial or (self._state is State.CLOSED and self.consecutive >= self.failures):
            self._state, self.opened_at = State.OPEN, now
            self.times_opened += 1
            if self.on_open is not None:
                why = (f"trial call after {self.cooldown_s:g} s cool-down failed: {reason}"
                       if was_trial else f"{self.consecutive} failures in a row, last: {reason}")
                self.on_open(BreakerOpened(backend=self.name, reason=why))

    def record_neutral(self) -> None:
        """A call that says nothing about the backend (cancelled by a barge-in, or refused as
        the caller's mistake): the failure count stays, a half-open trial slot is free again."""
        self._trial = False

    def snapshot(self, now: float) -> dict[str, Any]:
        """For ``status --json`` and the status page."""
        state = self.state(now)
        retry = None if self.opened_at is None or state is not State.OPEN \
            else round(self.opened_at + self.cooldown_s - now, 1)
        return {"state": str(state), "consecutive_failures": self.consecutive,
                "last_error": self.last_error, "times_opened": self.times_opened,
                "retry_in_s": retry}


_LIMITERS: weakref.WeakKeyDictionary[CircuitBreaker, anyio.CapacityLimiter] = \
    weakref.WeakKeyDictionary()


class _Call:
    """Hands the limiter token from the event loop to the worker thread and back."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = False
        self.skip = False


async def guarded(breaker: CircuitBreaker, fn: Callable[..., T], *args: Any, timeout_s: float,
                  limiter: anyio.CapacityLimiter | None = None,
                  clock: Callable[[], float] = time.monotonic,
                  not_failures: tuple[type[BaseException], ...] = (InputError,)) -> T:
    """``fn(*args)`` in a worker thread, under ``breaker``, cut off after ``timeout_s``.

    ``limiter`` is the backend's own (llama.cpp and friends are not re-entrant); without one,
    each breaker gets a limiter of one.  Raises ``BreakerOpenError`` without calling when the
    breaker is open,
    ``BackendTimeoutError`` when the call (including waiting for ``limiter``) takes too long,
    and whatever ``fn`` raised otherwise.  Exceptions in ``not_failures`` (the caller's
    mistakes) and cancellation do not count against the backend.
    """
    if not breaker.allow(clock()):
        raise BreakerOpenError(f"{breaker.name} is not being used after repeated failures "
                               f"({breaker.last_error}); it is retried after a cool-down")
    if limiter is None:
        limiter = _LIMITERS.setdefault(breaker, anyio.CapacityLimiter(1))
    token = anyio.lowlevel.current_token()
    call, borrower = _Call(), object()

    def release() -> None:
        limiter.release_on_behalf_of(borrower)

    def run() -> T:
        with call.lock:
            if call.skip:  # abandoned before it started: the loop released the token
                raise RuntimeError("abandoned before it started")
            call.started = True
        try:
            return fn(*args)
        finally:
            # RuntimeError: the event loop is gone, nobody waits for the token any more
            with contextlib.suppress(RuntimeError):
                anyio.from_thread.run_sync(release, token=token)

    try:
        with anyio.fail_after(timeout_s):
            await limiter.acquire_on_behalf_of(borrower)
            try:
                result = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
            except BaseException:
                with call.lock:
                    if not call.started:
                        call.skip = True
                        release()
                raise
    except TimeoutError:
        reason = f"no answer within {timeout_s:g} s"
        breaker.record_failure(clock(), reason)
        raise BackendTimeoutError(f"{breaker.name}: {reason}; the call was abandoned") from None
    except (*not_failures, anyio.get_cancelled_exc_class()):
        breaker.record_neutral()
        raise
    except Exception as exc:
        breaker.record_failure(clock(), f"{type(exc).__name__}: {exc}")
        raise
    breaker.record_success(clock())
    return result
