"""The FAISS file is a disposable cache: whatever happens to it, the next search or ask rebuilds it
from SQLite and answers exactly as before; ``kb check`` reports the damage first (exit 1) and
passes after the repair.  Real CLI, real models, real files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CLI, REPO

DOCS = REPO / "tests" / "data" / "docs"
INDEX = "vectors.faiss"
QUERIES = ["when to prune roses", "How tall is the cathedral in Cologne?",
           "how do I descale the kettle", "what is the wake word", "Café crème price",
           "where are the models stored"]
QUESTIONS = ["What is the wake word?", "How do I remove a document?"]

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def xnai(models_dir: Path) -> Runner:
    def run(data: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "XNAI_EDGE_MODELS_DIR": str(models_dir),
               "XNAI_EDGE_DATA_DIR": str(data)}
        return subprocess.run([*CLI, "-q", *args], input=input, capture_output=True, text=True,
                              env=env, timeout=300, check=False)
    return run


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def search_all(xnai: Runner, data: Path) -> list[dict[str, object]]:
    out = ok(xnai(data, "search", "-", "--k", "5", input="\n".join(QUERIES) + "\n"))
    return [json.loads(line) for line in out.splitlines()]


def ask(xnai: Runner, data: Path, question: str) -> dict[str, object]:
    answer = json.loads(ok(xnai(data, "ask", question, "--json")))
    answer.pop("timings_ms")
    return answer  # type: ignore[no-any-return]


def check(xnai: Runner, data: Path) -> tuple[int, dict[str, object]]:
    result = xnai(data, "kb", "check", "--json")
    return result.returncode, json.loads(result.stdout)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Golden:
    """A KB over the fixture documents with a saved index, and what it answered."""

    def __init__(self, data: Path, results: list[dict[str, object]],
                 answers: dict[str, dict[str, object]]) -> None:
        self.data = data
        self.results = results
        self.answers = answers

    def copy(self, target: Path) -> Path:
        shutil.copytree(self.data, target)
        return target


@pytest.fixture(scope="module")
def golden(xnai: Runner, tmp_path_factory: pytest.TempPathFactory) -> Golden:
    data = tmp_path_factory.mktemp("golden") / "data"
    assert ok(xnai(data, "ingest", str(DOCS))).startswith("added 5,")
    results = search_all(xnai, data)
    answers = {q: ask(xnai, data, q) for q in QUESTIONS}
    code, report = check(xnai, data)
    assert code == 0 and str(report["faiss"]).startswith("ok (flat, "), report
    return Golden(data, results, answers)


def flip(path: Path, offset: int, length: int = 256) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        data = f.read(length)
        f.seek(offset)
        f.write(bytes(b ^ 0x5A for b in data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "deleted": lambda p: p.unlink(),
    "truncated to half": lambda p: os.truncate(p, p.stat().st_size // 2),
    "truncated to zero": lambda p: os.truncate(p, 0),
    "bytes flipped in the header": lambda p: flip(p, 0, 16),
    "bytes flipped in the vectors": lambda p: flip(p, p.stat().st_size // 2),
    "garbage of the same size": lambda p: p.write_bytes(os.urandom(p.stat().st_size)),
    "garbage of another size": lambda p: p.write_bytes(b"not a faiss index\n" * 100),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_search_repairs_a_damaged_index(xnai: Runner, golden: Golden, tmp_path: Path,
                                        damage: str) -> None:
    data = golden.copy(tmp_path / "data")
    index = data / INDEX
    DAMAGE[damage](index)

    code, report = check(xnai, data)
    assert code == 1
    assert report["problems"] == ["FAISS index file does not match its stamp"]
    assert report["documents"] == 6 and report["faiss"].startswith("stale or damaged")  # type: ignore[union-attr]

    assert search_all(xnai, data) == golden.results

    assert index.is_file()
    assert sha(index) == sha(golden.data / INDEX)  # the same vectors, saved again
    code, report = check(xnai, data)
    assert code == 0 and report["problems"] == [], report


@pytest.mark.parametrize("damage", ["deleted", "garbage of the same size"])
def test_ask_repairs_a_damaged_index_and_answers_the_same(xnai: Runner, golden: Golden,
                                                          tmp_path: Path, damage: str) -> None:
    data = golden.copy(tmp_path / "data")
    DAMAGE[damage](data / INDEX)
    assert check(xnai, data)[0] == 1
    for question, expected in golden.answers.items():
        assert ask(xnai, data, question) == expected
    assert check(xnai, data)[0] == 0
    assert golden.answers["What is the wake word?"]["sources"][0]["path"] == (  # type: ignore[index]
        "bundled://xnai-edge-manual.md")


def test_a_stale_index_file_is_detected_and_replaced(xnai: Runner, golden: Golden,
                                                     tmp_path: Path) -> None:
    """The index file from before another ingest, put back (a restored backup, a copy from
    another box): its stamp no longer matches, though it is a perfectly valid FAISS file."""
    data = golden.copy(tmp_path / "data")
    old = (data / INDEX).read_bytes()
    note = tmp_path / "alarm.md"
    note.write_text("# Alarm\n\nThe alarm code for the garage is entered on the left keypad "
                    "and must be followed by the hash key.\n", encoding="utf-8")
    assert ok(xnai(data, "ingest", str(note))).startswith("added 1,")
    expected = search_all(xnai, data)
    alarm = json.loads(ok(xnai(data, "search", "alarm code garage keypad", "--json")))
    assert alarm["results"][0]["path"] == str(note)
    new = (data / INDEX).read_bytes()
    assert new != old

    (data / INDEX).write_bytes(old)
    code, report = check(xnai, data)
    assert code == 1 and report["problems"] == ["FAISS index file does not match its stamp"]
    # the old index lacks the new chunks: a search that used it could not find the note
    assert json.loads(ok(xnai(data, "search", "alarm code garage keypad", "--json"))) == alarm
    assert search_all(xnai, data) == expected
    assert (data / INDEX).read_bytes() == new
    assert check(xnai, data)[0] == 0


def test_a_leftover_temp_file_is_harmless(xnai: Runner, golden: Golden, tmp_path: Path) -> None:
    """What a kill -9 during a save leaves behind: a half-written ``vectors.faiss.tmp``."""
    data = golden.copy(tmp_path / "data")
    (data / (INDEX + ".tmp")).write_bytes((data / INDEX).read_bytes()[:1000])
    assert check(xnai, data)[0] == 0
    assert search_all(xnai, data) == golden.results
    assert ok(xnai(data, "kb", "rebuild-index")).startswith("rebuilt flat index with ")
    assert search_all(xnai, data) == golden.results
    assert not (data / (INDEX + ".tmp")).exists()
