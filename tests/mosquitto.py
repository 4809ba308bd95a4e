"""A real Mosquitto for the MQTT tests, and a paho client that watches it as Home Assistant would.

``Broker`` runs ``/usr/sbin/mosquitto -c <its own config>`` on a free port (never the system
service), with optional password file (``mosquitto_passwd -b``) and TLS (certificates made here
with ``openssl``); ``stop``/``start`` keep the port, so a daemon can reconnect to it.
``Watcher`` subscribes to topics and keeps every message with its retain flag; ``wait`` polls a
condition with a deadline (never a fixed sleep).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from daemon_helpers import MEMINFO, free_port, psi_text
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"




def make_ca(directory: Path, name: str = "ca") -> tuple[Path, Path]:
    """A self-signed CA: (certificate, key)."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN=xnai-edge test {name}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def make_server_cert(directory: Path, ca: tuple[Path, Path], name: str = "server",
                     ) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost signed by ``ca``: (certificate, key)."""
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", \
        directory / f"{name}.crt"
    ext = directory / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                    "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey",
                    str(ca[1]), "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out",
                    str(cert)], check=True, capture_output=True)
    return cert, key


@dataclass
class Broker:
    directory: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] = field(default_factory=dict)
    tls: tuple[Path, Path, Path] | None = None
    """(CA certificate, server certificate, server key)."""
    require_certificate: bool = False
    """With ``tls``: clients must show a certificate signed by the CA."""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "mosquitto.log"

    def config(self) -> Path:
        lines = [f"listener {self.port} 127.0.0.1", "persistence false",
                 f"log_dest file {self.log}", "log_type all", "connection_messages true",
                 "log_timestamp_format %s"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto', who cannot read tmp
        if self.users:
            pw = self.directory / "passwd"
            pw.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True,
                               capture_output=True)
            lines += [f"password_file {pw}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            ca, cert, key = self.tls
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
            if self.require_certificate:
                lines.append("require_certificate true")
        path = self.directory / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout_s: float = 10.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config())],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"mosquitto exited: {self.proc.stderr.read()!r}" \
                if self.proc.stderr else "mosquitto exited"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1",
                                                                         self.port), 0.2):
                return
            time.sleep(0.02)  # polling interval for the port, not synchronisation
        raise AssertionError(f"mosquitto did not listen on {self.port} in {timeout_s} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def log_lines(self, needle: str) -> list[tuple[float, str]]:
        """(unix time, line) of every broker log line containing ``needle``."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines() if self.log.exists() \
                else []:
            stamp, _, text = line.partition(": ")
            if needle in text and stamp.isdigit():
                out.append((float(stamp), text))
        return out


@contextlib.contextmanager
def running(broker: Broker) -> Iterator[Broker]:
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    at: float
    correlation: bytes | None = None

    def json(self) -> Any:
        return json.loads(self.payload)

    @property
    def text(self) -> str:
        return self.payload.decode()


class Watcher:
    """A paho client subscribed to ``topics``, as Home Assistant would be."""

    def __init__(self, broker: Broker, *topics: str, username: str | None = None,
                 password: str | None = None, ca: Path | None = None) -> None:
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._topics = topics
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        if ca:
            self.client.tls_set(ca_certs=str(ca))
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", broker.port, keepalive=30)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the watcher could not subscribe"

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(t, 1) for t in self._topics])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        corr = getattr(props, "CorrelationData", None) if props else None
        with self._cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain),
                                         msg.qos, time.monotonic(), corr))
            self._cond.notify_all()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on(self, topic: str, since: float = 0.0) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic and m.at >= since]

    def wait(self, condition: Callable[[list[Message]], Any], timeout_s: float,
             what: str) -> Any:
        """Block until ``condition(messages)`` is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                got = condition(list(self.messages))
                if got:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = [(m.topic, m.payload[:120]) for m in self.messages[-15:]]
                    raise AssertionError(f"no {what} within {timeout_s:g} s; last: {tail}")
                self._cond.wait(left)

    def last(self, topic: str, since: float = 0.0, timeout_s: float = 10.0,
             match: Callable[[Message], bool] = lambda m: True) -> Message:
        def find(msgs: list[Message]) -> Message | None:
            hits = [m for m in msgs if m.topic == topic and m.at >= since and match(m)]
            return hits[-1] if hits else None
        return self.wait(find, timeout_s, f"message on {topic}")  # type: ignore[no-any-return]

    def send(self, topic: str, payload: bytes | str, *, correlation: bytes | None = None,
             retain: bool = False) -> None:
        props = None
        if correlation is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = correlation
        self.client.publish(topic, payload, qos=1, retain=retain,
                            properties=props).wait_for_publish(10)


# ----------------------------------------------------------------------------- the daemon






@dataclass
class XnaiDaemon:
    """``xnai-edge run --config FILE`` as the checks start it, MQTT on, web page off."""

    proc: subprocess.Popen[bytes]
    data: Path
    log: Path
    psi: Path

    @classmethod
    def start(cls, workdir: Path, template: Path, models_dir: Path, broker: Broker, *,
              audio_input: str = "none", mqtt: str = "", extra: str = "",
              reconnect_max_s: float = 2.0, state_interval_s: float = 0.2,
              mqtt_enabled: bool = True) -> XnaiDaemon:
        import sys

        data = workdir / "data"
        shutil.copytree(template, data)
        psi, meminfo = workdir / "psi", workdir / "meminfo"
        psi.write_text(psi_text(0))
        meminfo.write_text(MEMINFO)
        config = workdir / "config.toml"
        config.write_text(f"""
