"""Which device profile fits this machine, and why (``xnai-edge doctor``, the image's first boot).

A profile is two files in ``hardware/``: ``<name>.toml``, an ordinary config file (threads per
backend, tier thresholds, model set, audio devices: ``xnai-edge --config`` takes it as it is), and
``match/<name>.toml``, the rules saying which machines get it (CPU model and flags, memory) and
which audio devices it looks for.  The rules live apart because a config file is loaded
strictly: an unknown section in it is an error, on purpose.

The image's first boot writes ``/etc/xnai-edge/config.toml`` from the matching profile with the
model set replaced by the one the image carries (a ``standard`` profile on an image that ships
only ``tiny`` must not leave the daemon without models).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xnai_edge import paths
from xnai_edge.config import config_from_dict
from xnai_edge.errors import ConfigError

SYSTEM_PROFILES = Path("/usr/share/xnai-edge/hardware")
FLAGS_OF_INTEREST = ("avx2", "fma", "f16c", "avx512f")
_MATCH_KEYS = {"config", "description", "priority", "cpu", "memory", "audio"}


@dataclass(frozen=True)
class Facts:
    """What the rules look at: CPU model and flags, logical CPUs, memory."""

    cpu_model: str
    flags: frozenset[str]
    cpus: int
    mem_total_mb: int
    mem_available_mb: int


@dataclass(frozen=True)
class Profile:
    name: str
    config_path: Path
    description: str = ""
    priority: int = 0
    cpu_model: str = ""
    cpu_flags: tuple[str, ...] = ()
    min_memory_mb: int = 0
    audio_devices: tuple[str, ...] = field(default=())

    def check(self, facts: Facts) -> list[str]:
        """Why this profile does *not* fit ``facts`` (empty: it fits)."""
        why: list[str] = []
        if self.cpu_model and not re.search(self.cpu_model, facts.cpu_model):
            why.append(f"CPU {facts.cpu_model!r} does not match /{self.cpu_model}/")
        missing = [f for f in self.cpu_flags if f not in facts.flags]
        if missing:
            why.append(f"CPU lacks {' '.join(missing)}")
        if facts.mem_total_mb < self.min_memory_mb:
            why.append(f"{facts.mem_total_mb} MB memory < {self.min_memory_mb} MB")
        return why

    def audio_match(self, names: list[str]) -> str | None:
        """The first device name matching the profile's rules (in rule order), if any."""
        for rule in self.audio_devices:
            for name in names:
                if re.search(rule, name, re.IGNORECASE):
                    return name
        return None


def read_facts(cpuinfo: Path = Path("/proc/cpuinfo"),
               meminfo: Path = Path("/proc/meminfo")) -> Facts:
    """Facts of this machine from procfs (missing files give empty facts, not an error)."""
    model, flags, cpus = "", frozenset[str](), 0
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "processor":
                cpus += 1
            elif key == "model name" and not model:
                model = value.strip()
            elif key == "flags" and not flags:
                flags = frozenset(value.split())
    except OSError:
        pass
    mem: dict[str, int] = {}
    try:
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                mem[key] = int(value.split()[0]) // 1024
    except (OSError, ValueError):
        pass
    return Facts(model, flags, cpus, mem.get("MemTotal", 0), mem.get("MemAvailable", 0))


def profiles_dir(option: str | None = None) -> Path:
    """--profiles, else $XNAI_EDGE_PROFILES, else the checkout's hardware/, else the image's."""
    if option:
        return Path(option)
    if env := os.environ.get("XNAI_EDGE_PROFILES"):
        return Path(env)
    repo = paths.repo_root() / "hardware"
    return repo if (repo / "match").is_dir() else SYSTEM_PROFILES


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    for v in value:
        try:
            re.compile(v)
        except re.error as exc:
            raise ConfigError(f"{where}: {v!r} is not a valid regular expression: {exc}") from None
    return tuple(value)


