"""``kill -9`` of ``xnai-edge ingest`` at random moments never leaves a half-ingested document.

A corpus of 60 small txt/md files (SQuAD dev passages; two Markdown files have 8 sections each,
and with ``[embed] batch_size = 3`` their chunks are embedded and written in three batches
inside one transaction) is ingested
once cleanly, which gives the reference chunk texts of every document and the duration of a
full run.  Then, with a seeded RNG, ingests are killed at times drawn uniformly over that
duration, in two situations:

- *fresh*: an empty data dir (the kill may hit start-up, the bundled manual, any document, or
  the FAISS save);
- *update*: a KB holding an earlier version of the folder (19 files different, 10 missing, a
  saved index), so the kill may land while a document is being *replaced*.

After each kill, ``kb check`` must exit 0 and every document in SQLite must be complete: as
many chunks as its ``chunk_count``, with exactly the chunk texts of the clean run of the version
its sha256 names (the old version is allowed only in update trials).  Then a final ingest runs
on the same data dir and must end with exactly the clean run's documents and chunks.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import CLI, TEST_DATA

TRIALS_PER_MODE = 5  # 10 kills in all (the seed draws 8 of them before 0.6 of a clean run)
SEED = 20240613
MANUAL = "bundled://xnai-edge-manual.md"
# Chunks embedded and written per batch.  Smaller than the default (16) so that the two
# Markdown files of SECTIONS sections each are written in several batches inside their one
# transaction, without making the corpus (and every trial) slower.
BATCH = 3
SECTIONS = 8

Chunks = dict[str, tuple[str, list[str]]]  # path -> (sha256 of the file, chunk texts in order)


def passages() -> list[dict[str, str]]:
    with (TEST_DATA / "squad-dev" / "passages.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def brief(text: str, limit: int = 450) -> str:
    """The passage's first sentences, up to about ``limit`` characters (short texts keep the
    embedder quick, so more of the ingest is writing than model start-up)."""
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", 0, limit)
    return text[:cut + 1] if cut > 80 else text[:limit].rsplit(" ", 1)[0]


def corpus(version: int) -> dict[str, str]:
    """File name -> content.  Version 1 lacks f40-f49 and differs in f00-f15, f56-f58."""
    ps = passages()
    by_title: dict[str, list[dict[str, str]]] = {}
    for p in ps:
        by_title.setdefault(p["title"], []).append(p)
    big_titles = [t for t, group in by_title.items() if len(group) >= 30][:2]
    shift = 0 if version == 2 else 1  # version 1 of a changed file: other passages
    files: dict[str, str] = {}
    for i in range(56):
        changed = i < 16
        if version == 1 and 40 <= i < 50:
            continue
        p = ps[i * 30 + (7 * shift if changed else 0)]
        if i % 2:
            files[f"f{i:02d}.md"] = f"# {p['title']}\n\n{brief(p['text'])}\n"
        else:
            files[f"f{i:02d}.txt"] = brief(p["text"]) + "\n"
    for n, title in enumerate(big_titles):
        group = by_title[title][10 * shift: 10 * shift + SECTIONS]
        sections = "".join(f"## Part {k + 1}\n\n{brief(p['text'])}\n\n"
                           for k, p in enumerate(group))
        files[f"f{56 + n}.md"] = f"# {title}\n\n{sections}"
    for n in (58, 59):
        first = 1000 + 4 * n + (100 * shift if n == 58 else 0)
        files[f"f{n}.txt"] = "\n\n".join(brief(p["text"]) for p in ps[first:first + 4]) + "\n"
    return files


def write_corpus(folder: Path, version: int) -> None:
    folder.mkdir(exist_ok=True)
    wanted = corpus(version)
    for old in folder.iterdir():
        if old.name not in wanted:
            old.unlink()
    for name, text in wanted.items():
        (folder / name).write_text(text, encoding="utf-8")


def snapshot(data: Path) -> Chunks:
    """Every document's sha256 and chunk texts, checking that each is complete."""
    with sqlite3.connect(f"file:{data / 'knowledge.sqlite3'}?mode=ro", uri=True) as db:
        docs = db.execute("SELECT id, path, sha256, chunk_count FROM documents").fetchall()
        out: Chunks = {}
        for doc_id, path, sha, count in docs:
            rows = db.execute("SELECT ordinal, text FROM chunks WHERE doc_id = ? ORDER BY "
                              "ordinal", (doc_id,)).fetchall()
            assert count > 0 and len(rows) == count, (path, count, len(rows))
            assert [r[0] for r in rows] == list(range(count)), path
            out[path] = (sha, [r[1] for r in rows])
        fts = db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        assert fts == sum(len(texts) for _, texts in out.values())
    return out


