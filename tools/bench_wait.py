"""The wait a person feels: last word -> first answer audio, measured from the outside.

    .venv/bin/python tools/bench_wait.py [--runs 20] [--wer] [--out bench/wait.json]

Each run feeds a recording (0.5 s, Piper "Hey Jarvis.", 0.5 s, a question about the manual,
3 s of silence) through ``run_voice`` in real time -- the code ``xnai-edge listen`` runs -- with
a sink that keeps the output aligned sample for sample with the input clock.  The wait is

    first non-silent output sample  -  end of the last word in the input

where the last word's end is known from how the input was built (the question's Piper audio,
its trailing near-silence trimmed by a 10 ms RMS floor).  No stamp of the loop enters it.
Before each run the voice's cache of short texts is emptied (only the abstention is pre-made,
as on a device that has not said this answer yet), so no run reuses an earlier run's audio.
Every run is made twice, back to back on the same audio: the incremental loop (this build) and
the naive loop (``voice.incremental_stt = false``: the full hangover, then one transcription
pass), so a change in the machine's load hits both alike; the ratio is per run pair.

Also: the lag of every input chunk's processing behind its real-time due moment (the wake word
and playback run there: > 80 ms means a speaker buffer of one chunk would have run dry),
counted apart while answer audio plays (a late tick then is a skip a listener hears; one
while the output is silent only delays the wake word, since input queues), transcription
passes and CPU per second of speech for the incremental passes (offline, process
CPU time), and with ``--wer`` the WER of both loops and of raw faster-whisper on the shared
recordings.  Prints tables; never fails on time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools.bench import log, machine, ms_stats, table  # noqa: E402

SPEECH = ROOT / "tests" / "data" / "speech"
QUESTIONS = ["What is your wake word?", "How do I reset the device?", "How do I add documents?",
             "How do I remove a document?", "Which file types can you read?",
             "How do I mute the microphone?"]
RATE = 16000
Int16 = np.ndarray[Any, np.dtype[np.int16]]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def loud_windows(samples: Int16, rate: int, floor: float) -> np.ndarray[Any, Any]:
    win = rate // 100
    n = len(samples) // win
    levels = np.sqrt(np.mean(samples[:n * win].astype(np.float64).reshape(n, win) ** 2, axis=1))
    return np.nonzero(levels > floor)[0]


def trim(samples: Int16, floor: float = 300.0) -> Int16:
    loud = loud_windows(samples, RATE, floor)
    win = RATE // 100
    return samples[loud[0] * win:(loud[-1] + 1) * win] if len(loud) else samples


def first_sound(samples: Int16, threshold: int = 64) -> int | None:
    """Index of the first output sample louder than ``threshold`` (Piper's near-silent lead
    stays below it)."""
    hits = np.nonzero(np.abs(samples.astype(np.int32)) > threshold)[0]
    return int(hits[0]) if len(hits) else None


def chunks_of(audio: Int16) -> Iterator[Any]:
    from xnai_edge.audio.chunk import CHUNK_SAMPLES, AudioChunk

    for i in range(0, len(audio), CHUNK_SAMPLES):
        yield AudioChunk(audio[i:i + CHUNK_SAMPLES], i / RATE)


class TimedSink:
    """The output, aligned with the input; also when each tick was written (wall clock)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.parts: list[Int16] = []
        self.written: list[float] = []

    def write(self, samples: Int16) -> None:
        self.parts.append(np.array(samples, dtype=np.int16))
        self.written.append(time.perf_counter())

    def audio(self) -> Int16:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int16)


def question_input(tts: Any, question: str) -> tuple[Int16, float]:
    """The input recording and the audio time at which its last word ends."""
    def gap(s: float) -> Int16:
        return np.zeros(int(s * RATE), dtype=np.int16)

    wake = tts.to_16k(tts.synthesize("Hey Jarvis."))
    spoken = trim(tts.to_16k(tts.synthesize(question)))
    head = np.concatenate([gap(0.5), wake, gap(0.5)])
    return np.concatenate([head, spoken, gap(3.0)]), (len(head) + len(spoken)) / RATE


def mode_ctx(ctx: Any, incremental: bool) -> Any:
    voice = dataclasses.replace(ctx.config.voice, incremental_stt=incremental)
    return dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, voice=voice))


