"""Per-client request rate: a token bucket per address, so one flooding client gets 429s.

Generous on purpose (100 requests/s sustained, bursts of 200): a page load is a handful of
requests, Prometheus scrapes every 15 s and a script polling every 10 ms still fits; only a
flood is cut, and it is cut before any authentication or handler work is done for it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

RATE_PER_S = 100.0
BURST = 200.0


class RequestRate:
    def __init__(self, rate_per_s: float = RATE_PER_S, burst: float = BURST, *,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 4096) -> None:
        self.rate, self.burst, self.clock, self.max_clients = rate_per_s, burst, clock, \
            max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self.refused = 0

    def allow(self, client: str) -> bool:
        now = self.clock()
        tokens, at = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if not allowed:
            self.refused += 1
        return allowed
