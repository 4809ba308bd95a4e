"""sd_notify against a real unix datagram socket, as systemd would receive it."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from xnai_edge.health.notify import Notifier, watchdog_interval


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket that also receives the sender's credentials (as systemd does
    for NotifyAccess=main)."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.settimeout(5)
    try:
        yield sock, path
    finally:
        sock.close()


def receive(sock: socket.socket) -> tuple[str, int]:
    """One datagram and the sender's pid."""
    data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
    pid = -1
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", payload[:12])[0]
    return data.decode(), pid


def test_every_message_arrives_as_one_datagram(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    with Notifier(socket_path=path) as n:
        assert n.enabled
        assert n.extend_timeout(90)
        assert n.ready("idle, tier 0 (full)")
        assert n.status("listening, tier 2 (extractive): psi some avg10 23.4% >= 20%")
        assert n.watchdog()
        assert n.reloading()
        assert n.stopping("shutting down")
        assert n.notify("ERRNO=5", BUSERROR="org.example")
        assert n.sent == 7 and n.failed == 0
    got = [receive(sock) for _ in range(7)]
    assert all(pid == os.getpid() for _, pid in got)
    messages = [text for text, _ in got]
    assert messages[0] == "EXTEND_TIMEOUT_USEC=90000000"
    assert messages[1] == "READY=1\nSTATUS=idle, tier 0 (full)"
    assert messages[2] == "STATUS=listening, tier 2 (extractive): psi some avg10 23.4% >= 20%"
    assert messages[3] == "WATCHDOG=1"
    assert messages[4].startswith("RELOADING=1\nMONOTONIC_USEC=")
    assert messages[5] == "STOPPING=1\nSTATUS=shutting down"
    assert messages[6] == "ERRNO=5\nBUSERROR=org.example"


def test_a_child_process_finds_the_socket_in_its_environment(
        receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    code = ("from xnai_edge.health.notify import Notifier, watchdog_interval\n"
            "n = Notifier()\n"
            "assert n.ready(f'watchdog every {watchdog_interval()} s')\n"
            "assert n.watchdog()\n")
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"}
    env.pop("WATCHDOG_PID", None)
    child = subprocess.Popen([sys.executable, "-c", code], env=env)
    assert child.wait(timeout=60) == 0
    assert receive(sock) == ("READY=1\nSTATUS=watchdog every 15.0 s", child.pid)
    assert receive(sock) == ("WATCHDOG=1", child.pid)


def test_abstract_namespace_socket() -> None:
    name = f"xnai-edge-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        assert Notifier(socket_path="@" + name).ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_without_notify_socket_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled
    assert not n.ready() and not n.watchdog() and not n.status("x")
    assert n.sent == 0 and n.failed == 0
    assert not Notifier(socket_path="vsock:2:1234").enabled  # not a unix socket: ignored


def test_a_vanished_receiver_is_counted_never_raised(tmp_path: Path) -> None:
    n = Notifier(socket_path=str(tmp_path / "gone.sock"))
    assert not n.watchdog() and not n.watchdog()
    assert n.failed == 2 and "No such file" in n.last_error


def test_watchdog_interval_is_half_the_period_and_respects_watchdog_pid() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000",
                              "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