async def one_run(ctx: Any, backends: Any, audio: Int16, last_word: float) -> dict[str, Any]:
    from xnai_edge import events as ev
    from xnai_edge.brain.answerer import DONT_KNOW
    from xnai_edge.voice.pacing import paced
    from xnai_edge.voice.session import run_voice

    # As on a device that has not said this answer yet: only the abstention is pre-made.
    backends.tts.clear_cache()
    backends.tts.warm([DONT_KNOW])
    sink = TimedSink(backends.tts.sample_rate)
    started = time.perf_counter()
    cpu0 = cpu_seconds()
    result = await run_voice(ctx, paced(chunks_of(audio)), sink, backends=backends)
    cpu = cpu_seconds() - cpu0
    out = sink.audio()
    at = first_sound(out)
    # Tick i is written when input chunk i has been processed; chunk i arrived 80 ms * i after
    # chunk 0 (the clock starts at the first chunk: opening the knowledge base comes before).
    t0 = sink.written[0] if sink.written else started
    lag = [(w - t0 - i * 0.08) * 1000 for i, w in enumerate(sink.written)]
    row: dict[str, Any] = {
        "wait_ms": None if at is None else round((at / sink.rate - last_word) * 1000, 1),
        "cpu_s": round(cpu, 2), "max_lag_ms": round(max(lag, default=0.0), 1),
        "late_chunks": sum(x > 80 for x in lag),
        "late_playing": sum(x > 80 and bool(np.abs(part).max(initial=0) > 64)
                            for x, part in zip(lag, sink.parts, strict=False)),
        "passes": sum(isinstance(e, ev.SttPartial) for e in result.events),
        "speculations": sum(isinstance(e, ev.AnswerSpeculated) for e in result.events)}
    if result.interactions:
        a = result.interactions[0]
        row.update(transcript=a.question, method=a.method,
                   loop_speech_end_to_first_audio=a.timings_ms["speech_end_to_first_audio"],
                   end_of_turn_ms=a.timings_ms.get("end_of_turn_ms"),
                   speech_end_error_ms=round((a.stamps["speech_end"] - last_word) * 1000, 1),
                   stages_ms=stages(a.stamps))
    return row


STAGES = (("speech_end", "transcript"), ("transcript", "first_token"),
          ("first_token", "first_audio"))
"""Where the loop's own wait goes: the covering pass, retrieval and the answer, the first
speech part (audio-time stamps, so each is rounded up to the 80 ms chunk it ended in)."""


def stages(stamps: dict[str, float]) -> dict[str, float]:
    return {f"{a}->{b}": round((stamps[b] - stamps[a]) * 1000, 1) for a, b in STAGES
            if a in stamps and b in stamps}


async def latency(ctx: Any, backends: Any, runs: int) -> dict[str, Any]:
    inputs = [question_input(backends.tts, q) for q in QUESTIONS]
    rows: dict[str, list[dict[str, Any]]] = {"incremental": [], "naive": []}
    ratios = []
    windows = backends.stt.windows_s
    await one_run(mode_ctx(ctx, True), backends, *inputs[0])  # warm-up
    for i in range(runs):
        audio, last = inputs[i % len(inputs)]
        pair = {}
        for mode in ("incremental", "naive"):
            # The naive loop transcribes as raw faster-whisper does (30 s window): the loop
            # before issue 12.
            backends.stt.windows_s = windows if mode == "incremental" else (30.0,)
            pair[mode] = await one_run(mode_ctx(ctx, mode == "incremental"), backends, audio,
                                       last)
            rows[mode].append(pair[mode])
        backends.stt.windows_s = windows
        a, b = pair["incremental"]["wait_ms"], pair["naive"]["wait_ms"]
        if a is not None and b:
            ratios.append(a / b)
        log(f"run {i + 1}/{runs} {QUESTIONS[i % len(QUESTIONS)]!r}: incremental {a} ms, "
            f"naive {b} ms; load {os.getloadavg()[0]:.2f}")

    def summary(mode: str) -> dict[str, Any]:
        rs = rows[mode]
        waits = [r["wait_ms"] for r in rs if r["wait_ms"] is not None]
        return {"wait_ms": ms_stats(waits), "silent_runs": len(rs) - len(waits),
                "end_of_turn_ms": ms_stats([r["end_of_turn_ms"] for r in rs
                                            if r.get("end_of_turn_ms") is not None]),
                "loop_speech_end_to_first_audio": ms_stats(
                    [r["loop_speech_end_to_first_audio"] for r in rs
                     if "loop_speech_end_to_first_audio" in r]),
                "speech_end_error_ms": ms_stats([r["speech_end_error_ms"] for r in rs
                                                 if "speech_end_error_ms" in r]),
                "stages_ms": {f"{a}->{b}": ms_stats([r["stages_ms"][f"{a}->{b}"] for r in rs
                                                     if f"{a}->{b}" in r.get("stages_ms", {})])
                              for a, b in STAGES},
                "max_lag_ms": max((r["max_lag_ms"] for r in rs), default=0.0),
                "late_chunks": sum(r["late_chunks"] for r in rs),
                "late_playing": sum(r["late_playing"] for r in rs),
                "passes_per_run": statistics.fmean(r["passes"] for r in rs) if rs else 0,
                "cpu_s_per_run": round(statistics.fmean(r["cpu_s"] for r in rs), 2) if rs
                else 0}

    return {"runs": runs, "questions": QUESTIONS, "incremental": summary("incremental"),
            "naive": summary("naive"),
            "ratio": {"p50": round(statistics.median(ratios), 3) if ratios else None,
                      "max": round(max(ratios), 3) if ratios else None, "n": len(ratios)},
            "rows": rows}


