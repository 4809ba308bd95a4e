"""``xnai-edge run`` as systemd runs it: a real subprocess, real sockets, real tiny models.

The daemon gets ``NOTIFY_SOCKET`` = a unix datagram socket bound here (what systemd listens
on), ``WATCHDOG_USEC=1000000`` (a heartbeat every 0.5 s) and ``XNAI_EDGE_DEBUG_HOOKS=1`` (the
status socket's ``debug-block-loop SECONDS``).  Its input is a Piper-made WAV ("Hey Jarvis."
+ a question), played once in real time, or "none"/"default"; its memory pressure comes from a
PSI file and a meminfo file here.  Every wait is for a condition with a deadline (a datagram,
a status reply, an exit), never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import CLI
from daemon_helpers import MEMINFO, psi_text

from xnai_edge.config import load_config
from xnai_edge.errors import XnaiError
from xnai_edge.health.status_socket import SOCKET_NAME, query

pytestmark = pytest.mark.slow

START_S = 120.0  # READY, from a cold start on 2 cores (measured ~5 s)
STATUS_LINE = re.compile(r"^(?P<state>[\w-]+); tier (?P<tier>\d) \((?P<name>\w+)\): (?P<why>.+)$")
STATUS_KEYS = {"state", "tier", "tier_reason", "models", "breakers", "memory",
               "last_interaction"}






# ----------------------------------------------------------------------------- sd_notify side
class NotifySocket:
    """systemd's end of sd_notify: every datagram with the time it arrived (a reader thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._cond = threading.Condition()
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
            with self._cond:
                self.messages.append((time.monotonic(), data.decode()))
                self._cond.notify_all()

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.sock.close()

    def lines(self, key: str, since: float = 0.0) -> list[tuple[float, str]]:
        """(arrival, value) of every ``KEY=value`` line that arrived at or after ``since``."""
        with self._cond:
            return [(at, line.split("=", 1)[1]) for at, text in self.messages if at >= since
                    for line in text.splitlines() if line.startswith(key + "=")]

    def wait(self, key: str, match: Callable[[str], bool] = lambda v: True, *,
             since: float = 0.0, count: int = 1, timeout_s: float = 30.0) -> list[str]:
        """Block until ``count`` lines ``KEY=value`` with ``match(value)`` have arrived."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = [v for _, v in self.lines(key, since) if match(v)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {count} x {key}= within {timeout_s:g} s; got: "
                                         f"{[m for _, m in self.messages][-20:]}")
                self._cond.wait(left)


# ----------------------------------------------------------------------------- the daemon
@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    data: Path
    notify: NotifySocket
    log: Path
    psi: Path

    @property
    def socket_path(self) -> Path:
        return self.data / SOCKET_NAME

    def status(self, request: str = "status", timeout_s: float = 5.0) -> dict[str, Any]:
        return query(self.socket_path, request, timeout_s=timeout_s)

    def wait_status(self, condition: Callable[[dict[str, Any]], bool], timeout_s: float,
                    what: str) -> dict[str, Any]:
        """Ask every 20 ms until ``condition(status)`` holds (the daemon must stay alive)."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the daemon exited ({self.proc.returncode}) " \
                f"waiting for {what}:\n{self.output()}"
            with contextlib.suppress(XnaiError):
                last = self.status()
                if condition(last):
                    return last
            time.sleep(0.02)  # polling interval, not synchronisation
        raise AssertionError(f"no {what} within {timeout_s:g} s; last status: "
                             f"{json.dumps(last)[:2000]}\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> tuple[int, float]:
        """Send ``sig``; (exit code, seconds until it exited)."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout_s)
        return code, time.monotonic() - start


@pytest.fixture(scope="module")
def template(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the bundled manual ingested and indexed, copied for every daemon (the
    first start of a fresh dir would spend its time ingesting)."""
    from xnai_edge.config import Config
    from xnai_edge.knowledge.base import KnowledgeBase

    data = tmp_path_factory.mktemp("template") / "data"

    async def build() -> None:
        async with KnowledgeBase.open(data, models_dir, Config()) as kb:
            await kb.retriever()

    anyio.run(build)
    return data


@pytest.fixture(scope="module")
def recordings(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Piper says "Hey Jarvis." and a question, with pauses (as in `xnai-edge demo`).

    Piper's noise is not seeded: "How do I reset you?" came back from the voice loop as "Have
    you ever reset you?" and "Happy Worry Set to You!" in some runs; "How do I add documents?"
    was heard right in every run (8/8 straight through STT, every daemon run), and its answer
    is long enough (~7 s of speech) to be cut by a signal."""
    from xnai_edge.backends import registry
    from xnai_edge.config import Config
    from xnai_edge.demo_cli import make_recording

    tts = registry.load_tts(models_dir, Config())
    out = tmp_path_factory.mktemp("wav")
    wavs = {"add": "How do I add documents?"}
    for name, question in wavs.items():
        make_recording(tts, question, out / f"{name}.wav")
    return {name: out / f"{name}.wav" for name in wavs}


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths must stay under 108 bytes: pytest's tmp_path can be longer."""
    path = Path(tempfile.mkdtemp(prefix="xnd-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start(short_dir: Path, template: Path, models_dir: Path,
          ) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def launch(input: str, output: str = "none", *, extra: str = "",
               copy_template: bool = True) -> Daemon:
        data = short_dir / "data"
        if copy_template:
            shutil.copytree(template, data)
        psi, meminfo = short_dir / "psi", short_dir / "meminfo"
        psi.write_text(psi_text(0))
        meminfo.write_text(MEMINFO)
        config = short_dir / "config.toml"
        config.write_text(f"""
[audio]
input = "{input}"
output = "{output}"
[memory]
psi_path = "{psi}"
meminfo_path = "{meminfo}"
cgroup_dir = ""
interval_s = 0.1
[web]
enabled = false
{extra}""")
        notify = NotifySocket(short_dir / "notify.sock")
        env = {**os.environ, "XNAI_EDGE_MODELS_DIR": str(models_dir),
               "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000",
               "XNAI_EDGE_DEBUG_HOOKS": "1"}
        env.pop("WATCHDOG_PID", None)
        env.pop("XNAI_EDGE_CONFIG", None)
        log = short_dir / "daemon.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([*CLI, "-q", "--data-dir", str(data), "--config",
                                     str(config), "run"], stdout=out, stderr=subprocess.STDOUT,
                                    env=env)
        daemon = Daemon(proc, data, notify, log, psi)
        started.append(daemon)
        return daemon

    try:
        yield launch
    finally:
        for daemon in started:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait(30)
            daemon.notify.close()


def cli_status(models_dir: Path, data: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XNAI_EDGE_MODELS_DIR": str(models_dir)}
    return subprocess.run([*CLI, "--data-dir", str(data), "status", *flags],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def interactions(data: Path) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(f"file:{data / 'knowledge.sqlite3'}?mode=ro",
                                            uri=True)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM interactions ORDER BY id")]


# ----------------------------------------------------------------------------- tests
def test_notify_watchdog_status_and_tiers_of_a_running_daemon(
        start: Callable[..., Daemon], recordings: dict[str, Path], models_dir: Path) -> None:
    t0 = time.monotonic()
    d = start(str(recordings["add"]))
    ready = d.notify.wait("READY", timeout_s=START_S)
    ready_s = time.monotonic() - t0
    assert ready == ["1"]
    # READY=1 comes once the lowest tier can answer, and the status socket answers by then.
    status = d.status()
    assert set(status) >= STATUS_KEYS, set(status)

    # STATUS= lines say state and tier, e.g. "ready; tier 0 (full): starting".
    statuses = d.notify.lines("STATUS")
    assert statuses, "no STATUS= at all"
    for _, line in statuses:
        assert STATUS_LINE.match(line), line
    assert any(STATUS_LINE.match(v)["state"] == "ready" for _, v in statuses)  # type: ignore[index]

    # WATCHDOG=1 from the loop's heartbeat, every WATCHDOG_USEC/2.
    beats = d.notify.wait("WATCHDOG", since=time.monotonic(), count=4, timeout_s=10)
    assert beats == ["1"] * 4

    # The WAV's question is heard and answered; `xnai-edge status --json` shows it.
    done = d.wait_status(lambda s: s["last_interaction"] is not None, 90.0,
                         "the WAV's question answered")
    answered_s = time.monotonic() - t0
    last = done["last_interaction"]
    assert "document" in last["question"].lower(), last
    assert "ingest" in last["answer"] and last["tier"] == 0, last
    result = cli_status(models_dir, d.data, "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert set(reply) >= STATUS_KEYS, set(reply)
    assert reply["last_interaction"]["question"] == last["question"]
    assert reply["tier"] == 0 and reply["tier_reason"]
    assert set(reply["breakers"]) == {"stt", "embed", "llm", "tts"}
    assert all(b["state"] == "closed" for b in reply["breakers"].values())
    assert reply["models"]["llm"] == "loaded" and reply["models"]["stt"] == "loaded"
    assert reply["memory"]["memory"]["psi_some_avg10"] == 0.0
    assert reply["memory"]["memory"]["mem_available_mb"] == pytest.approx(7812.5)
    assert reply["pid"] == d.proc.pid
    human = cli_status(models_dir, d.data)
    assert human.returncode == 0 and human.stdout.startswith("state "), human
    assert "ingest" in human.stdout

    # A stuck event loop sends no WATCHDOG=1 (systemd would restart it); then they resume.
    blocked: dict[str, Any] = {}

    def block() -> None:
        blocked["reply"] = query(d.socket_path, "debug-block-loop 3", timeout_s=10)
        blocked["at"] = time.monotonic()

    before = time.monotonic()
    thread = threading.Thread(target=block)
    thread.start()
    thread.join(15)
    assert blocked.get("reply") == {"blocked": True}, blocked
    end = blocked["at"]
    d.notify.wait("WATCHDOG", since=end, count=3, timeout_s=5)
    times = [at for at, _ in d.notify.lines("WATCHDOG", since=before - 2)]
    gaps = [(b - a, a) for a, b in itertools.pairwise(times)]
    longest, gap_start = max(gaps)
    for at, v in d.notify.lines("STATUS"):
        print(f"{at - t0:6.2f} {v}")
    print(f"READY after {ready_s:.1f} s, answered after {answered_s:.1f} s; watchdog gaps "
          f"around the 3 s block: {[round(g, 2) for g, _ in gaps]}")
    assert longest > 2.0, f"WATCHDOG=1 kept coming while the loop was blocked: {gaps}"
    assert longest < 4.5, gaps
    assert before - 1.0 <= gap_start <= end, "the silence was not during the block"
    silent = [at for at, _ in d.notify.lines("WATCHDOG", since=end - 2.5) if at < end - 0.3]
    assert not silent, "WATCHDOG=1 during the block"
    assert sorted(g for g, _ in gaps)[-2] < 2.0, f"more than one long silence: {gaps}"

    # Pressure: the PSI file crosses the tier-2 threshold -> tier 2 in status and STATUS=.
    raised = time.monotonic()
    d.psi.write_text(psi_text(25.0))
    (line, *_) = d.notify.wait("STATUS", lambda v: " tier 2 " in v, since=raised, timeout_s=10)
    seen_s = time.monotonic() - raised
    assert STATUS_LINE.match(line) and "psi some avg10 25.0% >= 20%" in line, line
    status = d.wait_status(lambda s: s["models"].get("llm", "").startswith("unloaded"), 10,
                           "the LLM unloaded")
    assert status["tier"] >= 2 and "psi" in status["tier_reason"], status
    assert status["models"]["llm"] == "unloaded at tier 2"
    print(f"PSI 25% -> STATUS= tier 2 after {seen_s * 1000:.0f} ms: {line!r}")

    # SIGTERM when idle: exit 0, STOPPING=1, the status socket removed.
    code, took = d.stop()
    assert code == 0, d.output()
    assert took < 10
    d.notify.wait("STOPPING", timeout_s=1)
    assert not d.socket_path.exists()


def test_sigterm_while_speaking_exits_0_and_logs_the_interaction(
        start: Callable[..., Daemon], recordings: dict[str, Path], short_dir: Path) -> None:
    d = start(str(recordings["add"]), str(short_dir / "answer.wav"))
    d.notify.wait("READY", timeout_s=START_S)
    d.notify.wait("STATUS", lambda v: v.startswith("speaking;"), timeout_s=90)
    code, took = d.stop()
    print(f"SIGTERM while speaking: exit {code} after {took:.2f} s")
    assert code == 0, d.output()
    assert took < 10
    d.notify.wait("STOPPING", timeout_s=1)
    assert d.notify.lines("STATUS")[-1][1] == "stopped"
    rows = interactions(d.data)
    assert len(rows) == 1, rows
    (row,) = rows
    print(f"logged: {row['transcript']!r} -> {row['answer']!r} ({row['method']}, tier "
          f"{row['tier']})")
    # Cut while speaking: logged as "interrupted" with what it had (the answer text, once
    # the answerer had returned it; the sentences sent to speech otherwise).
    assert "document" in row["transcript"].lower()
    assert row["method"] == "interrupted", row
    assert "ingest" in row["answer"], row
    stamps = json.loads(row["stamps"])
    assert stamps["speech_end"] <= stamps["transcript"] <= stamps["interrupted"], stamps
    if row["tier"] != -1:  # -1: cut before the answerer returned (the first sentence's TTS)
        assert row["tier"] == 0 and json.loads(row["sources"]), row


def test_kill_9_during_an_answer_leaves_the_knowledge_base_consistent(
        start: Callable[..., Daemon], recordings: dict[str, Path], cli: Any,
        models_dir: Path) -> None:
    d = start(str(recordings["add"]))
    d.notify.wait("READY", timeout_s=START_S)
    (state,) = d.notify.wait("STATUS", lambda v: v.startswith(("thinking;", "speaking;")),
                             timeout_s=90)
    d.stop(signal.SIGKILL)
    print(f"killed while {state!r}")
    check = cli("kb", "check", data=d.data)
    assert check.returncode == 0, check.stdout + check.stderr
    # The stale status socket is refused cleanly, not mistaken for a running daemon.
    result = cli_status(models_dir, d.data, "--json")
    assert result.returncode == 1 and "not running" in result.stderr, result


def test_without_a_sound_card_the_daemon_reports_no_audio_and_keeps_running(
        start: Callable[..., Daemon]) -> None:
    if Path("/proc/asound/cards").is_file() and \
            "no soundcards" not in Path("/proc/asound/cards").read_text():
        pytest.skip(reason="this machine has a sound card")
    d = start("default", "default")
    assert d.notify.wait("READY", timeout_s=START_S) == ["1"]
    status = d.wait_status(lambda s: s["state"] == "no-audio", 60, "state no-audio")
    assert status["tier"] == 0 and status["models"]["stt"] == "loaded"
    d.notify.wait("STATUS", lambda v: v.startswith("no-audio;"), timeout_s=5)
    d.notify.wait("WATCHDOG", since=time.monotonic(), count=2, timeout_s=5)
    # Everything else keeps running: the memory monitor still moves the tier.
    d.psi.write_text(psi_text(45.0))
    status = d.wait_status(lambda s: s["tier"] == 3, 10, "tier 3")
    assert status["state"] == "no-audio"
    code, _ = d.stop()
    assert code == 0, d.output()
    said = [line for line in d.output().splitlines() if "audio" in line.lower()]
    print(f"daemon output about audio: {said}")
    assert len(said) == 1, f"the missing sound card should be reported once: {d.output()}"


def test_a_bad_config_stops_run_with_one_error_line(
        start: Callable[..., Daemon], short_dir: Path) -> None:
    d = start("none", extra="[voice]\nwake_treshold = 0.5\n", copy_template=False)
    code = d.proc.wait(60)
    output = d.output().strip().splitlines()
    print(output)
    assert code == 1
    assert len(output) == 1 and output[0].startswith("error[config]: "), output
    assert "wake_treshold" in output[0] and str(short_dir / "config.toml") in output[0]
    assert not d.notify.lines("READY"), "READY=1 from a daemon that did not start"
    with pytest.raises(XnaiError):
        load_config(short_dir / "config.toml")
