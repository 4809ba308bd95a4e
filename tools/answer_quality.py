"""Answer quality on the SQuAD dev split, in process, from cached retrieval.

Retrieval is the slow part (embedding every question); the answer logic is pure.  So the
retrieval *candidates* of every dev question (BM25 and cosine scores, both complete over the
union of each one's top 40) are computed once through the real ``Retriever`` and cached as
JSON, with the embeddings of every question and of every sentence of the KB beside it (.npz,
for the sentence similarity ``sdense``); fusion, sentence reranking, sentence picking,
answerability and shortening are then replayed in process from the cache, exactly as
``Retriever.search`` and ``Answerer`` do them.

Measured:
* answerable (questions-dev.jsonl): right = the spoken answer contains a gold span (case and
  punctuation normalised), as in MODELS.md; also how often it says "I don't know".
* unanswerable (unanswerable-dev.jsonl, SQuAD v2.0): right = "I don't know".
* not in the KB: answerable questions with their whole article hidden; right = "I don't know".
* retrieval recall@1/@5 (the gold passage's document), and spoken answer length in words.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from xnai_edge.brain.answerability import AnswerModel, Linear, model
from xnai_edge.brain.entry import name_entry
from xnai_edge.brain.extractive import Extract, SourceText, best_sentence, top_sentences
from xnai_edge.brain.sentences import passage_sentences
from xnai_edge.brain.shorten import short_answer
from xnai_edge.config import Config
from xnai_edge.knowledge.base import KnowledgeBase
from xnai_edge.knowledge.fusion import sentence_rerank, weighted_fusion
from xnai_edge.knowledge.store import pack_vectors, unpack_vectors

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT / "tests" / "data" / "squad-dev"
CACHE_FORMAT = 2


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def contains_gold(answer: str, golds: list[str]) -> bool:
    a = f" {norm(answer)} "
    return any(f" {norm(g)} " in a for g in golds if norm(g))


def doc_of(path: str) -> str:
    return path.removeprefix("squad://")


# ---------------------------------------------------------------- the cache (real retrieval)
async def build_cache(kb: KnowledgeBase, out: Path, candidates: int = 40) -> dict[str, Any]:
    """Candidates of every dev question (answerable and not) through the real Retriever."""
    retriever = await kb.retriever()
    rows = await kb.store.fetchall(
        "SELECT c.id, d.path, d.title, c.heading, c.text FROM chunks c "
        "JOIN documents d ON d.id = c.doc_id")
    chunks = {int(r[0]): [doc_of(str(r[1])), str(r[2]), str(r[3]), str(r[4])] for r in rows}
    items: list[dict[str, Any]] = []
    for q in load_jsonl(SQUAD / "questions-dev.jsonl"):
        items.append({"question": q["question"], "answers": q["answers"],
                      "doc": q["gold_passage"], "answerable": True})
    for q in load_jsonl(SQUAD / "unanswerable-dev.jsonl"):
        items.append({"question": q["question"], "answers": [], "doc": q["near_passage"],
                      "answerable": False})
    questions = []
    for n, item in enumerate(items):
        qvec = await retriever.embed_query(item["question"])
        lexical, dense = await retriever.candidates(item["question"], qvec, candidates)
        item["lexical"] = {str(k): round(v, 5) for k, v in lexical.items()}
        item["dense"] = {str(k): round(v, 5) for k, v in dense.items()}
        questions.append(qvec)
        if n % 500 == 0:
            print(f"cached {n}/{len(items)}", file=sys.stderr, flush=True)
    sentences = sorted({s for v in chunks.values() for s in passage_sentences(v[3])})
    print(f"embedding {len(sentences)} sentences", file=sys.stderr, flush=True)
    vectors = await anyio.to_thread.run_sync(kb.embedder.embed, sentences)
    data = {"format": CACHE_FORMAT, "chunks": {str(k): v for k, v in chunks.items()},
            "items": items, "sentences": sentences}
    out.write_text(json.dumps(data), encoding="utf-8")
    np.savez(vectors_path(out), questions=np.array(questions), sentences=vectors)
    return data


def vectors_path(cache: Path) -> Path:
    return cache.with_suffix(".npz")


def cache_is_current(path: Path) -> bool:
    """The cache and its vectors exist and are of this format (else: build it again)."""
    if not (path.is_file() and vectors_path(path).is_file()):
        return False
    with path.open(encoding="utf-8") as f:
        head = f.read(64)
    return head.startswith(f'{{"format": {CACHE_FORMAT},')


def load_cache(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != CACHE_FORMAT:
        raise SystemExit(f"{path}: old cache format; rebuild it")
    data["chunks"] = {int(k): v for k, v in data["chunks"].items()}
    vectors = np.load(vectors_path(path))
    sentence_vectors = vectors["sentences"]
    data["sentence_vectors"] = {s: sentence_vectors[i] for i, s in enumerate(data["sentences"])}
    # What ingest stores per chunk, packed as in SQLite; SQuAD passages have no headings, so
    # the text embedded for a sentence is the sentence.
    dim = sentence_vectors.shape[1]
    data["chunk_sentence_vectors"] = {
        int(k): unpack_vectors(pack_vectors(np.array(
            [data["sentence_vectors"][s] for s in passage_sentences(v[3])],
            dtype=np.float32).reshape(-1, dim)), dim)
        for k, v in data["chunks"].items()}
    for item, qvec in zip(data["items"], vectors["questions"], strict=True):
        item["lexical"] = {int(k): v for k, v in item["lexical"].items()}
        item["dense"] = {int(k): v for k, v in item["dense"].items()}
        item["qvec"] = qvec
    return data


# ---------------------------------------------------------------- replay (pure)
@dataclass(frozen=True)
class Replay:
    """The knobs replayed: retrieval fusion and the answerer's settings."""

    dense_weight: float
    rerank_depth: int
    rerank_weight: float
    sentence_dense_weight: float
    passages: int
    max_words: int
    typed_words: int
    similar_sentences: int

    @classmethod
    def of(cls, config: Config) -> Replay:
        r, a = config.retrieval, config.answer
        return cls(r.dense_weight, r.rerank_depth, r.rerank_weight, r.sentence_dense_weight,
                   a.passages,
                   a.max_answer_words, a.typed_answer_words, a.similar_sentences)