def pass_cpu(backends: Any, every_s: float = 1.0, first_s: float = 2.5) -> dict[str, Any]:
    """CPU per second of speech: the loop's passes (quick ones after ``first_s`` of speech,
    every ``every_s``; the final one at the pause) against one raw pass (30 s window) after
    the hangover.  The questions and two long recordings (7.1 and 6.05 s)."""
    from xnai_edge.audio.wav import read_wav

    clips = [trim(backends.tts.to_16k(backends.tts.synthesize(q))) for q in QUESTIONS]
    clips += [read_wav(SPEECH / "librivox" / f"sense_and_sensibility_01_austen_64kb-{n}.wav")
              for n in ("0870", "0920")]
    speech_s = cpu_inc = cpu_one = 0.0
    passes = 0
    windows = backends.stt.windows_s
    for audio in clips:
        speech_s += len(audio) / RATE
        padded = np.concatenate([audio, np.zeros(int(0.1 * RATE), dtype=np.int16)])
        ends = [int(t * RATE) for t in np.arange(first_s, len(audio) / RATE, every_s)]
        c0 = cpu_seconds()
        for end in ends:
            backends.stt.transcribe(padded[:end], quick=True)
        backends.stt.transcribe(padded)
        cpu_inc += cpu_seconds() - c0
        passes += len(ends) + 1
        backends.stt.windows_s = (30.0,)
        c0 = cpu_seconds()
        backends.stt.transcribe(np.concatenate([padded, np.zeros(int(0.7 * RATE),
                                                                 dtype=np.int16)]))
        cpu_one += cpu_seconds() - c0
        backends.stt.windows_s = windows
    return {"speech_s": round(speech_s, 2), "passes": passes, "every_s": every_s,
            "cpu_s_per_speech_s_incremental": round(cpu_inc / speech_s, 3),
            "cpu_s_per_speech_s_one_pass": round(cpu_one / speech_s, 3)}


async def wer_runs(ctx: Any, backends: Any) -> dict[str, Any]:
    """WER of both loops and raw faster-whisper on tests/data/speech (one run per clip)."""
    import csv

    from faster_whisper import WhisperModel

    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]  # test_wer's own
    from test_wer import wer  # type: ignore[import-not-found]  # tests/integration/test_wer.py

    from xnai_edge.audio.wav import read_wav
    from xnai_edge.backends.stt import DECODE_OPTIONS
    from xnai_edge.modelstore import ModelStore

    with (SPEECH / "manifest.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    raw = WhisperModel(str(ModelStore(ctx.models_dir).path("stt")), device="cpu",
                       compute_type="int8", cpu_threads=ctx.config.stt.threads)
    wake = backends.tts.to_16k(backends.tts.synthesize("Hey Jarvis."))
    pairs: dict[str, list[tuple[str, str]]] = {"raw": [], "incremental": [], "naive": []}
    for row in rows:
        path = SPEECH / row["path"]
        segments, _ = raw.transcribe(str(path), **DECODE_OPTIONS)
        pairs["raw"].append((row["reference"], " ".join(s.text.strip() for s in segments)))
        audio = np.concatenate([np.zeros(8000, np.int16), wake, np.zeros(8000, np.int16),
                                read_wav(path), np.zeros(3 * RATE, np.int16)])
        for mode in ("incremental", "naive"):
            r = await one_run(mode_ctx(ctx, mode == "incremental"), backends, audio, 0.0)
            pairs[mode].append((row["reference"], r.get("transcript", "")))
        log(f"WER clip {row['path']}: {pairs['incremental'][-1][1]!r}")
    return {k: round(wer(v), 4) for k, v in pairs.items()} | {"clips": len(rows)}


