"""The model manifest: which files make up each model, where they come from, what they hash to.

A model is addressed by *set* (``tiny``, ``standard``) and *role* (``wake``, ``vad``, ``stt``,
``embed``, ``llm``, ``tts``) and lives in one directory of the store,
``<models_dir>/<set>/<role>/``.
Each of its files names exactly one source: a member of a wheel on PyPI (``pypi`` + ``member``) or
an ``https://`` URL.  The loader is strict -- an unknown key, a missing hash, a size that is not a
positive integer -- is one ``ConfigError`` naming the file and the key, because a manifest typo
must never turn into a silently unverified model on an appliance nobody is watching.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from xnai_edge import paths
from xnai_edge.errors import ConfigError, ModelError

ROLES: tuple[str, ...] = ("wake", "vad", "stt", "embed", "llm", "tts")
SETS: tuple[str, ...] = ("tiny", "standard")
SYSTEM_MANIFEST = Path("/etc/xnai-edge/models.toml")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PYPI_PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!_-]*")
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
_MODEL_KEYS = frozenset({"description", "licence", "files"})
_FILE_KEYS = frozenset({"name", "sha256", "size", "pypi", "member", "url"})


@dataclass(frozen=True)
class FileSpec:
    """One file of a model and the single place it comes from."""

    name: str
    """File name inside the model's directory (no slashes)."""
    sha256: str
    """Lower-case hex SHA-256 of the whole file."""
    size: int
    """Exact size in bytes."""
    pypi: str | None = None
    """``package==version`` of the wheel that carries the file (with ``member``)."""
    member: str | None = None
    """Path of the file inside that wheel."""
    url: str | None = None
    """``https://`` address of the file (instead of ``pypi``)."""

    @property
    def source(self) -> str:
        """Human-readable origin, for messages and ``models list``."""
        return f"{self.pypi}:{self.member}" if self.pypi else str(self.url)


@dataclass(frozen=True)
class ModelSpec:
    """All files of one model: one directory of the store."""

    set_name: str
    role: str
    files: tuple[FileSpec, ...]
    description: str = ""
    licence: str = ""

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, name: str) -> FileSpec:
        for spec in self.files:
            if spec.name == name:
                return spec
        raise ModelError(f"model {self.set_name}/{self.role} has no file {name!r}; its files are "
                         f"{', '.join(f.name for f in self.files)}")


@dataclass(frozen=True)
class Manifest:
    """Every model of every set, as read from one manifest file."""

    source: str
    models: tuple[ModelSpec, ...]

    def sets(self) -> list[str]:
        return [s for s in SETS if any(m.set_name == s for m in self.models)]

    def models_in(self, set_name: str, role: str | None = None) -> list[ModelSpec]:
        found = [m for m in self.models
                 if m.set_name == set_name and (role is None or m.role == role)]
        if not found:
            what = f"role {role!r} in set {set_name!r}" if role else f"set {set_name!r}"
            raise ModelError(f"{self.source} lists no model for {what}")
        return found

    def model(self, set_name: str, role: str) -> ModelSpec:
        return self.models_in(set_name, role)[0]


def manifest_path() -> Path:
    """``$XNAI_EDGE_MANIFEST``, else ``<repo>/config/models.toml``, else the system one."""
    if env := os.environ.get("XNAI_EDGE_MANIFEST"):
        return Path(env).expanduser()
    repo = paths.repo_root() / "config" / "models.toml"
    return repo if repo.is_file() else SYSTEM_MANIFEST


