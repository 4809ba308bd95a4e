"""The Wyoming server's costs: STT latency against the model called directly, time to the
first TTS audio, and the memory the server adds.

    .venv/bin/python tools/bench_wyoming.py [--clips 12] [--tts-runs 5] [--quick]

``xnai-edge run`` runs as a subprocess (tiny model set, ``[web]`` off, Wyoming on a free port);
the client is the ``wyoming`` package's own ``AsyncTcpClient``, as Home Assistant uses it.

* **STT**: each recording of ``tests/data/speech`` is sent as HA sends it (transcribe,
  audio-start, 1024-frame chunks, audio-stop, as fast as the socket takes them); timed from
  writing ``audio-stop`` to reading ``transcript``.  The anchor is the same ``Transcriber``
  (same model files, threads, speech gate) called directly in this process on the same clip,
  interleaved with the Wyoming call, so both see the same machine load.
* **TTS**: ``synthesize`` -> first ``audio-chunk`` and -> ``audio-stop``; anchor: Piper called
  directly on the first clause (the first chunk cannot leave before that clause is made).
* **memory** (VmRSS of the daemon): with a WAV as input ("Hey Jarvis. How do I add
  documents?", played once: the voice loop loads wake, VAD, STT and TTS and runs each of them)
  without and with the server, the latter after STT/TTS/wake requests; and with no audio input,
  without and with the server (then the server loads the voice models itself, and their first
  calls allocate their working memory).

Prints a table on stderr and one JSON object on stdout.  Numbers, not pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))  # the daemon launcher of the tests

from wyoming.asr import Transcribe, Transcript  # noqa: E402
from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.tts import Synthesize  # noqa: E402
from wyoming.wake import Detect  # noqa: E402
from wyoming_helpers import DaemonProc, build_template, wav_samples, wyoming_daemon  # noqa: E402

from tools.bench import emit, log, ms_stats, table  # noqa: E402
from xnai_edge import paths  # noqa: E402
from xnai_edge.brain.sentences import clauses, split_sentences  # noqa: E402
from xnai_edge.config import Config  # noqa: E402

SPEECH = ROOT / "tests" / "data" / "speech"
SENTENCES = ["The boiler service is due every March, before the heating season starts.",
             "Add documents with the ingest command.",
             "I don't know that from your documents.",
             "The spare key is in the blue box, on the shelf by the back door.",
             "Say Hey Jarvis, then ask your question."]


def chunks(samples: np.ndarray[Any, Any]) -> list[Any]:
    data = samples.astype("<i2").tobytes()
    return [AudioChunk(rate=16000, width=2, channels=1, audio=data[i:i + 2048]).event()
            for i in range(0, len(data), 2048)]


async def wyoming_stt(port: int, samples: np.ndarray[Any, Any]) -> tuple[float, str]:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for event in chunks(samples):
            await client.write_event(event)
        start = time.perf_counter()
        await client.write_event(AudioStop().event())
        while (event := await client.read_event()) is not None:
            if Transcript.is_type(event.type):
                return (time.perf_counter() - start) * 1000, Transcript.from_event(event).text
    raise RuntimeError("no transcript")


async def wyoming_tts(port: int, text: str) -> tuple[float, float, float]:
    """(ms to the first audio-chunk, ms to audio-stop, seconds of audio)."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        start = time.perf_counter()
        await client.write_event(Synthesize(text=text).event())
        first, samples = 0.0, 0
        while (event := await client.read_event()) is not None:
            if AudioChunk.is_type(event.type):
                first = first or (time.perf_counter() - start) * 1000
                samples += len(event.payload or b"") // 2
            elif AudioStop.is_type(event.type):
                return first, (time.perf_counter() - start) * 1000, samples / 22050
    raise RuntimeError("no audio-stop")


async def wyoming_wake(port: int, samples: np.ndarray[Any, Any]) -> str:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Detect().event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for event in chunks(samples):
            await client.write_event(event)
        await client.write_event(AudioStop().event())
        while (event := await client.read_event()) is not None:
            if event.type in ("detection", "not-detected"):
                return event.type
    raise RuntimeError("no wake answer")


def latency(d: DaemonProc, models_dir: Path, clips: list[Path], tts_runs: int,
            ) -> dict[str, Any]:
    from xnai_edge.backends import registry

    config = Config()
    stt, tts = registry.load_stt(models_dir, config), registry.load_tts(models_dir, config)
    samples = [wav_samples(p) for p in clips]
    asyncio.run(wyoming_stt(d.port, samples[0]))  # warm both paths once
    stt.transcribe(samples[0])
    ours, direct, same = [], [], 0
    for clip in samples:
        ms, text = asyncio.run(wyoming_stt(d.port, clip))
        start = time.perf_counter()
        result = stt.transcribe(clip)
        direct.append((time.perf_counter() - start) * 1000)
        ours.append(ms)
        same += text == result.text
    first, total, direct_first, audio_s = [], [], [], []
    asyncio.run(wyoming_tts(d.port, SENTENCES[0]))
    for i in range(tts_runs):
        text = SENTENCES[i % len(SENTENCES)]
        f, t, seconds = asyncio.run(wyoming_tts(d.port, text))
        first.append(f)
        total.append(t)
        audio_s.append(seconds)
        start = time.perf_counter()
        tts.synthesize(clauses(split_sentences(text)[0])[0])
        direct_first.append((time.perf_counter() - start) * 1000)
    return {"stt_ms": ms_stats(ours), "stt_direct_ms": ms_stats(direct),
            "stt_overhead_ms_p50": round(statistics.median(
                [o - x for o, x in zip(ours, direct, strict=True)]), 1),
            "stt_same_text": f"{same}/{len(samples)}",
            "clip_s": round(sum(len(s) for s in samples) / 16000 / len(samples), 2),
            "tts_first_chunk_ms": ms_stats(first), "tts_first_clause_direct_ms":
            ms_stats(direct_first), "tts_total_ms": ms_stats(total),
            "tts_audio_s_mean": round(statistics.fmean(audio_s), 2)}