def tables(r: dict[str, Any]) -> str:
    lat = r["latency"]
    rows = []
    for mode in ("incremental", "naive"):
        m = lat[mode]
        rows.append([mode, m["wait_ms"].get("p50"), m["wait_ms"].get("p95"),
                     m["end_of_turn_ms"].get("p50"), m["speech_end_error_ms"].get("p50"),
                     m["max_lag_ms"], m["late_chunks"], m["late_playing"],
                     round(m["passes_per_run"], 1),
                     m["cpu_s_per_run"]])
    out = [table(f"last word -> first answer audio, measured on the output WAV ({lat['runs']} "
                 f"run pairs, {len(lat['questions'])} questions; ratio incremental/naive p50 "
                 f"{lat['ratio']['p50']}, worst {lat['ratio']['max']})",
                 ["loop", "wait p50 ms", "wait p95 ms", "end-of-turn p50 ms",
                  "speech_end - last word ms", "max chunk lag ms", "chunks > 80 ms late",
                  "... while answer audio played",
                  "passes/run", "CPU s/run"], rows)]
    out.append(table("where the loop's wait goes (its own audio-time stamps, p50 / p95 ms)",
                     ["loop", *(f"{a} -> {b}" for a, b in STAGES)],
                     [[mode, *(f"{lat[mode]['stages_ms'][f'{a}->{b}'].get('p50')} / "
                               f"{lat[mode]['stages_ms'][f'{a}->{b}'].get('p95')}"
                               for a, b in STAGES)] for mode in ("incremental", "naive")]))
    c = r["pass_cpu"]
    out.append(table(f"transcription CPU s per second of speech (process CPU time, "
                     f"{c['passes']} passes over {c['speech_s']} s of speech)",
                     ["passes every", "incremental (quick + final)",
                      "one raw pass (30 s window) after the hangover"],
                     [[f"{c['every_s']} s", c["cpu_s_per_speech_s_incremental"],
                       c["cpu_s_per_speech_s_one_pass"]]]))
    if "wer" in r:
        w = r["wer"]
        out.append(table(f"WER on tests/data/speech ({w['clips']} clips, wake word before "
                         "each, real time)", ["raw faster-whisper", "naive loop",
                                              "incremental loop"],
                         [[w["raw"], w["naive"], w["incremental"]]]))
    return "\n".join(out)


def main() -> int:
    from xnai_edge import heap

    heap.limit_arenas()  # as ``xnai-edge listen`` does
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--wer", action="store_true", help="also the WER runs (~4 min)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "wait.json")
    p.add_argument("--models-dir", type=Path)
    p.add_argument("--config", type=Path, help="a partial config (A/B runs of a setting)")
    args = p.parse_args()

    import anyio

    from xnai_edge import paths
    from xnai_edge.config import load_config
    from xnai_edge.context import AppContext
    from xnai_edge.voice.session import VoiceBackends

    models_dir = paths.models_dir(str(args.models_dir) if args.models_dir else None)
    config = load_config(args.config)
    results: dict[str, Any] = {"meta": machine()}
    with tempfile.TemporaryDirectory(prefix="bench-wait-") as tmp:
        ctx = AppContext(config=config, data_dir=Path(tmp), models_dir=models_dir)

        async def run() -> None:
            backends = await VoiceBackends.load(ctx)
            results["latency"] = await latency(ctx, backends, args.runs)
            results["pass_cpu"] = pass_cpu(backends, config.stt.pass_every_s)
            log(f"pass CPU: {results['pass_cpu']}")
            if args.wer:
                results["wer"] = await wer_runs(ctx, backends)

        anyio.run(run)
    results["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    text = tables(results)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
