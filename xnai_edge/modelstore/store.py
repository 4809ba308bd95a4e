"""The model store: where installed model files live and whether they are intact.

Layout: ``<models_dir>/<set>/<role>/<file>`` exactly as the manifest names them, plus a
``.verified.json`` stamp of hashes already checked.  The rest of the code asks the store for a
path by role (``store.path("llm", "model.gguf")``) and never builds model paths itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from xnai_edge.errors import ModelError
from xnai_edge.modelstore.files import Stamps
from xnai_edge.modelstore.manifest import ROLES, Manifest, ModelSpec, load_manifest

if TYPE_CHECKING:
    from xnai_edge.modelstore.installer import InstallReport

State = Literal["present", "missing", "corrupt"]


def fix_command(set_name: str, role: str | None = None) -> str:
    """The command that installs (or repairs) a model."""
    cmd = f"xnai-edge models install --set {set_name}"
    return f"{cmd} --role {role}" if role else cmd


@dataclass(frozen=True)
class FileStatus:
    name: str
    path: Path
    size: int
    state: State


@dataclass(frozen=True)
class ModelStatus:
    """State of one model (one role of one set): present only if every file is intact."""

    role: str
    set_name: str
    size: int
    """Expected size of all its files, in bytes."""
    state: State
    path: Path
    files: tuple[FileStatus, ...]
    description: str = ""
    licence: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "set": self.set_name, "size": self.size, "state": self.state,
                "path": str(self.path), "description": self.description,
                "licence": self.licence,
                "files": [{"name": f.name, "size": f.size, "state": f.state}
                          for f in self.files]}


class ModelStore:
    """Installed models under ``models_dir``, described by ``manifest`` (default: the found one)."""

    def __init__(self, models_dir: Path, manifest: Manifest | None = None) -> None:
        self.models_dir = models_dir
        self.manifest = manifest if manifest is not None else load_manifest()

    def model_dir(self, role: str, *, set_name: str = "tiny") -> Path:
        return self.models_dir / set_name / role

    def spec(self, role: str, *, set_name: str = "tiny") -> ModelSpec:
        if role not in ROLES:
            raise ModelError(f"unknown model role {role!r}; roles: {', '.join(ROLES)}")
        return self.manifest.model(set_name, role)

    def path(self, role: str, filename: str | None = None, *, set_name: str = "tiny") -> Path:
        """The installed file (or, without ``filename``, the model's directory).

        Checks only that the file(s) exist with the right size -- cheap enough for every
        start-up; ``status(..., deep=True)`` checks the hashes.
        """
        spec = self.spec(role, set_name=set_name)
        wanted = [spec.file(filename)] if filename is not None else list(spec.files)
        directory = self.model_dir(role, set_name=set_name)
        for file in wanted:
            target = directory / file.name
            try:
                size = target.stat().st_size
            except FileNotFoundError:
                raise ModelError(f"model file {target} ({set_name}/{role}) is missing; install "
                                 f"it with: {fix_command(set_name, role)}") from None
            except OSError as exc:
                raise ModelError(f"cannot read model file {target}: {exc.strerror}") from exc
            if size != file.size:
                raise ModelError(f"model file {target} ({set_name}/{role}) has {size} bytes "
                                 f"instead of {file.size}; reinstall it with: "
                                 f"{fix_command(set_name, role)}")
        return directory / wanted[0].name if filename is not None else directory

    def verified_path(self, role: str, filename: str, *, set_name: str = "tiny") -> Path:
        """``path()`` plus the sha256, for loading a model: a file damaged in place (same size)
        would otherwise load and quietly compute garbage (an embedder's vectors end up stored
        in the knowledge base).  Verified hashes are remembered per path, size and mtime in
        ``.verified.json``, so after the first load this costs a ``stat``."""
        target = self.path(role, filename, set_name=set_name)
        spec = self.spec(role, set_name=set_name).file(filename)
        stamps = Stamps(self.models_dir)
        intact = stamps.verified(target, spec.sha256, spec.size)
        stamps.save()
        if not intact:
            raise ModelError(f"model file {target} ({set_name}/{role}) is damaged: its sha256 "
                             f"does not match; reinstall it with: {fix_command(set_name, role)}")
        return target

    def status(self, set_name: str = "tiny", *, role: str | None = None,
               deep: bool = False) -> list[ModelStatus]:
        """Every model of the set: present, missing or corrupt (wrong size or sha256).

        Hashes already verified for the same path, size and mtime come from the stamp, so the
        second call is fast; ``deep=True`` hashes every file again.
        """
        stamps = Stamps(self.models_dir)
        result = [self._status(spec, stamps, deep)
                  for spec in self.manifest.models_in(set_name, role)]
        stamps.save()
        return result

    def _status(self, spec: ModelSpec, stamps: Stamps, deep: bool) -> ModelStatus:
        directory = self.model_dir(spec.role, set_name=spec.set_name)
        files: list[FileStatus] = []
        for file in spec.files:
            target = directory / file.name
            state: State
            if not target.is_file():
                state = "missing"
            elif stamps.verified(target, file.sha256, file.size, use_cache=not deep):
                state = "present"
            else:
                state = "corrupt"
            files.append(FileStatus(file.name, target, file.size, state))
        states = {f.state for f in files}
        overall: State = ("corrupt" if "corrupt" in states else
                          "missing" if "missing" in states else "present")
        return ModelStatus(role=spec.role, set_name=spec.set_name, size=spec.size, state=overall,
                           path=directory, files=tuple(files), description=spec.description,
                           licence=spec.licence)

    def install(self, set_name: str = "tiny", role: str | None = None, *,
                progress: bool = True,
                log: Callable[[str], None] | None = None) -> InstallReport:
        """Install (or repair) the set's models; see ``installer.install``."""
        from xnai_edge.modelstore.installer import install

        return install(self, set_name, role, progress=progress, log=log)
