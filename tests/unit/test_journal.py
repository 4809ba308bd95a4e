"""The daemon's journal lines survive llama-cpp-python silencing stderr for a model load.

Run in a child process: the silencer points the process's own fd 2 at /dev/null, which must not
happen to pytest's.  The silencer is llama-cpp-python's own, as the LLM backend uses it.
"""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import sys
from llama_cpp._utils import suppress_stdout_stderr
from xnai_edge import journal
if sys.argv[1] == "open":
    journal.open_journal()
journal.say("before")
with suppress_stdout_stderr(disable=False):  # what Llama(verbose=False) does while loading
    journal.say("error[mqtt-auth]: said while the model loads")
journal.say("after")
"""


def _lines(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stderr.splitlines()


def test_a_line_said_while_a_model_load_silences_stderr_still_reaches_the_journal() -> None:
    assert _lines("open") == ["before", "error[mqtt-auth]: said while the model loads",
                              "after"]


def test_without_the_journal_that_line_is_lost() -> None:
    # Why open_journal exists: plain stderr loses the line.
    assert _lines("plain") == ["before", "after"]
