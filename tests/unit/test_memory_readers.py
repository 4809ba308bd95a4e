"""Memory readers: PSI, meminfo and cgroup v1/v2 files, real /proc, and never an exception."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xnai_edge.config import MemoryConfig
from xnai_edge.errors import ConfigError
from xnai_edge.health.cgroup import cgroup_version, find_cgroup, parse_keyed, read_cgroup
from xnai_edge.health.memory import MIB, MemoryPaths, MemoryReader, parse_psi
from xnai_edge.health.trigger import PsiTrigger, parse_spec, widened

PSI = ("some avg10=23.40 avg60=5.10 avg300=1.00 total=123456\n"
       "full avg10=3.00 avg60=0.50 avg300=0.10 total=2345\n")
MEMINFO = "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    2048000 kB\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_psi_lines_parse_and_garbage_gives_none() -> None:
    psi = parse_psi(PSI)
    assert psi is not None and psi.full is not None
    assert (psi.some.avg10, psi.some.avg60, psi.some.total_us) == (23.4, 5.1, 123456)
    assert psi.full.avg10 == 3.0
    only_some = parse_psi("some avg10=1.50 avg60=0.00 avg300=0.00 total=7\n")
    assert only_some is not None and only_some.full is None
    for bad in ("", "garbage", "some avg10=x avg60=1 avg300=1 total=1", "full avg10=1.0"):
        assert parse_psi(bad) is None


def test_keyed_files_parse_kb_and_plain_counts() -> None:
    assert parse_keyed(MEMINFO)["MemAvailable"] == 2048000 * 1024
    assert parse_keyed("low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\nbad x\n")["high"] == 12


def make_v2(root: Path) -> Path:
    write(root / "memory.high", "3221225472\n")  # the parent's 3 GiB bites first
    write(root / "memory.max", "max\n")
    child = root / "xnai-edge.service"
    write(child / "memory.current", str(2900 * MIB))
    write(child / "memory.high", "max\n")
    write(child / "memory.max", str(4096 * MIB))
    write(child / "memory.stat", f"anon {2000 * MIB}\nfile 900\ninactive_file {300 * MIB}\n")
    write(child / "memory.events", "low 0\nhigh 17\nmax 0\noom 0\noom_kill 0\n")
    write(child / "memory.pressure", PSI)
    return child


def make_v1(directory: Path) -> Path:
    write(directory / "memory.usage_in_bytes", str(180 * MIB))
    write(directory / "memory.limit_in_bytes", "9223372036854771712\n")
    write(directory / "memory.stat", f"cache 10\ntotal_inactive_file {20 * MIB}\n"
          f"hierarchical_memory_limit {200 * MIB}\n")
    write(directory / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    return directory


def test_cgroup_v2_reads_usage_limits_of_ancestors_and_events(tmp_path: Path) -> None:
    child = make_v2(tmp_path / "v2")
    assert cgroup_version(child) == 2
    group = read_cgroup(child, 2)
    assert (group.current, group.high, group.max) == (2900 * MIB, 3072 * MIB, 4096 * MIB)
    assert group.working_set == 2600 * MIB and group.limit == 3072 * MIB
    assert group.events["high"] == 17
    assert group.ratio == pytest.approx(2600 / 3072)


def test_cgroup_v1_uses_the_hierarchical_limit_and_oom_control(tmp_path: Path) -> None:
    directory = make_v1(tmp_path / "v1" / "group")
    assert cgroup_version(directory) == 1
    group = read_cgroup(directory, 1)
    assert (group.version, group.current, group.high, group.max) == (1, 180 * MIB, None,
                                                                    200 * MIB)
    assert group.working_set == 160 * MIB and group.ratio == pytest.approx(0.8)
    assert group.events == {"oom_kill": 2, "under_oom": 0}


def fake_proc(tmp_path: Path, cgroup_lines: str, mounts: list[tuple[str, str, str, str]],
              ) -> tuple[str, str]:
    """A /proc/self/cgroup and a mountinfo naming (root, mount point, fstype, options)."""
    info = "".join(f"{30 + i} 23 0:{40 + i} {root} {point} rw,relatime - {fs} {fs} {opts}\n"
                   for i, (root, point, fs, opts) in enumerate(mounts))
    return (str(write(tmp_path / "proc_cgroup", cgroup_lines)),
            str(write(tmp_path / "mountinfo", info)))


def test_auto_detection_prefers_v2_with_memory_else_v1_as_on_hybrid_hosts(tmp_path: Path,
                                                                          ) -> None:
    unified, v1 = tmp_path / "unified", tmp_path / "memory"
    (unified / "a").mkdir(parents=True)  # v2 without the memory controller (hybrid host)
    make_v1(v1 / "grp" / "me")
    lines = "4:memory:/grp/me\n1:cpu:/\n0::/a\n"
    mounts = [("/", str(unified), "cgroup2", "rw"), ("/", str(v1), "cgroup", "rw,memory"),
              ("/", str(tmp_path / "cpu"), "cgroup", "rw,cpu")]
    proc, mountinfo = fake_proc(tmp_path, lines, mounts)
    assert find_cgroup(proc, mountinfo) == (v1 / "grp" / "me", 1)
    make_v2(unified / "a")  # now the v2 group has memory.current: it wins
    nested = unified / "a" / "xnai-edge.service"
    proc, mountinfo = fake_proc(tmp_path, "0::/a/xnai-edge.service\n4:memory:/grp/me\n", mounts)
    assert find_cgroup(proc, mountinfo) == (nested, 2)


def test_a_container_mount_root_is_stripped_from_the_path(tmp_path: Path) -> None:
    make_v2(tmp_path / "cg")
    proc, mountinfo = fake_proc(tmp_path, "0::/docker/abc/xnai-edge.service\n",
                                [("/docker/abc", str(tmp_path / "cg"), "cgroup2", "rw")])
    assert find_cgroup(proc, mountinfo) == (tmp_path / "cg" / "xnai-edge.service", 2)


def test_reader_from_files_and_psi_from_the_cgroup(tmp_path: Path) -> None:
    child = make_v2(tmp_path / "v2")
    paths = MemoryPaths(psi_path=str(write(tmp_path / "psi", PSI)),
                        meminfo_path=str(write(tmp_path / "meminfo", MEMINFO)),
                        cgroup_dir=str(child))
    reading = MemoryReader(paths).read()
    assert reading.psi_some_avg10 == 23.4
    assert reading.available_mb == 2000.0 and reading.mem_total == 16000000 * 1024
    assert reading.cgroup is not None and reading.cgroup.version == 2
    as_dict = reading.to_dict()
    assert as_dict["mem_available_mb"] == 2000.0
    assert as_dict["cgroup"]["working_set_mb"] == 2600.0
    via_cgroup = MemoryReader(MemoryPaths("cgroup", "", str(child)))
    assert via_cgroup.psi_path == str(child / "memory.pressure")
    assert via_cgroup.read().psi_some_avg10 == 23.4
    assert via_cgroup.read().mem_available is None


def test_missing_unreadable_or_vanished_files_give_none_never_an_exception(tmp_path: Path,
                                                                           ) -> None:
    gone = tmp_path / "nope"
    reader = MemoryReader(MemoryPaths(str(gone / "psi"), str(gone / "meminfo"), str(gone)))
    reading = reader.read()
    assert (reading.psi, reading.mem_available, reading.cgroup) == (None, None, None)
    assert MemoryReader(MemoryPaths("cgroup", "", "")).psi_path == ""
    directory = tmp_path / "v1"
    make_v1(directory)
    reader = MemoryReader(MemoryPaths("", "", str(directory)))
    (directory / "memory.stat").write_bytes(b"\xff\xfe binary")
    (directory / "memory.limit_in_bytes").write_text("")
    assert reader.read().cgroup is not None
    for f in directory.iterdir():
        f.unlink()
    directory.rmdir()  # the cgroup was removed under us
    assert reader.read().cgroup is None
    psi_dir = tmp_path / "psi_is_a_dir"
    psi_dir.mkdir()
    assert MemoryReader(MemoryPaths(str(psi_dir), "", "")).read().psi is None


def test_real_proc_files_of_this_machine() -> None:
    reader = MemoryReader(MemoryPaths())
    reading = reader.read()
    assert reading.mem_available is not None and reading.mem_total is not None
    assert 0 < reading.mem_available <= reading.mem_total
    if os.path.exists("/proc/pressure/memory"):
        assert reading.psi is not None and 0 <= reading.psi.some.avg10 <= 100
    if reader.cgroup is not None:  # whatever this machine runs, the reading is consistent
        assert reading.cgroup is not None and reading.cgroup.current is not None


# --- PSI trigger ------------------------------------------------------------------------------

def test_trigger_specs_are_checked_and_widened_for_unprivileged_use() -> None:
    assert parse_spec("some 150000 1000000") == ("some", 150000, 1000000)
    assert widened("some 150000 1000000") == "some 300000 2000000"
    assert widened("full 100000 3000000") == "full 133333 4000000"
    assert widened("some 500000 2000000") is None
    for bad in ("some 1 2", "any 100 1000000", "some 2000000 1000000", "some x y"):
        with pytest.raises(ValueError):
            parse_spec(bad)
        with pytest.raises(ConfigError, match=r"\[memory\] psi_trigger"):
            MemoryConfig(psi_trigger=bad)
    assert MemoryConfig(psi_trigger="").psi_trigger == ""


def test_no_trigger_on_a_plain_file_and_the_file_is_left_alone(tmp_path: Path) -> None:
    psi = write(tmp_path / "psi", PSI)
    trigger, why = PsiTrigger.open(str(psi), "some 150000 1000000")
    assert trigger is None and "plain file" in why
    assert psi.read_text() == PSI
    assert PsiTrigger.open("", "some 150000 1000000") == (None, "no PSI file")
    assert PsiTrigger.open(str(psi), "")[0] is None
    assert PsiTrigger.open(str(tmp_path / "missing"), "some 150000 1000000")[0] is None


@pytest.mark.skipif(not os.path.exists("/proc/pressure/memory"), reason="kernel without PSI")
def test_a_kernel_trigger_is_registered_or_refused_with_a_reason() -> None:
    trigger, why = PsiTrigger.open("/proc/pressure/memory", "some 150000 1000000")
    if trigger is None:
        assert "refused" in why or "cannot open" in why
        return
    try:
        assert trigger.spec in ("some 150000 1000000", "some 300000 2000000")
        assert isinstance(trigger.wait(0.05), bool)
    finally:
        trigger.close()
    assert trigger.wait(0.01) is False  # closed: returns at once
