"""Bad input through the real CLI: every failure is exit code 1 and one line ``error[code]: ...``
that says what happened and what fixes it -- never a traceback.

Missing and damaged models, unsupported/empty/undecodable/damaged documents, a 200 MB file
(bounded memory), impossible questions, a read-only data dir and a full disk (real mounts; they
need root, which CI has).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import CLI, TEST_DATA, CliRunner

INSTALL = "xnai-edge models install --set tiny"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root (CI runs as root)")


def one_error(result: subprocess.CompletedProcess[str], code: str) -> str:
    """The single stderr line of a failed command, without its ``error[code]: `` prefix."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error[{code}]: "), lines[0]
    return lines[0].removeprefix(f"error[{code}]: ")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def top_hit(cli: CliRunner, query: str, **kw: object) -> dict[str, object]:
    results = json.loads(ok(cli("search", query, "--json", **kw)))["results"]  # type: ignore[arg-type]
    assert results, query
    return results[0]  # type: ignore[no-any-return]


def dir_digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file()}


# --- models -------------------------------------------------------------------------------------

@pytest.mark.parametrize("via", ["option", "env"])
@pytest.mark.parametrize("command", [["ingest", "README.md"], ["search", "wake word"],
                                     ["ask", "what is the wake word?"]])
def test_missing_models_name_the_install_command(cli: CliRunner, tmp_path: Path, via: str,
                                                 command: list[str]) -> None:
    empty = tmp_path / "no-models"
    empty.mkdir()
    if via == "option":
        result = cli("--models-dir", str(empty), *command)
    else:
        result = cli(*command, env={"XNAI_EDGE_MODELS_DIR": str(empty)})
    message = one_error(result, "model")
    assert INSTALL in message and str(empty / "tiny" / "embed" / "model.onnx") in message
    assert "missing" in message


def test_missing_llm_for_ask_names_the_install_command(cli: CliRunner, models_dir: Path,
                                                       tmp_path: Path) -> None:
    only_embed = tmp_path / "models"
    shutil.copytree(models_dir / "tiny" / "embed", only_embed / "tiny" / "embed")
    ok(cli("--models-dir", str(only_embed), "search", "wake word"))  # the embedder is enough
    message = one_error(cli("--models-dir", str(only_embed), "ask", "what is the wake word?"),
                        "model")
    assert INSTALL in message and "llm" in message


def flip(path: Path, offset: int, length: int = 64) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        data = f.read(length)
        f.seek(offset)
        f.write(bytes(b ^ 0xFF for b in data))


