"""Status page costs: page weight, first paint, RSS added, answer latency under /api/status load.

    .venv/bin/python tools/bench_web.py [--turns 4] [--asks 10] [--clients 20] [--quick]

All against the real daemon (``xnai-edge run``, tiny models, ``[web] port = 0``):

1. **RSS added by the web server**: the daemon started with ``[web] enabled = false`` and
   ``true`` (input "none"), RSS read from /proc once the LLM is loaded and 3 s have passed; for
   the page-on run also after 500 ``/api/status`` requests and a few page loads.
2. **Page weight and first paint**: headless Chromium (Debian's, via Selenium) logs in and
   loads the overview: bytes transferred (Resource Timing ``transferSize`` of the document and
   everything it loads, cold cache then warm) and ``first-contentful-paint``.
3. **Answer latency with ``--clients`` threads hammering ``/api/status``** (keep-alive, HTTP
   Basic, as fast as they can) vs none, two ways:
   * voice: a Piper-made WAV with ``--turns`` questions played to the daemon in real time;
     speech end -> first audio from the interaction log (the voice loop's audio-time stamps);
   * typed: ``POST /api/ask`` (``--asks`` questions), wall time seen by the client.

Prints tables on stderr and one JSON object on stdout (tools/bench.py runs it as ``web``).
The hammer threads run in this process on the same 2 cores as the daemon: that is the load.
Never fails on time.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from web_harness import (  # noqa: E402
    Client,
    WebDaemon,
    basic,
    build_template,
    chromium,
    log_in,
    start_daemon,
)

from tools.bench import emit, log, ms_stats, table  # noqa: E402
from xnai_edge import paths  # noqa: E402

QUESTIONS = ["How do I add documents?", "What is your wake word?", "How do I reset you?"]
TURN_GAP_S = 20.0


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """VmRSS, or RssAnon: anonymous memory only, without the model files' mapped pages (which
    come and go with the page cache and make VmRSS differ by +-30 MB between two starts)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_llm(d: WebDaemon) -> None:
    d.wait_status(lambda s: s["models"].get("llm") == "loaded", 180, "the LLM loaded")


# ----------------------------------------------------------------------------- 1. RSS
IMPORT_COST = """
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
import numpy, faiss, onnxruntime, llama_cpp
import xnai_edge.daemon, xnai_edge.knowledge.base, xnai_edge.backends.registry
before = rss("VmRSS"), rss("RssAnon")
import xnai_edge.web, xnai_edge.web.app, xnai_edge.web.pages, xnai_edge.web.api
import xnai_edge.web.documents, xnai_edge.web.sse
after = rss("VmRSS"), rss("RssAnon")
print(round(after[0] - before[0], 1), round(after[1] - before[1], 1))
"""


