"""The model manifest loader: the shipped one is valid, and every mistake is one clear error."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from xnai_edge import paths
from xnai_edge.errors import ConfigError, ModelError
from xnai_edge.modelstore import ROLES, load_manifest, manifest_path
from xnai_edge.modelstore.manifest import SYSTEM_MANIFEST, check_url, manifest_from_dict

SHIPPED = paths.repo_root() / "config" / "models.toml"
SHA = "ab" * 32


def good() -> dict[str, Any]:
    return {"tiny": {"llm": {"description": "d", "files": [
        {"name": "model.gguf", "sha256": SHA, "size": 10, "pypi": "pkg==1.0",
         "member": "pkg/model.gguf"},
        {"name": "extra.json", "sha256": SHA, "size": 2, "url": "https://example.org/x.json"},
    ]}}}


def load(raw: dict[str, Any]) -> Any:
    return manifest_from_dict(raw, source="m.toml")


def broken(mutate: Any) -> ConfigError:
    raw = good()
    mutate(raw)
    with pytest.raises(ConfigError) as err:
        load(raw)
    assert err.value.message.startswith("m.toml: ")
    assert "\n" not in err.value.message
    return err.value


def first_file(raw: dict[str, Any]) -> dict[str, Any]:
    file: dict[str, Any] = raw["tiny"]["llm"]["files"][0]
    return file


def test_shipped_manifest_has_every_role_of_the_tiny_set() -> None:
    manifest = load_manifest(SHIPPED)
    assert {m.role for m in manifest.models_in("tiny")} == set(ROLES)
    assert all(f.pypi for m in manifest.models_in("tiny") for f in m.files)
    llm = manifest.model("tiny", "llm")
    assert llm.file("model.gguf").size == 98362432
    assert manifest.model("standard", "llm").files[0].url is not None


def test_shipped_standard_urls_are_https_and_pinned_to_a_revision() -> None:
    for model in load_manifest(SHIPPED).models_in("standard"):
        for file in model.files:
            if file.url:
                assert file.url.startswith("https://")
                assert "/resolve/main/" not in file.url


def test_a_good_manifest_loads() -> None:
    manifest = load(good())
    llm = manifest.model("tiny", "llm")
    assert [f.name for f in llm.files] == ["model.gguf", "extra.json"]
    assert llm.size == 12
    assert llm.files[0].source == "pkg==1.0:pkg/model.gguf"
    assert manifest.sets() == ["tiny"]
    with pytest.raises(ModelError, match="no model for role 'tts'"):
        manifest.model("tiny", "tts")


def test_unknown_key_in_a_file_names_file_and_key() -> None:
    err = broken(lambda raw: first_file(raw).update(sha265=SHA))
    assert "[tiny.llm] files[0] sha265" in err.message


def test_unknown_key_of_a_model_names_it() -> None:
    err = broken(lambda raw: raw["tiny"]["llm"].update(licnece="MIT"))
    assert "unknown key [tiny.llm] licnece" in err.message


def test_missing_sha256_is_an_error() -> None:
    err = broken(lambda raw: first_file(raw).pop("sha256"))
    assert "files[0] is missing sha256" in err.message


@pytest.mark.parametrize("sha", ["", "AB" * 32, "ab" * 31, "zz" * 32, 123])
def test_malformed_sha256_is_an_error(sha: object) -> None:
    err = broken(lambda raw: first_file(raw).update(sha256=sha))
    assert "(model.gguf) sha256 must be 64 lower-case hex digits" in err.message


@pytest.mark.parametrize("size", [0, -1, "10", 1.5, True])
def test_bad_size_is_an_error(size: object) -> None:
    err = broken(lambda raw: first_file(raw).update(size=size))
    assert "(model.gguf) size" in err.message and "positive integer" in err.message


def test_two_sources_or_none_are_errors() -> None:
    both = broken(lambda raw: first_file(raw).update(url="https://example.org/m"))
    assert "exactly one source" in both.message
    neither = broken(lambda raw: first_file(raw).pop("pypi"))
    assert "exactly one source" in neither.message


@pytest.mark.parametrize("pin", ["pkg", "pkg>=1.0", "pkg==", "==1.0"])
def test_pypi_must_pin_one_version(pin: str) -> None:
    assert "must pin one version" in broken(lambda raw: first_file(raw).update(pypi=pin)).message


@pytest.mark.parametrize("member", ["", "/etc/passwd", "../x", 5])
def test_member_must_be_a_path_inside_the_wheel(member: object) -> None:
    err = broken(lambda raw: first_file(raw).update(member=member))
    assert "member must be a relative path" in err.message


@pytest.mark.parametrize("name", ["a/b.onnx", "..", "", ".hidden"])
def test_file_name_must_be_plain(name: str) -> None:
    assert "plain file name" in broken(lambda raw: first_file(raw).update(name=name)).message


def test_unknown_set_and_role_are_errors() -> None:
    assert "unknown model set [huge]" in broken(
        lambda raw: raw.update(huge=raw["tiny"])).message
    assert "unknown role [tiny.brain]" in broken(
        lambda raw: raw["tiny"].update(brain=raw["tiny"]["llm"])).message


def test_duplicate_file_names_and_empty_models_are_errors() -> None:
    files = good()["tiny"]["llm"]["files"]
    assert "same file twice" in broken(
        lambda raw: raw["tiny"]["llm"]["files"].append(copy.deepcopy(files[0]))).message
    assert "non-empty array" in broken(
        lambda raw: raw["tiny"]["llm"].update(files=[])).message


@pytest.mark.parametrize("url", ["http://example.org/m.bin", "ftp://example.org/m.bin",
                                 "file:///etc/passwd", "https:///no-host", "m.bin"])
def test_only_https_urls_are_accepted(url: str) -> None:
    raw = good()
    raw["tiny"]["llm"]["files"][1]["url"] = url
    with pytest.raises(ConfigError, match="https:// only"):
        load(raw)


@pytest.mark.parametrize("url", ["https://example.org/m", "http://127.0.0.1:8080/m",
                                 "http://localhost/m"])
def test_https_and_local_http_are_accepted(url: str) -> None:
    check_url(url)


@given(st.text(max_size=12), st.sampled_from(["model", "file"]))
def test_any_unknown_key_is_refused(key: str, where: str) -> None:
    assume(key not in {"name", "sha256", "size", "pypi", "member", "url", "description",
                       "licence", "files"})
    raw = good()
    (first_file(raw) if where == "file" else raw["tiny"]["llm"])[key] = "x"
    with pytest.raises(ConfigError, match="unknown key"):
        load(raw)


def test_manifest_path_prefers_the_environment(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XNAI_EDGE_MANIFEST", str(tmp_path / "m.toml"))
    assert manifest_path() == tmp_path / "m.toml"
    with pytest.raises(ConfigError, match="model manifest does not exist"):
        load_manifest()
    monkeypatch.delenv("XNAI_EDGE_MANIFEST")
    assert manifest_path() == SHIPPED
    assert Path("/etc/xnai-edge/models.toml") == SYSTEM_MANIFEST


def test_toml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "models.toml"
    bad.write_text("[tiny.llm\n")
    with pytest.raises(ConfigError, match=r"models\.toml: not valid TOML"):
        load_manifest(bad)
    bad.write_text('[tiny.llm]\n[[tiny.llm.files]]\nname = "m.gguf"\nsize = 3\n'
                   'pypi = "p==1"\nmember = "p/m"\n')
    with pytest.raises(ConfigError, match=r"models\.toml: \[tiny\.llm\] files\[0\] is missing "
                                          "sha256"):
        load_manifest(bad)


def test_shipped_manifest_is_plain_toml() -> None:
    assert "tiny" in tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
