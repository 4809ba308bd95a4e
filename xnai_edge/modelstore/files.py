"""Low-level file work of the store: hashing, atomic writes, and the verified-hash stamp.

A model file only ever appears under its final name complete and verified: it is written to a
temporary file in the same directory, fsynced, checked against the manifest's sha256 and size,
then renamed over the final name (and the directory fsynced).  A full disk becomes a
``ModelError`` and the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xnai_edge.errors import ModelError

CHUNK = 1 << 20
STAMP_NAME = ".verified.json"
# Like git's "racily clean" index entries: a file changed within this long of the moment its
# hash was recorded might have been changed again in the same timestamp tick, so the stamp is
# not trusted for it and the file is hashed again.
RACY_NS = 2_000_000_000


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def disk_error(exc: OSError, path: Path) -> ModelError:
    """One clear line for a failed write; disk full gets its own words."""
    if exc.errno == errno.ENOSPC:
        return ModelError(f"disk full while writing {path}; free some space and run the "
                          "command again (nothing was left half-written)")
    return ModelError(f"cannot write {path}: {exc.strerror or exc}")


def mismatch(path: Path, source: str, *, size: int, got_size: int, sha256: str,
             got_sha256: str) -> ModelError:
    if got_size != size:
        return ModelError(f"{path.name} from {source} has {got_size} bytes, the manifest "
                          f"expects {size}; the file was not installed")
    return ModelError(f"{path.name} from {source}: sha256 mismatch (expected {sha256}, got "
                      f"{got_sha256}); the file was not installed")


@contextlib.contextmanager
def atomic_writer(dest: Path) -> Iterator[io.FileIO]:
    """Yield a temp file beside ``dest``; on a clean exit fsync it and rename it to ``dest``.

    On any exception the temp file is removed and ``dest`` is untouched.  Failures to create,
    sync or rename it (disk full, read-only file system) become ``ModelError``; the caller writes
    with ``write_chunk`` and verifies inside the ``with`` block, so a bad file never lands.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the models from the service user
    except OSError as exc:
        raise disk_error(exc, dest) from exc
    tmp = Path(tmp_name)
    try:
        with io.FileIO(fd, "wb") as fh:  # unbuffered: a failed write cannot resurface on close
            yield fh
            try:
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise disk_error(exc, dest) from exc
        try:
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
        except OSError as exc:
            raise disk_error(exc, dest) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_chunk(fh: io.FileIO, chunk: bytes, dest: Path) -> None:
    """Write all of ``chunk``; a failure (disk full, I/O error) is a ``ModelError`` on ``dest``."""
    view = memoryview(chunk)
    try:
        while view:
            view = view[fh.write(view) or 0:]  # a raw write may be partial
    except OSError as exc:
        raise disk_error(exc, dest) from exc


def finish_part(part: Path, dest: Path) -> None:
    """Move a complete, verified ``.part`` file into place durably."""
    try:
        with part.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(part, dest)
        fsync_dir(dest.parent)
    except OSError as exc:
        raise disk_error(exc, dest) from exc


class Stamps:
    """Cache of verified hashes, keyed by path + size + mtime (+ inode), in one JSON file.

    Only an optimisation: a missing, unreadable or stale stamp just means hashing again.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / STAMP_NAME
        self.root = root
        self._data: dict[str, dict[str, Any]] | None = None
        self._dirty = False

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._data is None:
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                self._data = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self._data = {}
        return self._data

    def _key(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def verified(self, path: Path, sha256: str, size: int, *, use_cache: bool = True) -> bool:
        """True when ``path`` has ``size`` bytes and hashes to ``sha256``."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return False
        if st.st_size != size:
            return False
        entry = self._load().get(self._key(path))
        key = [st.st_size, st.st_mtime_ns, st.st_ino, sha256]
        if use_cache and entry and entry.get("key") == key and \
                st.st_mtime_ns < int(entry.get("checked_ns", 0)) - RACY_NS:
            return True
        ok = sha256_file(path) == sha256
        data = self._load()
        if ok:
            data[self._key(path)] = {"key": key, "checked_ns": time.time_ns()}
        else:
            data.pop(self._key(path), None)
        self._dirty = True
        return ok

    def record(self, path: Path, sha256: str) -> None:
        """Remember a file the installer has just verified while writing it."""
        st = path.stat()
        self._load()[self._key(path)] = {"key": [st.st_size, st.st_mtime_ns, st.st_ino, sha256],
                                         "checked_ns": time.time_ns()}
        self._dirty = True

    def save(self) -> None:
        """Write the stamp back; a read-only store just stays uncached."""
        if not self._dirty or self._data is None:
            return
        with contextlib.suppress(OSError, ModelError):
            with atomic_writer(self.path) as fh:
                fh.write(json.dumps(self._data, indent=1, sort_keys=True).encode())
            self._dirty = False
