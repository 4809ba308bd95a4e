"""Retrieval quality through the real CLI: all 2,067 SQuAD dev passages as files, ingested with
``xnai-edge ingest`` (the session's shared KB, tests/squad.py); 300 dev questions evenly spaced
over questions-dev.jsonl go through ``xnai-edge search - --k 5`` (one JSON line per query).
The gold document is the file of the question's passage."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import CLI
from squad import PASSAGES, SQUAD, SquadKb, load_jsonl, spread

QUESTIONS = 300
K = 5

pytestmark = pytest.mark.slow


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
        gold = squad_kb.passage_path(str(question["gold_passage"]))
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
    assert result.stdout.startswith(
        f"added 0, updated 0, unchanged {PASSAGES}, failed 0; 0 chunks")
