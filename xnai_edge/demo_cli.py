"""``xnai-edge demo``: the main job end to end on the installed models, for ``make demo``."""

from __future__ import annotations

import argparse
import json
from typing import Any

import anyio

from xnai_edge.context import AppContext, from_args
from xnai_edge.knowledge.base import KnowledgeBase

DEMO_QUESTIONS = (
    "What is your wake word?",
    "How do I reset you?",
    "Which file types can you read?",
    "Who won the football world cup in 1998?",  # not in the manual: must say "I don't know"
)


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="answer questions about the bundled manual, with timings")
    p.add_argument("--json", action="store_true", help="one JSON line per answer")
    p.set_defaults(func=lambda args: anyio.run(_demo, args, from_args(args)))


async def _demo(args: argparse.Namespace, ctx: AppContext) -> int:
    from xnai_edge.backends.registry import load_llm
    from xnai_edge.brain.answerer import Answerer

    async with KnowledgeBase.open(ctx.data_dir, ctx.models_dir, ctx.config) as kb:
        llm = await anyio.to_thread.run_sync(load_llm, ctx.models_dir, ctx.config)
        answerer = Answerer(kb, llm, ctx.config)
        for question in DEMO_QUESTIONS:
            answer = await answerer.answer(question)
            if args.json:
                print(json.dumps(answer.to_json()), flush=True)
                continue
            source = answer.sources[0].title if answer.sources else "-"
            t = answer.timings_ms
            print(f"Q: {question}\nA: {answer.text}\n   source: {source}; tier {answer.tier} "
                  f"({answer.method}); retrieve {t['retrieve']:.0f} ms, first token "
                  f"{t['first_token']:.0f} ms, total {t['total']:.0f} ms\n", flush=True)
    return 0
