"""config/default.toml is generated from xnai_edge/config.py and must match it exactly."""

from __future__ import annotations

import dataclasses
import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from xnai_edge.config import Config, load_config, sections

REPO = Path(__file__).resolve().parent.parent.parent
DEFAULT_TOML = REPO / "config" / "default.toml"


def _generator() -> ModuleType:
    """tools/ is not an installed package: load the script from its path."""
    spec = importlib.util.spec_from_file_location("gen_default_config",
                                                  REPO / "tools" / "gen_default_config.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_default_toml_is_what_the_generator_writes() -> None:
    expected = _generator().render()
    assert DEFAULT_TOML.read_text(encoding="utf-8") == expected, (
        "config/default.toml is out of date with xnai_edge/config.py; run "
        ".venv/bin/python tools/gen_default_config.py --write")


def test_default_toml_loads_to_the_defaults() -> None:
    assert load_config(DEFAULT_TOML) == Config()


def test_default_toml_names_every_key_with_a_comment() -> None:
    raw = tomllib.loads(DEFAULT_TOML.read_text(encoding="utf-8"))
    assert list(raw) == list(sections())
    lines = DEFAULT_TOML.read_text(encoding="utf-8").splitlines()
    for name, cls in sections().items():
        assert list(raw[name]) == [f.name for f in dataclasses.fields(cls)]
        for f in dataclasses.fields(cls):
            at = next(i for i, line in enumerate(lines) if line.startswith(f"{f.name} = ")
                      and lines.index(f"[{name}]") < i)
            assert lines[at - 1].startswith("# "), f"[{name}] {f.name} has no comment"


def test_check_mode_reports_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _generator()
    assert gen.main(["--check"]) == 0
    stale = tmp_path / "default.toml"
    stale.write_text(gen.render().replace("threads = 2", "threads = 3", 1), encoding="utf-8")
    monkeypatch.setattr(gen, "DEFAULT_TOML", stale)
    assert gen.main(["--check"]) == 1
    monkeypatch.setattr(gen, "DEFAULT_TOML", tmp_path / "missing.toml")
    assert gen.main(["--check"]) == 1


def test_dev_example_override_loads() -> None:
    config = load_config(REPO / "config" / "dev.toml")
    assert config.llm.threads == 1
    assert config.web.bind == "127.0.0.1"  # the page only on the dev machine itself
    assert dataclasses.replace(config, llm=Config().llm, web=Config().web) == Config()


@pytest.mark.parametrize("profile", sorted((REPO / "hardware").glob("*.toml")),
                         ids=lambda p: p.name)
def test_hardware_profiles_are_valid_configs(profile: Path) -> None:
    config = load_config(profile)
    assert config != Config()  # a profile that changes nothing is a mistake
