"""Who this device is, and where its secrets live: both made on the device, never shipped.

The device id names the appliance to the outside (MQTT client id and topics, Home Assistant
unique ids, the Wyoming/zeroconf name). It is random, made on first start (or by the image's
first boot), and kept in ``<data_dir>/device-id`` so it survives restarts and updates; a factory
reset (a fresh data dir) makes a new one. Secrets (the status-page password, an MQTT password
copied onto the device) live in ``<data_dir>/secrets/``, a directory only the service user can
enter; each file is written with mode 0600 *before* any byte of the secret goes in.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets as _secrets
from pathlib import Path

from xnai_edge.errors import StorageError

DEVICE_ID_FILE = "device-id"
SECRETS_DIR = "secrets"
_VALID = re.compile(r"^[a-z0-9][a-z0-9-]{3,63}$")


def device_id(data_dir: Path) -> str:
    """The device's stable id (12 hex digits), made and stored on first use."""
    path = data_dir / DEVICE_ID_FILE
    try:
        existing = path.read_bytes().decode("ascii", errors="replace").strip()
    except FileNotFoundError:
        existing = ""  # first start
    except OSError as exc:
        raise StorageError(f"cannot read the device id {path}: {exc}") from exc
    if _VALID.match(existing):
        return existing
    new = _secrets.token_hex(6)
    write_private(path, new + "\n", mode=0o644)
    return new


def secrets_dir(data_dir: Path) -> Path:
    """``<data_dir>/secrets`` (mode 0700), created if needed."""
    path = data_dir / SECRETS_DIR
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise StorageError(f"cannot create the secrets directory {path}: {exc}") from exc
    return path


def write_private(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write ``text`` atomically (temp file + fsync + rename) with ``mode`` from the start."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # the directory itself may be the problem
            tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {path}: {exc}") from exc
