"""Answer quality on real technical documents, not SQuAD: the manual set.

The gzip(1) man page and Debian's "Users and Groups" document (tests/data/manual-eval/,
licences in tests/data/LICENSES.md) are ingested as ``xnai-edge ingest`` does, next to the
bundled manual; the real ``Answerer`` (extractive tier) answers 40 questions with gold phrases
and 10 on the same topic that the documents do not answer (``tools/manual_quality.py``).
Thresholds sit a few questions under what was measured (2026-12-01, third step of issue 10:
contains gold 0.875 where the naive read-out of the best BM25 sentence gets 0.55, "I don't
know" on 0 answerable and 4 of 10 unanswerable, median 13.5 / p95 28 words), so noise does not
fail the test but a real regression does.  About 20 s on 2 cores.

Two more sets whose questions were written by someone who had not seen the answerer
(tests/data/manual-dev1/: journald.conf(5) and mosquitto.conf(5); manual-dev2/: systemd's
UIDS-GIDS.md and avahi-daemon.conf(5)), and a hold-out set never tuned on (manual-holdout/:
logind.conf(5), adduser.conf(5)), keep the answerer honest on documents it was not first tuned
on; about 10 s each.  So do sets of other kinds of document: an HTML FAQ and a PDF spec
(manual-dev3), an FAQ as plain text and a Sphinx HTML chapter (manual-dev4), and a second
hold-out set of HTML and PDF (manual-holdout2).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO))
from tools.answer_quality import Replay
from tools.fit_answerability import manual_figures
from tools.manual_quality import Result, contains_gold, replay_items, run, summarise
from xnai_edge.brain.answerability import model
from xnai_edge.config import Config

DATA = REPO / "tests" / "data"


@pytest.fixture(scope="module")
def results(models_dir: Path) -> list[Result]:
    return anyio.run(run, models_dir)


@pytest.fixture(scope="module")
def summary(results: list[Result]) -> dict[str, Any]:
    figures = summarise(results)
    print(f"\nmanual set: {figures}")
    return figures


def test_manual_questions_are_answered_right_and_not_refused(summary: dict[str, Any]) -> None:
    assert summary["answerable"] == 40 and summary["unanswerable"] == 10
    assert summary["answer_contains_gold"] >= 0.8  # measured 0.90 (36 of 40; 0.875 before the
    # closest sentence joined the retrieval rerank)
    assert summary["abstained_when_answerable"] <= 0.075  # measured 0.0
    assert summary["answer_contains_gold"] > summary["naive_contains_gold"]  # 0.90 vs 0.55


def test_questions_the_manual_does_not_answer_get_i_dont_know(summary: dict[str, Any]) -> None:
    # measured 0.5: "What uid does the www-data user have?" and "How much memory ...?" are
    # refused since a number question needs a number in its answer (0.4 before that); 0.6
    # before the closest sentence joined the retrieval rerank ("Which option sets the number
    # of threads gzip uses?" is now answered with the GZIP variable's sentence, 0.32 > 0.27)
    assert summary["abstained_when_unanswerable"] >= 0.4


def test_manual_answers_are_short_and_name_their_source(results: list[Result]) -> None:
    spoken = [r for r in results if r.answer.method != "abstain"]
    lengths = sorted(len(r.answer.text.split()) for r in spoken)
    assert statistics.median(lengths) <= 15
    assert lengths[int(0.95 * (len(lengths) - 1))] <= 30
    assert all(r.answer.sources for r in spoken)
    right = [r for r in spoken if contains_gold(r.answer.text, r.question["answers"])]
    assert all(r.answer.sources[0].path.endswith(r.question["doc"]) for r in right)


def test_the_replay_that_refits_use_gives_what_the_answerer_gives(
        models_dir: Path, summary: dict[str, Any]) -> None:
    """``tools/fit_answerability.py --manual`` fits on a replay of the answerer from what it
    read; that replay must answer as the answerer does, or a refit is tuned on something else."""
    items = anyio.run(lambda: replay_items(models_dir, DATA / "manual-eval", leave_out=False))
    assert len(items) == 50 and sum(i["answerable"] for i in items) == 40
    replayed = manual_figures(items, Replay.of(Config()), model())["manual-eval"]
    assert replayed["right"] == summary["answer_contains_gold"]
    assert replayed["idk_answerable"] == summary["abstained_when_answerable"]
    assert replayed["idk_unanswerable"] == summary["abstained_when_unanswerable"]


# (set, right at least, "I don't know" on answerable at most): measured 2026-12-07 (session 11)
# 0.75 / 0.0 (naive read-out 0.25) and 0.60 / 0.15 (naive 0.475); before that session's
# manual work 0.375 / 0.05 and 0.40 / 0.225.
# manual-dev3 (an HTML FAQ and a PDF spec), session 12: 0.675 / 0.075 (naive 0.50); 0.50 /
# 0.075 when it came, before the HTML, PDF and option work.
# manual-holdout (logind.conf(5), adduser.conf(5)) was only ever measured, not tuned on: 0.50 /
# 0.15 (naive 0.275), 0.425 / 0.15 before the session.
# manual-holdout2 (the Valgrind manual's core chapter as HTML, the Libtasn1 manual as PDF), only
# measured: 0.60 / 0.0 (naive 0.50); 0.525 / 0.05 with the code before session 12; 0.65 / 0.0
# since Sphinx-style HTML is read block by block (session 13).
# manual-dev4 (the chrony FAQ as text, restic's "Backing up" chapter as Sphinx HTML), session
# 13: 0.60 / 0.075 (naive 0.625: it reads out whole sentences, and three of its long ones
# hold a gold that our cut leaves out); 0.55 / 0.075 when it came.  Its answers are longer:
# median 18 words.
MORE_SETS = [("manual-dev1", 0.65, 0.075, 16), ("manual-dev2", 0.5, 0.225, 16),
             ("manual-dev3", 0.6, 0.15, 16), ("manual-dev4", 0.525, 0.15, 19),
             ("manual-holdout", 0.425, 0.225, 16), ("manual-holdout2", 0.55, 0.1, 16)]


@pytest.mark.parametrize(("name", "right", "refused", "words"), MORE_SETS)
def test_manuals_the_answerer_was_not_first_tuned_on(models_dir: Path, name: str, right: float,
                                                      refused: float, words: float) -> None:
    figures = summarise(anyio.run(run, models_dir, None, DATA / name))
    print(f"\n{name}: {figures}")
    assert figures["answerable"] == 40 and figures["unanswerable"] == 10
    assert figures["answer_contains_gold"] >= right
    assert figures["abstained_when_answerable"] <= refused
    if name != "manual-dev4":  # the one set whose naive read-out is ahead (see above)
        assert figures["answer_contains_gold"] > figures["naive_contains_gold"]
    # manual-dev2: median 15.5, as "how" answers say a few words past their clause
    assert figures["words_median"] <= words and figures["words_p95"] <= 30
