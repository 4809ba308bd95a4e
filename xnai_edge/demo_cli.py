"""``xnai-edge demo`` (behind ``make demo``): the whole voice loop on the installed models.

Piper speaks "Hey Jarvis. <question about the manual>" into a recording; ``listen`` runs the
real loop over it in real time (wake word, end of speech, STT, grounded answer, streamed TTS)
and writes what the device says to ``answer.wav``.  ``--text`` skips the voice and asks typed
questions instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from xnai_edge.context import AppContext, from_args

DEMO_QUESTION = "What is your wake word?"
TEXT_QUESTIONS = (
    "What is your wake word?",
    "How do I reset you?",
    "Which file types can you read?",
    "Who won the football world cup in 1998?",  # not in the manual: must say "I don't know"
)


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="speak a question to the device and hear its answer",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print the interaction as JSON")
    p.add_argument("--question", default=DEMO_QUESTION)
    p.add_argument("--out-dir", type=Path, default=Path("demo-out"),
                   help="where question.wav and answer.wav go (default ./demo-out)")
    p.add_argument("--text", action="store_true", help="typed questions, no audio")
    p.set_defaults(func=lambda args: anyio.run(_demo, args, from_args(args)))


def make_recording(tts: Any, question: str, path: Path) -> float:
    """"Hey Jarvis." + pause + question + trailing silence, at 16 kHz; returns seconds."""
    from xnai_edge.audio.chunk import SAMPLE_RATE
    from xnai_edge.audio.wav import WavSink

    def gap(seconds: float) -> np.ndarray[Any, np.dtype[np.int16]]:
        return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)

    audio = np.concatenate([gap(0.5), tts.to_16k(tts.synthesize("Hey Jarvis.")), gap(0.5),
                            tts.to_16k(tts.synthesize(question)), gap(2.0)])
    with WavSink(path, rate=SAMPLE_RATE) as sink:
        sink.write(audio)
    return len(audio) / SAMPLE_RATE


async def _demo(args: argparse.Namespace, ctx: AppContext) -> int:
    if args.text:
        return await _text_demo(args, ctx)
    from xnai_edge.audio.wav import WavSink, WavSource
    from xnai_edge.voice.pacing import paced
    from xnai_edge.voice.session import VoiceBackends, run_voice
    from xnai_edge.voice_cli import interaction_json

    args.out_dir.mkdir(parents=True, exist_ok=True)
    question_wav, answer_wav = args.out_dir / "question.wav", args.out_dir / "answer.wav"
    backends = await VoiceBackends.load(ctx)
    seconds = make_recording(backends.tts, args.question, question_wav)
    print(f"recording: {question_wav} ({seconds:.1f} s): \"Hey Jarvis. {args.question}\"")
    with WavSink(answer_wav, rate=backends.tts.sample_rate) as sink:
        result = await run_voice(ctx, paced(iter(WavSource(question_wav))), sink,
                                 backends=backends)
    if not result.interactions:
        print("no interaction: the wake word was not detected")
        return 1
    for event in result.interactions:
        if args.json:
            print(json.dumps(interaction_json(event)))
            continue
        t = event.timings_ms
        source = event.sources[0]["title"] if event.sources else "-"
        print(f"heard:  {event.question}\nanswer: {event.answer}\nsource: {source} "
              f"(tier {event.tier}, {event.method})\nwake score {event.wake_score:.2f}; "
              f"speech end -> transcript {t['speech_end_to_transcript']:.0f} ms, -> first "
              f"audio {t['speech_end_to_first_audio']:.0f} ms; busy: stt {t['stt']:.0f}, "
              f"retrieve {t['retrieve']:.0f}, llm {t['llm_total']:.0f}, tts "
              f"{t['tts_total']:.0f} ms")
    print(f"spoken answer: {answer_wav}")
    return 0


async def _text_demo(args: argparse.Namespace, ctx: AppContext) -> int:
    from xnai_edge.backends.registry import load_llm
    from xnai_edge.brain.answerer import Answerer
    from xnai_edge.knowledge.base import KnowledgeBase

    async with KnowledgeBase.open(ctx.data_dir, ctx.models_dir, ctx.config) as kb:
        llm = await anyio.to_thread.run_sync(load_llm, ctx.models_dir, ctx.config)
        answerer = Answerer(kb, llm, ctx.config)
        for question in TEXT_QUESTIONS:
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
