"""Hybrid retrieval: BM25 from FTS5 plus cosine from FAISS, fused on complete scores.

Each retriever proposes ``candidates`` chunks; then every proposed chunk is scored by *both*
(its stored embedding against the query vector, and its BM25 restricted to the candidate rowids),
so the fusion compares like with like instead of guessing a score for a missing entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt

from xnai_edge.brain.sentences import passage_sentences, sentence_embedding_text
from xnai_edge.config import RetrievalConfig
from xnai_edge.knowledge.fusion import sentence_rerank, weighted_fusion
from xnai_edge.knowledge.ingest import Embedder, embed_sentences
from xnai_edge.knowledge.store import KnowledgeStore, unpack_vectors
from xnai_edge.knowledge.text import fts_query
from xnai_edge.knowledge.vectors import VectorIndex

# bm25() column weights for (text, heading, title): a match in a heading or the document title
# is strong evidence of topic.
BM25_WEIGHTS = (1.0, 2.0, 2.0)
_BM25 = "-bm25(chunks_fts, {}, {}, {})".format(*BM25_WEIGHTS)


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    path: str
    title: str
    heading: str
    text: str
    score: float
    lexical: float
    dense: float
    heading_similarity: float = 0.0
    """Cosine of the query to the chunk's own (innermost) heading; 0 without one."""

    @property
    def similarity(self) -> float:
        """How close the passage is to the query: a section titled like the question counts
        even when its short text embeds far from it ("How do I check it is healthy?")."""
        return max(self.dense, self.heading_similarity)


RECENT_QUERIES = 4