def ranked(item: dict[str, Any], data: dict[str, Any], knobs: Replay, k: int,
           hidden_title: str | None = None) -> list[tuple[int, float]]:
    """``Retriever.search`` on the cached scores (optionally with one article hidden)."""
    chunks = data["chunks"]
    lexical, dense = item["lexical"], item["dense"]
    if hidden_title is not None:
        keep = [c for c in lexical if chunks[c][1] != hidden_title]
        lexical = {c: lexical[c] for c in keep}
        dense = {c: dense[c] for c in keep}
    fused = weighted_fusion(lexical, dense, knobs.dense_weight)
    head = fused[:max(k, knobs.rerank_depth)] if knobs.rerank_weight > 0 else fused[:k]
    if knobs.rerank_weight > 0 and len(head) > 1:
        texts = {c: f"{chunks[c][1]}\n{chunks[c][2]}\n{chunks[c][3]}" for c, _ in head}
        matrices = data["chunk_sentence_vectors"]
        closest = {c: float((matrices[c] @ item["qvec"]).max()) for c, _ in head
                   if len(matrices[c])}
        head = sentence_rerank(item["question"], head, texts, knobs.rerank_weight, closest,
                               knobs.sentence_dense_weight)
    return head[:k]


def sources(item: dict[str, Any], chunks: dict[int, list[str]],
            head: Iterable[tuple[int, float]]) -> list[SourceText]:
    return [SourceText(chunks[c][1], chunks[c][2], chunks[c][3], chunks[c][0], c,
                       item["dense"].get(c, 0.0), score) for c, score in head]


def cosines(data: dict[str, Any], item: dict[str, Any], top: dict[str, str],
            ) -> dict[str, float]:
    """``KnowledgeBase.similarities`` of ``top_sentences`` from the cached vectors (the SQuAD
    passages have no headings: the text embedded is the sentence)."""
    vectors = data["sentence_vectors"]
    return {sentence: float(item["qvec"] @ vectors[text]) for sentence, text in top.items()}


