"""What the device is saying, on the input audio timeline.

Synthesised sentences queue up here; every input tick plays the matching slice of output (or
silence).  Because output advances in step with input, "barge-in stopped output within N ms"
is measured in audio time, and the output WAV of ``listen`` lines up with its input.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt


class OutputTimeline:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._queue: deque[npt.NDArray[np.int16]] = deque()
        self._carry = 0.0  # fractional samples owed between ticks
        self.samples_played = 0

    @property
    def pending(self) -> int:
        return sum(len(part) for part in self._queue)

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    def enqueue(self, samples: npt.NDArray[np.int16]) -> None:
        if len(samples):
            self._queue.append(np.asarray(samples, dtype=np.int16))

    def stop(self) -> int:
        """Drop everything not yet played (barge-in); returns the samples dropped."""
        dropped = self.pending
        self._queue.clear()
        return dropped

    def tick(self, seconds: float) -> tuple[npt.NDArray[np.int16], int]:
        """The next ``seconds`` of output and how many of its samples are speech."""
        exact = seconds * self.rate + self._carry
        n = int(exact)
        self._carry = exact - n
        out = np.zeros(n, dtype=np.int16)
        filled = 0
        while filled < n and self._queue:
            head = self._queue[0]
            take = min(n - filled, len(head))
            out[filled:filled + take] = head[:take]
            filled += take
            if take == len(head):
                self._queue.popleft()
            else:
                self._queue[0] = head[take:]
        self.samples_played += filled
        return out, filled
