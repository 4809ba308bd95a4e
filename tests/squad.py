"""The SQuAD dev knowledge base the retrieval and answer-quality tests share.

All 2,067 passages (tests/data/squad-dev/README.md: index all of them, so retrieval has the
full set of distractors), one Markdown file each with its article title as front matter,
ingested once per test session through the real ``xnai-edge ingest``.  Building it is the
suite's biggest single cost (~4 minutes on 2 cores, almost all of it the embedder), so the
recall test and the answer-quality test read the same one.
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


def build(root: Path, models_dir: Path) -> SquadKb:
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
    result = subprocess.run([*CLI, "-q", "ingest", str(docs)], capture_output=True, text=True,
                            env=env, timeout=900, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"added {PASSAGES}, updated 0, unchanged 0, failed 0;")
    return SquadKb(env, data_dir, docs.resolve())
