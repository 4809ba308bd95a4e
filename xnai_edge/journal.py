"""The daemon's own lines for the journal (its stderr under systemd), one function: ``say``.

``open_journal()`` (called once by ``xnai-edge run``, before any model loads) keeps a duplicate
of stderr's file descriptor, and ``say`` writes there.  Why not plain ``print(file=sys.stderr)``:
llama-cpp-python silences a model load by pointing the whole process's fd 2 -- and
``sys.stderr`` -- at /dev/null for the second or two the load takes (``suppress_stdout_stderr``,
from a worker thread).  A line said meanwhile from the event loop was lost: the MQTT refusal
that tells the owner the password is wrong is said once per outage, and the daemon loads the
LLM just as the first connection attempt is refused (or just after a connect).  Seen in 2 of
12 looped runs of the two MQTT journal tests under CPU load: status ``last_error`` set, the
line nowhere in the log.
Without ``open_journal`` (the other commands, tests in process) lines go to ``sys.stderr``.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from typing import TextIO

_stream: TextIO | None = None
_lock = threading.Lock()


def open_journal() -> None:
    """Keep stderr as it is now for ``say``, whatever a library does to fd 2 later."""
    global _stream
    if _stream is not None:
        return
    try:
        fd = os.dup(sys.stderr.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # no real stderr: keep sys.stderr
        return
    _stream = os.fdopen(fd, "w", encoding="utf-8", errors="replace", buffering=1)


def stream() -> TextIO:
    """Where journal lines go (for ``traceback.print_exc(file=...)``)."""
    return _stream or sys.stderr


def say(line: str) -> None:
    """One line, flushed at once (lines from several threads do not interleave)."""
    with _lock:
        out = stream()
        print(line, file=out, flush=True)
