"""Give freed memory back to the system.

glibc keeps freed heap memory for reuse, and every large model load raises its mmap threshold
(up to 32 MiB), so after a big object is dropped its pages can stay resident for the life of
the process.  ``malloc_trim(0)`` returns them.  Where there is no glibc this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes


def give_back() -> None:
    """Return free heap pages to the system (glibc only).  Objects kept alive by reference
    cycles are not free yet: ``gc.collect()`` first where that matters."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