[audio]
input = "{audio_input}"
output = "none"
[memory]
psi_path = "{psi}"
meminfo_path = "{meminfo}"
cgroup_dir = ""
interval_s = 0.1
[tiers]
quiet_s = 1.0
[web]
enabled = false
[mqtt]
enabled = {str(mqtt_enabled).lower()}
host = "127.0.0.1"
port = {broker.port}
state_interval_s = {state_interval_s}
reconnect_max_s = {reconnect_max_s}
{mqtt}
{extra}""")
        env = {**os.environ, "XNAI_EDGE_MODELS_DIR": str(models_dir),
               "XNAI_EDGE_DATA_DIR": str(data)}
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "XNAI_EDGE_CONFIG",
                    "CREDENTIALS_DIRECTORY"):
            env.pop(key, None)
        log = workdir / "daemon.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "xnai_edge.cli", "-q", "run",
                                     "--config", str(config)], stdout=out,
                                    stderr=subprocess.STDOUT, env=env)
        return cls(proc, data, log, psi)

    def device_id(self, timeout_s: float = 120.0) -> str:
        """Made by the daemon on its first start (a fresh data dir)."""
        path = self.data / "device-id"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the daemon exited:\n{self.output()}"
            if path.exists() and len(path.read_text().strip()) == 12:
                return path.read_text().strip()
            time.sleep(0.05)  # polling interval, not synchronisation
        raise AssertionError(f"no device id within {timeout_s} s:\n{self.output()}")

    def status(self) -> dict[str, Any]:
        from xnai_edge.health.status_socket import SOCKET_NAME, query

        return query(self.data / SOCKET_NAME, "status", timeout_s=5.0)

    def wait_status(self, condition: Callable[[dict[str, Any]], bool], timeout_s: float,
                    what: str) -> dict[str, Any]:
        from xnai_edge.errors import XnaiError

        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the daemon exited waiting for {what}:\n" \
                f"{self.output()}"
            with contextlib.suppress(XnaiError):
                last = self.status()
                if condition(last):
                    return last
            time.sleep(0.05)  # polling interval, not synchronisation
        raise AssertionError(f"no {what} within {timeout_s:g} s; last status: "
                             f"{json.dumps(last)[:1500]}\n{self.diagnosis()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def lines(self, needle: str) -> list[str]:
        return [line for line in self.output().splitlines() if needle in line]

    def wait_line(self, needle: str, timeout_s: float, count: int = 1) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.lines(needle)
            if len(found) >= count:
                return found
            assert self.proc.poll() is None, f"the daemon exited:\n{self.output()}"
            time.sleep(0.05)  # polling interval, not synchronisation
        raise AssertionError(f"no {count} x {needle!r} within {timeout_s:g} s:\n"
                             f"{self.diagnosis()}")

    def diagnosis(self) -> str:
        """The daemon's output, its MQTT status and every thread's stack (SIGUSR1), for a
        failure message: where a line that never came got stuck."""
        from xnai_edge.errors import XnaiError

        try:
            mqtt = json.dumps(self.status().get("mqtt"))
        except (XnaiError, OSError) as exc:
            mqtt = f"(no status: {exc})"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 5
            while "most recent call first" not in self.output() and \
                    time.monotonic() < deadline:
                time.sleep(0.05)  # polling interval, not synchronisation
        return f"status mqtt: {mqtt}\n{self.output()[-12000:]}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
