"""The tier policy: how cheaply to answer, given memory pressure (pure; time is passed in).

Tiers (DESIGN §5): 0 full, 1 lean, 2 extractive, 3 canned, 4 minimal.  Each reading *demands*
a tier: the highest tier any of its signals reaches (PSI ``some avg10`` %, MemAvailable MiB,
cgroup working set / limit %), raised to the forced floor (an open breaker, a model that did
not fit).  The policy steps **down at once** to the demanded tier and steps **up one tier at a
time**, only after ``quiet_s`` seconds in which every reading allowed it (hysteresis: a machine
at the edge of a threshold does not flap, and loading the bigger model again -- itself a burst
of memory -- happens only once things are calm).  Every change carries a human reason.

A missing signal (no PSI, no cgroup limit) demands nothing; with no signal at all the tier is
the floor.  Floors released by their source go through the same hysteresis as memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from xnai_edge.config import TiersConfig
from xnai_edge.health.memory import MIB, MemoryReading

TIER_NAMES = ("full", "lean", "extractive", "canned", "minimal")
MAX_TIER = len(TIER_NAMES) - 1


@dataclass(frozen=True)
class Decision:
    tier: int
    previous: int
    changed: bool
    reason: str
    """Why the policy is at ``tier`` (for a change: why it changed)."""
    demanded: int
    """The tier this reading alone asks for (floor included)."""


def demand(reading: MemoryReading, cfg: TiersConfig) -> tuple[int, str]:
    """The tier a reading asks for, and the strongest signal's reason."""
    best, why = 0, ""
    psi, avail, ratio = reading.psi_some_avg10, reading.available_mb, reading.cgroup_ratio
    for tier in range(MAX_TIER, 0, -1):
        if psi is not None and psi >= cfg.psi[tier - 1]:
            best, why = tier, f"psi some avg10 {psi:.1f}% >= {cfg.psi[tier - 1]:g}%"
        elif avail is not None and avail < cfg.avail_mb[tier - 1]:
            best, why = tier, f"MemAvailable {avail:.0f} MiB < {cfg.avail_mb[tier - 1]} MiB"
        elif ratio is not None and ratio * 100 >= cfg.cgroup_pct[tier - 1]:
            assert reading.cgroup is not None and reading.cgroup.limit is not None
            limit = "memory.high" if reading.cgroup.high is not None else "memory.max"
            why = (f"cgroup working set {ratio * 100:.1f}% of {limit} "
                   f"{reading.cgroup.limit / MIB:.0f} MiB >= {cfg.cgroup_pct[tier - 1]:g}%")
            best = tier
        if best:
            break
    return best, why


def describe(reading: MemoryReading) -> str:
    """The signals of a reading, for step-up reasons: "psi some avg10 3.2%, MemAvailable ..."."""
    parts = []
    if (psi := reading.psi_some_avg10) is not None:
        parts.append(f"psi some avg10 {psi:.1f}%")
    if (avail := reading.available_mb) is not None:
        parts.append(f"MemAvailable {avail:.0f} MiB")
    if (ratio := reading.cgroup_ratio) is not None:
        parts.append(f"cgroup working set {ratio * 100:.1f}% of its limit")
    return ", ".join(parts) or "no memory signals"


class TierPolicy:
    def __init__(self, thresholds: TiersConfig | None = None, quiet_s: float | None = None, *,
                 tier: int = 0) -> None:
        self.thresholds = thresholds or TiersConfig()
        self.quiet_s = self.thresholds.quiet_s if quiet_s is None else quiet_s
        self.tier = tier
        self.reason = "starting"
        self._calm_since: float | None = None
        self._floors: dict[str, tuple[int, str]] = {}

    # ---------------------------------------------------------------------------- floors
    def set_floor(self, source: str, tier: int, reason: str) -> None:
        """Force at least ``tier`` (e.g. source "breaker:llm") until ``clear_floor``."""
        if not 0 <= tier <= MAX_TIER:
            raise ValueError(f"tier {tier} is not between 0 and {MAX_TIER}")
        self._floors[source] = (tier, reason)

    def clear_floor(self, source: str) -> None:
        self._floors.pop(source, None)

    def floors(self) -> dict[str, tuple[int, str]]:
        return dict(self._floors)

    def floor(self) -> tuple[int, str]:
        if not self._floors:
            return 0, ""
        source, (tier, reason) = max(self._floors.items(), key=lambda kv: kv[1][0])
        return tier, f"forced by {source}: {reason}"

    # ---------------------------------------------------------------------------- update
    def update(self, now: float, reading: MemoryReading) -> Decision:
        wanted, why = demand(reading, self.thresholds)
        floor, floor_why = self.floor()
        if floor > wanted:
            wanted, why = floor, floor_why
        previous = self.tier
        if wanted > self.tier:  # step down at once, all the way
            self.tier, self.reason, self._calm_since = wanted, why, None
        elif wanted == self.tier:
            self._calm_since = None
        elif self._calm_since is None:
            self._calm_since = now
        else:
            calm_for = now - self._calm_since
            if calm_for >= self.quiet_s:  # one tier up; the next one needs its own quiet period
                self.tier -= 1
                self.reason = f"calm for {calm_for:.0f} s ({describe(reading)})"
                self._calm_since = now if wanted < self.tier else None
        return Decision(self.tier, previous, self.tier != previous, self.reason, wanted)

    @property
    def name(self) -> str:
        return TIER_NAMES[self.tier]


def check_fit(model_bytes: int, reading: MemoryReading, reserve_mb: float) -> str | None:
    """Why a model of ``model_bytes`` would not fit now, or None if it fits.

    It must fit in MemAvailable minus ``reserve_mb`` and, under a cgroup limit, below that
    limit minus the group's working set.  Unknown signals do not refuse (no information is
    not a reason to stay deaf); the tier policy still watches the result.
    """
    reserve = int(reserve_mb * MIB)
    need = model_bytes / MIB
    if reading.mem_available is not None and model_bytes > reading.mem_available - reserve:
        return (f"needs {need:.0f} MiB but MemAvailable is {reading.mem_available / MIB:.0f} MiB "
                f"with {reserve_mb:g} MiB kept in reserve")
    group = reading.cgroup
    if group is not None and group.limit is not None and group.working_set is not None:
        room = group.limit - group.working_set
        if model_bytes > room - reserve:
            return (f"needs {need:.0f} MiB but the service cgroup has {room / MIB:.0f} MiB left "
                    f"below its limit, with {reserve_mb:g} MiB kept in reserve")
    return None


def fits(model_bytes: int, reading: MemoryReading, reserve_mb: float) -> bool:
    return check_fit(model_bytes, reading, reserve_mb) is None
