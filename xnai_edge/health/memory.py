"""Memory readers: PSI, /proc/meminfo and the process's cgroup (v1 or v2), as plain values.

Every path is configurable so tests drive the monitor with files.  A file that is missing,
unreadable or malformed gives ``None`` values, never an exception: a kernel without PSI, a
container without a memory controller or a cgroup that vanished must not stop the daemon.

Byte counts are bytes; PSI averages are percentages as the kernel prints them.  The cgroup's
*working set* is usage minus inactive file cache (what kubelet uses): page cache under a limit
is reclaimed first, so ``usage / limit`` alone would read "full" on any group that reads files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xnai_edge.config import MemoryConfig
from xnai_edge.health.cgroup import (
    CgroupMemory,
    cgroup_version,
    find_cgroup,
    parse_keyed,
    read_cgroup,
    read_text,
)

MIB = 1024 * 1024


@dataclass(frozen=True)
class MemoryPaths:
    psi_path: str = "/proc/pressure/memory"
    meminfo_path: str = "/proc/meminfo"
    cgroup_dir: str = "auto"
    proc_cgroup: str = "/proc/self/cgroup"
    mountinfo: str = "/proc/self/mountinfo"

    @classmethod
    def from_config(cls, cfg: MemoryConfig) -> MemoryPaths:
        return cls(cfg.psi_path, cfg.meminfo_path, cfg.cgroup_dir)


@dataclass(frozen=True)
class PsiLine:
    avg10: float
    avg60: float
    avg300: float
    total_us: int


@dataclass(frozen=True)
class Psi:
    some: PsiLine
    full: PsiLine | None


@dataclass(frozen=True)
class MemoryReading:
    psi: Psi | None = None
    mem_available: int | None = None
    mem_total: int | None = None
    cgroup: CgroupMemory | None = None

    @classmethod
    def of(cls, *, psi: float | None = None, available_mb: float | None = None,
           cgroup_ratio: float | None = None, total_mb: float = 16384) -> MemoryReading:
        """A reading from the three numbers the tier policy uses (tests, benchmarks)."""
        group = None
        if cgroup_ratio is not None:
            group = CgroupMemory(2, "", int(cgroup_ratio * 1000 * MIB), 0, 1000 * MIB, None)
        return cls(None if psi is None else Psi(PsiLine(psi, psi, psi, 0), None),
                   None if available_mb is None else int(available_mb * MIB),
                   int(total_mb * MIB), group)

    @property
    def psi_some_avg10(self) -> float | None:
        return None if self.psi is None else self.psi.some.avg10

    @property
    def available_mb(self) -> float | None:
        return None if self.mem_available is None else self.mem_available / MIB

    @property
    def cgroup_ratio(self) -> float | None:
        return None if self.cgroup is None else self.cgroup.ratio

    def to_dict(self) -> dict[str, Any]:
        """For ``status --json``, MQTT and the status page."""
        cg = self.cgroup
        return {
            "psi_some_avg10": self.psi_some_avg10,
            "psi_some_avg60": None if self.psi is None else self.psi.some.avg60,
            "psi_full_avg10": None if self.psi is None or self.psi.full is None
            else self.psi.full.avg10,
            "mem_available_mb": _mb(self.mem_available),
            "mem_total_mb": _mb(self.mem_total),
            "cgroup": None if cg is None else {
                "version": cg.version, "path": cg.path, "current_mb": _mb(cg.current),
                "working_set_mb": _mb(cg.working_set), "high_mb": _mb(cg.high),
                "max_mb": _mb(cg.max), "ratio": None if cg.ratio is None else round(cg.ratio, 4),
                "events": dict(cg.events)},
        }


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / MIB, 1)


# ------------------------------------------------------------------------------------ parsers
def parse_psi(text: str) -> Psi | None:
    lines: dict[str, PsiLine] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        try:
            values = dict(item.split("=", 1) for item in rest.split())
            lines[kind] = PsiLine(float(values["avg10"]), float(values["avg60"]),
                                  float(values["avg300"]), int(values["total"]))
        except (KeyError, ValueError):
            continue
    return None if "some" not in lines else Psi(lines["some"], lines.get("full"))


# ------------------------------------------------------------------------------------- reader
class MemoryReader:
    """Reads everything in one go; the cgroup is located once, at construction."""

    def __init__(self, paths: MemoryPaths) -> None:
        self.paths = paths
        self.cgroup: tuple[Path, int] | None = None
        if paths.cgroup_dir == "auto":
            self.cgroup = find_cgroup(paths.proc_cgroup, paths.mountinfo)
        elif paths.cgroup_dir:
            version = cgroup_version(Path(paths.cgroup_dir))
            self.cgroup = None if version is None else (Path(paths.cgroup_dir), version)
        self.psi_path = self._psi_path()

    def _psi_path(self) -> str:
        if self.paths.psi_path != "cgroup":
            return self.paths.psi_path
        if self.cgroup is not None and self.cgroup[1] == 2:
            return str(self.cgroup[0] / "memory.pressure")
        return ""  # asked for the cgroup's PSI but there is no v2 memory cgroup

    def read(self) -> MemoryReading:
        psi_text = read_text(self.psi_path) if self.psi_path else None
        info = parse_keyed(read_text(self.paths.meminfo_path) or "") if self.paths.meminfo_path \
            else {}
        group = None
        if self.cgroup is not None and os.path.isdir(self.cgroup[0]):
            group = read_cgroup(*self.cgroup)
        return MemoryReading(None if psi_text is None else parse_psi(psi_text),
                             info.get("MemAvailable"), info.get("MemTotal"), group)

    def describe(self) -> dict[str, Any]:
        return {"psi_path": self.psi_path or None, "meminfo_path": self.paths.meminfo_path or None,
                "cgroup": None if self.cgroup is None else {"path": str(self.cgroup[0]),
                                                            "version": self.cgroup[1]}}
