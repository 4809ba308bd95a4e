"""``kb check``: do SQLite, the FTS index and the FAISS cache all agree?

Read-only: it reports, it never repairs (``kb rebuild-index`` and the automatic rebuild on
search do that), so it can be run after a crash to prove nothing was lost or half-written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import anyio
import numpy as np

from xnai_edge.backends.embedder import DIM
from xnai_edge.knowledge import vectors
from xnai_edge.knowledge.store import KnowledgeStore


@dataclass
class CheckReport:
    documents: int = 0
    chunks: int = 0
    problems: list[str] = field(default_factory=list)
    faiss: str = "missing"

    @property
    def ok(self) -> bool:
        return not self.problems


async def check(store: KnowledgeStore, data_dir: Path) -> CheckReport:
    report = CheckReport()
    integrity = await store.fetchall("PRAGMA integrity_check")
    if [tuple(r) for r in integrity] != [("ok",)]:
        report.problems.append("sqlite integrity_check: "
                               + "; ".join(str(r[0]) for r in integrity[:5]))
    try:
        await store.fetchall("INSERT INTO chunks_fts (chunks_fts, rank) "
                             "VALUES ('integrity-check', 1)")
    except Exception as exc:  # noqa: BLE001 - any failure here is the finding
        report.problems.append(f"FTS integrity-check failed: {exc}")
    report.documents = (await store.fetchone("SELECT count(*) FROM documents"))[0]
    report.chunks = (await store.fetchone("SELECT count(*) FROM chunks"))[0]
    orphans = await store.fetchone(
        "SELECT (SELECT count(*) FROM chunks_fts WHERE rowid NOT IN (SELECT id FROM chunks)),"
        " (SELECT count(*) FROM chunks WHERE id NOT IN (SELECT rowid FROM chunks_fts)),"
        " (SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)),"
        " (SELECT count(*) FROM chunks WHERE length(embedding) != ?)", (DIM * 4,))
    for count, what in zip(orphans, ("FTS rows without a chunk", "chunks missing from FTS",
                                     "chunks without a document",
                                     "embeddings of the wrong size"), strict=True):
        if count:
            report.problems.append(f"{count} {what}")
    wrong = await store.fetchall(
        "SELECT d.path, d.chunk_count, count(c.id) FROM documents d "
        "LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.id HAVING d.chunk_count != count(c.id)"
        " OR count(c.id) = 0 LIMIT 5")
    for path, expected, actual in wrong:
        report.problems.append(f"{path}: {actual} chunks stored, {expected} recorded")
    await _check_faiss(store, data_dir, report)
    return report


async def _check_faiss(store: KnowledgeStore, data_dir: Path, report: CheckReport) -> None:
    stamp = await vectors.current_stamp(store)
    if stamp is None:
        report.faiss = "not built yet (built on first search)"
        return
    index = await anyio.to_thread.run_sync(vectors.load_saved, data_dir / vectors.INDEX_NAME, stamp)
    change_id = await store.change_id()
    if index is None:
        report.faiss = "stale or damaged (rebuilt automatically on next search)"
        report.problems.append("FAISS index file does not match its stamp")
        return
    if stamp.change_id < change_id:
        # An intact index of an earlier state: an ingest ended (or was killed) after writing
        # documents and before saving the new index.  Not damage: the next search rebuilds it.
        report.faiss = "older than the knowledge base (rebuilt automatically on next search)"
        return
    if stamp.change_id != change_id or stamp.ntotal != report.chunks:
        report.faiss = "inconsistent (rebuilt automatically on next search)"
        report.problems.append("FAISS stamp does not match the knowledge base")
        return
    ids = await store.fetchall("SELECT id FROM chunks ORDER BY id")
    stored = np.array([r[0] for r in ids], dtype=np.int64)
    indexed = np.sort(index.ids())
    if not np.array_equal(stored, indexed):
        report.problems.append("FAISS ids differ from the chunk ids in SQLite")
        return
    report.faiss = f"ok ({index.kind}, {index.ntotal} vectors)"