DAMAGE = {
    "truncated": lambda p: os.truncate(p, p.stat().st_size // 2),
    "header flipped": lambda p: flip(p, 0),
    "weights flipped (same size)": lambda p: flip(p, p.stat().st_size // 2, 4096),
    "garbage (same size)": lambda p: p.write_bytes(os.urandom(p.stat().st_size)),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_embedding_model_is_refused_clearly(cli: CliRunner, models_dir: Path,
                                                      tmp_path: Path, damage: str) -> None:
    broken = tmp_path / "models"
    shutil.copytree(models_dir / "tiny" / "embed", broken / "tiny" / "embed")
    model = broken / "tiny" / "embed" / "model.onnx"
    DAMAGE[damage](model)
    doc = tmp_path / "note.txt"
    doc.write_text("The spare key is under the blue flower pot.\n", encoding="utf-8")
    message = one_error(cli("--models-dir", str(broken), "ingest", str(doc)), "model")
    assert str(model) in message and INSTALL in message
    # nothing was stored with vectors from a broken model
    stats = json.loads(ok(cli("kb", "stats", "--json")))
    assert all(item["path"] != str(doc) for item in stats["items"])


# --- documents ----------------------------------------------------------------------------------

def test_unsupported_file_type(cli: CliRunner, tmp_path: Path) -> None:
    doc = tmp_path / "letter.docx"
    doc.write_bytes(b"PK\x03\x04 not really a docx")
    message = one_error(cli("ingest", str(doc)), "ingest")
    assert message == (f"{doc}: unsupported file type '.docx'; supported: .htm, .html, "
                       ".markdown, .md, .pdf, .text, .txt")


@pytest.mark.parametrize("name", ["empty.txt", "empty.md", "empty.pdf", "empty.html"])
def test_empty_file(cli: CliRunner, tmp_path: Path, name: str) -> None:
    doc = tmp_path / name
    doc.write_bytes(b"")
    result = cli("ingest", str(doc))
    assert one_error(result, "ingest") == f"{doc}: file is empty; put text in it or leave it out"
    assert result.stdout.startswith("added 0, updated 0, unchanged 0, failed 1;")


def test_path_that_does_not_exist(cli: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "notes.md"
    assert one_error(cli("ingest", str(missing)), "ingest") == (
        f"{missing}: does not exist; check the path")


@pytest.mark.parametrize("data", [
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage\n",
    b"%PDF-1.7\n" + bytes(range(256)) * 8,
    b"not a pdf at all, just text with the wrong suffix\n",
], ids=["truncated", "binary-garbage", "text-named-pdf"])
def test_corrupt_pdf(cli: CliRunner, tmp_path: Path, data: bytes) -> None:
    doc = tmp_path / "manual.pdf"
    doc.write_bytes(data)
    message = one_error(cli("ingest", str(doc)), "ingest")
    assert message.startswith(f"{doc}: PDF is damaged or unreadable (")
    assert message.endswith("re-export or repair it (e.g. qpdf) and ingest it again")


def test_cp1252_text_is_ingested_and_its_accents_are_searchable(cli: CliRunner, tmp_path: Path,
                                                                data_dir: Path) -> None:
    doc = tmp_path / "rezepte.txt"
    text = ("Fondue needs Gruyère and a dry white wine. The crème brûlée is caramelised "
            "with a torch – “never under the grill”. Café crème costs €3.")
    doc.write_bytes(text.encode("cp1252"))
    with pytest.raises(UnicodeDecodeError):
        doc.read_bytes().decode("utf-8")
    assert ok(cli("ingest", str(doc))).startswith("added 1,")
    for query in ("Gruyère fondue", "gruyere", "crème brûlée"):
        hit = top_hit(cli, query)
        assert hit["path"] == str(doc)
        assert hit["text"] == text  # decoded right: accents, curly quotes, dash and euro sign
    import sqlite3

    with sqlite3.connect(data_dir / "knowledge.sqlite3") as db:
        assert db.execute("SELECT encoding FROM documents WHERE path = ?",
                          (str(doc),)).fetchone() == ("cp1252",)


# --- questions ----------------------------------------------------------------------------------

@pytest.mark.parametrize("question", ["", "   \n\t "])
def test_empty_question(cli: CliRunner, question: str) -> None:
    assert one_error(cli("ask", question), "input") == (
        "the question is empty; ask something, e.g. 'what is your wake word?'")


def test_question_of_ten_thousand_characters(cli: CliRunner) -> None:
    question = "why " * 2499 + "why?"
    assert len(question) == 10_000
    assert one_error(cli("ask", question), "input") == (
        "the question is 10000 characters long; the limit is 1000 ([answer] max_question_chars)")


# --- storage ------------------------------------------------------------------------------------

def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@contextmanager
def mounted(*args: str, target: Path) -> Iterator[Path]:
    mount(*args, str(target))
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


@needs_root
def test_read_only_data_dir(cli: CliRunner, tmp_path: Path, data_dir: Path) -> None:
    first = tmp_path / "first.md"
    first.write_text("# Bins\n\nThe green bin is emptied on Tuesdays.\n", encoding="utf-8")
    second = tmp_path / "second.md"
    second.write_text("# Post\n\nParcels go to the neighbour at number 12.\n", encoding="utf-8")
    ok(cli("ingest", str(first)))
    before = dir_digest(data_dir)
    stats_before = ok(cli("kb", "stats", "--json"))

    mount("--bind", str(data_dir), str(data_dir))
    try:
        mount("-o", "remount,ro,bind", str(data_dir))
        message = one_error(cli("ingest", str(second)), "storage")
        assert str(data_dir) in message and "read-only" in message
        assert "Nothing was changed" in message
        assert dir_digest(data_dir) == before
    finally:
        subprocess.run(["umount", str(data_dir)], check=True)

    assert dir_digest(data_dir) == before
    assert ok(cli("kb", "stats", "--json")) == stats_before
    assert ok(cli("kb", "check")).startswith("ok: 2 documents")
    assert top_hit(cli, "when is the green bin emptied")["path"] == str(first)


def bulk_text(seed: int) -> str:
    """~150 KB of real prose, repeated (the embedding cache keeps it quick)."""
    lines = (TEST_DATA / "squad-dev" / "passages.jsonl").read_text(
        encoding="utf-8").splitlines()
    passages = [json.loads(line)["text"] for line in lines[100 + 8 * seed: 108 + 8 * seed]]
    return ("\n\n".join(passages) + "\n\n") * 20


@needs_root
def test_full_disk(cli: CliRunner, tmp_path: Path, data_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    marker = docs / "zebras.md"
    marker.write_text("# Zebra care\n\nThe zebras in the petting zoo are fed hay at seven "
                      "o'clock.\n", encoding="utf-8")
    data_dir.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=3m", "tmpfs", target=data_dir):
        assert ok(cli("ingest", str(marker))).startswith("added 1,")
        added: list[Path] = []
        for i in range(12):
            bulk = docs / f"bulk{i:02d}.txt"
            bulk.write_text(bulk_text(i % 4), encoding="utf-8")
            result = cli("ingest", str(bulk))
            if result.returncode != 0:
                break
            added.append(bulk)
        else:
            pytest.fail("3 MB never filled up")
        message = one_error(result, "storage")
        assert message.startswith("disk full while writing ") and str(data_dir) in message
        assert "free some space" in message

        check = json.loads(ok(cli("kb", "check", "--json")))
        assert check["ok"], check
        paths = {item["path"] for item in json.loads(ok(cli("kb", "stats", "--json")))["items"]}
        assert {str(marker), *map(str, added)} <= paths
        assert top_hit(cli, "what do the zebras eat")["path"] == str(marker)
        if added:
            query = " ".join(bulk_text(0).split()[:12])
            assert top_hit(cli, query)["path"] in {str(p) for p in added}

        # Now fill the last bytes and damage the vector index: the next search has to rebuild
        # it and cannot save it -- it must still answer, from the index built in memory.
        fd = os.open(data_dir / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError) as full:
                while True:
                    os.write(fd, b"\0" * 4096)
            assert full.value.errno == errno.ENOSPC
        finally:
            os.close(fd)
        flip(data_dir / "vectors.faiss", (data_dir / "vectors.faiss").stat().st_size // 2)
        assert top_hit(cli, "what do the zebras eat")["path"] == str(marker)
        # The repaired index could not be saved.  Whether clearing the old stamp still fit
        # (SQLite reuses its WAL's space) decides what `kb check` finds; the damaged file is
        # never taken as good: either its stamp flags it, or there is no stamp ("not built
        # yet": the next search builds it).
        check_result = cli("kb", "check")
        if check_result.returncode == 1:
            assert "FAISS index file does not match its stamp" in check_result.stdout
        else:
            assert "faiss not built yet" in check_result.stdout, check_result.stdout
        assert top_hit(cli, "what do the zebras eat")["path"] == str(marker)


# --- a 200 MB file ------------------------------------------------------------------------------

LIMIT_MB = 600  # what the issue asks for


@pytest.mark.slow
def test_a_200_mb_text_file_ingests_with_bounded_memory(models_dir: Path, tmp_path: Path) -> None:
    """Repetitive text (real prose), so the embedding cache keeps it fast.  Peak RSS is the
    kernel's ru_maxrss of the finished ingest, measured by a small parent of its own so that no
    earlier child of the test process counts.

    Measured 2026-12-02: 461 MB, 80 s (278k chunks).  It was 931 MB before three changes: the
    embedder runs without onnxruntime's arena, ``ingest`` releases the embedder before the
    FAISS index is built, and the index's vectors get their final capacity up front instead of
    doubling (see ``backends/embedder.py``, ``KnowledgeBase.ingest`` and ``vectors._reserve``).
    """
    big = tmp_path / "big.txt"
    lines = (TEST_DATA / "squad-dev" / "passages.jsonl").read_text(
        encoding="utf-8").splitlines()
    block = ("\n\n".join(json.loads(line)["text"] for line in lines[:8]) + "\n\n").encode()
    with big.open("wb") as f:
        for _ in range(200 * 1024 * 1024 // len(block) + 1):
            f.write(block)
    env = {**os.environ, "XNAI_EDGE_MODELS_DIR": str(models_dir),
           "XNAI_EDGE_DATA_DIR": str(tmp_path / "data")}
    probe = ("import json, resource, subprocess, sys;"
             "r = subprocess.run(sys.argv[1:]);"
             "print(json.dumps({'rc': r.returncode,"
             " 'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", probe, *CLI, "-q", "ingest", str(big)],
                            capture_output=True, text=True, env=env, timeout=600, check=False)
    seconds = time.monotonic() - start
    measured = json.loads(result.stdout.splitlines()[-1])
    peak_mb = measured["maxrss_kb"] / 1024
    print(f"\n200 MB ingest: {seconds:.0f} s, peak RSS {peak_mb:.0f} MB")
    assert measured["rc"] == 0, result.stderr
    assert result.stdout.startswith("added 1, updated 0, unchanged 0, failed 0;")
    assert peak_mb < LIMIT_MB