class Retriever:
    def __init__(self, store: KnowledgeStore, index: VectorIndex, embedder: Embedder,
                 config: RetrievalConfig, *, limiter: anyio.CapacityLimiter | None = None,
                 recent: dict[str, npt.NDArray[np.float32]] | None = None,
                 sentences: dict[str, npt.NDArray[Any]] | None = None) -> None:
        self._store = store
        self._index = index
        self._embedder = embedder
        self._config = config
        self._limiter = limiter or anyio.CapacityLimiter(1)
        self.recent = recent if recent is not None else {}
        """The last few query vectors: the answerer compares the same question with its
        candidate sentences right after the search (``KnowledgeBase.similarities``)."""
        self.sentences = sentences if sentences is not None else {}
        """Sentence vectors of the last search's head, by ``sentence_embedding_text``: the
        answerer's candidate sentences are among them, so it embeds nothing again."""

    async def embed_query(self, query: str) -> npt.NDArray[np.float32]:
        if (known := self.recent.get(query)) is not None:
            return known
        vectors = await anyio.to_thread.run_sync(self._embedder.embed, [query],
                                                 limiter=self._limiter)
        vector: npt.NDArray[np.float32] = vectors[0]
        while len(self.recent) >= RECENT_QUERIES:
            del self.recent[next(iter(self.recent))]
        self.recent[query] = vector
        return vector

    async def search(self, query: str, k: int | None = None) -> list[Passage]:
        k = k or self._config.k
        qvec = await self.embed_query(query)
        lexical, dense = await self.candidates(query, qvec, max(self._config.candidates, k))
        fused = weighted_fusion(lexical, dense, self._config.dense_weight)
        depth = max(k, self._config.rerank_depth) if self._config.rerank_weight > 0 else k
        head = fused[:depth]
        if self._config.rerank_weight > 0 and len(head) > 1:
            texts, closest = await self._sentences([cid for cid, _ in head], qvec)
            head = sentence_rerank(query, head, texts, self._config.rerank_weight, closest,
                                   self._config.sentence_dense_weight)
        return await self._passages(head[:k], lexical, dense, qvec)

    async def candidates(self, query: str, qvec: npt.NDArray[np.float32], n: int,
                         ) -> tuple[dict[int, float], dict[int, float]]:
        """BM25 and cosine scores, both complete over the union of each one's top ``n``."""
        match = fts_query(query)
        lexical = dict(await self.lexical(match, n)) if match else {}
        dense = dict(self.dense(qvec, n))
        missing_dense = [cid for cid in lexical if cid not in dense]
        if missing_dense:
            dense.update(await self._cosine(qvec, missing_dense))
        missing_lex = [cid for cid in dense if cid not in lexical]
        if match and missing_lex:
            found = dict(await self.lexical(match, len(missing_lex), only=missing_lex))
            lexical.update({cid: found.get(cid, 0.0) for cid in missing_lex})
        return lexical, dense

    async def _sentences(self, ids: list[int], qvec: npt.NDArray[np.float32],
                         ) -> tuple[dict[int, str], dict[int, float]]:
        """For the sentence reranker: title, heading and text of each chunk, and the cosine
        of its closest sentence to the query.  The sentence vectors read here are kept in
        ``self.sentences`` by their text, for the answerer's ``similarities`` right after.
        A chunk stored by an earlier release has none yet: its sentences are embedded now."""
        rows = await self._store.fetchall(
            "SELECT c.id, d.title, c.heading, c.text, c.sentence_vectors FROM chunks c JOIN "
            f"documents d ON d.id = c.doc_id WHERE c.id IN ({','.join('?' * len(ids))})", ids)
        texts = {int(r[0]): f"{r[1]}\n{r[2]}\n{r[3]}" for r in rows}
        stored = {int(r[0]): unpack_vectors(r[4], qvec.shape[0]) for r in rows
                  if r[4] is not None}
        old = [r for r in rows if r[4] is None]
        if old:
            fresh = await embed_sentences(self._embedder, [(r[2], r[3]) for r in old],
                                          self._limiter)
            stored.update({int(r[0]): v for r, v in zip(old, fresh, strict=True)})
        self.sentences.clear()
        closest: dict[int, float] = {}
        for r in rows:
            matrix = stored[int(r[0])]
            if not len(matrix):
                continue
            closest[int(r[0])] = float((matrix @ qvec).max())
            sentences = passage_sentences(r[3])
            if len(sentences) == len(matrix):  # else split by another release: not reused
                for sentence, vector in zip(sentences, matrix, strict=True):
                    self.sentences[sentence_embedding_text(r[2], sentence)] = vector
        return texts, closest

    def dense(self, qvec: npt.NDArray[np.float32], n: int) -> list[tuple[int, float]]:
        """Nearest chunks by cosine similarity, best first."""
        return self._index.search(qvec, n)

    async def lexical(self, match: str, limit: int,
                    only: list[int] | None = None) -> list[tuple[int, float]]:
        """Chunks matching the FTS5 expression by BM25 (higher is better), best first."""
        sql = f"SELECT rowid, {_BM25} FROM chunks_fts WHERE chunks_fts MATCH ?"
        params: list[object] = [match]
        if only is not None:
            sql += f" AND rowid IN ({','.join('?' * len(only))})"
            params.extend(only)
        sql += " ORDER BY bm25(chunks_fts, {}, {}, {}) LIMIT ?".format(*BM25_WEIGHTS)
        params.append(limit)
        rows = await self._store.fetchall(sql, params)
        return [(int(r[0]), float(r[1])) for r in rows]

    async def _cosine(self, qvec: npt.NDArray[np.float32],
                      ids: list[int]) -> dict[int, float]:
        rows = await self._store.fetchall(
            f"SELECT id, embedding FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids)
        return {int(r[0]): float(np.frombuffer(r[1], dtype="<f4") @ qvec) for r in rows}

    async def _passages(self, ranked: list[tuple[int, float]], lexical: dict[int, float],
                        dense: dict[int, float], qvec: npt.NDArray[np.float32],
                        ) -> list[Passage]:
        if not ranked:
            return []
        ids = [cid for cid, _ in ranked]
        rows = await self._store.fetchall(
            "SELECT c.id, d.path, d.title, c.heading, c.text FROM chunks c "
            f"JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({','.join('?' * len(ids))})",
            ids)
        by_id = {int(r[0]): r for r in rows}
        headings = sorted({_innermost(r[3]) for r in rows} - {""})
        heading_sim: dict[str, float] = {}
        if headings:
            vectors = await anyio.to_thread.run_sync(self._embedder.embed, headings,
                                                     limiter=self._limiter)
            heading_sim = {h: float(v @ qvec) for h, v in zip(headings, vectors, strict=True)}
        return [Passage(chunk_id=cid, path=by_id[cid][1], title=by_id[cid][2],
                        heading=by_id[cid][3], text=by_id[cid][4], score=score,
                        lexical=lexical.get(cid, 0.0), dense=dense.get(cid, 0.0),
                        heading_similarity=heading_sim.get(_innermost(by_id[cid][3]), 0.0))
                for cid, score in ranked if cid in by_id]


def _innermost(heading: str) -> str:
    return heading.rsplit(" > ", 1)[-1].strip()
