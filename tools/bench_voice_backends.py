"""Voice backends on the tiny set: load time, RSS, time per call and real-time factor.

    .venv/bin/python tools/bench_voice_backends.py [--stt-threads 2] [--tts-threads 1]
                                                   [--repeat 3] [--models-dir DIR]

Backends load one after another in this process; "rss_mb" is the growth of resident memory that
loading one (imports included) caused.  Real-time factor = compute seconds / audio seconds
(< 1 is faster than real time).  Speech is the shared recordings (tests/data/speech) plus
Piper-made sentences; non-speech clips come from tests/audio_fixtures.py.  Prints one JSON object
on stdout (progress on stderr); never fails on time.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
SPEECH = ROOT / "tests" / "data" / "speech"
T = TypeVar("T")

import audio_fixtures as af  # noqa: E402

from xnai_edge import paths  # noqa: E402
from xnai_edge.audio import SAMPLE_RATE, chunked  # noqa: E402
from xnai_edge.audio.wav import read_wav  # noqa: E402
from xnai_edge.modelstore import ModelStore  # noqa: E402


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def loaded(name: str, make: Callable[[], T]) -> tuple[T, dict[str, float]]:
    before, start = rss_mb(), time.perf_counter()
    obj = make()
    info = {"load_s": round(time.perf_counter() - start, 3),
            "rss_mb": round(rss_mb() - before, 1)}
    log(f"{name}: loaded in {info['load_s']} s, +{info['rss_mb']} MB")
    return obj, info


def ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p95_ms": round(ordered[round(0.95 * (len(ordered) - 1))] * 1000, 3),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 3), "n": len(ordered)}


def recordings() -> list[tuple[str, np.ndarray]]:
    manifest = SPEECH / "manifest.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(encoding="utf-8") as f:
        return [(r["path"], read_wav(SPEECH / r["path"])) for r in csv.DictReader(f,
                                                                                    delimiter="\t")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--stt-threads", type=int, default=2)
    parser.add_argument("--tts-threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    store = ModelStore(paths.models_dir(args.models_dir))
    result: dict[str, Any] = {"rss_start_mb": round(rss_mb(), 1)}

    from xnai_edge.backends.tts import Synthesizer
    tts, info = loaded("tts", lambda: Synthesizer(
        store.path("tts", "en_US-joe-medium.onnx"), store.path("tts", "en_US-joe-medium.onnx.json"),
        threads=args.tts_threads))
    answer = ("The kettle boils one litre of water in about three minutes. Descale it every "
              "month with citric acid. Never run it empty.")
    calls, first = [], []
    audio_s = compute_s = 0.0
    for _ in range(args.repeat):
        start = time.perf_counter()
        for i, part in enumerate(tts.stream(answer)):
            if i == 0:
                first.append(time.perf_counter() - start)
            audio_s += len(part) / tts.sample_rate
        compute_s += time.perf_counter() - start
        calls.append(time.perf_counter() - start)
    result["tts"] = {**info, "threads": args.tts_threads, "answer_audio_s": round(
        audio_s / args.repeat, 2), "first_sentence": ms(first), "whole_answer": ms(calls),
        "rtf": round(compute_s / audio_s, 3)}
    speech16, _ = af.spoken(tts, "Hey Jarvis. What is your wake word?")
    samples = np.concatenate([speech16, af.music(10.0), af.white_noise(10.0),
                              *[a for _, a in recordings()]])
    seconds = len(samples) / SAMPLE_RATE

    from xnai_edge.backends.wake import WakeDetector
    wake, info = loaded("wake", lambda: WakeDetector(
        store.path("wake", "melspectrogram.onnx"), store.path("wake", "embedding_model.onnx"),
        store.path("wake", "hey_jarvis_v0.1.onnx")))
    times = []
    for chunk in chunked([samples]):
        start = time.perf_counter()
        wake.process(chunk)
        times.append(time.perf_counter() - start)
    result["wake"] = {**info, "per_80ms_frame": ms(times), "rtf": round(sum(times) / seconds, 4)}

    from xnai_edge.backends.vad import VoiceActivity
    vad, info = loaded("vad", lambda: VoiceActivity(store.path("vad", "silero_vad.onnx")))
    times = []
    for chunk in chunked([samples]):
        start = time.perf_counter()
        vad.probability(chunk)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    vad.probabilities(samples)
    whole = time.perf_counter() - start
    result["vad"] = {**info, "per_80ms_chunk": ms(times), "rtf": round(sum(times) / seconds, 4),
                     "whole_clip_ms_per_audio_s": round(whole / seconds * 1000, 3)}

    from xnai_edge.backends.stt import Transcriber
    stt, info = loaded("stt", lambda: Transcriber(store.path("stt"), threads=args.stt_threads,
                                                  vad=vad))
    clips: list[dict[str, Any]] = []
    for name, audio in [("piper hey jarvis", speech16), *recordings()]:
        runs = []
        for _ in range(args.repeat):
            out = stt.transcribe(audio)
            runs.append(out.seconds)
        clips.append({"clip": name, "audio_s": round(len(audio) / SAMPLE_RATE, 2),
                      "median_s": round(statistics.median(runs), 3),
                      "rtf": round(statistics.median(runs) / (len(audio) / SAMPLE_RATE), 3),
                      "text": out.text})
    gate: list[dict[str, Any]] = []
    whisper_only = Transcriber(store.path("stt"), threads=args.stt_threads, vad=None)
    for name, audio in af.non_speech().items():
        gated, raw = stt.transcribe(audio), whisper_only.transcribe(audio)
        gate.append({"clip": name, "text": gated.text, "rejected": gated.rejected,
                     "vad_speech_s": round(gated.speech_seconds, 3),
                     "gated_ms": round(gated.seconds * 1000, 1),
                     "whisper_only_text": raw.text, "whisper_only_rejected": raw.rejected,
                     "whisper_only_ms": round(raw.seconds * 1000, 1)})
    result["stt"] = {**info, "threads": args.stt_threads, "clips": clips,
                     "rtf_median": round(statistics.median(c["rtf"] for c in clips), 3),
                     "non_speech": gate}
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
