"""A real memory squeeze moves the tier down (DESIGN §5).

A child memory cgroup limited to 200 MiB holds a process with 160 MiB of anonymous memory that
re-reads a 400 MiB file through ``mmap``: its page cache has ~40 MiB, so every pass reclaims and
refaults, and the machine-wide ``some`` PSI rises (measured 0 -> 22% avg10 within 20 s, without
an OOM kill; the same loop with ``read()`` only reached ~10%: readahead IO on fresh pages is
not counted as a memory stall, a fault on a refaulting page is).  The
monitor runs with the real /proc paths and the default thresholds.  Needs root and a writable
memory controller (cgroup v1, or v2 where the memory controller can be delegated to a child);
elsewhere the test skips and says why.  Everything it creates is removed in ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from xnai_edge.bus import EventBus
from xnai_edge.events import TierChanged
from xnai_edge.health.cgroup import find_cgroup, read_text
from xnai_edge.health.memory import MIB, MemoryPaths, MemoryReader
from xnai_edge.health.monitor import MemoryMonitor
from xnai_edge.health.tiers import TierPolicy

LIMIT_MB, ANON_MB, FILE_MB = 200, 160, 400
WAIT_S = 30.0
CALM_PCT, CALM_WAIT_S = 5.0, 15.0

SQUEEZER = """
import mmap, os, sys, time
procs, path, anon_mb, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
with open(procs, "w") as f:
    f.write(str(os.getpid()))         # join the limited group before allocating anything
