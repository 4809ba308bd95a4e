"""The tier policy: exact examples, then properties (Hypothesis) over arbitrary reading streams."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xnai_edge.config import TiersConfig
from xnai_edge.errors import ConfigError
from xnai_edge.health.cgroup import CgroupMemory
from xnai_edge.health.memory import MIB, MemoryReading
from xnai_edge.health.tiers import MAX_TIER, TierPolicy, check_fit, demand, fits

CFG = TiersConfig()
R = MemoryReading.of


# --- demand ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("reading", "tier", "reason"), [
    (R(psi=0.0, available_mb=8000), 0, ""),
    (R(psi=9.9), 0, ""),
    (R(psi=10.0), 1, "psi some avg10 10.0% >= 10%"),
    (R(psi=23.4, available_mb=8000), 2, "psi some avg10 23.4% >= 20%"),
    (R(psi=45.0), 3, "psi some avg10 45.0% >= 40%"),
    (R(psi=99.0), 4, "psi some avg10 99.0% >= 60%"),
    (R(available_mb=1499), 1, "MemAvailable 1499 MiB < 1500 MiB"),
    (R(available_mb=700), 2, "MemAvailable 700 MiB < 800 MiB"),
    (R(psi=12.0, available_mb=150), 4, "MemAvailable 150 MiB < 200 MiB"),
    (R(cgroup_ratio=0.86), 1, "cgroup working set 86.0% of memory.high 1000 MiB >= 85%"),
    (R(cgroup_ratio=0.999), 4, "cgroup working set 99.9% of memory.high 1000 MiB >= 98%"),
    (MemoryReading(), 0, ""),
])
def test_a_reading_demands_the_highest_tier_any_signal_reaches(
        reading: MemoryReading, tier: int, reason: str) -> None:
    assert demand(reading, CFG) == (tier, reason)


def test_cgroup_ratio_uses_memory_high_before_max_and_ignores_inactive_file_cache() -> None:
    group = CgroupMemory(2, "/x", current=950 * MIB, inactive_file=300 * MIB, high=800 * MIB,
                         max=1000 * MIB)
    assert group.working_set == 650 * MIB and group.limit == 800 * MIB
    tier, why = demand(MemoryReading(cgroup=group), CFG)
    assert (tier, why) == (0, "")
    busy = CgroupMemory(2, "/x", current=790 * MIB, inactive_file=0, high=800 * MIB, max=None)
    assert demand(MemoryReading(cgroup=busy), CFG) == (
        4, "cgroup working set 98.8% of memory.high 800 MiB >= 98%")


def test_thresholds_that_do_not_rise_towards_minimal_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\[tiers\] psi_\* thresholds must get higher"):
        TiersConfig(psi_extractive=5.0)
    with pytest.raises(ConfigError, match="avail_"):
        TiersConfig(avail_minimal_mb=2000)


# --- hysteresis -----------------------------------------------------------------------------

def test_steps_down_at_once_and_up_one_tier_per_quiet_period() -> None:
    policy = TierPolicy(quiet_s=10)
    trace = []
    for now, psi in [(0, 0), (1, 45), (2, 0), (11, 0), (12, 0), (21, 0), (22, 0), (31, 0),
                     (32, 0), (50, 0)]:
        d = policy.update(now, R(psi=psi))
        trace.append((now, d.tier, d.changed))
    assert [t for _, t, _ in trace] == [0, 3, 3, 3, 2, 2, 1, 1, 0, 0]
    assert [now for now, _, changed in trace if changed] == [1, 12, 22, 32]


def test_a_relapse_during_the_quiet_period_restarts_it() -> None:
    policy = TierPolicy(quiet_s=10)
    policy.update(0, R(psi=25))
    policy.update(1, R(psi=0))
    policy.update(9, R(psi=21))  # still demands tier 2: calm resets
    assert policy.update(12, R(psi=0)).tier == 2
    assert policy.update(21, R(psi=0)).tier == 2
    d = policy.update(22, R(psi=3.2, available_mb=5000))
    assert (d.tier, d.changed) == (1, True)
    assert d.reason == "calm for 10 s (psi some avg10 3.2%, MemAvailable 5000 MiB)"


def test_a_floor_forces_a_minimum_tier_at_once_and_is_released_through_the_quiet_period() -> None:
    policy = TierPolicy(quiet_s=5)
    policy.update(0, R(psi=0))
    policy.set_floor("breaker:llm", 2, "3 failures in a row")
    d = policy.update(1, R(psi=0))
    assert (d.tier, d.changed) == (2, True)
    assert d.reason == "forced by breaker:llm: 3 failures in a row"
    policy.set_floor("admission:llm", 1, "does not fit")
    assert policy.update(2, R(psi=0)).tier == 2
    policy.clear_floor("breaker:llm")
    assert [policy.update(t, R(psi=0)).tier for t in (3, 8, 9, 20)] == [2, 1, 1, 1]
    policy.clear_floor("admission:llm")
    assert [policy.update(t, R(psi=0)).tier for t in (21, 26)] == [1, 0]
    with pytest.raises(ValueError):
        policy.set_floor("x", 5, "no such tier")


# --- properties -----------------------------------------------------------------------------

readings = st.builds(
    lambda psi, avail, ratio: R(psi=psi, available_mb=avail, cgroup_ratio=ratio),
    st.one_of(st.none(), st.floats(0, 100)),
    st.one_of(st.none(), st.floats(0, 20000)),
    st.one_of(st.none(), st.floats(0, 1.2)))
steps = st.lists(st.tuples(st.floats(0, 50), readings), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(steps=steps, quiet=st.floats(0.5, 40))
def test_never_steps_up_more_than_one_tier_per_quiet_period(
        steps: list[tuple[float, MemoryReading]], quiet: float) -> None:
    policy = TierPolicy(quiet_s=quiet)
    now, last_up = 0.0, None
    for dt, reading in steps:
        now += dt
        d = policy.update(now, reading)
        if d.tier < d.previous:
            assert d.previous - d.tier == 1
            assert last_up is None or now - last_up >= quiet
            last_up = now


@settings(max_examples=300, deadline=None)
@given(steps=steps, quiet=st.floats(0, 40))
def test_a_reading_demanding_tier_n_yields_at_least_n_immediately(
        steps: list[tuple[float, MemoryReading]], quiet: float) -> None:
    policy = TierPolicy(quiet_s=quiet)
    now = 0.0
    for dt, reading in steps:
        now += dt
        d = policy.update(now, reading)
        assert d.tier >= demand(reading, CFG)[0]
        assert 0 <= d.tier <= MAX_TIER


pressures = st.lists(st.tuples(st.floats(0, 100), st.floats(0, 20000)), min_size=1,
                     max_size=40)


@settings(max_examples=200, deadline=None)
@given(values=pressures, dt=st.floats(0, 100), quiet=st.floats(0, 200))
def test_monotone_readings_give_monotone_tiers(values: list[tuple[float, float]], dt: float,
                                               quiet: float) -> None:
    psis = sorted(v[0] for v in values)
    avails = sorted((v[1] for v in values), reverse=True)
    rising = [R(psi=p, available_mb=a) for p, a in zip(psis, avails, strict=True)]
    for seq, sign in ((rising, 1), (rising[::-1], -1)):
        policy, tiers = TierPolicy(quiet_s=quiet), []
        for i, reading in enumerate(seq):
            tiers.append(policy.update(i * dt, reading).tier)
        assert all(sign * (b - a) >= 0 for a, b in itertools.pairwise(tiers))


# --- admission --------------------------------------------------------------------------------

def test_admission_refuses_a_model_that_would_not_fit() -> None:
    reading = R(available_mb=3000)
    assert fits(2000 * MIB, reading, reserve_mb=512)
    assert not fits(2600 * MIB, reading, reserve_mb=512)
    assert check_fit(2600 * MIB, reading, 512) == (
        "needs 2600 MiB but MemAvailable is 3000 MiB with 512 MiB kept in reserve")
    group = CgroupMemory(2, "/x", 2500 * MIB, 0, 3072 * MIB, 4096 * MIB)
    tight = MemoryReading(mem_available=20000 * MIB, cgroup=group)
    assert fits(50 * MIB, tight, 512)
    assert check_fit(300 * MIB, tight, 512) == (
        "needs 300 MiB but the service cgroup has 572 MiB left below its limit, with 512 MiB "
        "kept in reserve")
    assert fits(10**12, MemoryReading(), 512)  # nothing known: not a reason to refuse
