"""The SQuAD dev knowledge base the retrieval and answer-quality tests share.

All 2,067 passages (tests/data/squad-dev/README.md: index all of them, so retrieval has the
full set of distractors), one Markdown file each with its article title as front matter,
ingested once per test session through the real ``xnai-edge ingest``.  Building it is the
suite's biggest single cost (~4 minutes on 2 cores, almost all of it the embedder), so the
recall test and the answer-quality test read the same one.

So it is built *in the background* (``BackgroundBuild``), started as soon as collection shows
that a test needs it, at ``nice 19``, and the tests that read it run last.  The rest of the
suite leaves about half of the two cores idle (subprocesses starting, real-time audio, brokers
and browsers waiting: user+sys 29.6 CPU-minutes over 28.3 wall minutes in a full run), and
nice 19 gives the build only that idle share: a foreground test that wants both cores gets
them.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import CLI, TEST_DATA

SQUAD = TEST_DATA / "squad-dev"
PASSAGES = 2067


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def spread(items: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """n items evenly spaced over the list, so every article is represented."""
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def file_name(passage_id: str) -> str:
    return passage_id.replace("/", "_") + ".md"


@dataclass(frozen=True)
class SquadKb:
    env: dict[str, str]
    """For the CLI: models dir and data dir."""
    data_dir: Path
    docs: Path
    """The folder of passage files (resolved, as the KB stores paths)."""

    def passage_path(self, passage_id: str) -> str:
        return str(self.docs / file_name(passage_id))


class BackgroundBuild:
    """``xnai-edge ingest`` of every passage, running while other tests run; ``wait()`` for it."""

    def __init__(self, root: Path, models_dir: Path) -> None:
        docs = root / "passages"
        docs.mkdir()
        passages = load_jsonl(SQUAD / "passages.jsonl")
        assert len(passages) == PASSAGES
        for p in passages:
            (docs / file_name(str(p["id"]))).write_text(
                f"---\ntitle: {p['title']}\n---\n\n{p['text']}\n", encoding="utf-8")
        data_dir = root / "data"
        env = {**os.environ, "XNAI_EDGE_MODELS_DIR": str(models_dir),
               "XNAI_EDGE_DATA_DIR": str(data_dir)}
        self.kb = SquadKb(env, data_dir, docs.resolve())
        # Output goes to files: a pipe nobody reads for minutes could fill and stall the ingest.
        self._out, self._err = root / "ingest.out", root / "ingest.err"
        with self._out.open("wb") as out, self._err.open("wb") as err:
            self._proc = subprocess.Popen([*CLI, "-q", "ingest", str(docs)], stdout=out,
                                          stderr=err, env=env, preexec_fn=lambda: os.nice(19))

    def wait(self, timeout: float = 900) -> SquadKb:
        """The KB once the ingest has ended well (fails the test that needs it otherwise)."""
        returncode = self._proc.wait(timeout=timeout)
        stdout = self._out.read_text(encoding="utf-8")
        assert returncode == 0, self._err.read_text(encoding="utf-8")
        assert stdout.startswith(f"added {PASSAGES}, updated 0, unchanged 0, failed 0;"), stdout
        return self.kb

    def stop(self) -> None:
        """End of the session: an ingest still running (a ``-x`` stop, Ctrl-C) is killed."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
