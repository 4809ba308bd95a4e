"""What every command needs: settings and the two directories, resolved once from the CLI."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from xnai_edge import paths
from xnai_edge.config import Config, load_config


@dataclass(frozen=True)
class AppContext:
    config: Config
    data_dir: Path
    models_dir: Path
    quiet: bool = False


def from_args(args: argparse.Namespace) -> AppContext:
    config_path = getattr(args, "config", None) or os.environ.get("XNAI_EDGE_CONFIG")
    return AppContext(
        config=load_config(Path(config_path) if config_path else None),
        data_dir=paths.data_dir(getattr(args, "data_dir", None)),
        models_dir=paths.models_dir(getattr(args, "models_dir", None)),
        quiet=bool(getattr(args, "quiet", False)),
    )