def memory(models_dir: Path, template: Path, question_wav: Path, clip: Path,
           ) -> dict[str, float]:
    rss: dict[str, float] = {}
    samples = wav_samples(clip)
    for name, wav, on in (("loop", question_wav, False), ("loop+wyoming", question_wav, True),
                          ("no-audio", None, False), ("no-audio+wyoming", None, True)):
        log(f"memory: daemon {name}")
        with wyoming_daemon(models_dir, template, input=str(wav) if wav else "none",
                            wyoming=on) as d:
            d.wait_status(lambda s: s["models"].get("llm") == "loaded", 180, "the LLM")
            if wav is not None:
                d.wait_status(lambda s: s["state"] == "input-ended", 180, "the WAV answered")
            if on:
                d.wait_status(lambda s: s["wyoming"]["models"] == "loaded", 180, "models")
                rss[f"{name} before requests"] = round(d.rss_mb(), 1)
                for _ in range(2):
                    asyncio.run(wyoming_stt(d.port, samples))
                    asyncio.run(wyoming_tts(d.port, SENTENCES[0]))
                    asyncio.run(wyoming_wake(d.port, samples))
            rss[name] = round(d.rss_mb(), 1)
    rss["added by the server beside the loop"] = round(rss["loop+wyoming"] - rss["loop"], 1)
    rss["added by the server, no audio input"] = round(
        rss["no-audio+wyoming"] - rss["no-audio"], 1)
    return rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--tts-runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="4 clips, 3 TTS runs")
    args = parser.parse_args()
    clips_n, tts_runs = (4, 3) if args.quick else (args.clips, args.tts_runs)
    models_dir = paths.models_dir(None)
    with (SPEECH / "manifest.tsv").open(encoding="utf-8") as f:
        clips = [SPEECH / r["path"] for r in csv.DictReader(f, delimiter="\t")][:clips_n]
    with tempfile.TemporaryDirectory(prefix="xnai-bench-wy-") as tmp:
        template = build_template(models_dir, Path(tmp) / "data")
        question = Path(tmp) / "question.wav"
        from xnai_edge.backends import registry
        from xnai_edge.demo_cli import make_recording

        make_recording(registry.load_tts(models_dir, Config()), "How do I add documents?",
                       question)
        log("latency: STT and TTS through Wyoming vs direct")
        with wyoming_daemon(models_dir, template) as d:
            d.wait_status(lambda s: s["wyoming"]["models"] == "loaded", 180, "models")
            result: dict[str, Any] = latency(d, models_dir, clips, tts_runs)
        result["rss_mb"] = memory(models_dir, template, question, clips[0])
    print(show(result), file=sys.stderr)
    emit(result)
    return 0


def show(r: dict[str, Any]) -> str:
    """The tables (also used by tools/bench.py)."""
    lat = table("Wyoming latency (ms)", ["what", "p50", "p95", "n"], [
        [f"audio-stop -> transcript ({r['clip_s']} s clips)", r["stt_ms"]["p50"],
         r["stt_ms"]["p95"], r["stt_ms"]["n"]],
        ["same Transcriber called directly", r["stt_direct_ms"]["p50"],
         r["stt_direct_ms"]["p95"], r["stt_direct_ms"]["n"]],
        ["synthesize -> first audio-chunk", r["tts_first_chunk_ms"]["p50"],
         r["tts_first_chunk_ms"]["p95"], r["tts_first_chunk_ms"]["n"]],
        ["Piper directly, first clause", r["tts_first_clause_direct_ms"]["p50"],
         r["tts_first_clause_direct_ms"]["p95"], r["tts_first_clause_direct_ms"]["n"]],
        ["synthesize -> audio-stop", r["tts_total_ms"]["p50"], r["tts_total_ms"]["p95"],
         r["tts_total_ms"]["n"]]])
    mem = table("Wyoming memory (daemon VmRSS, MiB)", ["daemon", "MiB"],
                [[k, v] for k, v in r["rss_mb"].items()])
    return (f"{lat}\n   STT overhead p50 {r['stt_overhead_ms_p50']} ms; same text "
            f"{r['stt_same_text']}\n{mem}")


if __name__ == "__main__":
    sys.exit(main())
