"""Retrieval quality through the real CLI: all 2,067 SQuAD dev passages as files, ingested with
``xnai-edge ingest``; 300 dev questions evenly spaced over questions-dev.jsonl go through
``xnai-edge search - --k 5`` (one JSON line per query).  The gold document is the file of the
question's passage.  Building the KB takes 2-5 minutes on 2 cores (4.6 min measured while
other work ran): once per module."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import CLI, TEST_DATA

SQUAD = TEST_DATA / "squad-dev"
QUESTIONS = 300
K = 5

pytestmark = pytest.mark.slow


def load_jsonl(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def spread(items: list[dict[str, object]], n: int) -> list[dict[str, object]]:
    """n items evenly spaced over the list, so every article is represented."""
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


@dataclass(frozen=True)
class SquadKb:
    env: dict[str, str]  # for the CLI: models dir and data dir
    docs: Path  # the folder of passage files


def file_name(passage_id: str) -> str:
    return passage_id.replace("/", "_") + ".md"


@pytest.fixture(scope="module")
def squad_kb(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SquadKb:
    """Write one Markdown file per passage (its article title as front matter), ingest the
    folder."""
    root = tmp_path_factory.mktemp("squad")
    docs = root / "passages"
    docs.mkdir()
    passages = load_jsonl(SQUAD / "passages.jsonl")
    assert len(passages) == 2067
    for p in passages:
        (docs / file_name(str(p["id"]))).write_text(
            f"---\ntitle: {p['title']}\n---\n\n{p['text']}\n", encoding="utf-8")
    env = {**os.environ, "XNAI_EDGE_MODELS_DIR": str(models_dir),
           "XNAI_EDGE_DATA_DIR": str(root / "data")}
    result = subprocess.run([*CLI, "-q", "ingest", str(docs)], capture_output=True, text=True,
                            env=env, timeout=900, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("added 2067, updated 0, unchanged 0, failed 0;")
    return SquadKb(env, docs.resolve())


def test_recall_at_1_and_5_through_the_cli(squad_kb: SquadKb) -> None:
    questions = spread(load_jsonl(SQUAD / "questions-dev.jsonl"), QUESTIONS)
    assert len({q["id"] for q in questions}) == QUESTIONS
    result = subprocess.run([*CLI, "-q", "search", "-", "--k", str(K)],
                            input="".join(f"{q['question']}\n" for q in questions),
                            capture_output=True, text=True, env=squad_kb.env, timeout=600,
                            check=False)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["query"] for a in answers] == [str(q["question"]).strip() for q in questions]

    at1 = at5 = 0
    for question, answer in zip(questions, answers, strict=True):
        gold = str(squad_kb.docs / file_name(str(question["gold_passage"])))
        ranked = [r["path"] for r in answer["results"]]
        assert len(ranked) == K
        at1 += ranked[0] == gold
        at5 += gold in ranked
    recall1, recall5 = at1 / QUESTIONS, at5 / QUESTIONS
    print(f"\nrecall@1 = {recall1:.3f}, recall@{K} = {recall5:.3f} ({QUESTIONS} questions)")
    assert recall5 >= 0.92
    assert recall1 >= 0.74


def test_a_second_ingest_of_the_corpus_is_a_no_op(squad_kb: SquadKb) -> None:
    result = subprocess.run([*CLI, "-q", "ingest", str(squad_kb.docs)],
                            capture_output=True, text=True, env=squad_kb.env, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("added 0, updated 0, unchanged 2067, failed 0; 0 chunks")