@dataclass
class Corpus:
    folder: Path
    old_kb: Path  # data dir holding version 1, index saved
    v1: Chunks
    v2: Chunks
    fresh_seconds: float
    update_seconds: float
    env: dict[str, str] = field(default_factory=dict)

    def run(self, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "-q", *args], capture_output=True, text=True,
                              env={**self.env, "XNAI_EDGE_DATA_DIR": str(data)}, timeout=300,
                              check=False)

    def start_ingest(self, data: Path) -> subprocess.Popen[str]:
        return subprocess.Popen([*CLI, "-q", "ingest", str(self.folder)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env={**self.env, "XNAI_EDGE_DATA_DIR": str(data)})


def timed_ingest(c: Corpus, data: Path) -> float:
    start = time.monotonic()
    result = c.run(data, "ingest", str(c.folder))
    seconds = time.monotonic() - start
    assert result.returncode == 0, result.stderr
    return seconds


@pytest.fixture(scope="module")
def crash_corpus(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("crash")
    config = root / "config.toml"
    config.write_text(f"[embed]\nbatch_size = {BATCH}\n", encoding="utf-8")
    c = Corpus(folder=root / "docs", old_kb=root / "v1", v1={}, v2={}, fresh_seconds=0,
               update_seconds=0, env={**os.environ, "XNAI_EDGE_MODELS_DIR": str(models_dir),
                                      "XNAI_EDGE_CONFIG": str(config)})
    write_corpus(c.folder, 1)
    timed_ingest(c, c.old_kb)
    c.v1 = snapshot(c.old_kb)
    assert len(c.v1) == 51  # 50 files + the manual

    write_corpus(c.folder, 2)
    c.fresh_seconds = timed_ingest(c, root / "v2")
    c.v2 = snapshot(root / "v2")
    assert len(c.v2) == 61
    assert max(len(t) for _, t in c.v2.values()) > 2 * BATCH  # several embedding batches
    changed = {p for p in c.v1 if c.v1[p][0] != c.v2[p][0]}
    assert len(changed) == 19 and len(set(c.v2) - set(c.v1)) == 10

    update = root / "v1-updated"
    shutil.copytree(c.old_kb, update)
    c.update_seconds = timed_ingest(c, update)
    assert snapshot(update) == c.v2  # updating gives the same KB as ingesting from scratch
    return c


def check_consistent(c: Corpus, data: Path, *, update: bool) -> Chunks:
    """kb check passes and every document is one clean version, whole; returns them."""
    result = c.run(data, "kb", "check", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"], report
    found = snapshot(data)
    for path, version in found.items():
        if c.v2.get(path) != version and not (update and c.v1.get(path) == version):
            pytest.fail(f"{path}: {len(version[1])} chunks match no clean version of the file")
    if update:  # nothing of the earlier KB was lost either
        assert set(c.v1) <= set(found)
    return found


@pytest.mark.slow
def test_kill_9_during_ingest_leaves_a_consistent_kb(crash_corpus: Corpus,
                                                     tmp_path: Path) -> None:
    c = crash_corpus
    rng = random.Random(SEED)
    lines: list[str] = []
    midway = killed = 0
    for trial in range(2 * TRIALS_PER_MODE):
        update = trial % 2 == 1
        data = tmp_path / f"trial{trial:02d}"
        if update:
            shutil.copytree(c.old_kb, data)
        start = c.v1 if update else {}
        todo = {p for p in c.v2 if start.get(p) != c.v2[p]}  # documents this ingest writes
        duration = c.update_seconds if update else c.fresh_seconds
        kill_at = rng.uniform(0.0, duration)

        proc = c.start_ingest(data)
        try:
            proc.wait(timeout=kill_at)
        except subprocess.TimeoutExpired:
            proc.kill()  # SIGKILL: no handler runs, nothing is flushed or rolled back
            proc.wait()
        assert proc.stderr is not None
        errors = proc.stderr.read()
        proc.stderr.close()
        assert proc.returncode in (0, -9), errors

        found = check_consistent(c, data, update=update)
        done = {p for p in todo if found.get(p) == c.v2[p]}
        killed += proc.returncode == -9
        midway += 0 < len(done) < len(todo)
        lines.append(f"{'update' if update else 'fresh'}: kill at {kill_at:5.2f} of "
                     f"{duration:.2f} s -> {'killed' if proc.returncode else 'had finished'}, "
                     f"{len(done)}/{len(todo)} documents written")

        if done - {MANUAL}:  # what was committed before the kill is found by a search
            path = sorted(done - {MANUAL})[0]
            hit = c.run(data, "search", c.v2[path][1][0][:300], "--json", "--k", "1")
            assert hit.returncode == 0, hit.stderr
            assert json.loads(hit.stdout)["results"][0]["path"] == path

        final = c.run(data, "ingest", str(c.folder))
        assert final.returncode == 0, final.stderr
        assert "failed 0" in final.stdout
        assert snapshot(data) == c.v2
        report = json.loads(c.run(data, "kb", "check", "--json").stdout)
        assert report["ok"] and str(report["faiss"]).startswith("ok (flat, "), report

    print(f"\nclean ingest: fresh {c.fresh_seconds:.1f} s, update {c.update_seconds:.1f} s")
    print("\n".join(lines))
    assert killed >= 7, lines  # most draws land before the ingest ends
    assert midway >= 2, lines  # and several between two documents of the folder


def test_corpus_versions_differ_as_described() -> None:
    v1, v2 = corpus(1), corpus(2)
    assert len(v2) == 60 and len(v1) == 50
    changed = [n for n in v1 if v1[n] != v2[n]]
    assert sorted(changed) == sorted([f"f{i:02d}.{'md' if i % 2 else 'txt'}" for i in range(16)]
                                     + ["f56.md", "f57.md", "f58.txt"])
    assert corpus(2) == v2  # deterministic: the fixture writes it twice