def import_cost() -> dict[str, float]:
    """What importing the page's code (Starlette, uvicorn, python-multipart, prometheus-client,
    our modules) adds to an interpreter that already holds the daemon's own imports."""
    out = subprocess.run([sys.executable, "-c", IMPORT_COST], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    return {"VmRSS": float(out[0]), "RssAnon": float(out[1])}


def rss_runs(work: Path, template: Path, models_dir: Path, pairs: int) -> dict[str, Any]:
    """``pairs`` alternating starts with the page off and on; medians."""
    seen: dict[str, list[float]] = {}
    for i in range(pairs):
        for enabled in (False, True):
            run = work / f"rss-{i}-{enabled}"
            run.mkdir()
            web = 'bind = "127.0.0.1"\nport = 0' if enabled else "enabled = false"
            d = start_daemon(run, models_dir, template, web=web, wait_web=enabled)
            key = "on" if enabled else "off"
            try:
                wait_llm(d)
                time.sleep(3.0)  # settle: measuring, not synchronising
                for field in ("VmRSS", "RssAnon"):
                    seen.setdefault(f"{field}_{key}", []).append(rss_mb(d.proc.pid, field))
                if enabled:
                    c, auth = Client(d.url), basic("admin", d.password)
                    for _ in range(500):
                        c.request("GET", "/api/status", headers=auth)
                    c.request("POST", "/login",
                              form={"username": "admin", "password": d.password})
                    for path in ("/", "/interactions", "/knowledge", "/system",
                                 "/static/app.js"):
                        c.request("GET", path)
                    for field in ("VmRSS", "RssAnon"):
                        seen.setdefault(f"{field}_on_after", []).append(
                            rss_mb(d.proc.pid, field))
            finally:
                d.stop()
    out: dict[str, Any] = {k: statistics.median(v) for k, v in seen.items()}
    out["runs"] = seen
    out["import_mb"] = import_cost()
    out["pairs"] = pairs
    for field in ("VmRSS", "RssAnon"):
        out[f"{field}_added_mb"] = round(out[f"{field}_on"] - out[f"{field}_off"], 1)
        out[f"{field}_added_after_requests_mb"] = round(
            out[f"{field}_on_after"] - out[f"{field}_off"], 1)
        out[f"{field}_growth_serving_mb"] = round(statistics.median(
            a - b for a, b in zip(seen[f"{field}_on_after"], seen[f"{field}_on"],
                                  strict=True)), 1)
    return out


# ----------------------------------------------------------------------------- 2. page
def page_costs(work: Path, template: Path, models_dir: Path, loads: int) -> dict[str, Any]:
    run = work / "page"
    run.mkdir()
    d = start_daemon(run, models_dir, template)
    driver = chromium(run / "profile")
    try:
        wait_llm(d)
        log_in(driver, d)
        samples = []
        for i in range(loads):
            if i == 0:
                driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            driver.get(d.url)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not driver.execute_script(
                    "return performance.getEntriesByType('paint').length"):
                time.sleep(0.05)  # polling until the browser has painted
            samples.append(driver.execute_script("""
                const nav = performance.getEntriesByType('navigation')[0];
                const res = performance.getEntriesByType('resource');
                const paint = performance.getEntriesByType('paint');
                const fcp = paint.find(p => p.name === 'first-contentful-paint');
                return {document: nav.transferSize, document_body: nav.decodedBodySize,
                        resources: res.map(r => [r.name, r.transferSize, r.decodedBodySize]),
                        fcp_ms: fcp ? fcp.startTime : null,
                        dom_content_loaded_ms: nav.domContentLoadedEventEnd};"""))
    finally:
        driver.quit()
        d.stop()

    def total_kb(s: dict[str, Any]) -> float:
        # The event stream never ends (its transferSize is 0 until it does): not page weight.
        return round((s["document"] + sum(t for name, t, _ in s["resources"]
                                          if "/api/events" not in name)) / 1024, 1)

    warm = samples[1:] or samples
    return {"cold_kb": total_kb(samples[0]), "warm_kb": statistics.median(map(total_kb, warm)),
            "html_kb": round(samples[0]["document_body"] / 1024, 1),
            "resources": [[n.split("/", 3)[-1], round(b / 1024, 1)]
                          for n, _, b in samples[0]["resources"]],
            "first_paint_ms": ms_stats([s["fcp_ms"] for s in samples if s["fcp_ms"]]),
            "cold_first_paint_ms": samples[0]["fcp_ms"], "loads": loads}


# ----------------------------------------------------------------------------- 3. latency
class Hammer:
    """``clients`` threads, each on its own keep-alive connection, GET /api/status in a loop."""

    def __init__(self, d: WebDaemon, clients: int) -> None:
        self.d, self.clients = d, clients
        self.cpu_start = cpu_s(d.proc.pid)
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.errors = 0
        self.threads = [threading.Thread(target=self._run, args=(f"127.0.1.{i + 1}",),
                                         daemon=True) for i in range(clients)]
        self.refused = 0
        self.started = 0.0

    def __enter__(self) -> Hammer:
        self.started = time.perf_counter()
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)
        self.seconds = time.perf_counter() - self.started
        self.cpu = cpu_s(self.d.proc.pid) - self.cpu_start

    def _run(self, source: str) -> None:
        """One client (its own loopback address, like its own host on the LAN)."""
        headers = basic("admin", self.d.password)
        conn = Client(self.d.url, source=source).connection(timeout=30)
        while not self.stop.is_set():
            start = time.perf_counter()
            try:
                conn.request("GET", "/api/status", headers=headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
                self.refused += resp.status == 429
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = Client(self.d.url, source=source).connection(timeout=30)
            if ok:
                self.latencies.append((time.perf_counter() - start) * 1000)
            else:
                self.errors += 1

    def report(self) -> dict[str, Any]:
        return {"clients": self.clients, "requests": len(self.latencies), "errors": self.errors,
                "refused_429": self.refused,
                "requests_per_s": round(len(self.latencies) / self.seconds, 1),
                "status_ms": ms_stats(self.latencies),
                "daemon_cpu_percent": round(100 * self.cpu / self.seconds, 1)}


def recording(models_dir: Path, path: Path, turns: int) -> Path:
    from xnai_edge.audio.chunk import SAMPLE_RATE
    from xnai_edge.audio.wav import WavSink
    from xnai_edge.backends import registry
    from xnai_edge.config import Config

    tts = registry.load_tts(models_dir, Config())

    def gap(seconds: float) -> Any:
        return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)

    parts = [gap(15.0)]  # the LLM loads and the hammer starts before the first question
    for i in range(turns):
        parts += [tts.to_16k(tts.synthesize("Hey Jarvis.")), gap(0.5),
                  tts.to_16k(tts.synthesize(QUESTIONS[i % len(QUESTIONS)])), gap(TURN_GAP_S)]
    with WavSink(path, rate=SAMPLE_RATE) as sink:
        sink.write(np.concatenate(parts))
    return path


