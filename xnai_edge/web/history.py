"""The last hour of memory readings, for the overview's small chart.

One sample every ``interval_s`` from the status snapshot (the monitor's last reading: no extra
procfs reads), kept in a ring of an hour; the page draws it and then appends the samples that
arrive with the live stream.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio

INTERVAL_S = 10.0
KEEP_S = 3600.0


def sample_of(status: dict[str, Any]) -> dict[str, Any]:
    reading = (status.get("memory") or {}).get("memory") or {}
    return {"t": round(time.time(), 1), "mem_available_mb": reading.get("mem_available_mb"),
            "psi_some_avg10": reading.get("psi_some_avg10"), "tier": status.get("tier")}


class MemoryHistory:
    def __init__(self, interval_s: float = INTERVAL_S, keep_s: float = KEEP_S) -> None:
        self.interval_s = interval_s
        self.samples: deque[dict[str, Any]] = deque(maxlen=max(2, int(keep_s / interval_s)))

    def add(self, status: dict[str, Any]) -> dict[str, Any]:
        sample = sample_of(status)
        self.samples.append(sample)
        return sample

    async def run(self, status: Callable[[], dict[str, Any]]) -> None:
        while True:
            self.add(status())
            await anyio.sleep(self.interval_s)
