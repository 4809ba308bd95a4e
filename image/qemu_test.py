"""make image-test: boot build/xnai-edge-amd64.img in QEMU and check that the appliance works.

Passes only if, on a fresh copy of the image on a larger disk (so the first boot's growing is
exercised):
  1. systemd reports ``[  OK  ] Started xnai-edge.service`` on the serial console (READY=1),
  2. ``GET /healthz`` through the forwarded port answers ``{"status": "ok", "tier": N}``,
  3. the daemon stays up for --stay seconds: /healthz keeps answering, no second start, no
     failure line on the console,
  4. after a clean power-off, the disk shows what the first boot promised: the root partition
     grown to the disk, ``/var/lib/xnai-edge/secrets/web-password`` with mode 0600, a device id,
     a machine id (read from the ext4 with debugfs: nothing is mounted).
Timings (boot to READY, to /healthz) and the daemon's RSS (from the banner line) are printed and
written to build/image-test/result.json.  The host has no KVM here: TCG is slow, hence the long
default deadlines (they are deadlines polled against, not sleeps).
Standard library only: it runs with the host's python3.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
READY = re.compile(r"\[\s*OK\s*\] Started .*xnai-edge\.service")
FAILED = re.compile(r"\[FAILED\] Failed to start .*xnai-edge|xnai-edge\.service: (Main process "
                    r"exited|Failed with result|Watchdog timeout)|Kernel panic")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RSS = re.compile(r"xnai-edge: daemon pid \d+, RSS (\d+) MB")
ROOT_START_SECTOR = 257 * 2048  # image/layout.sh: 1 MiB + 256 MiB ESP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def qemu_command(disk: Path, vars_fd: Path, serial: Path, qmp: Path, port: int) -> list[str]:
    return ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", "EPYC-Rome",
            "-m", "4096", "-smp", "2", "-display", "none", "-no-reboot", "-monitor", "none",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={vars_fd}",
            "-drive", f"file={disk},format=raw,if=virtio,cache=unsafe",
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:8080",
            "-device", "virtio-net-pci,netdev=n0",
            "-chardev", f"file,id=ser0,path={serial}", "-serial", "chardev:ser0",
            "-qmp", f"unix:{qmp},server=on,wait=off"]


def healthz(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            body = json.loads(r.read().decode())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return body if isinstance(body, dict) else None


def healthy(body: dict[str, Any] | None) -> bool:
    return (body is not None and body.get("status") == "ok"
            and isinstance(body.get("tier"), int) and not isinstance(body.get("tier"), bool))


def metrics_rss_mb(disk: Path, port: int) -> int | None:
    """The daemon's RSS from /metrics (Basic auth), with the password read off the running
    guest's disk by debugfs (written at first start, on disk after ext4's 30 s commit).
    Best effort: a number for the report, not a pass criterion."""
    password = debugfs(disk, "cat /var/lib/xnai-edge/secrets/web-password").strip()
    if not password:
        return None
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            text = r.read().decode()
    except (OSError, urllib.error.URLError):
        return None
    m = re.search(r"^xnai_edge_rss_bytes(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.M)
    return round(float(m.group(1)) / 2**20) if m else None


def qmp_powerdown(path: Path) -> None:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(path))
            s.recv(4096)
            for cmd in ("qmp_capabilities", "system_powerdown"):
                s.sendall(json.dumps({"execute": cmd}).encode() + b"\n")
                s.recv(4096)
    except OSError as exc:
        print(f"image-test: QMP power-down failed: {exc}", file=sys.stderr)


def debugfs(disk: Path, request: str) -> str:
    """Run one debugfs request on the root ext4 inside the disk file (no mount, no loop)."""
    out = subprocess.run(["debugfs", "-R", request,
                          f"{disk}?offset={ROOT_START_SECTOR * 512}"],
                         capture_output=True, text=True, timeout=120)
    return out.stdout


STOP: dict[str, str] = {}


def inspect_journal(disk: Path) -> list[str]:
    """The persistent journal (read off the disk) shows one start of the daemon, no failure."""
    out = disk.parent / "journal"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    debugfs(disk, f"rdump /var/log/journal {out}")
    if not any((out / "journal").rglob("*.journal")):
        return ["no persistent journal in /var/log/journal"]
    log = subprocess.run(["journalctl", "-D", str(out / "journal"), "-u", "xnai-edge.service",
                          "-o", "cat", "--no-pager"], capture_output=True, text=True).stdout
    (disk.parent / "xnai-edge.journal.txt").write_text(log)
    problems = []
    starts = len(re.findall(r"^Started xnai-edge\.service", log, re.M))
    if starts != 1:
        problems.append(f"the journal shows {starts} starts of xnai-edge.service, not 1")
    # Up to the power-off the daemon must not have failed; how it stopped is reported apart.
    running, _, stopping = log.partition("Stopping xnai-edge.service")
    if m := re.search(r"^.*(Main process exited, code=(?!exited, status=0)|Failed with result"
                      r"|Watchdog timeout).*$", running, re.M):
        problems.append(f"journal: {m.group(0)}")
    bad_stop = re.search(r"^.*(timed out|Failed with result).*$", stopping, re.M)
    STOP["stop"] = f"not clean: {bad_stop.group(0)}" if bad_stop else "clean"
    return problems


def inspect_disk(disk: Path) -> list[str]:
    """Problems with what the first boot should have left on the disk (empty: none)."""
    problems: list[str] = []
    layout = json.loads(subprocess.run(["sfdisk", "-J", str(disk)], capture_output=True,
                                       text=True, check=True).stdout)["partitiontable"]
    root = layout["partitions"][1]
    end_mb = (root["start"] + root["size"]) * 512 // 2**20
    disk_mb = disk.stat().st_size // 2**20
    if disk_mb - end_mb > 2:
        problems.append(f"root partition ends at {end_mb} MiB of a {disk_mb} MiB disk: not grown")
    stat = debugfs(disk, "stat /var/lib/xnai-edge/secrets/web-password")
    mode = re.search(r"Mode:\s+(\d+)", stat)
    if not mode:
        problems.append("/var/lib/xnai-edge/secrets/web-password does not exist")
    elif mode.group(1)[-3:] != "600":
        problems.append(f"web-password has mode {mode.group(1)}, not 0600")
    device_id = debugfs(disk, "cat /var/lib/xnai-edge/device-id").strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{3,63}", device_id):
        problems.append(f"no device id ({device_id!r})")
    machine_id = debugfs(disk, "cat /etc/machine-id").strip()
    if not re.fullmatch(r"[0-9a-f]{32}", machine_id):
        problems.append(f"machine id not generated ({machine_id!r})")
    problems.extend(inspect_journal(disk))
    blocks = re.search(r"Block count:\s+(\d+)", debugfs(disk, "stats"))
    if blocks and int(blocks.group(1)) * 4096 < (end_mb - 300) * 2**20:
        problems.append("the ext4 file system was not grown with its partition")
    return problems


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=Path, default=REPO / "build" / "xnai-edge-amd64.img")
    ap.add_argument("--work", type=Path, default=REPO / "build" / "image-test")
    ap.add_argument("--grow-mb", type=int, default=2048, help="disk larger than the image by")
    ap.add_argument("--ready-timeout", type=float, default=1800.0)
    ap.add_argument("--healthz-timeout", type=float, default=600.0)
    ap.add_argument("--stay", type=float, default=90.0, help="seconds the daemon must stay up")
    args = ap.parse_args(argv)
    for tool in ("qemu-system-x86_64", "debugfs", "sfdisk"):
        if shutil.which(tool) is None:
            print(f"error[image]: {tool} missing: make image-test installs it", file=sys.stderr)
            return 1
    if not args.image.exists():
        print(f"error[image]: {args.image} missing: run make image first", file=sys.stderr)
        return 1
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    disk, vars_fd, serial, qmp = (work / "disk.img", work / "OVMF_VARS.fd", work / "serial.log",
                                  work / "qmp.sock")
    subprocess.run(["cp", "--sparse=always", str(args.image), str(disk)], check=True)
    with disk.open("r+b") as f:
        f.truncate(disk.stat().st_size + args.grow_mb * 2**20)
    shutil.copy(OVMF_VARS, vars_fd)
    port = free_port()
    result: dict[str, Any] = {"image": str(args.image), "port": port,
                              "loadavg_start": Path("/proc/loadavg").read_text().split()[:3]}
    t0 = time.monotonic()
    proc = subprocess.Popen(qemu_command(disk, vars_fd, serial, qmp, port))
    problems: list[str] = []

    def console() -> str:
        """The serial log without colour codes (systemd writes "[\\e[0;32m  OK  \\e[0m] ...")."""
        text = serial.read_text(errors="replace") if serial.exists() else ""
        return ANSI.sub("", text)

    def wait_for(what: str, deadline_s: float, probe: Any) -> Any:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            if proc.poll() is not None:
                problems.append(f"QEMU exited ({proc.returncode}) while waiting for {what}")
                return None
            if FAILED.search(console()):
                problems.append(f"failure on the console while waiting for {what}: "
                                f"{FAILED.search(console()).group(0)}")  # type: ignore[union-attr]
                return None
            time.sleep(2)  # polling QEMU's log file against a deadline
        problems.append(f"no {what} within {deadline_s:.0f} s")
        return None

    try:
        if wait_for("READY ('Started xnai-edge.service')", args.ready_timeout,
                    lambda: READY.search(console())):
            result["boot_to_ready_s"] = round(time.monotonic() - t0, 1)
            print(f"image-test: READY after {result['boot_to_ready_s']} s", flush=True)
            body = wait_for("/healthz answer", args.healthz_timeout,
                            lambda: (lambda b: b if healthy(b) else None)(healthz(port)))
            if body:
                result["boot_to_healthz_s"] = round(time.monotonic() - t0, 1)
                result["healthz"] = body
                print(f"image-test: /healthz {body} after {result['boot_to_healthz_s']} s",
                      flush=True)
                stay_end = time.monotonic() + args.stay
                while time.monotonic() < stay_end and not problems:
                    if not healthy(healthz(port)):
                        problems.append("/healthz stopped answering while the daemon should "
                                        "stay up")
                    time.sleep(5)  # the stay-up window is a duration by definition
                result["daemon_rss_mb_after_stay"] = metrics_rss_mb(disk, port)
                starts = len(READY.findall(console()))
                if starts != 1:
                    problems.append(f"xnai-edge.service started {starts} times (restarted?)")
                if FAILED.search(console()):
                    problems.append(f"console: {FAILED.search(console()).group(0)}")  # type: ignore[union-attr]
        if rss := RSS.search(console()):
            result["daemon_rss_mb_at_ready"] = int(rss.group(1))
        if banner := re.search(r"xnai-edge is ready: .*", console()):
            result["banner"] = banner.group(0).strip()
    finally:
        if proc.poll() is None:
            qmp_powerdown(qmp)
            try:
                proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                problems.append("no clean power-off within 300 s; QEMU killed")
                proc.kill()
                proc.wait()
    if "healthz" in result:
        problems.extend(inspect_disk(disk))
        result["daemon_stop_at_power_off"] = STOP.get("stop", "unknown")
    result["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    result["problems"] = problems
    (work / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if problems:
        print("image-test: FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
        print(f"  serial console: {serial}", file=sys.stderr)
        return 1
    print("image-test: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