def voice_latencies(data: Path) -> list[float]:
    with contextlib.closing(sqlite3.connect(f"file:{data / 'knowledge.sqlite3'}?mode=ro",
                                            uri=True)) as db:
        rows = db.execute("SELECT timings_ms, method FROM interactions ORDER BY id").fetchall()
    import json

    return [float(json.loads(t)["speech_end_to_first_audio"]) for t, method in rows
            if method != "interrupted" and "speech_end_to_first_audio" in json.loads(t)]


def voice_run(work: Path, template: Path, models_dir: Path, wav: Path, turns: int,
              clients: int) -> dict[str, Any]:
    run = work / f"voice-{clients}"
    run.mkdir()
    d = start_daemon(run, models_dir, template, audio_input=str(wav))
    load_before = loadavg()
    try:
        wait_llm(d)
        cpu0, t0 = cpu_s(d.proc.pid), time.perf_counter()
        hammer = Hammer(d, clients) if clients else contextlib.nullcontext()
        with hammer:
            d.wait_status(lambda s: s["state"] == "input-ended", 60 + turns * 40,
                          "the WAV played")
        cpu = round(100 * (cpu_s(d.proc.pid) - cpu0) / (time.perf_counter() - t0), 1)
        lat = voice_latencies(d.data)
    finally:
        d.stop()
    out = {"speech_end_to_first_audio_ms": ms_stats(lat), "answered": len(lat),
           "turns": turns, "loadavg_before": load_before, "loadavg_after": loadavg(),
           "daemon_cpu_percent": cpu}
    if isinstance(hammer, Hammer):
        out["hammer"] = hammer.report()
    return out


