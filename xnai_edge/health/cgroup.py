"""The memory cgroup of a process, v1 or v2: where it is and what it uses.

``find_cgroup`` locates the process's own memory cgroup from ``/proc/self/cgroup`` and
``/proc/self/mountinfo`` (a cgroup v2 group with the memory controller is preferred; on a hybrid
host such as our dev machines the memory controller is on v1).  Readers return ``None`` for
what they cannot read; they never raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

_UNLIMITED = 1 << 62  # cgroup v1 prints ~2**63 rounded down to a page for "no limit"


@dataclass(frozen=True)
class CgroupMemory:
    version: int
    """1 or 2."""
    path: str
    current: int | None
    """v2 memory.current / v1 memory.usage_in_bytes, bytes (includes page cache)."""
    inactive_file: int | None
    high: int | None
    """v2 memory.high (the lowest of the group and its ancestors); None = no limit."""
    max: int | None
    """v2 memory.max / v1 memory.limit_in_bytes (hierarchical); None = no limit."""
    events: dict[str, int] = field(default_factory=dict)
    """v2 memory.events (low, high, max, oom, oom_kill); v1 oom_control (oom_kill, under_oom)."""

    @property
    def working_set(self) -> int | None:
        if self.current is None:
            return None
        return max(0, self.current - (self.inactive_file or 0))

    @property
    def limit(self) -> int | None:
        """The limit that bites first: memory.high (throttling) before memory.max (OOM)."""
        return self.high if self.high is not None else self.max

    @property
    def ratio(self) -> float | None:
        ws, limit = self.working_set, self.limit
        return None if ws is None or not limit else ws / limit


def parse_keyed(text: str) -> dict[str, int]:
    """``key value [unit]`` or ``key: value kB`` lines (meminfo, memory.stat, memory.events)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2:
            try:
                value = int(parts[1])
            except ValueError:
                continue
            out[parts[0]] = value * 1024 if parts[2:3] == ["kB"] else value
    return out


def read_text(path: str | Path) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read(65536)
    except (OSError, ValueError):
        return None


def read_limit(path: Path) -> int | None:
    """A limit file: a byte count, or "max"/a huge number for "no limit"."""
    text = read_text(path)
    if text is None or text.strip() == "max":
        return None
    try:
        value = int(text.split()[0])
    except (ValueError, IndexError):
        return None
    return None if value >= _UNLIMITED else value


def find_cgroup(proc_cgroup: str = "/proc/self/cgroup",
                mountinfo: str = "/proc/self/mountinfo") -> tuple[Path, int] | None:
    """The process's own memory cgroup: (directory, version), v2 preferred when it has memory."""
    own = read_text(proc_cgroup)
    mounts = read_text(mountinfo)
    if own is None or mounts is None:
        return None
    v2_mount: tuple[str, str] | None = None
    v1_mount: tuple[str, str] | None = None
    for line in mounts.splitlines():
        pre, sep, post = line.partition(" - ")
        fields, tail = pre.split(), post.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, point = fields[3], fields[4].replace("\\040", " ")
        if tail[0] == "cgroup2" and v2_mount is None:
            v2_mount = (root, point)
        elif tail[0] == "cgroup" and "memory" in tail[2].split(","):
            v1_mount = (root, point)
    candidates: list[tuple[Path, int]] = []
    for line in own.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "" and v2_mount is not None:
            candidates.insert(0, (_join(v2_mount, parts[2]), 2))
        elif "memory" in parts[1].split(",") and v1_mount is not None:
            candidates.append((_join(v1_mount, parts[2]), 1))
    for directory, version in candidates:
        marker = "memory.current" if version == 2 else "memory.usage_in_bytes"
        if (directory / marker).exists():
            return directory, version
    return None


def _join(mount: tuple[str, str], path: str) -> Path:
    root, point = mount
    if root != "/" and (path == root or path.startswith(root + "/")):
        path = path[len(root):]  # the mount shows a subtree (containers)
    return Path(point) / path.lstrip("/")


def cgroup_version(directory: Path) -> int | None:
    if (directory / "memory.current").exists():
        return 2
    if (directory / "memory.usage_in_bytes").exists():
        return 1
    return None


def read_cgroup(directory: Path, version: int) -> CgroupMemory:
    if version == 2:
        stat = parse_keyed(read_text(directory / "memory.stat") or "")
        high = _lowest(directory, "memory.high")
        return CgroupMemory(2, str(directory), read_limit(directory / "memory.current"),
                            stat.get("inactive_file"), high, _lowest(directory, "memory.max"),
                            parse_keyed(read_text(directory / "memory.events") or ""))
    stat = parse_keyed(read_text(directory / "memory.stat") or "")
    limits = [read_limit(directory / "memory.limit_in_bytes"),
              stat.get("hierarchical_memory_limit")]
    known = [v for v in limits if v is not None and v < _UNLIMITED]
    oom = parse_keyed(read_text(directory / "memory.oom_control") or "")
    return CgroupMemory(1, str(directory), read_limit(directory / "memory.usage_in_bytes"),
                        stat.get("total_inactive_file", stat.get("inactive_file")), None,
                        min(known) if known else None,
                        {k: oom[k] for k in ("oom_kill", "under_oom") if k in oom})


def _lowest(directory: Path, name: str) -> int | None:
    """The tightest of a v2 limit over the group and its ancestors (stops at the root)."""
    found: list[int] = []
    here = directory
    for _ in range(32):
        if not (here / name).exists():
            break
        value = read_limit(here / name)
        if value is not None:
            found.append(value)
        here = here.parent
    return min(found) if found else None
