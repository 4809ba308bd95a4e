"""glibc's heap, tuned where a measurement said so.

``give_back``: glibc keeps freed heap memory for reuse, and every large model load raises its
mmap threshold (up to 32 MiB), so after a big object is dropped its pages can stay resident for
the life of the process.  ``malloc_trim(0)`` returns them.

``limit_arenas`` (called first thing by ``cli.main``): glibc gives threads their own heaps
("arenas", up to 8 per core).  With them, faster-whisper's encoder gains nothing from a second
thread in the windows the voice loop uses; with at most two, it runs in about half the time
(``backends/stt.py`` has the figures).  Not root-caused; the embedder and Piper run at the same
speed either way (measured 2026-12-02).

Where there is no glibc both do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes

_M_ARENA_MAX = -8  # from glibc's malloc.h


def give_back() -> None:
    """Return free heap pages to the system (glibc only).  Objects kept alive by reference
    cycles are not free yet: ``gc.collect()`` first where that matters."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def limit_arenas(count: int = 2) -> None:
    """At most ``count`` glibc arenas for threads that allocate from now on (glibc only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, count)
