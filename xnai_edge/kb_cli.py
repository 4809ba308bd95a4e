"""Commands over the knowledge base: ingest, kb stats|check|remove|rebuild-index, search, ask."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from xnai_edge.context import AppContext, from_args
from xnai_edge.errors import InputError
from xnai_edge.knowledge.base import KnowledgeBase


def register(sub: Any) -> None:
    p = sub.add_parser("ingest", help="add or update documents (txt, md, html, pdf; folders "
                       "recursively)", description="Add files to the knowledge base. Unchanged "
                       "files are skipped; changed files replace their earlier version.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.set_defaults(func=_sync(_ingest))

    kb = sub.add_parser("kb", help="inspect and maintain the knowledge base")
    kbs = kb.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    p = kbs.add_parser("stats", help="documents, chunks, sizes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_sync(_stats))
    p = kbs.add_parser("check", help="exit 0 only if SQLite, FTS and FAISS agree")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_sync(_check))
    p = kbs.add_parser("remove", help="remove documents by path")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=_sync(_remove))
    p = kbs.add_parser("rebuild-index", help="rebuild the FAISS cache from SQLite (and store "
                       "the sentence vectors an earlier release did not)")
    p.set_defaults(func=_sync(_rebuild))

    p = sub.add_parser("search", help="hybrid BM25 + vector search",
                       description="Search the knowledge base. With QUERY '-', read one query "
                       "per line from stdin and print one JSON line per query.")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--k", type=int, default=None, help="passages to return (default: config)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_sync(_search))

    p = sub.add_parser("ask", help="answer a question from the knowledge base")
    p.add_argument("question", metavar="QUESTION")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_sync(_ask))


def _sync(handler: Callable[[argparse.Namespace, AppContext], Awaitable[int]],
          ) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        ctx = from_args(args)
        return anyio.run(handler, args, ctx)
    return run


def _open(ctx: AppContext) -> Any:
    return KnowledgeBase.open(ctx.data_dir, ctx.models_dir, ctx.config)


async def _ingest(args: argparse.Namespace, ctx: AppContext) -> int:
    async with _open(ctx) as kb:
        await kb.ensure_manual()
        report = await kb.ingest(args.paths, progress=not ctx.quiet and sys.stderr.isatty(),
                                 last=True)
    for path, message in report.failed:
        print(f"error[ingest]: {message}" if path in message else f"error[ingest]: {path}: "
              f"{message}", file=sys.stderr)
    print(f"added {len(report.added)}, updated {len(report.updated)}, unchanged "
          f"{len(report.unchanged)}, failed {len(report.failed)}; {report.chunks} chunks written")
    return 1 if report.failed else 0


async def _stats(args: argparse.Namespace, ctx: AppContext) -> int:
    async with _open(ctx) as kb:
        docs = await kb.store.documents()
        chunks = (await kb.store.fetchone("SELECT count(*) FROM chunks"))[0]
    size = sum(f.stat().st_size for f in ctx.data_dir.glob("knowledge.sqlite3*"))
    stats = {"documents": len(docs), "chunks": chunks, "db_bytes": size,
             "data_dir": str(ctx.data_dir),
             "items": [{"path": d.path, "title": d.title, "kind": d.kind,
                        "chunks": d.chunk_count} for d in docs]}
    if args.json:
        print(json.dumps(stats))
        return 0
    print(f"{len(docs)} documents, {chunks} chunks, {size / 1e6:.1f} MB in {ctx.data_dir}")
    for d in docs:
        print(f"  {d.chunk_count:6d}  {d.kind:4s}  {d.title}  ({d.path})")
    return 0


async def _check(args: argparse.Namespace, ctx: AppContext) -> int:
    from xnai_edge.knowledge.check import check
    from xnai_edge.knowledge.store import KnowledgeStore

    store = await KnowledgeStore.open(ctx.data_dir)
    try:
        report = await check(store, ctx.data_dir)
    finally:
        await store.close()
    if args.json:
        print(json.dumps({"ok": report.ok, "documents": report.documents,
                          "chunks": report.chunks, "faiss": report.faiss,
                          "problems": report.problems}))
    else:
        print(f"{'ok' if report.ok else 'PROBLEMS'}: {report.documents} documents, "
              f"{report.chunks} chunks; faiss {report.faiss}")
        for problem in report.problems:
            print(f"  - {problem}")
    return 0 if report.ok else 1


async def _remove(args: argparse.Namespace, ctx: AppContext) -> int:
    missing = 0
    async with _open(ctx) as kb:
        for raw in args.paths:
            key = raw if "://" in raw else str(Path(raw).resolve())
            if await kb.remove(key):
                print(f"removed {key}")
            else:
                print(f"error[kb]: {key} is not in the knowledge base (see `xnai-edge kb "
                      "stats`)", file=sys.stderr)
                missing += 1
    return 1 if missing else 0


async def _rebuild(args: argparse.Namespace, ctx: AppContext) -> int:
    async with _open(ctx) as kb:
        filled = await kb.fill_sentence_vectors(
            progress=not ctx.quiet and sys.stderr.isatty())
        index = await kb.rebuild_index()
    if filled:
        print(f"stored the sentence vectors of {filled} chunks written by an earlier release")
    print(f"rebuilt {index.kind} index with {index.ntotal} vectors")
    return 0


async def _search(args: argparse.Namespace, ctx: AppContext) -> int:
    if args.k is not None and not 1 <= args.k <= 100:
        raise InputError("--k must be between 1 and 100")
    async with _open(ctx) as kb:
        retriever = await kb.retriever()
        queries = (line.strip() for line in sys.stdin) if args.query == "-" else [args.query]
        for query in queries:
            if not query:
                continue
            passages = await retriever.search(query, args.k)
            if args.json or args.query == "-":
                print(json.dumps({"query": query, "results": [
                    {"path": p.path, "title": p.title, "chunk_id": p.chunk_id,
                     "score": round(p.score, 4), "text": p.text} for p in passages]}),
                    flush=True)
            else:
                for rank, p in enumerate(passages, start=1):
                    print(f"{rank}. [{p.score:.3f}] {p.title} ({p.path})")
                    print(f"   {p.text[:240]}")
    return 0


async def _ask(args: argparse.Namespace, ctx: AppContext) -> int:
    from xnai_edge.backends.registry import load_llm
    from xnai_edge.brain.answerer import Answerer, check_question

    question = check_question(args.question, ctx.config.answer.max_question_chars)
    async with _open(ctx) as kb:
        llm = await anyio.to_thread.run_sync(load_llm, ctx.models_dir, ctx.config)
        answerer = Answerer(kb, llm, ctx.config)

        async def say(sentence: str) -> None:
            if not args.json:
                print(sentence, flush=True)

        answer = await answerer.answer(question, on_sentence=say)
    if args.json:
        print(json.dumps(answer.to_json()))
    elif answer.sources:
        print(f"(source: {answer.sources[0].title} - {answer.sources[0].path})")
    return 0
