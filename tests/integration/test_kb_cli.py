"""The knowledge-base commands end to end: the real CLI in a subprocess, real models, real files.

ingest (idempotent, replaces changed files), kb stats/check/remove/rebuild-index, search (one
query, --json, stdin mode), with the fixture documents of tests/data/docs copied to a tmp dir.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import REPO, CliRunner

DOCS = REPO / "tests" / "data" / "docs"
MANUAL = "bundled://xnai-edge-manual.md"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    target = tmp_path / "docs"
    shutil.copytree(DOCS, target)
    return target


def ok(result: object) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    return result.stdout  # type: ignore[attr-defined,no-any-return]


def db_rows(data_dir: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{data_dir / 'knowledge.sqlite3'}?mode=ro", uri=True) as db:
        return [tuple(r) for r in db.execute(sql, params)]


def chunk_texts(data_dir: Path, path: Path | str) -> list[str]:
    return [r[0] for r in db_rows(  # type: ignore[misc]
        data_dir, "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.doc_id "
        "WHERE d.path = ? ORDER BY c.ordinal", (str(path),))]


def search(cli: CliRunner, query: str, *args: str) -> list[dict[str, object]]:
    out = json.loads(ok(cli("search", query, "--json", *args)))
    assert out["query"] == query
    results: list[dict[str, object]] = out["results"]
    for r in results:
        assert set(r) == {"path", "title", "chunk_id", "score", "text"}
    return results


def test_ingest_is_idempotent_and_stats_list_every_document(cli: CliRunner, docs: Path,
                                                            data_dir: Path) -> None:
    out = ok(cli("ingest", str(docs)))
    assert out.startswith("added 5, updated 0, unchanged 0, failed 0;")
    stats = json.loads(ok(cli("kb", "stats", "--json")))
    kinds = {Path(i["path"]).name: i["kind"] for i in stats["items"]}
    assert kinds == {"garden_guide.md": "markdown", "garden_page.html": "html",
                     "kettle_manual.pdf": "pdf", "kitchen_notes_cp1252.txt": "text",
                     "reisebericht_utf16.txt": "text", "xnai-edge-manual.md": "markdown"}
    assert stats["documents"] == 6
    assert stats["chunks"] == sum(i["chunks"] for i in stats["items"]) > 6
    change_id = db_rows(data_dir, "SELECT value FROM meta WHERE key = 'change_id'")

    again = ok(cli("ingest", str(docs)))
    assert again.startswith("added 0, updated 0, unchanged 5, failed 0; 0 chunks written")
    assert db_rows(data_dir, "SELECT value FROM meta WHERE key = 'change_id'") == change_id
    check = json.loads(ok(cli("kb", "check", "--json")))
    assert check["ok"] and check["documents"] == 6 and check["problems"] == []
    assert check["faiss"].startswith("ok (flat, ")


def test_a_changed_file_replaces_its_chunks(cli: CliRunner, docs: Path, data_dir: Path) -> None:
    ok(cli("ingest", str(docs)))
    guide = docs / "garden_guide.md"
    kettle_before = chunk_texts(data_dir, docs / "kettle_manual.pdf")
    assert any("Prune them in March" in t for t in chunk_texts(data_dir, guide))

    guide.write_text("# Garden Guide\n\n## Roses\n\nPrune roses in late February, before "
                     "the buds swell.\n", encoding="utf-8")
    assert ok(cli("ingest", str(docs))).startswith("added 0, updated 1, unchanged 4, failed 0")
    assert chunk_texts(data_dir, guide) == ["Prune roses in late February, before the buds "
                                            "swell."]
    assert chunk_texts(data_dir, docs / "kettle_manual.pdf") == kettle_before
    # neither BM25 nor the vectors remember the old version
    for hit in search(cli, "Prune them in March just above an outward-facing bud", "--k", "10"):
        assert "outward-facing" not in str(hit["text"]) or hit["path"] != str(guide)
    assert search(cli, "when do I prune roses")[0]["path"] in (str(guide),
                                                               str(docs / "garden_page.html"))
    assert ok(cli("kb", "check")).startswith("ok: 6 documents")


def test_remove_and_rebuild_index(cli: CliRunner, docs: Path, data_dir: Path) -> None:
    ok(cli("ingest", str(docs)))
    pdf = docs / "kettle_manual.pdf"
    assert any(h["path"] == str(pdf) for h in search(cli, "descale the kettle"))

    assert ok(cli("kb", "remove", str(pdf))) == f"removed {pdf}\n"
    assert all(h["path"] != str(pdf) for h in search(cli, "descale the kettle", "--k", "20"))
    assert chunk_texts(data_dir, pdf) == []
    assert ok(cli("kb", "check")).startswith("ok: 5 documents")

    again = cli("kb", "remove", str(pdf))
    assert again.returncode == 1
    assert again.stderr == (f"error[kb]: {pdf} is not in the knowledge base (see `xnai-edge kb "
                            "stats`)\n")

    chunks = db_rows(data_dir, "SELECT count(*) FROM chunks")[0][0]
    assert ok(cli("kb", "rebuild-index")) == f"rebuilt flat index with {chunks} vectors\n"
    assert ok(cli("kb", "remove", MANUAL)) == f"removed {MANUAL}\n"
    # the manual comes back on the next search: a fresh device can always answer about itself
    assert search(cli, "what is the wake word")[0]["path"] == MANUAL


def test_search_ranks_the_right_document_first_and_respects_k(cli: CliRunner,
                                                              docs: Path) -> None:
    ok(cli("ingest", str(docs)))
    expectations = {
        "How tall is the cathedral in Cologne?": "reisebericht_utf16.txt",
        "How often should I clean the coffee machine?": "kitchen_notes_cp1252.txt",
        # Both garden files say "Prune them in March" (the page is the guide as HTML).
        "when to prune roses": "garden_guide.md garden_page.html",
        "How do I reset the device to factory state?": "xnai-edge-manual.md",
    }
    for query, names in expectations.items():
        hits = search(cli, query, "--k", "3")
        assert 1 <= len(hits) <= 3
        assert Path(str(hits[0]["path"])).name in names.split(), (query, hits[0])
        scores = [float(h["score"]) for h in hits]  # type: ignore[arg-type]
        assert scores == sorted(scores, reverse=True)

    lines = ok(cli("search", "-", "--k", "2", input="when to prune roses\n\n"
                   "How tall is the cathedral in Cologne?\n")).splitlines()
    assert [json.loads(line)["query"] for line in lines] == [
        "when to prune roses", "How tall is the cathedral in Cologne?"]
    assert all(len(json.loads(line)["results"]) == 2 for line in lines)

    text = ok(cli("search", "when to prune roses", "--k", "1"))
    assert text.startswith("1. [") and "Garden" in text and "2. [" not in text


@pytest.mark.parametrize("k", ["0", "101"])
def test_search_k_out_of_range(cli: CliRunner, k: str) -> None:
    result = cli("search", "roses", "--k", k)
    assert result.returncode == 1
    assert result.stderr == "error[input]: --k must be between 1 and 100\n"


def test_one_bad_file_does_not_stop_the_others(cli: CliRunner, docs: Path) -> None:
    (docs / "empty.md").write_bytes(b"")
    result = cli("ingest", str(docs))
    assert result.returncode == 1
    assert result.stdout.startswith("added 5, updated 0, unchanged 0, failed 1;")
    assert result.stderr == (f"error[ingest]: {docs / 'empty.md'}: file is empty; put text in "
                             "it or leave it out\n")
    assert ok(cli("kb", "check")).startswith("ok: 6 documents")


def test_the_last_ingest_releases_the_embedder_and_still_builds_the_index(
        models_dir: Path, docs: Path, data_dir: Path) -> None:
    """``ingest(last=True)`` (what ``xnai-edge ingest`` does) lets the embedder be freed before
    the FAISS build: no reference is left, not even in ``KnowledgeBase.open``'s frame."""
    import weakref

    import anyio

    from xnai_edge.config import Config
    from xnai_edge.knowledge.base import KnowledgeBase

    async def main() -> None:
        async with KnowledgeBase.open(data_dir, models_dir, Config()) as kb:
            embedder = weakref.ref(kb.embedder)
            report = await kb.ingest([docs], last=True)
            assert len(report.added) == 5
            assert embedder() is None
            with pytest.raises(RuntimeError, match="released"):
                kb.embedder.embed(["zebras"])
            assert (await kb.index()).ntotal == report.chunks > 0

    anyio.run(main)
