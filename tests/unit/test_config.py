"""The strict config loader: every mistake is one ConfigError naming file, key and expectation."""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from xnai_edge.config import Config, load_config, sections
from xnai_edge.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent.parent

# Every (section, key, type, metadata) of the real Config.
FIELDS = [(name, f.name, typing.get_type_hints(cls)[f.name], f.metadata)
          for name, cls in sections().items() for f in dataclasses.fields(cls)]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # repr gives TOML's inf, -inf
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "xnai.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = err.value.message
    assert str(path) in message, message  # always names the file
    assert "\n" not in message
    return message


def test_no_file_means_the_defaults() -> None:
    assert load_config(None) == Config()


def test_default_toml_if_present_loads_to_exactly_the_defaults() -> None:
    default = REPO / "config" / "default.toml"
    if not default.exists():
        pytest.skip(reason="config/default.toml not written yet")
    assert load_config(default) == Config()


def test_a_file_names_only_what_it_changes(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[retrieval]\nk = 8\ndense_weight = 1\n"
                                         "[ingest]\nbundled_manual = false\n"))
    assert config.retrieval.k == 8
    assert config.retrieval.dense_weight == 1.0 and isinstance(config.retrieval.dense_weight,
                                                               float)
    assert config.ingest.bundled_manual is False
    assert config.ingest.chunk_chars == Config().ingest.chunk_chars
    assert config.answer == Config().answer


def test_unknown_section(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[retreival]\nk = 3\n")
    assert "unknown section [retreival]" in message and "retrieval" in message


def test_unknown_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[retrieval]\nkk = 3\n")
    assert "unknown key [retrieval] kk" in message and "candidates" in message


def test_a_section_must_be_a_table(tmp_path: Path) -> None:
    assert "[retrieval] must be a table" in load_error(tmp_path, "retrieval = 3\n")


@pytest.mark.parametrize(("line", "key", "expected"), [
    ('k = "5"', "[retrieval] k", "must be an integer"),
    ("k = 5.0", "[retrieval] k", "must be an integer"),
    ("k = true", "[retrieval] k", "must be an integer"),  # bool is no int
    ("dense_weight = true", "[retrieval] dense_weight", "must be a number"),
    ('dense_weight = "0.5"', "[retrieval] dense_weight", "must be a number"),
    ("k = [5]", "[retrieval] k", "must be an integer"),
])
def test_wrong_type(tmp_path: Path, line: str, key: str, expected: str) -> None:
    message = load_error(tmp_path, f"[retrieval]\n{line}\n")
    assert key in message and expected in message


@pytest.mark.parametrize("value", ["1", "0", '"true"', "1.0"])
def test_a_bool_takes_only_true_or_false(tmp_path: Path, value: str) -> None:
    message = load_error(tmp_path, f"[ingest]\nbundled_manual = {value}\n")
    assert "[ingest] bundled_manual" in message and "must be true or false" in message


@pytest.mark.parametrize(("section", "line", "bounds"), [
    ("retrieval", "k = 0", "between 1 and 100"),
    ("retrieval", "k = 101", "between 1 and 100"),
    ("retrieval", "dense_weight = 1.5", "between 0.0 and 1.0"),
    ("retrieval", "dense_weight = -0.1", "between 0.0 and 1.0"),
    ("retrieval", "dense_weight = inf", "between 0.0 and 1.0"),
    ("retrieval", "dense_weight = nan", "between 0.0 and 1.0"),
    ("ingest", "chunk_chars = 10", "between 200 and 20000"),
])
def test_out_of_range(tmp_path: Path, section: str, line: str, bounds: str) -> None:
    message = load_error(tmp_path, f"[{section}]\n{line}\n")
    assert f"[{section}] {line.split()[0]}" in message and bounds in message


def test_choices(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[models]\nset = "huge"\n')
    assert "[models] set" in message and "tiny" in message and "standard" in message


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    assert "not valid TOML" in load_error(tmp_path, "[retrieval\nk = 3\n")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


# --- properties over every key of the real Config -----------------------------------------------

WRONG = {int: ["3.5", '"3"', "true", "[1]"], float: ['"0.5"', "false", "[0.5]"],
         bool: ["1", '"yes"', "0.0"], str: ["1", "true", "2.5"]}


@given(st.sampled_from(FIELDS), st.data())
def test_every_key_rejects_a_wrong_type_naming_file_key_and_type(tmp_path_factory: Any,
                                                                 field: tuple[Any, ...],
                                                                 data: st.DataObject) -> None:
    section, key, tp, _ = field
    bad = data.draw(st.sampled_from(WRONG[tp]))
    path = tmp_path_factory.mktemp("cfg") / "bad.toml"
    path.write_text(f"[{section}]\n{key} = {bad}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    expected = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    assert str(path) in err.value.message
    assert f"[{section}] {key}" in err.value.message
    assert expected[tp] in err.value.message


def valid_values(tp: Any, meta: Any) -> st.SearchStrategy[Any]:
    if meta.get("choices"):
        return st.sampled_from(meta["choices"])
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(int(meta["min"]), int(meta["max"]))
    if tp is float:
        return st.floats(meta["min"], meta["max"], allow_nan=False)
    return st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)


@given(st.sampled_from(FIELDS), st.data())
def test_every_valid_value_loads(tmp_path_factory: Any, field: tuple[Any, ...],
                                 data: st.DataObject) -> None:
    section, key, tp, meta = field
    # [tiers] thresholds must rise from lean to minimal and psi_trigger has a grammar:
    # both are tested on their own.
    assume(section != "tiers" and (section, key) != ("memory", "psi_trigger"))
    value = data.draw(valid_values(tp, meta))
    path = tmp_path_factory.mktemp("cfg") / "ok.toml"
    path.write_text(f"[{section}]\n{key} = {toml_value(value)}\n", encoding="utf-8")
    config = load_config(path)
    assert getattr(getattr(config, section), key) == value
    assert dataclasses.replace(config, **{section: getattr(Config(), section)}) == Config()


@given(st.sampled_from([f for f in FIELDS if f[2] in (int, float) and f[3].get("min")
                        is not None]), st.data())
def test_every_bounded_key_rejects_values_outside_its_range(tmp_path_factory: Any,
                                                           field: tuple[Any, ...],
                                                           data: st.DataObject) -> None:
    section, key, tp, meta = field
    lo, hi = meta["min"], meta["max"]
    value = data.draw(st.sampled_from([lo - 1, hi + 1]) if tp is int else st.one_of(
        st.floats(max_value=lo, exclude_max=True), st.floats(min_value=hi, exclude_min=True),
        st.just(math.nan)))
    path = tmp_path_factory.mktemp("cfg") / "range.toml"
    path.write_text(f"[{section}]\n{key} = {toml_value(value)}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in err.value.message and f"[{section}] {key}" in err.value.message
    assert "must be between" in err.value.message


def test_cross_key_rule_names_the_file(tmp_path: Any) -> None:
    path = tmp_path / "tiers.toml"
    path.write_text("[tiers]\npsi_extractive = 5.0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in err.value.message and "psi_" in err.value.message
