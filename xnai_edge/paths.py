"""Where the appliance keeps its state and its models.

The models dir is deliberately *not* inside the data dir: a fresh ``--data-dir`` (a test, a
second knowledge base, a factory reset) must find the installed models without copying 400 MB.
Order of precedence: command-line option, environment variable, systemd's directories, XDG.
"""

from __future__ import annotations

import os
from pathlib import Path

SYSTEM_MODELS_DIR = Path("/var/lib/xnai-edge/models")


def _xdg_data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def data_dir(option: str | None = None) -> Path:
    """Knowledge base, interaction log, caches."""
    if option:
        return Path(option).expanduser()
    if env := os.environ.get("XNAI_EDGE_DATA_DIR"):
        return Path(env).expanduser()
    if state := os.environ.get("STATE_DIRECTORY"):  # set by systemd's StateDirectory=
        return Path(state.split(":")[0])
    return _xdg_data_home() / "xnai-edge" / "data"


def models_dir(option: str | None = None) -> Path:
    """Model files, installed by ``xnai-edge models install``."""
    if option:
        return Path(option).expanduser()
    if env := os.environ.get("XNAI_EDGE_MODELS_DIR"):
        return Path(env).expanduser()
    if os.environ.get("STATE_DIRECTORY"):
        return SYSTEM_MODELS_DIR
    return _xdg_data_home() / "xnai-edge" / "models"


def repo_root() -> Path:
    """The checkout this package runs from (for config/ and tests); not valid in a wheel."""
    return Path(__file__).resolve().parent.parent
