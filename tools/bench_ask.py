"""``ask`` latency: time to first token and total, models loaded once; cold start of the CLI.

    .venv/bin/python tools/bench_ask.py [--squad-kb bench/squad-kb] [--quick]

* ``Answerer`` used directly, embedder and LLM loaded once: questions about the bundled manual
  (in a fresh data dir), questions the manual does not answer, and SQuAD dev questions (over the
  knowledge base of ``bench_ingest.py``; built here if missing).  "first token" is the answerer's
  own ``timings_ms["first_token"]``: the first LLM token, or the moment the extractive / "I don't
  know" answer is ready when no LLM runs.  "correct" = the answer contains an expected phrase.
* ``xnai-edge ask`` as a one-off subprocess: on a fresh data dir (it ingests the manual first)
  and on an existing one; wall time and peak RSS (wait4).

Prints one JSON object (progress on stderr).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.answer_quality import contains_gold  # noqa: E402
from tools.bench import (  # noqa: E402
    BENCH_DIR,
    SQUAD,
    emit,
    fresh_dir,
    load_jsonl,
    log,
    ms_stats,
    run_measured,
    spread,
)
from xnai_edge import paths  # noqa: E402
from xnai_edge.backends.registry import load_embedder, load_llm  # noqa: E402
from xnai_edge.brain.answerer import Answerer  # noqa: E402
from xnai_edge.config import Config  # noqa: E402
from xnai_edge.knowledge.base import KnowledgeBase  # noqa: E402

# Questions about the bundled manual (xnai_edge/data/manual.md) and phrases a right answer has.
MANUAL_QUESTIONS: list[tuple[str, list[str]]] = [
    ("What is your wake word?", ["Hey Jarvis"]),
    ("How do I reset you to factory state?", ["systemctl stop", "data folder",
                                             "/var/lib/xnai-edge/data"]),
    ("Which file types can you read?", ["Markdown", "PDF", "HTML"]),
    ("How do I restart the assistant?", ["systemctl restart", "unplug"]),
    ("How long should I unplug the device to restart it?", ["ten seconds"]),
    ("Where are the models stored?", ["/var/lib/xnai-edge/models"]),
    ("How do I install or repair the models?", ["models install"]),
    ("How is the standard model set installed?", ["--set standard", "set standard"]),
    ("How do I add my documents?", ["xnai-edge ingest", "ingest PATH"]),
    ("How do I remove a document?", ["kb remove"]),
    ("How can I see what is stored?", ["kb stats"]),
    ("Can you read scanned PDFs?", ["cannot be read", "cannot"]),
    ("How do I verify the knowledge base?", ["kb check"]),
    ("What happens if the vector index is damaged?", ["rebuilt"]),
    ("What does a factory reset remove?", ["documents", "answer history", "password"]),
    ("Which folder do I delete for a factory reset?", ["/var/lib/xnai-edge/data"]),
    ("What do you do when memory is low?", ["steps down", "smaller language model"]),
    ("Is my audio stored?", ["not stored"]),
    ("Is any data sent over the internet?", ["No data", "not sent", "never leaves"]),
    ("How are the models checked before use?", ["SHA-256", "checksums"]),
    ("What happens if I say the wake word while you are speaking?", ["interrupts"]),
    ("Do I need the wake word again for a follow-up question?", ["keeps listening",
                                                               "does not need"]),
    ("What do you say when my documents do not contain the answer?", ["I don't know"]),
    ("How do I type a question on the command line?", ["xnai-edge ask"]),
    ("What happens when I add the same file again?", ["instant"]),
    ("Do you use a cloud service?", ["no cloud"]),
    ("How do I mute the microphone?", ["Mute switch", "systemctl stop"]),
]
# Not in the manual: the right answer is "I don't know".
OFF_MANUAL = ["Who won the football world cup in 1998?", "What is the capital of Australia?",
              "How tall is Mount Everest?", "When was the Eiffel Tower built?",
              "Who wrote Pride and Prejudice?", "What is the boiling point of water?"]


async def ask_all(answerer: Answerer, items: list[tuple[str, list[str] | None]],
                  label: str) -> dict[str, Any]:
    first, total, retrieve = [], [], []
    by_method: dict[str, list[float]] = {}
    methods: dict[str, int] = {}
    correct = 0
    answers = []
    for question, expected in items:
        answer = await answerer.answer(question)
        t = answer.timings_ms
        first.append(t["first_token"])
        total.append(t["total"])
        retrieve.append(t["retrieve"])
        methods[answer.method] = methods.get(answer.method, 0) + 1
        by_method.setdefault(answer.method, []).append(t["total"])
        ok = answer.method == "abstain" if expected is None else contains_gold(answer.text,
                                                                               expected)
        correct += ok
        answers.append({"q": question, "a": answer.text, "method": answer.method, "ok": ok,
                        "first_token_ms": round(t["first_token"]), "total_ms": round(t["total"])})
    log(f"{label}: {len(items)} questions, {correct} correct")
    return {"questions": len(items), "first_token_ms": ms_stats(first),
            "total_ms": ms_stats(total), "retrieve_ms": ms_stats(retrieve),
            "correct": round(correct / len(items), 3), "methods": methods,
            "total_ms_by_method": {m: ms_stats(v) for m, v in by_method.items()},
            "answers": answers}


async def search_overhead(kb: KnowledgeBase, questions: list[str]) -> dict[str, Any]:
    """kb.search (what Answerer calls) against one reused Retriever: the per-query cost of
    KnowledgeBase.retriever() (it re-checks the bundled manual every time)."""
    retriever = await kb.retriever()
    via_kb, direct = [], []
    for q in questions:
        start = time.perf_counter()
        await kb.search(q, 3)
        via_kb.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        await retriever.search(q, 3)
        direct.append((time.perf_counter() - start) * 1000)
    return {"kb_search_ms": ms_stats(via_kb), "retriever_search_ms": ms_stats(direct)}


def run_cli(data_dir: Path, question: str) -> dict[str, Any]:
    cmd = [str(Path(sys.executable).with_name("xnai-edge")), "--quiet", "--data-dir",
           str(data_dir), "ask", question, "--json"]
    out, code, rss, wall = run_measured(cmd)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {code}")
    answer = json.loads(out)
    return {"wall_s": wall, "rss_mb": rss,
            "timings_ms": answer.get("timings_ms"), "answer": answer.get("answer")}


def cold_start(runs: int) -> dict[str, Any]:
    data_dir = fresh_dir(BENCH_DIR / "ask-cold")
    question = "What is your wake word?"
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("xnai-edge")), "--version"], check=True,
                   capture_output=True)
    version_s = time.perf_counter() - start
    fresh = run_cli(data_dir, question)
    warm = [run_cli(data_dir, question) for _ in range(runs)]
    log(f"cold start: fresh {fresh['wall_s']} s, existing data dir "
        f"{[w['wall_s'] for w in warm]} s")
    return {"question": question, "cli_version_s": round(version_s, 2),
            "fresh_s": fresh["wall_s"], "fresh_rss_mb": fresh["rss_mb"],
            "fresh_timings_ms": fresh["timings_ms"],
            "warm_s": ms_stats([w["wall_s"] for w in warm]),
            "warm_rss_mb": max(w["rss_mb"] for w in warm),
            "warm_timings_ms": warm[len(warm) // 2]["timings_ms"], "answer": fresh["answer"]}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tools.squad_eval import build

    config = Config()
    models_dir = paths.models_dir(args.models_dir)
    start = time.perf_counter()
    embedder = await anyio.to_thread.run_sync(load_embedder, models_dir, config)
    embedder_s = time.perf_counter() - start
    start = time.perf_counter()
    llm = await anyio.to_thread.run_sync(load_llm, models_dir, config)
    llm_s = time.perf_counter() - start
    n_manual, n_squad = (6, 6) if args.quick else (len(MANUAL_QUESTIONS), 24)
    result: dict[str, Any] = {"embedder_load_s": round(embedder_s, 2),
                              "llm_load_s": round(llm_s, 2), "llm": llm.model_id}

    manual_dir = fresh_dir(BENCH_DIR / "ask-manual")
    async with KnowledgeBase.open(manual_dir, models_dir, config, embedder=embedder) as kb:
        start = time.perf_counter()
        await kb.retriever()  # ingests the bundled manual, builds FAISS
        result["manual_ingest_s"] = round(time.perf_counter() - start, 2)
        answerer = Answerer(kb, llm, config)
        warm = await answerer.answer("What is the wake word?")
        result["warmup_ms"] = round(warm.timings_ms["total"])
        result["manual"] = await ask_all(answerer, [(q, e) for q, e in
                                                    MANUAL_QUESTIONS[:n_manual]], "manual")
        result["off_manual"] = await ask_all(answerer, [(q, None) for q in
                                                        OFF_MANUAL[:n_manual]], "off-manual")
        result["search_overhead"] = await search_overhead(kb, [q for q, _ in MANUAL_QUESTIONS])

    squad_config = replace(config, ingest=replace(config.ingest, bundled_manual=False))
    passages = load_jsonl(SQUAD / "passages.jsonl")
    if args.passages:
        passages = spread(passages, args.passages)
    kept = {p["id"] for p in passages}
    questions = spread([q for q in load_jsonl(SQUAD / "questions-dev.jsonl")
                        if q["gold_passage"] in kept], n_squad)
    async with KnowledgeBase.open(args.squad_kb, models_dir, squad_config,
                                  embedder=embedder) as kb:
        built = await build(kb, passages)
        if built["chunks_added"]:
            log(f"built the SQuAD knowledge base first: {built}")
        answerer = Answerer(kb, llm, squad_config)
        result["squad"] = await ask_all(answerer, [(str(q["question"]),
                                                    [str(a) for a in q["answers"]])
                                                   for q in questions], "squad")
    result["cold_start"] = cold_start(1 if args.quick else 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad-kb", type=Path, default=BENCH_DIR / "squad-kb")
    parser.add_argument("--passages", type=int, default=0, help="SQuAD passages (default all)")
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--quick", action="store_true", help="6 + 6 questions, one cold run")
    args = parser.parse_args()
    emit(anyio.run(run, args))


if __name__ == "__main__":
    main()