anon = b"\\x01" * (anon_mb << 20)     # touched: resident, and without swap not reclaimable
print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        total = sum(m[i] for i in range(0, len(m), 4096))
"""


def fs_type(path: Path) -> str:
    """The filesystem type of the mount holding ``path`` (longest mount-point prefix)."""
    best, kind = "", ""
    for line in (read_text("/proc/self/mountinfo") or "").splitlines():
        pre, _, post = line.partition(" - ")
        point = pre.split()[4] if len(pre.split()) > 4 else ""
        if str(path).startswith(point.rstrip("/") + "/") and len(point) > len(best):
            best, kind = point, post.split()[0]
    return kind


def make_child(name: str) -> tuple[Path, Path, int]:
    """Create the limited child group: (its dir, the file to write a pid to, version)."""
    if os.geteuid() != 0:
        pytest.skip(reason="creating a memory cgroup needs root")
    if not Path("/proc/pressure/memory").exists():
        pytest.skip(reason="kernel without PSI (/proc/pressure/memory missing; boot with psi=1)")
    own = find_cgroup()
    if own is None:
        pytest.skip(reason="this process is in no memory cgroup (no memory controller mounted)")
    parent, version = own
    child = parent / name
    try:
        if version == 2:
            controllers = (read_text(parent / "cgroup.subtree_control") or "").split()
            if "memory" not in controllers:
                (parent / "cgroup.subtree_control").write_text("+memory")
        child.mkdir()
        if version == 1:
            (child / "memory.limit_in_bytes").write_text(str(LIMIT_MB * MIB))
            with contextlib.suppress(OSError):  # no swap accounting: nothing to limit
                (child / "memory.memsw.limit_in_bytes").write_text(str(LIMIT_MB * MIB))
            return child, child / "cgroup.procs", 1
        (child / "memory.max").write_text(str(LIMIT_MB * MIB))
        with contextlib.suppress(OSError):
            (child / "memory.swap.max").write_text("0")
        return child, child / "cgroup.procs", 2
    except OSError as exc:
        with contextlib.suppress(OSError):
            child.rmdir()
        pytest.skip(reason=f"cannot create a cgroup v{version} memory child of {parent}: {exc} "
                    "(read-only cgroupfs, no delegation, or the v2 no-internal-processes rule)")


def remove_child(child: Path) -> None:
    for _ in range(50):  # the group empties a moment after its last process is reaped
        try:
            child.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"could not remove {child}")


def oom_kills(child: Path, version: int) -> int:
    name = "memory.oom_control" if version == 1 else "memory.events"
    for line in (read_text(child / name) or "").splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    return 0


@pytest.fixture
def big_file(tmp_path: Path) -> Iterator[Path]:
    if fs_type(tmp_path) in ("tmpfs", "ramfs", ""):
        pytest.skip(reason=f"{tmp_path} is not on a disk-backed filesystem: its pages cannot be "
                    "reclaimed, so re-reading it would not squeeze")
    if shutil.disk_usage(tmp_path).free < (FILE_MB + 200) * MIB:
        pytest.skip(reason=f"less than {FILE_MB + 200} MiB free in {tmp_path}")
    path = tmp_path / "squeeze.bin"
    block = os.urandom(MIB)
    try:
        with open(path, "wb") as f:
            for _ in range(FILE_MB):
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # read from disk again
        yield path
    finally:
        path.unlink(missing_ok=True)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_real_squeeze_moves_the_tier_down(big_file: Path) -> None:
    start = time.monotonic()
    reader = MemoryReader(MemoryPaths())  # the real /proc and own cgroup
    while (before := reader.read().psi_some_avg10 or 0.0) >= CALM_PCT:
        if time.monotonic() - start > CALM_WAIT_S:
            pytest.skip(reason="the machine is already under memory pressure "
                               f"(some avg10 {before}%)")
        time.sleep(1)
    child_dir, procs, version = make_child(f"xnai-squeeze-{os.getpid()}")
    squeezer: subprocess.Popen[str] | None = None
    changes: list[tuple[float, TierChanged]] = []
    peak = 0.0
    try:
        squeezer = subprocess.Popen(
            [sys.executable, "-c", SQUEEZER, str(procs), str(big_file), str(ANON_MB),
             str(WAIT_S + 10)], stdout=subprocess.PIPE, text=True)
        assert squeezer.stdout is not None
        assert squeezer.stdout.readline().strip() == "ready"
        kills_before = oom_kills(child_dir, version)
        monitor = MemoryMonitor(EventBus(), reader, TierPolicy(), interval_s=0.5)
        squeeze_start = time.monotonic()

        assert monitor.bus is not None
        monitor.bus.add_listener(lambda e: changes.append((time.monotonic() - squeeze_start, e))
                                 if isinstance(e, TierChanged) else None)

        async def watch() -> None:
            nonlocal peak
            async with anyio.create_task_group() as tg:
                await tg.start(monitor.run)
                with anyio.move_on_after(WAIT_S):
                    while not changes:
                        await anyio.sleep(0.25)
                        peak = max(peak, monitor.last_reading.psi_some_avg10 or 0.0)
                tg.cancel_scope.cancel()

        anyio.run(watch)
        peak = max(peak, reader.read().psi_some_avg10 or 0.0)
        alive = squeezer.poll() is None
        kills = oom_kills(child_dir, version) - kills_before
        trace = [(round(t, 1), e.tier, e.reason) for t, e in changes]
        print(f"\npsi some avg10 {before}% before; cgroup v{version} {child_dir}: monitor "
              f"mode {monitor.mode} ({monitor.mode_detail}, fired {monitor.trigger_fired}x); "
              f"tier changes {trace}; "
              f"psi some avg10 peak {peak:.1f}%; squeezer alive {alive}, oom kills {kills}")
        assert changes, f"no tier change within {WAIT_S:.0f} s (psi some avg10 peak {peak:.1f}%)"
        assert changes[0][1].tier >= 1 and changes[0][1].previous == 0
        assert alive and kills == 0
    finally:
        if squeezer is not None:
            squeezer.kill()
            squeezer.wait(timeout=30)
            if squeezer.stdout is not None:
                squeezer.stdout.close()
        remove_child(child_dir)
    assert not child_dir.exists()
    assert time.monotonic() - start < 60
