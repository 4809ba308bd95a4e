"""MQTT (Home Assistant) costs: voice-loop latency with MQTT on vs off, reconnect time, traffic.

    .venv/bin/python tools/bench_mqtt.py [--pairs 2] [--turns 3] [--trials 3] [--quick]

A real Mosquitto (tests/mosquitto.py: its own config, a free port) and the real daemon
(``xnai-edge run --config FILE``, tiny models, web page off):

1. **Overhead**: one Piper-made WAV with ``--turns`` questions ("Hey Jarvis. <question>", 20 s
   apart) is played to the daemon in real time, alternately with ``[mqtt] enabled = false``
   and ``true`` (with a Home Assistant-like paho client subscribed to everything), ``--pairs``
   times, so both see the same recordings under the same load.  Speech end -> first audio is
   the loop's own audio-time stamps from the interaction log (SQLite).  ``[mqtt]
   state_interval_s`` is the shipped default (5 s).
2. **Traffic**: in the MQTT-on runs, the messages the device sent from the first wake word to
   the end of the WAV, per interaction (= wake word heard), by topic (events / state), and the
   burst sent on connect (discovery + availability + state).
3. **Reconnect**: with the daemon connected (input "none", shipped backoff: 1 s doubling to
   ``reconnect_max_s`` = 30 s), the broker is stopped for 2 s and for 10 s and started again;
   the time from the broker accepting connections to the device's ``online`` reaching a fresh
   subscriber.  Anchor: how long that fresh subscriber itself takes to connect and subscribe.

Prints a table on stderr and one JSON object on stdout (tools/bench.py runs it as ``mqtt``).
Never fails on time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from mosquitto import Broker, Watcher, XnaiDaemon, build_template  # noqa: E402

from tools.bench import emit, log, ms_stats, table  # noqa: E402
from xnai_edge import paths  # noqa: E402

QUESTIONS = ["How do I add documents?", "What is your wake word?", "How do I add documents?"]
TURN_GAP_S = 20.0


def recording(models_dir: Path, path: Path, turns: int) -> tuple[Path, float]:
    from xnai_edge.audio.chunk import SAMPLE_RATE
    from xnai_edge.audio.wav import WavSink
    from xnai_edge.backends import registry
    from xnai_edge.config import Config

    tts = registry.load_tts(models_dir, Config())

    def gap(seconds: float) -> Any:
        return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)

    parts = [gap(1.0)]
    for i in range(turns):
        parts += [tts.to_16k(tts.synthesize("Hey Jarvis.")), gap(0.5),
                  tts.to_16k(tts.synthesize(QUESTIONS[i % len(QUESTIONS)])), gap(TURN_GAP_S)]
    audio = np.concatenate(parts)
    with WavSink(path, rate=SAMPLE_RATE) as sink:
        sink.write(audio)
    return path, len(audio) / SAMPLE_RATE


def latencies(data: Path) -> list[float]:
    with contextlib.closing(sqlite3.connect(f"file:{data / 'knowledge.sqlite3'}?mode=ro",
                                            uri=True)) as db:
        rows = db.execute("SELECT timings_ms FROM interactions ORDER BY id").fetchall()
    return [float(t["speech_end_to_first_audio"]) for (raw,) in rows
            if "speech_end_to_first_audio" in (t := json.loads(raw))]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of the whole daemon process so far (all threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def voice_run(work: Path, template: Path, models_dir: Path, broker: Broker, wav: Path,
              mqtt_on: bool) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    watcher = Watcher(broker, "xnai-edge/#", "homeassistant/#") if mqtt_on else None
    d = XnaiDaemon.start(work, template, models_dir, broker, audio_input=str(wav),
                         mqtt_enabled=mqtt_on, state_interval_s=5.0)
    try:
        d.wait_status(lambda s: s["state"] == "input-ended", 600, "the WAV played out")
        result: dict[str, Any] = {"mqtt": mqtt_on, "latency_ms": latencies(d.data),
                                  "cpu_s": cpu_s(d.proc.pid)}
        if watcher is not None:
            base = f"xnai-edge/{d.device_id()}"
            msgs = list(watcher.messages)
            wakes = [m.at for m in msgs if m.topic == f"{base}/events"
                     and json.loads(m.payload)["type"] == "wake-detected"]
            first = min(wakes) if wakes else float("inf")
            mine = [m for m in msgs if m.topic.startswith(base) or "xnai-edge-" in m.topic]
            during = [m for m in mine if m.at >= first]
            result["connect_burst"] = len([m for m in mine if m.at < first])
            result["during"] = {kind: len([m for m in during if m.topic == f"{base}/{kind}"])
                                for kind in ("events", "state", "availability", "response")}
            result["turns"] = len(wakes)
            result["interactions"] = len(result["latency_ms"])
            result["dropped"] = d.status().get("mqtt", {}).get("dropped")
        return result
    finally:
        d.kill()
        if watcher is not None:
            watcher.close()


def reconnect_trials(work: Path, template: Path, models_dir: Path, broker: Broker,
                     outages: list[float], trials: int) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    d = XnaiDaemon.start(work, template, models_dir, broker, reconnect_max_s=30.0,
                         state_interval_s=5.0)
    out: dict[str, Any] = {}
    try:
        base = f"xnai-edge/{d.device_id()}"
        with Watcher(broker, f"{base}/availability") as w:
            w.last(f"{base}/availability", timeout_s=120, match=lambda m: m.text == "online")
        for outage in outages:
            times, anchors = [], []
            for _ in range(trials):
                broker.stop()
                time.sleep(outage)  # the outage being measured, not synchronisation
                broker.start()
                back = time.monotonic()
                with Watcher(broker, f"{base}/availability") as w:
                    anchors.append((time.monotonic() - back) * 1000)
                    w.last(f"{base}/availability", timeout_s=120,
                           match=lambda m: m.text == "online")
                    times.append((time.monotonic() - back) * 1000)
                log(f"outage {outage:g} s: online {times[-1]:.0f} ms after the broker was back")
            out[f"{outage:g}"] = {"online_ms": ms_stats(times), "raw_ms": [round(t) for t in times],
                                  "fresh_client_connect_ms": ms_stats(anchors)}
    finally:
        d.kill()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2, help="MQTT off/on run pairs")
    parser.add_argument("--turns", type=int, default=3, help="questions per recording")
    parser.add_argument("--trials", type=int, default=3, help="broker restarts per outage")
    parser.add_argument("--quick", action="store_true", help="1 pair, 2 turns, 1 trial")
    parser.add_argument("--models-dir", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.turns, args.trials = 1, 2, 1
    models_dir = paths.models_dir(args.models_dir)
    os.environ["XNAI_EDGE_MODELS_DIR"] = str(models_dir)
    tmp = Path(tempfile.mkdtemp(prefix="xnai-bench-mqtt-"))
    load_before = os.getloadavg()[0]
    try:
        template = build_template(tmp / "template", models_dir)
        wav, wav_s = recording(models_dir, tmp / "turns.wav", args.turns)
        broker = Broker(tmp / "broker")
        broker.start()
        try:
            runs = []
            for i in range(args.pairs):
                for on in (False, True):
                    log(f"pair {i + 1}/{args.pairs}: MQTT {'on' if on else 'off'} "
                        f"({wav_s:.0f} s of audio)")
                    runs.append(voice_run(tmp / "run", template, models_dir, broker, wav, on))
            reconnect = reconnect_trials(tmp / "rc", template, models_dir, broker, [2.0, 10.0],
                                         args.trials)
        finally:
            broker.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    off = [x for r in runs if not r["mqtt"] for x in r["latency_ms"]]
    on = [x for r in runs if r["mqtt"] for x in r["latency_ms"]]
    on_runs = [r for r in runs if r["mqtt"]]
    turns = sum(r["turns"] for r in on_runs) or 1  # wake words heard (answered or not)
    per = {k: round(sum(r["during"][k] for r in on_runs) / turns, 1)
           for k in ("events", "state", "availability", "response")}
    result = {
        "overhead": {"off_ms": ms_stats(off), "on_ms": ms_stats(on),
                     "cpu_s_off": [r["cpu_s"] for r in runs if not r["mqtt"]],
                     "cpu_s_on": [r["cpu_s"] for r in runs if r["mqtt"]],
                     "p50_ratio_on_off": round(ms_stats(on)["p50"] / ms_stats(off)["p50"], 3)
                     if off and on else None,
                     "runs": runs, "turns": args.turns, "pairs": args.pairs},
        "messages_per_interaction": {**per, "total": round(sum(per.values()), 1),
                                     "connect_burst": on_runs[0]["connect_burst"] if on_runs
                                     else None, "state_interval_s": 5.0, "turns": turns,
                                     "answered": sum(r["interactions"] for r in on_runs)},
        "reconnect": reconnect,
        "loadavg_1m_before": round(load_before, 2), "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    print(show(result), file=sys.stderr)
    emit(result)
    return 0


def show(r: dict[str, Any]) -> str:
    o, m = r["overhead"], r["messages_per_interaction"]
    out = table("voice loop with MQTT off / on: speech end -> first audio (same WAV, same run)",
                ["MQTT", "p50 ms", "p95 ms", "mean ms", "n"],
                [["off", o["off_ms"].get("p50"), o["off_ms"].get("p95"), o["off_ms"].get("mean"),
                  o["off_ms"].get("n")],
                 ["on", o["on_ms"].get("p50"), o["on_ms"].get("p95"), o["on_ms"].get("mean"),
                  o["on_ms"].get("n")]])
    out += (f"\n   p50 on/off = {o['p50_ratio_on_off']}; daemon CPU s per run (start to end "
            f"of the WAV): off {o['cpu_s_off']}, on {o['cpu_s_on']}")
    out += table(f"MQTT messages per voice interaction ({m['turns']} wake words, "
                 f"{m['answered']} answered; state_interval_s = 5)",
                 ["events", "state", "availability", "response", "total", "on connect"],
                 [[m["events"], m["state"], m["availability"], m["response"], m["total"],
                   m["connect_burst"]]])
    rows = [[f"{k} s", v["online_ms"].get("p50"), max(v["raw_ms"]) if v["raw_ms"] else None,
             v["online_ms"].get("n"), v["fresh_client_connect_ms"].get("p50")]
            for k, v in r["reconnect"].items()]
    out += table("broker restart -> device 'online' again (backoff 1 s doubling to 30 s)",
                 ["outage", "p50 ms", "max ms", "n", "anchor: fresh client connect ms"], rows)
    return out


if __name__ == "__main__":
    sys.exit(main())
