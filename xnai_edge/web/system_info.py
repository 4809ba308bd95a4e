"""What the System page shows: the config in effect (secrets masked), versions, the hardware,
disk use; and the documents with their ingest times for the Knowledge page.

Everything here is cheap or cached: ``collect`` walks the models dir once per minute at most,
in a worker thread, so the page never blocks the event loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import re
import shutil
import sys
import time
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from xnai_edge.control import Controls
    from xnai_edge.web.app import WebState

SECRET_KEY = re.compile(r"password|secret|token|api_?key", re.IGNORECASE)
PACKAGES = ("xnai-edge", "starlette", "uvicorn", "prometheus-client", "onnxruntime",
            "llama-cpp-python", "faster-whisper", "piper-tts", "faiss-cpu", "paho-mqtt",
            "wyoming")
_dir_sizes: dict[str, tuple[float, int]] = {}


def masked(key: str, value: Any) -> Any:
    """A secret's value as ``***`` (a path to a secret file is not a secret: shown)."""
    if SECRET_KEY.search(key) and not key.endswith(("_file", "_path", "_dir")) and value:
        return "***"
    return value


def config_rows(config: Any) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for section in dataclasses.fields(config):
        values = getattr(config, section.name)
        for f in dataclasses.fields(values):
            rows[f"{section.name}.{f.name}"] = masked(f.name, getattr(values, f.name))
    return rows


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def hardware() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    total_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total_kb = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return {"cpu": model or platform.processor() or "unknown", "cores": os.cpu_count(),
            "memory": size(total_kb * 1024), "machine": platform.machine(),
            "kernel": platform.release(), "os": _os_name(), "profile": fitting_profile()}


@cache
def fitting_profile() -> str:
    """The device profile (hardware/*.toml) whose rules fit this machine, as `doctor` says."""
    from xnai_edge import hwprofile
    from xnai_edge.errors import XnaiError

    try:
        profile, _ = hwprofile.choose(hwprofile.load_profiles(hwprofile.profiles_dir()),
                                      hwprofile.read_facts())
    except (XnaiError, OSError, ValueError) as exc:
        return f"unknown ({exc})"
    if profile is None:
        return "none fits"
    return f"{profile.name}: {profile.description}" if profile.description else profile.name


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return sys.platform


def dir_size(path: Path) -> int:
    """Bytes under ``path`` (cached for a minute: the models dir holds a few large files)."""
    key = str(path)
    cached = _dir_sizes.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    _dir_sizes[key] = (time.monotonic() + 60, total)
    return total


def disk(data_dir: Path, models_dir: Path | None) -> dict[str, str]:
    rows = {}
    try:
        usage = shutil.disk_usage(data_dir)
        rows["data disk free"] = f"{size(usage.free)} of {size(usage.total)}"
    except OSError as exc:
        rows["data disk free"] = f"unknown: {exc.strerror}"
    rows["data dir"] = f"{data_dir} ({size(dir_size(data_dir))})"
    if models_dir is not None:
        rows["models dir"] = f"{models_dir} ({size(dir_size(models_dir))})"
    return rows


async def collect(state: WebState) -> dict[str, dict[str, Any]]:
    ctx = state.context() if state.context is not None else None
    data_dir = state.controls.data_dir
    disk_rows = await anyio.to_thread.run_sync(
        disk, data_dir, ctx.models_dir if ctx is not None else None)
    info: dict[str, dict[str, Any]] = {
        "Device": {"device id": state.controls.device_id, "page": state.url or "",
                   "uptime": duration(state.controls.status().get("uptime_s") or 0)},
        "Versions": versions(), "Hardware": await anyio.to_thread.run_sync(hardware),
        "Disk": disk_rows}
    if ctx is not None:
        info["Config in effect"] = config_rows(ctx.config)
    return info


async def documents_with_times(controls: Controls) -> list[dict[str, Any]]:
    docs = await controls.documents()
    rows = await controls.kb.store.fetchall("SELECT id, ingested_at FROM documents")
    when = {r[0]: str(r[1])[:19].replace("T", " ") for r in rows}
    return [{**d, "ingested_at": when.get(d["id"], "")} for d in docs]


def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def duration(seconds: float) -> str:
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{d}d {h}h {m}m" if d else f"{h}h {m}m {s}s" if h else f"{m}m {s}s"