def extract_of(data: dict[str, Any], item: dict[str, Any], passages: list[SourceText],
               knobs: Replay, scorer: Linear) -> Extract | None:
    """``Answerer._find`` after retrieval: words pick the candidates, their embedding the
    sentence."""
    if not knobs.similar_sentences or not passages:
        return best_sentence(item["question"], passages, scorer=scorer)
    top = top_sentences(item["question"], passages, knobs.similar_sentences, scorer=scorer)
    return best_sentence(item["question"], passages, scorer=scorer,
                         cosines=cosines(data, item, top))


def answer_of(data: dict[str, Any], item: dict[str, Any], passages: list[SourceText],
              knobs: Replay, answer_model: AnswerModel) -> tuple[Extract | None, float, str]:
    """(extract, answerability, spoken text or '' for "I don't know")."""
    extract = extract_of(data, item, passages, knobs, answer_model.sentence)
    if extract is None:
        return None, 0.0, ""
    p = answer_model.answerable.prob(extract.features)
    if not answer_model.answers(extract.features):
        return extract, p, ""
    return extract, p, name_entry(item["question"], extract.source.heading,
                                  short_answer(item["question"], extract.sentence,
                                               knobs.max_words, knobs.typed_words))


def evaluate(data: dict[str, Any], items: list[dict[str, Any]], knobs: Replay,
             answer_model: AnswerModel | None = None, hidden: bool = False) -> dict[str, Any]:
    """The figures of the module docstring over ``items``."""
    answer_model = answer_model or model()
    chunks = data["chunks"]
    doc_title = {v[0]: v[1] for v in chunks.values()}
    at1 = at5 = right = abstain_ans = n_ans = abstain_un = n_un = sentence_right = 0
    hidden_abstain = 0
    lengths: list[int] = []
    for item in items:
        head = ranked(item, data, knobs, max(5, knobs.passages))
        docs = [chunks[c][0] for c, _ in head]
        passages = sources(item, chunks, head[:knobs.passages])
        extract, _, spoken = answer_of(data, item, passages, knobs, answer_model)
        if item["answerable"]:
            n_ans += 1
            at1 += docs[:1] == [item["doc"]]
            at5 += item["doc"] in docs[:5]
            sentence_right += extract is not None and contains_gold(extract.sentence,
                                                                    item["answers"])
            right += bool(spoken) and contains_gold(spoken, item["answers"])
            abstain_ans += not spoken
            if spoken:
                lengths.append(len(spoken.split()))
            if hidden:
                title = doc_title[item["doc"]]
                hh = ranked(item, data, knobs, knobs.passages, hidden_title=title)
                hidden_abstain += not answer_of(data, item, sources(item, chunks, hh), knobs,
                                                answer_model)[2]
        else:
            n_un += 1
            abstain_un += not spoken
    out: dict[str, Any] = {
        "answerable": n_ans, "unanswerable": n_un,
        "recall@1": round(at1 / max(1, n_ans), 3), "recall@5": round(at5 / max(1, n_ans), 3),
        "sentence_contains_gold": round(sentence_right / max(1, n_ans), 3),
        "answer_contains_gold": round(right / max(1, n_ans), 3),
        "abstained_when_answerable": round(abstain_ans / max(1, n_ans), 3),
        "abstained_when_unanswerable": round(abstain_un / max(1, n_un), 3),
        "words_median": statistics.median(lengths) if lengths else 0,
        "words_p95": percentile(lengths, 0.95) if lengths else 0,
    }
    if hidden:
        out["abstained_when_not_in_kb"] = round(hidden_abstain / max(1, n_ans), 3)
    return out


def split(items: list[dict[str, Any]], chunks: dict[int, list[str]],
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(fit, report): the dev articles alternately, by title, so no article is in both."""
    title_of = {v[0]: v[1] for v in chunks.values()}
    titles = sorted({title_of[i["doc"]] for i in items})
    fit_titles = set(titles[::2])
    fit = [i for i in items if title_of[i["doc"]] in fit_titles]
    return fit, [i for i in items if title_of[i["doc"]] not in fit_titles]