def typed_run(d: WebDaemon, asks: int, clients: int) -> dict[str, Any]:
    c, auth = Client(d.url), basic("admin", d.password)
    wall, server = [], []
    load_before, cpu0, t0 = loadavg(), cpu_s(d.proc.pid), time.perf_counter()
    hammer = Hammer(d, clients) if clients else contextlib.nullcontext()
    with hammer:
        for i in range(asks):
            start = time.perf_counter()
            reply = c.request("POST", "/api/ask", headers=auth,
                              json_body={"question": QUESTIONS[i % len(QUESTIONS)]})
            wall.append((time.perf_counter() - start) * 1000)
            server.append(float(reply.json()["timings_ms"]["total"]))
    out = {"wall_ms": ms_stats(wall), "server_total_ms": ms_stats(server),
           "loadavg_before": load_before, "loadavg_after": loadavg(),
           "daemon_cpu_percent": round(100 * (cpu_s(d.proc.pid) - cpu0) /
                                       (time.perf_counter() - t0), 1)}
    if isinstance(hammer, Hammer):
        out["hammer"] = hammer.report()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--asks", type=int, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=3, help="off/on starts for the RSS")
    parser.add_argument("--parts", default="rss,page,typed,voice")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.turns, args.asks, args.loads, args.pairs = 2, 4, 3, 1
    parts = set(args.parts.split(","))
    models_dir = paths.models_dir(None)
    work = Path(tempfile.mkdtemp(prefix="xnbw-", dir="/tmp"))
    result: dict[str, Any] = {"loadavg_start": loadavg()}
    try:
        log("building the template data dir")
        template = build_template(models_dir, work / "template")
        if "rss" in parts:
            log(f"RSS with the page off / on ({args.pairs} pairs)")
            result["rss_mb"] = rss_runs(work, template, models_dir, args.pairs)
        if "page" in parts:
            log("page weight and first paint (Chromium)")
            result["page"] = page_costs(work, template, models_dir, args.loads)
        if "typed" in parts:
            log("typed answers with and without the hammer")
            (work / "typed").mkdir()
            d = start_daemon(work / "typed", models_dir, template)
            try:
                wait_llm(d)
                typed_run(d, 2, 0)  # warm-up
                result["typed"] = {"none": typed_run(d, args.asks, 0),
                                   "hammer": typed_run(d, args.asks, args.clients)}
            finally:
                d.stop()
        if "voice" in parts:
            log(f"voice loop with and without the hammer ({args.turns} turns each)")
            wav = recording(models_dir, work / "turns.wav", args.turns)
            result["voice"] = {
                "none": voice_run(work, template, models_dir, wav, args.turns, 0),
                "hammer": voice_run(work, template, models_dir, wav, args.turns, args.clients)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["loadavg_end"] = loadavg()
    print(show(result), file=sys.stderr)
    emit(result)
    return 0


def show(r: dict[str, Any]) -> str:
    rows: list[list[object]] = []
    if page := r.get("page"):
        rows += [["overview transferred, cold cache (KB)", page["cold_kb"]],
                 ["overview transferred, warm (KB)", page["warm_kb"]],
                 ["overview HTML alone (KB)", page["html_kb"]],
                 ["first contentful paint p50 / cold (ms)",
                  f"{page['first_paint_ms'].get('p50')} / {page['cold_first_paint_ms']}"]]
    if rss := r.get("rss_mb"):
        rows.append(["RSS added by importing the page's code (MB, VmRSS / RssAnon)",
                     f"{rss['import_mb']['VmRSS']} / {rss['import_mb']['RssAnon']}"])
        for field in ("VmRSS", "RssAnon"):
            rows += [[f"daemon {field}, page off / on (MB, median of {rss['pairs']})",
                      f"{rss[f'{field}_off']} / {rss[f'{field}_on']}"],
                     [f"{field} added by the page (MB)", rss[f"{field}_added_mb"]],
                     [f"{field} growth over 500 /api/status + page loads (MB)",
                      rss[f"{field}_growth_serving_mb"]]]
    out = table("status page: cost", ["measure", "value"], rows)
    rows = []
    for kind, key in (("voice", "speech_end_to_first_audio_ms"), ("typed", "wall_ms")):
        for load in ("none", "hammer"):
            x = r.get(kind, {}).get(load)
            if not x:
                continue
            h = x.get("hammer", {})
            rows.append([f"{kind}: {key}", load, x[key].get("p50"), x[key].get("p95"),
                         x[key].get("n"), h.get("requests_per_s"),
                         h.get("status_ms", {}).get("p50"), x.get("daemon_cpu_percent"),
                         f"{x['loadavg_before']}"
                         f" -> {x['loadavg_after']}"])
    return out + table("answer latency with clients hammering /api/status", [
        "latency", "load", "p50 ms", "p95 ms", "n", "status req/s", "status p50 ms",
        "daemon CPU %", "load avg"], rows)


if __name__ == "__main__":
    raise SystemExit(main())
