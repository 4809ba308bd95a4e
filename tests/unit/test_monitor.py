"""The memory monitor driven by files: PSI/meminfo up and down -> the TierChanged trace."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import anyio

from xnai_edge.bus import EventBus, EventRecorder
from xnai_edge.config import MemoryConfig, TiersConfig
from xnai_edge.events import TierChanged
from xnai_edge.health.memory import MemoryPaths
from xnai_edge.health.monitor import MemoryMonitor
from xnai_edge.health.tiers import TierPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def psi_text(avg10: float) -> str:
    return (f"some avg10={avg10:.2f} avg60=0.00 avg300=0.00 total=1\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")


def meminfo_text(avail_mb: int) -> str:
    return f"MemTotal: 16000000 kB\nMemAvailable: {avail_mb * 1024} kB\n"


def setup(tmp_path: Path, quiet_s: float, clock: FakeClock,
          ) -> tuple[MemoryMonitor, EventRecorder, Path, Path]:
    psi, meminfo = tmp_path / "psi", tmp_path / "meminfo"
    psi.write_text(psi_text(0))
    meminfo.write_text(meminfo_text(8000))
    bus, recorder = EventBus(), EventRecorder()
    bus.add_listener(recorder)
    monitor = MemoryMonitor(bus, MemoryPaths(str(psi), str(meminfo), ""),
                            TierPolicy(quiet_s=quiet_s), interval_s=0.01, clock=clock)
    return monitor, recorder, psi, meminfo


def changes(recorder: EventRecorder) -> list[tuple[int, int]]:
    return [(e.previous, e.tier) for e in recorder.events if isinstance(e, TierChanged)]


def test_rising_then_falling_pressure_steps_down_at_once_and_up_one_tier_per_quiet_period(
        tmp_path: Path) -> None:
    clock = FakeClock()
    monitor, recorder, psi, meminfo = setup(tmp_path, quiet_s=30, clock=clock)
    for avg10 in (0, 12, 25, 45, 45):  # rising: one step per reading, at once
        psi.write_text(psi_text(avg10))
        monitor.poll_once()
        clock.now += 1
    assert changes(recorder) == [(0, 1), (1, 2), (2, 3)]
    assert monitor.current.reason == "psi some avg10 45.0% >= 40%"
    psi.write_text(psi_text(0))
    times = []
    for _ in range(120):  # calm for two minutes, one reading a second
        if monitor.poll_once().changed:
            times.append(clock.now)
        clock.now += 1
    assert changes(recorder) == [(0, 1), (1, 2), (2, 3), (3, 2), (2, 1), (1, 0)]
    assert [b - a for a, b in itertools.pairwise(times)] == [30, 30]
    meminfo.write_text(meminfo_text(700))  # MemAvailable alone also counts
    monitor.poll_once()
    assert changes(recorder)[-1] == (0, 2)
    assert recorder.events[-1].reason == "MemAvailable 700 MiB < 800 MiB"  # type: ignore[attr-defined]


def test_a_floor_publishes_at_once_and_status_reports_it(tmp_path: Path) -> None:
    clock = FakeClock()
    monitor, recorder, _, _ = setup(tmp_path, quiet_s=5, clock=clock)
    monitor.poll_once()
    decision = monitor.set_floor("breaker:llm", 2, "3 failures in a row")
    assert decision.changed and changes(recorder) == [(0, 2)]
    clock.now += 3
    status = monitor.status()
    assert status["tier"] == 2 and status["tier_name"] == "extractive"
    assert status["tier_reason"] == "forced by breaker:llm: 3 failures in a row"
    assert status["tier_since_s"] == 3.0 and status["floors"] == {"breaker:llm": 2}
    assert status["memory"]["psi_some_avg10"] == 0.0
    monitor.clear_floor("breaker:llm")
    for _ in range(8):
        monitor.poll_once()
        clock.now += 1
    assert changes(recorder) == [(0, 2), (2, 1)]


def test_the_running_loop_polls_files_and_publishes_on_the_bus(tmp_path: Path) -> None:
    clock = FakeClock()
    monitor, _, psi, _ = setup(tmp_path, quiet_s=0, clock=clock)
    seen: list[TierChanged] = []

    async def main() -> None:
        bus = monitor.bus
        assert bus is not None
        async with bus.subscribe("test", max_buffer=math.inf) as events, \
                anyio.create_task_group() as tg:
            await tg.start(monitor.run)
            assert monitor.mode == "poll" and "plain file" in monitor.mode_detail
            psi.write_text(psi_text(65))
            with anyio.fail_after(5):
                async for event in events:
                    if isinstance(event, TierChanged):
                        seen.append(event)
                        if event.tier == 4:
                            psi.write_text(psi_text(0))
                        if event.tier == 0:
                            break
            tg.cancel_scope.cancel()

    anyio.run(main)
    assert [(e.previous, e.tier) for e in seen] == [(0, 4), (4, 3), (3, 2), (2, 1), (1, 0)]
    assert monitor.readings >= 6


def test_built_from_the_config_sections(tmp_path: Path) -> None:
    memory = MemoryConfig(psi_path=str(tmp_path / "psi"), meminfo_path="", cgroup_dir="",
                          interval_s=0.5, psi_trigger="")
    monitor = MemoryMonitor.from_config(None, memory, TiersConfig(quiet_s=7, psi_lean=5.0))
    assert (monitor.interval_s, monitor.psi_trigger, monitor.policy.quiet_s) == (0.5, "", 7)
    (tmp_path / "psi").write_text(psi_text(6))
    assert monitor.poll_once().tier == 1
