"""Circuit breakers: the pure state machine, then ``guarded`` with real worker threads."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from xnai_edge.brain.breaker import (
    BackendTimeoutError,
    BreakerOpenError,
    BreakersConfig,
    BreakerSettings,
    CircuitBreaker,
    State,
    guarded,
)
from xnai_edge.errors import BackendError, InputError
from xnai_edge.events import BreakerOpened


def test_opens_after_n_consecutive_failures_and_a_success_resets_the_count() -> None:
    opened: list[BreakerOpened] = []
    b = CircuitBreaker("llm", failures=3, cooldown_s=10, on_open=opened.append)
    b.record_failure(0, "boom")
    b.record_failure(1, "boom")
    b.record_success(2)
    b.record_failure(3, "boom")
    b.record_failure(4, "boom")
    assert b.state(4) is State.CLOSED and b.allow(4)
    b.record_failure(5, "RuntimeError: boom")
    assert b.state(5) is State.OPEN and not b.allow(5) and not b.available(14.9)
    assert opened == [BreakerOpened(backend="llm", reason="3 failures in a row, last: "
                                    "RuntimeError: boom", t=opened[0].t)]
    assert b.snapshot(7) == {"state": "open", "consecutive_failures": 3,
                             "last_error": "RuntimeError: boom", "times_opened": 1,
                             "retry_in_s": 8.0}


def test_half_open_lets_one_trial_through_closes_on_success_reopens_on_failure() -> None:
    opened: list[BreakerOpened] = []
    b = CircuitBreaker("stt", failures=1, cooldown_s=10, on_open=opened.append)
    b.record_failure(0, "hung")
    assert b.state(10) is State.HALF_OPEN and b.available(10)
    assert b.allow(10) and not b.allow(10)  # one trial at a time
    b.record_failure(11, "hung again")
    assert b.state(11) is State.OPEN and b.state(20.9) is State.OPEN
    assert opened[-1].reason == "trial call after 10 s cool-down failed: hung again"
    assert b.allow(21)
    b.record_neutral()  # the trial was cancelled (barge-in): another trial may go
    assert b.allow(21.5)
    b.record_success(22)
    assert b.state(22) is State.CLOSED and b.consecutive == 0 and b.times_opened == 2


def test_config_section_gives_settings_per_backend() -> None:
    cfg = BreakersConfig()
    assert BreakerSettings.from_config(cfg, "llm").timeout_s == 30.0
    assert BreakerSettings.from_config(cfg, "embed").failures == 3
    b = CircuitBreaker.from_settings("tts", BreakerSettings.from_config(cfg, "tts"))
    assert (b.failures, b.cooldown_s) == (3, 30.0)
    with pytest.raises(ValueError):
        CircuitBreaker("x", failures=0)


# --- guarded: real threads ------------------------------------------------------------------

def test_a_raising_backend_opens_its_breaker_then_calls_are_refused_without_running() -> None:
    calls = 0

    def broken() -> str:
        nonlocal calls
        calls += 1
        raise RuntimeError("model file truncated")

    async def main() -> None:
        b = CircuitBreaker("embed", failures=2, cooldown_s=60)
        for _ in range(2):
            with pytest.raises(RuntimeError, match="truncated"):
                await guarded(b, broken, timeout_s=5)
        with pytest.raises(BreakerOpenError) as info:
            await guarded(b, broken, timeout_s=5)
        assert isinstance(info.value, BackendError) and info.value.code == "breaker-open"
        assert calls == 2
        assert await guarded(CircuitBreaker("ok"), lambda x: x * 2, 21, timeout_s=5) == 42

    anyio.run(main)


def test_input_errors_do_not_count_against_the_backend() -> None:
    def refuse() -> None:
        raise InputError("question too long")

    async def main() -> None:
        b = CircuitBreaker("llm", failures=1)
        with pytest.raises(InputError):
            await guarded(b, refuse, timeout_s=5)
        assert b.state(time.monotonic()) is State.CLOSED

    anyio.run(main)


def test_a_hung_backend_is_abandoned_within_the_timeout_and_never_entered_twice() -> None:
    release = threading.Event()
    inside = 0
    most_inside = 0
    lock = threading.Lock()

    def hang(answer: str) -> str:
        nonlocal inside, most_inside
        with lock:
            inside += 1
            most_inside = max(most_inside, inside)
        try:
            release.wait(10)
            return answer
        finally:
            with lock:
                inside -= 1

    async def main() -> None:
        b = CircuitBreaker("llm", failures=2, cooldown_s=0.3)
        limiter = anyio.CapacityLimiter(1)
        start = time.monotonic()
        for _ in range(2):
            with pytest.raises(BackendTimeoutError, match=r"no answer within 0\.2 s"):
                await guarded(b, hang, "late", timeout_s=0.2, limiter=limiter)
        assert time.monotonic() - start < 1.5  # the loop was never blocked by the hang
        assert b.state(time.monotonic()) is State.OPEN
        with pytest.raises(BreakerOpenError):
            await guarded(b, hang, "x", timeout_s=0.2, limiter=limiter)
        await anyio.sleep(0.35)  # cool-down: the trial waits for the still-hung call's token
        with pytest.raises(BackendTimeoutError):
            await guarded(b, hang, "trial", timeout_s=0.2, limiter=limiter)
        assert b.state(time.monotonic()) is State.OPEN
        release.set()  # the backend comes back
        await anyio.sleep(0.35)
        with anyio.fail_after(5):
            while limiter.borrowed_tokens:
                await anyio.sleep(0.01)
        assert await guarded(b, lambda: "fine", timeout_s=1, limiter=limiter) == "fine"
        assert b.state(time.monotonic()) is State.CLOSED

    anyio.run(main)
    assert most_inside == 1


def test_cancelling_the_caller_is_neutral_and_frees_the_limiter() -> None:
    async def main() -> None:
        b = CircuitBreaker("tts", failures=1)
        limiter = anyio.CapacityLimiter(1)
        with anyio.move_on_after(0.1):
            await guarded(b, time.sleep, 0.3, timeout_s=5, limiter=limiter)
        assert b.state(time.monotonic()) is State.CLOSED and b.consecutive == 0
        with anyio.fail_after(5):
            while limiter.borrowed_tokens:
                await anyio.sleep(0.01)

    anyio.run(main)
