"""Helpers of the Wyoming tests and benchmark: start ``xnai-edge run`` with Wyoming on a free
port, ask its status socket, and talk raw bytes to it (for what a well-behaved client would
never send).  Not a test module."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from daemon_helpers import MEMINFO, free_port, psi_text
from wyoming.event import Event, write_event

from xnai_edge.errors import XnaiError
from xnai_edge.health.status_socket import SOCKET_NAME, query

CLI = [sys.executable, "-m", "xnai_edge.cli"]
START_S = 180.0  # READY + Wyoming listening, cold, on a loaded 2-core machine








def wav_samples(path: Path) -> np.ndarray[Any, np.dtype[np.int16]]:
    from xnai_edge.audio.wav import WavSource

    return np.concatenate([c.samples for c in WavSource(path)])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class DaemonProc:
    proc: subprocess.Popen[bytes]
    data: Path
    log: Path
    psi: Path
    port: int

    def status(self) -> dict[str, Any]:
        return query(self.data / SOCKET_NAME, "status", timeout_s=5.0)

    def wait_status(self, condition: Callable[[dict[str, Any]], bool], timeout_s: float,
                    what: str) -> dict[str, Any]:
        """Ask every 50 ms until ``condition(status)`` holds (the daemon must stay alive)."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, \
                f"the daemon exited ({self.proc.returncode}) waiting for {what}:\n{self.output()}"
            with contextlib.suppress(XnaiError, KeyError):
                last = self.status()
                if condition(last):
                    return last
            time.sleep(0.05)  # polling interval, not synchronisation
        raise AssertionError(f"no {what} within {timeout_s:g} s; last status: "
                             f"{json.dumps(last)[:2000]}\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def info_voice(self) -> str:
        (reply,) = raw_exchange(self.port, b'{"type": "describe"}\n', read_events=1)
        return str(reply[1]["tts"][0]["voices"][0]["name"])

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)


@contextlib.contextmanager
def wyoming_daemon(models_dir: Path, template: Path, *, input: str = "none",
                   wyoming: bool = True, extra: str = "", port: int | None = None,
                   ) -> Iterator[DaemonProc]:
    """``xnai-edge run`` with ``[wyoming]`` on a free port (or ``port``; or off), ``[web]``
    off, memory from files here; yields once the status socket answers and Wyoming has
    started (listening, or reporting why not)."""
    short = Path(tempfile.mkdtemp(prefix="xnw-", dir="/tmp"))  # unix socket path < 108 bytes
    data, psi, meminfo = short / "data", short / "psi", short / "meminfo"
    shutil.copytree(template, data)
    psi.write_text(psi_text(0))
    meminfo.write_text(MEMINFO)
    port = port or free_port()
    config = short / "config.toml"
    config.write_text(f"""
[audio]
input = "{input}"
output = "none"
[memory]
psi_path = "{psi}"
meminfo_path = "{meminfo}"
cgroup_dir = ""
interval_s = 0.1
[web]
enabled = false
[wyoming]
enabled = {str(wyoming).lower()}
host = "127.0.0.1"
port = {port}
{extra}""")
    env = {**os.environ, "XNAI_EDGE_MODELS_DIR": str(models_dir)}
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "XNAI_EDGE_CONFIG"):
        env.pop(key, None)
    log = short / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "-q", "--data-dir", str(data), "--config", str(config),
                                 "run"], stdout=out, stderr=subprocess.STDOUT, env=env)
    daemon = DaemonProc(proc, data, log, psi, port)
    try:
        daemon.wait_status(
            lambda s: not wyoming or s["wyoming"]["listening"] or s["wyoming"]["error"],
            START_S, "the daemon up with Wyoming started")
        yield daemon
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
        shutil.rmtree(short, ignore_errors=True)


# ----------------------------------------------------------------------------- raw bytes
def events_of(events: list[Event]) -> list[bytes]:
    """Each event as the ``wyoming`` package writes it."""
    out = []
    for event in events:
        buffer = io.BytesIO()
        write_event(event, buffer)
        out.append(buffer.getvalue())
    return out


def _read_one(f: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    line = f.readline()
    if not line:
        return None
    header = json.loads(line)
    data = dict(header.get("data") or {})
    if header.get("data_length"):
        data.update(json.loads(f.read(header["data_length"])))
    if header.get("payload_length"):
        f.read(header["payload_length"])
    return header, data


def raw_exchange(port: int, raw: bytes, *, read_events: int,
                 timeout_s: float = 30.0) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Send ``raw``; with ``read_events`` > 0 end our side and read (header, data) pairs until
    the server closes (at most ``read_events``); with 0 vanish at once with a reset, as a
    crashed client would."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(raw)
        if read_events == 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return []
        sock.shutdown(socket.SHUT_WR)
        replies = []
        with sock.makefile("rb") as f:
            while len(replies) < read_events and (reply := _read_one(f)) is not None:
                replies.append(reply)
        return replies
