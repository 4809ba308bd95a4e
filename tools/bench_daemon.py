"""The running daemon: pressure -> ``tier-changed`` -> the LLM's memory released; RSS per tier;
idle CPU.

    .venv/bin/python tools/bench_daemon.py [--interval 2.0] [--trials 5] [--idle-s 20]

``xnai-edge run`` runs as a subprocess with the tiny model set, its memory pressure read from a
PSI file and a meminfo file in a temp dir (``[memory] interval_s`` = ``--interval``, the
shipped default 2 s; ``[tiers] quiet_s`` = 1 s so that it comes back up quickly between
trials), ``NOTIFY_SOCKET`` = a datagram socket bound here, as systemd's, and ``WATCHDOG_USEC``
as the unit's ``WatchdogSec=30``.

* **threshold -> tier-changed**: at a random moment of the monitor's interval the PSI file is
  rewritten with ``some avg10`` above the tier-2 threshold; the time until the daemon's
  ``STATUS=... tier 2 ...`` datagram arrives (sent from its ``TierChanged`` event), and until
  its RSS (``/proc/PID/status`` VmRSS, read every 2 ms) has dropped by half the LLM file: the
  model was unloaded and its memory really returned.  Expect ~interval/2 on average (the
  monitor polls: a plain file cannot carry a PSI trigger).
* **RSS per tier** 0-4 with input "none" (embedder + LLM only) and with a silent WAV as input
  (the voice models loaded too: wake word, VAD, STT, TTS).
* **idle CPU** of the daemon over ``--idle-s`` seconds (all its threads' ``schedstat``), % of
  one core: with input "none", and listening to a silent WAV in real time (the wake word model
  runs on every 80 ms chunk, as with a microphone in a quiet room).

Prints a table on stderr and one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.bench import emit, log, ms_stats  # noqa: E402
from xnai_edge import paths  # noqa: E402
from xnai_edge.config import Config, TiersConfig  # noqa: E402
from xnai_edge.errors import XnaiError  # noqa: E402
from xnai_edge.health.status_socket import SOCKET_NAME, query  # noqa: E402
from xnai_edge.modelstore import ModelStore  # noqa: E402

TIER_PSI = (0.0, 12.0, 25.0, 45.0, 65.0)
"""PSI some avg10 that puts the daemon in tier 0..4 with the default thresholds."""
CLK_TCK = os.sysconf("SC_CLK_TCK")
WATCHDOG_USEC = 30_000_000
"""As systemd/xnai-edge.service (WatchdogSec=30): a heartbeat every 15 s."""


def psi_text(avg10: float) -> str:
    return (f"some avg10={avg10:.2f} avg60=0.00 avg300=0.00 total=0\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_s(pid: int) -> float:
    """CPU seconds of all the process's threads, to the nanosecond (schedstat), falling back
    to utime+stime in clock ticks."""
    total = 0.0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0]) / 1e9
        return total
    except (OSError, ValueError):
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str,
             every_s: float = 0.02) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} within {timeout_s:g} s")
        time.sleep(every_s)


class Notify:
    """systemd's end of sd_notify: STATUS= lines with their arrival times."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.path = path
        self.lines: list[tuple[float, str]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.perf_counter()
            self.lines.extend((now, line) for line in data.decode().splitlines())

    def first(self, match: Callable[[str], bool], since: float) -> float | None:
        return next((at for at, line in list(self.lines) if at >= since and match(line)), None)

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.sock.close()


class Daemon:
    def __init__(self, tmp: Path, template: Path, audio_input: str, interval_s: float) -> None:
        self.dir = tmp / f"run-{len(list(tmp.glob('run-*')))}"
        self.dir.mkdir()
        self.data = self.dir / "data"
        shutil.copytree(template, self.data)
        self.psi = self.dir / "psi"
        self.psi.write_text(psi_text(0))
        meminfo = self.dir / "meminfo"
        meminfo.write_text("MemTotal: 16000000 kB\nMemAvailable: 8000000 kB\n")
        config = self.dir / "config.toml"
        config.write_text(f"""
[audio]
input = "{audio_input}"
output = "none"
[memory]
psi_path = "{self.psi}"
meminfo_path = "{meminfo}"
cgroup_dir = ""
interval_s = {interval_s}
[tiers]
quiet_s = 1.0
[web]
enabled = false
""")
        self.notify = Notify(self.dir / "notify.sock")
        env = {**os.environ, "NOTIFY_SOCKET": str(self.notify.path),
               "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        env.pop("WATCHDOG_PID", None)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xnai_edge.cli", "-q", "--data-dir", str(self.data),
             "--config", str(config), "run"], env=env, stdout=subprocess.DEVNULL,
            stderr=(self.dir / "daemon.log").open("wb"))
        self.pid = self.proc.pid

    def status(self) -> dict[str, Any]:
        try:
            return query(self.data / SOCKET_NAME)
        except XnaiError:
            return {}

    def wait_status(self, condition: Callable[[dict[str, Any]], bool], timeout_s: float,
                    what: str) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def check() -> bool:
            nonlocal found
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited waiting for {what}: "
                                   + (self.dir / "daemon.log").read_text()[-2000:])
            found = self.status()
            return bool(found) and condition(found)

        wait_for(check, timeout_s, what, every_s=0.05)
        return found

    def settled_rss(self) -> float:
        """RSS once it stops moving (allocator returns, lazy page-ins)."""
        last = rss_mb(self.pid)
        for _ in range(50):
            time.sleep(0.1)
            now = rss_mb(self.pid)
            if abs(now - last) < 0.5:
                return round(now, 1)
            last = now
        return round(last, 1)

    def set_tier(self, tier: int, timeout_s: float = 60) -> dict[str, Any]:
        self.psi.write_text(psi_text(TIER_PSI[tier]))
        want_llm = "loaded" if tier <= 1 else "unloaded"
        return self.wait_status(
            lambda s: s["tier"] == tier and s["models"].get("llm", "").startswith(want_llm),
            timeout_s, f"tier {tier} with the LLM {want_llm}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.notify.close()


@contextlib.contextmanager
def running(tmp: Path, template: Path, audio_input: str, interval_s: float,
            ) -> Iterator[Daemon]:
    daemon = Daemon(tmp, template, audio_input, interval_s)
    try:
        yield daemon
    finally:
        daemon.stop()


def make_template(tmp: Path, models_dir: Path) -> Path:
    """A data dir with the bundled manual ingested (every daemon starts from a copy)."""
    from xnai_edge.knowledge.base import KnowledgeBase

    data = tmp / "template"

    async def build() -> None:
        async with KnowledgeBase.open(data, models_dir, Config()) as kb:
            await kb.retriever()

    anyio.run(build)
    return data


def silent_wav(path: Path, seconds: float) -> Path:
    from xnai_edge.audio.wav import WavSink

    with WavSink(path, rate=16000) as sink:
        sink.write(np.zeros(int(seconds * 16000), dtype=np.int16))
    return path


def idle_cpu(daemon: Daemon, seconds: float) -> float:
    """% of one core used by the daemon over ``seconds`` of wall time."""
    start_cpu, start = cpu_s(daemon.pid), time.perf_counter()
    time.sleep(seconds)
    return round((cpu_s(daemon.pid) - start_cpu) / (time.perf_counter() - start) * 100, 3)


def rss_per_tier(daemon: Daemon) -> dict[str, float]:
    out = {}
    for tier in range(5):
        daemon.set_tier(tier)
        out[str(tier)] = daemon.settled_rss()
    daemon.set_tier(0, timeout_s=120)  # quiet_s 1 s per step up
    return out


def latency_trials(daemon: Daemon, trials: int, interval_s: float, release_mb: float,
                   ) -> tuple[list[float], list[float], list[float]]:
    """(threshold -> STATUS tier 2 ms, threshold -> RSS released ms, MiB released) per trial."""
    to_status: list[float] = []
    to_release: list[float] = []
    released: list[float] = []
    threshold = TiersConfig().psi_extractive
    for i in range(trials):
        daemon.set_tier(0, timeout_s=120)
        before = daemon.settled_rss()
        time.sleep(random.uniform(0, interval_s))  # a random phase of the monitor's interval
        written = time.perf_counter()
        daemon.psi.write_text(psi_text(threshold + 5))
        deadline = written + interval_s * 3 + 30
        freed_at = None
        while time.perf_counter() < deadline:
            now_rss = rss_mb(daemon.pid)
            if now_rss < before - release_mb:
                freed_at = time.perf_counter()
                break
            time.sleep(0.002)
        seen = daemon.notify.first(lambda line: line.startswith("STATUS=") and
                                   " tier 2 " in line, written)
        if freed_at is None or seen is None:
            raise RuntimeError(f"trial {i + 1}: no tier change / release within the deadline")
        to_status.append((seen - written) * 1000)
        to_release.append((freed_at - written) * 1000)
        released.append(round(before - daemon.settled_rss(), 1))
        log(f"trial {i + 1}/{trials}: STATUS tier 2 after {to_status[-1]:.0f} ms, "
            f"RSS -{released[-1]:.0f} MiB (past -{release_mb:.0f}) after "
            f"{to_release[-1]:.0f} ms")
    return to_status, to_release, released


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=2.0,
                        help="[memory] interval_s of the daemon (default 2.0, as shipped)")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=20.0)
    args = parser.parse_args()
    models_dir = paths.models_dir(None)
    config = Config()
    model_mb = ModelStore(models_dir).path("llm", "model.gguf", set_name=config.models.set) \
        .stat().st_size / 2**20
    result: dict[str, Any] = {"interval_s": args.interval, "model_set": config.models.set,
                              "llm_file_mb": round(model_mb, 1)}
    with tempfile.TemporaryDirectory(prefix="xnb-", dir="/tmp") as name:
        tmp = Path(name)
        log("ingesting the bundled manual into a template data dir")
        template = make_template(tmp, models_dir)

        log("daemon with input 'none'")
        with running(tmp, template, "none", args.interval) as d:
            status = d.wait_status(lambda s: s["models"].get("llm") == "loaded", 120,
                                   "the LLM loaded")
            ready = d.notify.first(lambda line: line == "READY=1", 0)
            result["ready_s"] = None if ready is None else round(ready - d.started, 2)
            result["state_input_none"] = status["state"]
            log(f"idle CPU over {args.idle_s:g} s")
            cpu_none = idle_cpu(d, args.idle_s)
            log("RSS per tier")
            rss_none = rss_per_tier(d)
            log(f"{args.trials} trials: PSI {TiersConfig().psi_extractive + 5:g}% -> tier 2")
            to_status, to_release, released = latency_trials(d, args.trials, args.interval,
                                                             model_mb / 2)

        wav = silent_wav(tmp / "silence.wav", args.idle_s + 120)
        log(f"daemon listening to {wav.name} (silence, real time)")
        with running(tmp, template, str(wav), args.interval) as d:
            d.wait_status(lambda s: s["models"].get("llm") == "loaded" and
                          s["models"].get("wake") == "loaded", 120, "all models loaded")
            log(f"idle CPU over {args.idle_s:g} s")
            cpu_wav = idle_cpu(d, args.idle_s)
            log("RSS per tier")
            rss_wav = rss_per_tier(d)
            state = d.status()["state"]
            if state != "ready":  # the loop, still on the WAV, has not changed state
                log(f"warning: the daemon is {state!r} after the measurements")

    result.update({
        "threshold_to_tier_changed_ms": {**ms_stats(to_status), "max": round(max(to_status), 1)},
        "threshold_to_llm_memory_released_ms": {**ms_stats(to_release),
                                                "max": round(max(to_release), 1)},
        "llm_memory_released_mb": statistics.median(released),
        "rss_mb_per_tier": {"input none": rss_none, "silent wav": rss_wav},
        "idle_cpu_pct_of_one_core": {"input none": cpu_none, "silent wav": cpu_wav},
        "idle_window_s": args.idle_s,
    })
    table = [
        f"READY after {result['ready_s']} s (data dir with the manual already ingested)",
        f"PSI crosses {TiersConfig().psi_extractive:g}% -> STATUS tier 2: "
        f"p50 {result['threshold_to_tier_changed_ms']['p50']:.0f} ms, max "
        f"{result['threshold_to_tier_changed_ms']['max']:.0f} ms (interval {args.interval:g} s)",
        f"PSI crosses -> LLM memory released: p50 "
        f"{result['threshold_to_llm_memory_released_ms']['p50']:.0f} ms, max "
        f"{result['threshold_to_llm_memory_released_ms']['max']:.0f} ms; "
        f"{result['llm_memory_released_mb']:.0f} MiB freed (file {model_mb:.0f} MiB)",
        "RSS MiB per tier 0-4, input none: " + ", ".join(f"{v:.0f}" for v in rss_none.values()),
        "RSS MiB per tier 0-4, silent WAV:  " + ", ".join(f"{v:.0f}" for v in rss_wav.values()),
        f"idle CPU ({args.idle_s:g} s): input none {cpu_none:.2f}% of a core, listening to "
        f"silence {cpu_wav:.2f}%",
    ]
    for line in table:
        print(line, file=sys.stderr)
    emit(result)


if __name__ == "__main__":
    main()