def load_profile(match_file: Path) -> Profile:
    """One ``match/<name>.toml``; its config file must exist and load."""
    try:
        raw = tomllib.loads(match_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{match_file}: cannot read the profile rules: {exc}") from None
    unknown = set(raw) - _MATCH_KEYS
    if unknown:
        raise ConfigError(f"{match_file}: unknown keys {', '.join(sorted(unknown))}; known: "
                          f"{', '.join(sorted(_MATCH_KEYS))}")
    config = raw.get("config")
    if not isinstance(config, str):
        raise ConfigError(f"{match_file}: config = \"<name>.toml\" (the profile) is required")
    cpu, memory, audio = raw.get("cpu", {}), raw.get("memory", {}), raw.get("audio", {})
    model, min_mb, prio = cpu.get("model", ""), memory.get("min_mb", 0), raw.get("priority", 0)
    if not isinstance(model, str) or not isinstance(min_mb, int) or not isinstance(prio, int):
        raise ConfigError(f"{match_file}: cpu.model is a string, memory.min_mb and priority "
                          "integers")
    profile = Profile(
        name=match_file.stem, config_path=match_file.parent.parent / config,
        description=str(raw.get("description", "")), priority=prio, cpu_model=model,
        cpu_flags=_strings(cpu.get("flags", []), f"{match_file}: cpu.flags"),
        min_memory_mb=min_mb,
        audio_devices=_strings(audio.get("devices", []), f"{match_file}: audio.devices"))
    _strings([model], f"{match_file}: cpu.model")
    profile_config(profile)  # fails here, with the file named, if the config is bad
    return profile


def load_profiles(directory: Path) -> list[Profile]:
    if not (directory / "match").is_dir():
        raise ConfigError(f"{directory}: no match/ directory of device profiles")
    return [load_profile(p) for p in sorted((directory / "match").glob("*.toml"))]


def choose(profiles: list[Profile], facts: Facts) -> tuple[Profile | None, list[str]]:
    """The fitting profile of highest priority, and one line per profile saying why or why not."""
    fitting: list[Profile] = []
    lines: list[str] = []
    for p in profiles:
        why = p.check(facts)
        if why:
            lines.append(f"{p.name}: no ({'; '.join(why)})")
        else:
            fitting.append(p)
            lines.append(f"{p.name}: fits (priority {p.priority})")
    fitting.sort(key=lambda p: (-p.priority, p.name))
    return (fitting[0] if fitting else None), lines


def profile_config(profile: Profile) -> dict[str, Any]:
    """The profile's config file as a TOML table, checked by the config loader."""
    try:
        raw = tomllib.loads(profile.config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{profile.config_path}: cannot read the profile: {exc}") from None
    config_from_dict(raw, source=str(profile.config_path))
    return raw


def render_config(profile: Profile | None, model_set: str, *, why: str = "") -> str:
    """``config.toml`` for this device: the profile with ``[models] set`` = ``model_set``, and
    the status page on every interface, port 8080 (unless the profile says otherwise)."""
    raw = profile_config(profile) if profile else {}
    raw = {name: dict(table) for name, table in raw.items()}
    raw.setdefault("models", {})["set"] = model_set
    # The appliance's status page is for the LAN, whatever the default is on a workstation.
    raw.setdefault("web", {}).setdefault("bind", "0.0.0.0")
    raw["web"].setdefault("port", 8080)
    config_from_dict(raw, source="<generated config>")
    source = f"hardware/{profile.config_path.name}" if profile else "no matching profile"
    out = [f"# Written by xnai-edge's first boot from {source}; {why}".rstrip("; "),
           f"# [models] set is the image's ({model_set}). Edit freely: first boot keeps it."]
    for name, table in raw.items():
        out.append(f"\n[{name}]")
        out.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
    return "\n".join(out) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise ConfigError(f"cannot write {value!r} into a config file")


def psi_state(path: Path = Path("/proc/pressure/memory")) -> str:
    """'available', 'missing' (old kernel / no CONFIG_PSI) or 'disabled' (booted with psi=0)."""
    try:
        path.read_text(encoding="ascii")
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"disabled ({exc.strerror})"
    return "available"


def doctor_report(directory: Path, facts: Facts,
                  device_names: list[str]) -> tuple[Profile | None, list[str]]:
    """``doctor``'s lines about the machine and its profile; the chosen profile."""
    flags = " ".join(f"{f}={'yes' if f in facts.flags else 'no'}" for f in FLAGS_OF_INTEREST)
    lines = [f"cpu: {facts.cpu_model or 'unknown'} ({facts.cpus} logical CPUs); {flags}",
             f"memory: {facts.mem_total_mb} MB total, {facts.mem_available_mb} MB available",
             f"psi: {psi_state()}"]
    if "avx2" not in facts.flags:
        lines.append("  no AVX2: the image's llama.cpp (built for Zen 2/3) will not run here")
    profiles = load_profiles(directory)
    chosen, why = choose(profiles, facts)
    lines.append(f"profiles in {directory}:")
    lines.extend(f"  {line}" for line in why)
    if chosen is None:
        lines.append("profile: none fits; the defaults are used")
        return None, lines
    lines.append(f"profile: {chosen.name} -> {chosen.config_path.name} ({chosen.description})")
    if chosen.audio_devices:
        match = chosen.audio_match(device_names)
        lines.append(f"audio for this profile: {match!r}" if match else
                     "audio for this profile: none of the devices matches "
                     f"{', '.join(chosen.audio_devices)}")
    return chosen, lines
