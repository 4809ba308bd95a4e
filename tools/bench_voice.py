"""The voice loop's latency, its idle CPU, and LLM speed beside the wake word.

    .venv/bin/python tools/bench_voice.py [--runs 20] [--quick] [--out bench/voice.json]
                                          [--no-docs] [--models-dir DIR]

1. **Wait** (``tools/bench_wait.py``): last word of the question in the input -> first
   non-silent sample of the aligned output, ``--runs`` pairs over six manual questions, the
   incremental loop and the naive one (``voice.incremental_stt = false``: full hangover, one
   transcription pass after it) back to back on the same audio; chunk lag behind real time
   (wake word + playback); passes per question.
2. **Transcription CPU per second of speech**: the passes the loop makes while a question is
   spoken, against one pass after the hangover (process CPU time, offline).
3. **Idle CPU**: the loop listening for ~20 s to silence and to the shared human recordings (no
   wake word): wake word only, as in the daemon's idle state.  CPU % = process CPU time
   (``getrusage``, all threads) / wall time.
4. **LLM tok/s**: for llm.threads 1 and 2 and OMP_WAIT_POLICY PASSIVE and ACTIVE, each in its own
   subprocess (OpenMP reads the variable once): decode speed alone, and while a thread feeds the
   wake detector 80 ms of audio every 80 ms; whether the wake word kept up; CPU burnt after the
   answer while nothing runs (ACTIVE threads spin).

Prints tables (stderr: progress) and writes all numbers to ``--out``; appends a "Voice" section
to docs/benchmarks.md when that file exists.  Never fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEECH = ROOT / "tests" / "data" / "speech"
NO_WAKE = ["librivox/sense_and_sensibility_01_austen_64kb-0870.wav", "goforward.wav",
           "input_2_16k.wav", "librivox/sense_and_sensibility_01_austen_64kb-0880.wav"]
MATRIX = [(1, "PASSIVE"), (1, "ACTIVE"), (2, "PASSIVE"), (2, "ACTIVE")]
STORY = ("The lighthouse keeper wrote in his log every evening. Tonight the sea was calm, and he "
         "began to write about")

from tools.bench import log, machine, ms_stats, table  # noqa: E402

Int16 = np.ndarray[Any, np.dtype[np.int16]]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def chunks_of(audio: Int16) -> Iterator[Any]:
    from xnai_edge.audio.chunk import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk

    for i in range(0, len(audio), CHUNK_SAMPLES):
        yield AudioChunk(audio[i:i + CHUNK_SAMPLES], i / SAMPLE_RATE)


def no_wake_audio(seconds: float) -> Int16:
    """Silence and real human speech (no wake word), ``seconds`` long."""
    from xnai_edge.audio.chunk import SAMPLE_RATE
    from xnai_edge.audio.wav import read_wav

    parts: list[Int16] = [np.zeros(2 * SAMPLE_RATE, dtype=np.int16)]
    for name in NO_WAKE:
        if (SPEECH / name).is_file():
            parts += [read_wav(SPEECH / name), np.zeros(SAMPLE_RATE, dtype=np.int16)]
    audio = np.concatenate(parts)
    reps = int(np.ceil(seconds * SAMPLE_RATE / len(audio)))
    return np.tile(audio, reps)[:int(seconds * SAMPLE_RATE)]


class NullSink:
    def write(self, samples: Int16) -> None:
        pass


# ------------------------------------------------------------------------- 1 + 2: loop vs naive
async def latency(args: argparse.Namespace, ctx: Any, backends: Any) -> dict[str, Any]:
    """Last word -> first audio from the outside, incremental vs naive loop side by side
    (tools/bench_wait.py), and the transcription CPU per second of speech."""
    from tools import bench_wait

    out = await bench_wait.latency(ctx, backends, args.runs)
    out["pass_cpu"] = bench_wait.pass_cpu(backends, ctx.config.stt.pass_every_s)
    return out


# ----------------------------------------------------------------------------------- 3: idle CPU
async def idle_cpu(ctx: Any, backends: Any, seconds: float) -> dict[str, Any]:
    from xnai_edge.brain.answerer import Answerer
    from xnai_edge.bus import EventBus
    from xnai_edge.events import Event, WakeDetected
    from xnai_edge.knowledge.base import KnowledgeBase
    from xnai_edge.voice.loop import VoiceLoop
    from xnai_edge.voice.pacing import paced
    from xnai_edge.voice.session import loop_settings

    audio = no_wake_audio(seconds)
    wakes: list[Event] = []
    bus = EventBus()
    bus.add_listener(lambda e: wakes.append(e) if isinstance(e, WakeDetected) else None)
    async with KnowledgeBase.open(ctx.data_dir, ctx.models_dir, ctx.config) as kb:
        loop = VoiceLoop(wake=backends.wake, vad=backends.vad, stt=backends.stt,
                         answerer=Answerer(kb, backends.llm, ctx.config), tts=backends.tts,
                         sink=NullSink(), bus=bus, settings=loop_settings(ctx))
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        await loop.run(paced(chunks_of(audio)))
        cpu1, wall1 = cpu_seconds(), time.perf_counter()
    # The wake word's own cost per 80 ms chunk, fed as fast as it goes.
    backends.wake.reset()
    costs = []
    for chunk in chunks_of(audio):
        start = time.perf_counter()
        backends.wake.process(chunk)
        costs.append((time.perf_counter() - start) * 1000)
    return {"audio_s": round(seconds, 1), "wall_s": round(wall1 - wall0, 2),
            "cpu_s": round(cpu1 - cpu0, 2),
            "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / (wall1 - wall0), 1),
            "false_wakes": len(wakes), "wake_ms_per_80ms_chunk": ms_stats(costs)}


# ------------------------------------------------------------------------ 4: LLM beside the wake
class WakeFeeder(threading.Thread):
    """Feeds the wake detector 80 ms of audio every 80 ms, as a microphone would."""

    def __init__(self, wake: Any, audio: Int16) -> None:
        super().__init__(daemon=True)
        self.wake = wake
        self.chunks = list(chunks_of(audio))
        self.halt = threading.Event()
        self.costs: list[float] = []
        self.lag: list[float] = []

    def run(self) -> None:
        t0 = time.perf_counter()
        i = 0
        while not self.halt.is_set():
            due = t0 + (i + 1) * 0.08  # the chunk is complete at the end of its 80 ms
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)  # pacing a real-time source, not synchronisation
            start = time.perf_counter()
            self.wake.process(self.chunks[i % len(self.chunks)])
            end = time.perf_counter()
            self.costs.append((end - start) * 1000)
            self.lag.append((end - due) * 1000)  # how long after its arrival it was done
            i += 1

    def stats(self) -> dict[str, Any]:
        return feeder_stats(self.costs, self.lag)


def feeder_stats(costs: list[float], lag: list[float]) -> dict[str, Any]:
    behind = sum(x > 80 for x in lag)  # done after the next chunk had arrived
    return {"chunks": len(costs), "ms_per_chunk": ms_stats(costs), "lag_ms": ms_stats(lag),
            "max_lag_ms": round(max(lag, default=0), 1),
            "behind_share": round(behind / max(1, len(lag)), 3)}


def llm_worker(threads: int, models_dir: Path, tokens: int, repeat: int) -> dict[str, Any]:
    """Runs in a subprocess whose OMP_WAIT_POLICY was set before llama_cpp was imported."""
    from llama_cpp import Llama

    from xnai_edge.backends.registry import load_wake
    from xnai_edge.config import load_config
    from xnai_edge.modelstore import ModelStore

    config = load_config(None)
    path = ModelStore(models_dir).path("llm", "model.gguf", set_name=config.models.set)
    llm = Llama(str(path), n_ctx=config.llm.context_tokens, n_threads=threads,
                n_threads_batch=threads, seed=0, verbose=False)
    wake = load_wake(models_dir, config)
    audio = no_wake_audio(20.0)
    eos = {llm.token_eos(): -1e9}  # keep generating: a fixed number of tokens per run

    def generate(n: int) -> dict[str, float]:
        stamps = []
        start = time.perf_counter()
        pieces = cast(Iterator[dict[str, Any]], llm.create_completion(
            STORY, max_tokens=n, temperature=0.0, logit_bias=eos, stream=True))
        for chunk in pieces:
            choice = chunk["choices"][0]
            if choice["text"] or choice["finish_reason"] is None:  # not the closing marker
                stamps.append(time.perf_counter())
        decode = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
        return {"tokens": len(stamps), "tok_s": decode,
                "first_token_ms": (stamps[0] - start) * 1000 if stamps else 0.0}

    def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
        return {"tok_s": round(statistics.median(r["tok_s"] for r in runs), 1),
                "first_token_ms": round(statistics.median(r["first_token_ms"] for r in runs), 1),
                "tokens": runs[0]["tokens"]}

    generate(8)  # warm-up
    # CPU burnt by the process while nothing at all runs, right after an answer.
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    time.sleep(2.0)
    idle_after = 100 * (cpu_seconds() - cpu0) / (time.perf_counter() - wall0)
    # The wake word alone for 3 s.
    solo = WakeFeeder(wake, audio)
    solo.start()
    time.sleep(3.0)
    solo.halt.set()
    solo.join()
    # Alone and beside the wake word, interleaved, so that a change in the machine's load
    # during the measurement hits both alike.
    alone_runs, beside_runs, feeders = [], [], []
    for _ in range(repeat):
        alone_runs.append(generate(tokens))
        feeder = WakeFeeder(wake, audio)
        feeder.start()
        beside_runs.append(generate(tokens))
        feeder.halt.set()
        feeder.join()
        feeders.append(feeder)
    beside_wake = feeder_stats([c for f in feeders for c in f.costs],
                               [x for f in feeders for x in f.lag])
    alone, beside = median_run(alone_runs), median_run(beside_runs)
    return {"threads": threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "alone": alone, "with_wake": beside, "wake_alone": solo.stats(),
            "wake_beside_llm": beside_wake,
            "idle_cpu_percent_after_answer": round(idle_after, 1)}


def llm_matrix(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for threads, policy in MATRIX:
        log(f"LLM tok/s: threads {threads}, OMP_WAIT_POLICY={policy}")
        env = {**os.environ, "OMP_WAIT_POLICY": policy}
        cmd = [sys.executable, __file__, "--llm-worker", str(threads), "--tokens",
               str(args.tokens), "--repeat", str(args.repeat)]
        if args.models_dir:
            cmd += ["--models-dir", str(args.models_dir)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            rows.append({"threads": threads, "omp_wait_policy": policy,
                         "error": proc.stderr.strip()[-500:]})
            continue
        rows.append(json.loads(proc.stdout))
    return rows


def recommend(rows: list[dict[str, Any]], margin: float = 0.15) -> dict[str, Any]:
    """Settings where the wake word keeps real time (95 % of chunks done within 80 ms of
    arriving, at most 1 % a whole chunk behind) and nothing spins while idle; among them the
    fastest generation beside the wake word, where "faster" must be by more than ``margin``
    (the noise of a shared machine) to beat fewer threads or PASSIVE (safe when threads are
    raised later: ACTIVE threads spin on the cores the wake word needs)."""
    good = [r for r in rows if "error" not in r]
    ok = [r for r in good
          if r["wake_beside_llm"]["lag_ms"].get("p95", 1e9) <= 80
          and r["wake_beside_llm"]["behind_share"] <= 0.01
          and r["idle_cpu_percent_after_answer"] < 10]
    pool = ok or good
    if not pool:
        return {"reason": "no successful run"}
    # Simplest first: fewer threads, then PASSIVE; a later candidate must be clearly faster.
    pool = sorted(pool, key=lambda r: (r["threads"], r["omp_wait_policy"] != "PASSIVE"))
    best = pool[0]
    for r in pool[1:]:
        if r["with_wake"]["tok_s"] > best["with_wake"]["tok_s"] * (1 + margin):
            best = r
    return {"llm_threads": best["threads"], "omp_wait_policy": best["omp_wait_policy"],
            "tok_s_with_wake": best["with_wake"]["tok_s"], "tok_s_alone": best["alone"]["tok_s"],
            "wake_keeps_real_time": best in ok,
            "rule": f"wake keeps real time, no idle spinning; more threads or ACTIVE only if "
                    f">{margin:.0%} faster beside the wake word"}


# ---------------------------------------------------------------------------------- reporting
def tables(r: dict[str, Any]) -> str:
    from tools import bench_wait

    lat = r["latency"]
    out = [bench_wait.tables({"latency": lat, "pass_cpu": lat["pass_cpu"]})]
    idle = r["idle"]
    out.append(table("idle listening loop (wake word only)",
                     ["audio s", "CPU % of one core", "false wakes", "wake ms/80 ms p50",
                      "p95"],
                     [[idle["audio_s"], idle["cpu_percent_of_one_core"], idle["false_wakes"],
                       idle["wake_ms_per_80ms_chunk"].get("p50"),
                       idle["wake_ms_per_80ms_chunk"].get("p95")]]))
    rows = []
    for m in r["llm"]:
        if "error" in m:
            rows.append([m["threads"], m["omp_wait_policy"], "error", "", "", "", "", ""])
            continue
        w = m["wake_beside_llm"]
        rows.append([m["threads"], m["omp_wait_policy"], m["alone"]["tok_s"],
                     m["with_wake"]["tok_s"], m["wake_alone"]["ms_per_chunk"].get("p50"),
                     w["lag_ms"].get("p95"), w["behind_share"],
                     m["idle_cpu_percent_after_answer"]])
    out.append(table("LLM decode tok/s alone and beside the wake word (80 ms chunks in real "
                     "time)",
                     ["threads", "OMP_WAIT_POLICY", "tok/s alone", "tok/s + wake",
                      "wake ms/chunk alone", "wake lag p95 ms", "wake behind", "idle CPU %"],
                     rows))
    rec = r["recommendation"]
    out.append(f"\nrecommended: llm.threads = {rec.get('llm_threads')}, "
               f"llm.omp_wait_policy = \"{rec.get('omp_wait_policy')}\" "
               f"({rec.get('tok_s_with_wake')} tok/s beside the wake word)")
    return "\n".join(out)


def append_docs(r: dict[str, Any], text: str) -> bool:
    docs = ROOT / "docs" / "benchmarks.md"
    if not docs.is_file():
        return False
    m = r["meta"]
    section = (
        "\n\n## Voice\n\n"
        "`tools/bench_voice.py` (own JSON: `bench/voice.json`; the wait alone: "
        "`tools/bench_wait.py`, see [voice.md](voice.md)).  Wait = last word of the question in "
        "the input (Piper audio, trailing near-silence trimmed) -> first non-silent sample of "
        "the output, which `run_voice` keeps aligned with the input clock, fed in real time; "
        "incremental = this loop, naive = `voice.incremental_stt = false` (full hangover, one "
        "pass after it), run back to back on the same audio, ratio per pair.  Chunk lag = how "
        "late each 80 ms input chunk (wake word, VAD, playback tick) was done after it was due "
        "(> 80 ms: a one-chunk speaker buffer would have run dry).  Idle CPU = process "
        "CPU time / wall time while the loop listens to ~20 s of silence and human speech "
        "without the wake word.  tok/s = llama.cpp decode speed, each setting in its own "
        "process; \"+ wake\" = while a thread feeds the wake detector 80 ms every 80 ms; "
        "\"idle CPU %\" = what the process burns in the 2 s after an answer with nothing to "
        "do.\n\n"
        f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores), commit {m['git_commit']}, "
        f"1-minute load average {m['loadavg_start'][0]} at the start and "
        f"{m.get('loadavg_end', ['?'])[0]} at the end."
        + (" The machine was busy with other work (load above the core count): compare the "
           "columns of one table, measured side by side, rather than the absolute numbers."
           if m["loadavg_start"][0] > (m["cores"] or 1) else "")
        + "\n\n```" + text + "\n```\n")
    # Only the Voice section is ours: replace it if an earlier run wrote it, else append.
    current = docs.read_text(encoding="utf-8")
    start = current.find("\n\n## Voice\n")
    if start < 0:
        updated = current.rstrip("\n") + section
    else:
        end = current.find("\n## ", start + len("\n\n## Voice\n"))
        updated = current[:start] + section.rstrip("\n") + (
            "\n" + current[end:] if end >= 0 else "\n")
    docs.write_text(updated, encoding="utf-8")
    return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--llm-runs", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="5 runs, 2 LLM runs, 64 tokens")
    p.add_argument("--idle-seconds", type=float, default=20.0)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "voice.json")
    p.add_argument("--no-docs", action="store_true")
    p.add_argument("--models-dir", type=Path)
    p.add_argument("--report", action="store_true",
                   help="only print (and put in the docs) the results already in --out")
    p.add_argument("--llm-worker", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.report:
        saved: dict[str, Any] = json.loads(args.out.read_text(encoding="utf-8"))
        text = tables(saved)
        print(text)
        if not args.no_docs and append_docs(saved, text):
            log("wrote the Voice section of docs/benchmarks.md")
        return 0

    from xnai_edge import paths

    models_dir = paths.models_dir(str(args.models_dir) if args.models_dir else None)
    if args.llm_worker is not None:
        print(json.dumps(llm_worker(args.llm_worker, models_dir, args.tokens, args.repeat)))
        return 0
    if args.quick:
        args.runs, args.llm_runs, args.tokens, args.repeat = 5, 2, 64, 2

    import anyio

    from xnai_edge.config import load_config
    from xnai_edge.context import AppContext
    from xnai_edge.voice.session import VoiceBackends

    config = load_config(None)
    os.environ.setdefault("OMP_WAIT_POLICY", config.llm.omp_wait_policy)
    results: dict[str, Any] = {"meta": machine()}
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
        ctx = AppContext(config=config, data_dir=Path(tmp), models_dir=models_dir)

        async def voice() -> None:
            log("loading the voice backends")
            backends = await VoiceBackends.load(ctx)
            log(f"latency: {args.runs} loop runs next to {args.runs} naive runs")
            results["latency"] = await latency(args, ctx, backends)
            log(f"idle CPU over {args.idle_seconds:.0f} s")
            results["idle"] = await idle_cpu(ctx, backends, args.idle_seconds)

        anyio.run(voice)
    results["llm"] = llm_matrix(args)
    results["recommendation"] = recommend(results["llm"])
    results["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    text = tables(results)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {args.out}")
    if not args.no_docs and append_docs(results, text):
        log("appended a Voice section to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
