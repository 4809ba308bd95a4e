"""Device id and secrets: made on the device, stable, private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from xnai_edge.errors import StorageError
from xnai_edge.identity import device_id, secrets_dir, write_private


def test_device_id_is_made_once_and_kept(tmp_path: Path) -> None:
    first = device_id(tmp_path)
    assert len(first) == 12 and int(first, 16) >= 0
    assert device_id(tmp_path) == first
    assert (tmp_path / "device-id").read_text() == first + "\n"


def test_two_devices_differ(tmp_path: Path) -> None:
    assert device_id(tmp_path / "a") != device_id(tmp_path / "b")


def test_a_garbled_id_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "device-id").write_bytes(b"\xff\xfe../x")
    new = device_id(tmp_path)
    assert len(new) == 12 and (tmp_path / "device-id").read_text().strip() == new


def test_an_id_written_by_the_image_first_boot_is_used(tmp_path: Path) -> None:
    (tmp_path / "device-id").write_text("kitchen-5700u\n")
    assert device_id(tmp_path) == "kitchen-5700u"


def test_secrets_are_private(tmp_path: Path) -> None:
    directory = secrets_dir(tmp_path)
    write_private(directory / "web-password", "s3cret\n")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "web-password").stat().st_mode) == 0o600
    assert (directory / "web-password").read_text() == "s3cret\n"
    assert [p.name for p in directory.iterdir()] == ["web-password"]  # no temp file left


def test_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot write"):
        write_private(blocker / "sub" / "secret", "x")
