"""Sentence vectors: stored at ingest, used by the reranker and the answerer, and made on the
fly for chunks an earlier release stored without them.  Real embedder, real SQLite and FAISS."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import anyio
import numpy as np
import numpy.typing as npt
from conftest import CliRunner

from xnai_edge.brain.sentences import passage_sentences, sentence_embedding_text
from xnai_edge.config import Config
from xnai_edge.knowledge.base import KnowledgeBase
from xnai_edge.knowledge.ingest import Embedder
from xnai_edge.knowledge.store import DB_NAME, unpack_vectors

DOCS = Path(__file__).resolve().parent.parent / "data" / "docs"
QUESTION = "How long should the kettle cool down before cleaning?"


class Counting:
    """The real embedder, counting the texts it is given."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.embedder_id, self.texts = inner, inner.embedder_id, 0

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.texts += len(texts)
        return self.inner.embed(texts)


def rows(data_dir: Path) -> list[tuple[int, str, str, bytes | None]]:
    with sqlite3.connect(data_dir / DB_NAME) as db:
        return list(db.execute("SELECT id, heading, text, sentence_vectors FROM chunks"))


def test_each_chunk_stores_one_vector_per_sentence_and_they_are_used(
        models_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)

    async def main() -> None:
        config = Config()
        async with KnowledgeBase.open(data_dir, models_dir, config) as kb:
            await kb.ingest([docs])
            stored = rows(data_dir)
            assert stored and all(r[3] is not None for r in stored)
            for _, heading, text, blob in stored[:5]:
                sentences = passage_sentences(text)
                assert blob is not None
                matrix = unpack_vectors(blob, 384)
                assert matrix.shape == (len(sentences), 384)
                fresh = kb.embedder.embed([sentence_embedding_text(heading, s)
                                           for s in sentences])
                cosines = np.sum(matrix.astype(np.float32) * fresh, axis=1)
                assert cosines.min() > 0.999, cosines  # int8 + a scale keeps the direction

            # The answerer's candidate sentences come from the passages just found: their
            # vectors were read with the search, so comparing them embeds nothing.
            counting = Counting(kb.embedder)
            kb.embedder = counting
            passages = await kb.search(QUESTION, 3)  # the retriever gets the same embedder
            assert "kettle" in passages[0].path
            searched = counting.texts
            assert searched >= 1  # the query itself: the search used this embedder
            texts = [sentence_embedding_text(p.heading, s) for p in passages
                     for s in passage_sentences(p.text)][:6]
            near = await kb.similarities(QUESTION, texts)
            assert counting.texts == searched
            assert set(near) == set(texts) and all(-1.0 <= v <= 1.0 for v in near.values())
            # A text not among them is embedded (and the query vector is reused).
            other = await kb.similarities(QUESTION, ["Water boils at 100 degrees."])
            assert counting.texts == searched + 1 and other["Water boils at 100 degrees."] < 0.5

    anyio.run(main)


def test_chunks_from_an_earlier_release_rank_the_same_without_stored_vectors(
        models_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    questions = [QUESTION, "Which tomatoes grow well in pots?", "What is descaling?"]

    async def search_all() -> list[list[tuple[int, float]]]:
        async with KnowledgeBase.open(data_dir, models_dir, Config()) as kb:
            await kb.ingest([docs])
            return [[(p.chunk_id, round(p.score, 3)) for p in await kb.search(q)]
                    for q in questions]

    with_vectors = anyio.run(search_all)
    with sqlite3.connect(data_dir / DB_NAME) as db:  # as a KB of the release before
        db.execute("UPDATE chunks SET sentence_vectors = NULL")
    without = anyio.run(search_all)
    assert all(r[3] is None for r in rows(data_dir))  # read-only: nothing written back
    assert [[c for c, _ in r] for r in without] == [[c for c, _ in r] for r in with_vectors]
    for a, b in zip(with_vectors, without, strict=True):
        assert np.allclose([s for _, s in a], [s for _, s in b], atol=0.002)


def test_rebuild_index_stores_the_sentence_vectors_an_earlier_release_did_not(
        cli: CliRunner, data_dir: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    assert cli("ingest", str(docs)).returncode == 0
    before = {cid: blob for cid, _, _, blob in rows(data_dir)}
    with sqlite3.connect(data_dir / DB_NAME) as db:
        db.execute("UPDATE chunks SET sentence_vectors = NULL WHERE id % 2 = 0")
    emptied = sum(1 for cid in before if cid % 2 == 0)

    result = cli("kb", "rebuild-index")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"stored the sentence vectors of {emptied} chunks written "
                                    "by an earlier release\nrebuilt flat index with ")
    after = {cid: blob for cid, _, _, blob in rows(data_dir)}
    assert after.keys() == before.keys() and all(b is not None for b in after.values())
    for cid, blob in after.items():
        old, new = unpack_vectors(before[cid] or b"", 384), unpack_vectors(blob or b"", 384)
        assert old.shape == new.shape and np.sum(old * new, axis=1).min() > 0.99
    assert cli("kb", "check").returncode == 0
    again = cli("kb", "rebuild-index")
    assert again.stdout.startswith("rebuilt flat index with "), again.stdout
