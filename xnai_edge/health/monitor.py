"""The memory monitor: read -> tier policy -> ``TierChanged`` on the bus, every interval.

It runs as one task in the daemon's task group.  The file reads are a few hundred bytes from
procfs/cgroupfs (tens of microseconds), so they happen inline on the event loop.  When the
kernel accepts a PSI poll trigger the wait between readings runs in a worker thread and ends
early when the trigger fires; otherwise it is a plain sleep (``mode`` says which).
``current`` is what ``status --json`` shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskStatus

from xnai_edge.bus import EventBus
from xnai_edge.config import MemoryConfig, TiersConfig
from xnai_edge.events import TierChanged
from xnai_edge.health.memory import MemoryPaths, MemoryReader, MemoryReading
from xnai_edge.health.tiers import TIER_NAMES, Decision, TierPolicy
from xnai_edge.health.trigger import PsiTrigger

DEFAULT_TRIGGER = MemoryConfig().psi_trigger


@dataclass(frozen=True)
class MonitorStatus:
    tier: int
    reason: str
    since: float
    """Clock time of the last tier change (or of the start)."""
    reading: dict[str, Any]
    mode: str
    """"trigger" (PSI poll trigger) or "poll" (plain polling of avg10)."""
    mode_detail: str
    floors: dict[str, int]

    @property
    def name(self) -> str:
        return TIER_NAMES[self.tier]

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        return {"tier": self.tier, "tier_name": self.name, "tier_reason": self.reason,
                "tier_since_s": None if now is None else round(now - self.since, 1),
                "memory": self.reading, "monitor_mode": self.mode,
                "monitor_mode_detail": self.mode_detail, "floors": dict(self.floors)}


class MemoryMonitor:
    def __init__(self, bus: EventBus | None, paths: MemoryPaths | MemoryReader,
                 policy: TierPolicy | None = None, *, interval_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 psi_trigger: str = DEFAULT_TRIGGER) -> None:
        self.bus = bus
        self.reader = paths if isinstance(paths, MemoryReader) else MemoryReader(paths)
        self.policy = policy or TierPolicy()
        self.interval_s = interval_s
        self.clock = clock
        self.psi_trigger = psi_trigger
        self.last_reading = MemoryReading()
        self.readings = 0
        self.trigger_fired = 0
        self.mode, self.mode_detail = "poll", "not started"
        self._since = clock()
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    def from_config(cls, bus: EventBus | None, memory: MemoryConfig, tiers: TiersConfig, *,
                    clock: Callable[[], float] = time.monotonic) -> MemoryMonitor:
        return cls(bus, MemoryPaths.from_config(memory), TierPolicy(tiers), clock=clock,
                   interval_s=memory.interval_s, psi_trigger=memory.psi_trigger)

    # ---------------------------------------------------------------------------- state
    @property
    def tier(self) -> int:
        return self.policy.tier

    @property
    def current(self) -> MonitorStatus:
        floors = {source: tier for source, (tier, _) in self.policy.floors().items()}
        return MonitorStatus(self.policy.tier, self.policy.reason, self._since,
                             self.last_reading.to_dict(), self.mode, self.mode_detail, floors)

    def status(self) -> dict[str, Any]:
        """``current`` as JSON-ready dict, with the age of the tier and the reading counts."""
        return {**self.current.to_dict(self.clock()), "readings": self.readings,
                "trigger_fired": self.trigger_fired}

    # ---------------------------------------------------------------------------- steps
    def poll_once(self) -> Decision:
        """Read, decide, publish: one step of the loop (tests and tools call it directly)."""
        self.last_reading = self.reader.read()
        self.readings += 1
        return self._decide()

    def set_floor(self, source: str, tier: int, reason: str) -> Decision:
        """Force at least ``tier`` now (an open breaker, a model that did not fit)."""
        self.policy.set_floor(source, tier, reason)
        return self._decide()

    def clear_floor(self, source: str) -> None:
        """The source recovered; the tier comes back up through the quiet period."""
        self.policy.clear_floor(source)

    def _decide(self) -> Decision:
        now = self.clock()
        decision = self.policy.update(now, self.last_reading)
        if decision.changed:
            self._since = now
            if self.bus is not None:
                self.bus.publish(TierChanged(tier=decision.tier, previous=decision.previous,
                                             reason=decision.reason))
        return decision

    # ---------------------------------------------------------------------------- loop
    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Read every ``interval_s`` (earlier on a PSI trigger) until cancelled."""
        trigger, why = PsiTrigger.open(self.reader.psi_path, self.psi_trigger)
        if trigger is not None:
            self.mode, self.mode_detail = "trigger", f"{trigger.spec!r} on {trigger.path}"
        else:
            self.mode, self.mode_detail = "poll", f"polling avg10 every {self.interval_s:g} s " \
                f"({why})"
        try:
            self.poll_once()
            task_status.started()
            while True:
                if trigger is not None and not trigger.broken:
                    if await anyio.to_thread.run_sync(trigger.wait, self.interval_s,
                                                      abandon_on_cancel=True,
                                                      limiter=self._limiter):
                        self.trigger_fired += 1
                else:
                    if trigger is not None and self.mode == "trigger":
                        self.mode, self.mode_detail = "poll", "PSI trigger broke (cgroup gone?)"
                    await anyio.sleep(self.interval_s)
                self.poll_once()
        finally:
            if trigger is not None:
                trigger.close()


async def run(bus: EventBus | None, paths: MemoryPaths, policy: TierPolicy,
              interval_s: float = 2.0, clock: Callable[[], float] = time.monotonic, *,
              psi_trigger: str = DEFAULT_TRIGGER,
              task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    """Run a ``MemoryMonitor`` (use the class to keep ``current`` for the status page)."""
    monitor = MemoryMonitor(bus, paths, policy, interval_s=interval_s, clock=clock,
                            psi_trigger=psi_trigger)
    await monitor.run(task_status=task_status)