def load_manifest(path: Path | None = None) -> Manifest:
    path = manifest_path() if path is None else path
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: model manifest does not exist (set XNAI_EDGE_MANIFEST or "
                          f"install {SYSTEM_MANIFEST})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read model manifest: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return manifest_from_dict(raw, source=str(path))


def manifest_from_dict(raw: dict[str, Any], *, source: str = "<manifest>") -> Manifest:
    models: list[ModelSpec] = []
    for set_name, roles in raw.items():
        if set_name not in SETS:
            raise ConfigError(f"{source}: unknown model set [{set_name}]; known sets: "
                              f"{', '.join(SETS)}")
        if not isinstance(roles, dict):
            raise ConfigError(f"{source}: [{set_name}] must be a table of roles")
        for role, body in roles.items():
            if role not in ROLES:
                raise ConfigError(f"{source}: unknown role [{set_name}.{role}]; known roles: "
                                  f"{', '.join(ROLES)}")
            if not isinstance(body, dict):
                raise ConfigError(f"{source}: [{set_name}.{role}] must be a table")
            models.append(_model(set_name, role, body, source))
    return Manifest(source=source, models=tuple(models))


def _model(set_name: str, role: str, body: dict[str, Any], source: str) -> ModelSpec:
    where = f"[{set_name}.{role}]"
    for key in body:
        if key not in _MODEL_KEYS:
            raise ConfigError(f"{source}: unknown key {where} {key}; known keys: "
                              f"{', '.join(sorted(_MODEL_KEYS))}")
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise ConfigError(f"{source}: {where} files must be a non-empty array of tables "
                          f"([[{set_name}.{role}.files]])")
    specs = tuple(_file(f, f"{where} files[{i}]", source) for i, f in enumerate(files))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: {where} names the same file twice: {', '.join(names)}")
    return ModelSpec(set_name=set_name, role=role, files=specs,
                     description=_text(body, "description", where, source),
                     licence=_text(body, "licence", where, source))


def _text(body: dict[str, Any], key: str, where: str, source: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {where} {key} must be a string")
    return value


def _file(raw: Any, where: str, source: str) -> FileSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where} must be a table")
    for key in raw:
        if key not in _FILE_KEYS:
            raise ConfigError(f"{source}: unknown key {where} {key}; known keys: "
                              f"{', '.join(sorted(_FILE_KEYS))}")
    for key in ("name", "sha256", "size"):
        if key not in raw:
            raise ConfigError(f"{source}: {where} is missing {key}")
    name, sha, size = raw["name"], raw["sha256"], raw["size"]
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
        raise ConfigError(f"{source}: {where} name = {name!r} must be a plain file name")
    where = f"{where} ({name})"
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise ConfigError(f"{source}: {where} sha256 must be 64 lower-case hex digits")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ConfigError(f"{source}: {where} size = {size!r} must be a positive integer "
                          "(bytes)")
    pypi, member, url = raw.get("pypi"), raw.get("member"), raw.get("url")
    if (pypi is None) == (url is None):
        raise ConfigError(f"{source}: {where} needs exactly one source: pypi + member, or url")
    if url is not None:
        if member is not None:
            raise ConfigError(f"{source}: {where} member only goes with pypi")
        if not isinstance(url, str):
            raise ConfigError(f"{source}: {where} url must be a string")
        try:
            check_url(url)
        except ModelError as exc:
            raise ConfigError(f"{source}: {where} url: {exc.message}") from None
        return FileSpec(name=name, sha256=sha, size=size, url=url)
    if not isinstance(pypi, str) or not _PYPI_PIN.fullmatch(pypi):
        raise ConfigError(f"{source}: {where} pypi = {pypi!r} must pin one version: "
                          "'package==version'")
    if not isinstance(member, str) or not member or member.startswith("/") or ".." in member:
        raise ConfigError(f"{source}: {where} member must be a relative path inside the wheel")
    return FileSpec(name=name, sha256=sha, size=size, pypi=pypi, member=member)


def check_url(url: str) -> None:
    """Accept ``https://`` anywhere, and plain ``http://`` only on this machine (tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
        return
    raise ModelError(f"{url!r} is not allowed: model files are fetched over https:// only "
                     "(plain http only from 127.0.0.1/localhost)")
