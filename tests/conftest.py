"""Shared fixtures: the real tiny models, fresh data dirs, and the real CLI in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from xnai_edge import paths

if TYPE_CHECKING:
    from squad import BackgroundBuild, SquadKb

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = REPO / "tests" / "data"
"""Everything the tests read (licences in tests/data/LICENSES.md); nothing outside the repo."""
CLI = [sys.executable, "-m", "xnai_edge.cli"]

# Property tests run beside real models and subprocesses on a 2-core box: how fast Hypothesis
# draws an example says nothing about the code, so neither a draw's time nor a deadline fails
# a test (the properties themselves still do).
settings.register_profile("xnai-edge", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("xnai-edge")


def installed_models() -> Path:
    """The installed tiny set (``make install`` puts it there; a no-op check when present)."""
    from xnai_edge.modelstore import ModelStore

    directory = paths.models_dir(None)
    ModelStore(directory).install("tiny", progress=False)
    return directory


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return installed_models()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(models_dir: Path, data_dir: Path) -> CliRunner:
    """Run ``xnai-edge`` for real: ``cli("ask", "q", "--json", input=..., data=other_dir)``."""

    def run(*args: str, input: str | None = None, data: Path | None = None,
            timeout: float = 300, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "XNAI_EDGE_MODELS_DIR": str(models_dir),
                    "XNAI_EDGE_DATA_DIR": str(data or data_dir), **(env or {})}
        return subprocess.run([*CLI, "-q", *args], input=input, capture_output=True,
                              text=True, timeout=timeout, env=full_env, check=False)

    return run


SQUAD_BUILD: pytest.StashKey[BackgroundBuild] = pytest.StashKey()


@pytest.hookimpl(trylast=True)  # after ``-k`` / ``-m`` have deselected what they do
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that read the SQuAD KB go last, and its build starts now, in the background
    (tests/squad.py says why)."""
    needs = [item for item in items if "squad_kb" in getattr(item, "fixturenames", ())]
    if not needs or config.option.collectonly:
        return
    ids = {id(item) for item in needs}
    items[:] = [item for item in items if id(item) not in ids] + needs
    from squad import BackgroundBuild

    root = Path(tempfile.mkdtemp(prefix="xnai-edge-squad-"))
    build = BackgroundBuild(root, installed_models())
    config.stash[SQUAD_BUILD] = build

    def cleanup() -> None:
        build.stop()
        shutil.rmtree(root, ignore_errors=True)

    config.add_cleanup(cleanup)


@pytest.fixture(scope="session")
def squad_kb(request: pytest.FixtureRequest, models_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> SquadKb:
    """All SQuAD dev passages ingested through the CLI, once per session (tests/squad.py)."""
    build = request.config.stash.get(SQUAD_BUILD, None)
    if build is None:  # not started at collection (e.g. the fixture asked for indirectly)
        from squad import BackgroundBuild

        build = BackgroundBuild(tmp_path_factory.mktemp("squad"), models_dir)
    return build.wait()
