"""Tier monitor: pressure crossing a threshold -> ``TierChanged``, and the cost of one reading.

    .venv/bin/python tools/bench_tiers.py [--interval 2.0] [--trials 10]

* **latency**: the file-driven monitor runs at its configured interval (``[memory]
  interval_s``) on a PSI file in a temp dir; at a random moment of the interval the file is
  rewritten with ``some avg10`` above the tier-1 threshold, and the time until the monitor
  publishes ``TierChanged`` is measured (expect ~interval/2 on average, at most one interval).
  With real kernel PSI a poll trigger can wake the monitor earlier, but ``avg10`` itself lags a
  squeeze by several seconds (see tests/integration/test_memory_squeeze.py).
* **reading cost**: one ``MemoryReader.read()`` on this machine's real /proc and cgroup files,
  and one full ``poll_once`` (read + policy), in microseconds; CPU per hour at the interval.

Prints one JSON object (progress on stderr).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.bench import emit, log, ms_stats  # noqa: E402
from xnai_edge.bus import EventBus  # noqa: E402
from xnai_edge.config import MemoryConfig, TiersConfig  # noqa: E402
from xnai_edge.events import Event, TierChanged  # noqa: E402
from xnai_edge.health.memory import MemoryPaths, MemoryReader  # noqa: E402
from xnai_edge.health.monitor import MemoryMonitor  # noqa: E402
from xnai_edge.health.tiers import TierPolicy  # noqa: E402
from xnai_edge.health.trigger import PsiTrigger  # noqa: E402


def psi_text(avg10: float) -> str:
    return (f"some avg10={avg10:.2f} avg60=0.00 avg300=0.00 total=0\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")


async def latency(interval_s: float, trials: int) -> list[float]:
    """Milliseconds from rewriting the PSI file to ``TierChanged`` (tier 0 -> 1)."""
    threshold = TiersConfig().psi_lean
    results: list[float] = []
    with tempfile.TemporaryDirectory(prefix="xnai-bench-tiers-") as tmp:
        psi = Path(tmp) / "psi"
        psi.write_text(psi_text(0))
        bus = EventBus()
        changed = anyio.Event()
        stamps: list[float] = []

        def on_event(event: Event) -> None:
            if isinstance(event, TierChanged) and event.tier > event.previous:
                stamps.append(time.perf_counter())
                changed.set()

        bus.add_listener(on_event)
        monitor = MemoryMonitor(bus, MemoryPaths(str(psi), "", ""), TierPolicy(quiet_s=0),
                                interval_s=interval_s)
        async with anyio.create_task_group() as tg:
            await tg.start(monitor.run)
            for i in range(trials):
                psi.write_text(psi_text(0))
                while monitor.tier != 0:  # quiet_s=0: back up one tier per reading
                    await anyio.sleep(interval_s / 4)
                changed = anyio.Event()
                await anyio.sleep(random.uniform(0, interval_s))
                written = time.perf_counter()
                psi.write_text(psi_text(threshold + 5))
                with anyio.fail_after(interval_s * 3 + 1):
                    await changed.wait()
                results.append((stamps[-1] - written) * 1000)
                log(f"trial {i + 1}/{trials}: {results[-1]:.0f} ms")
            tg.cancel_scope.cancel()
    return results


def reading_cost(rounds: int) -> dict[str, Any]:
    reader = MemoryReader(MemoryPaths())
    monitor = MemoryMonitor(None, reader, TierPolicy())
    out: dict[str, Any] = {"sources": reader.describe()}
    for name, fn in (("read_us", reader.read), ("poll_once_us", monitor.poll_once)):
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1e6)
        out[name] = {"p50": round(statistics.median(samples), 1),
                     "mean": round(statistics.fmean(samples), 1), "n": rounds}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=MemoryConfig().interval_s,
                        help="monitor interval in seconds (default: [memory] interval_s)")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2000, help="readings timed for the cost")
    args = parser.parse_args()
    log(f"latency: {args.trials} trials at interval {args.interval:g} s")
    lat = anyio.run(latency, args.interval, args.trials)
    cost = reading_cost(args.rounds)
    trigger, why = PsiTrigger.open("/proc/pressure/memory", MemoryConfig().psi_trigger)
    if trigger is not None:
        trigger.close()
    per_hour_ms = cost["poll_once_us"]["mean"] / 1000 * 3600 / args.interval
    emit({"interval_s": args.interval,
          "threshold_to_tier_changed_ms": {**ms_stats(lat), "max": round(max(lat), 1)},
          "reading_cost": cost,
          "monitor_cpu_ms_per_hour": round(per_hour_ms, 1),
          "psi_trigger_on_this_machine": trigger.spec if trigger is not None else why})


if __name__ == "__main__":
    main()
