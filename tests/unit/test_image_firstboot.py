"""image/firstboot.sh and image/banner.sh on a fake root: what a freshly flashed device makes of
itself (device id, secrets dir, hostname, config from the hardware profile, the commands that
grow the disk) and what its console shows once the daemon is ready.

The scripts run for real with a POSIX shell; only the commands that change disks, users or the
kernel are printed instead of run (XNAI_FIRSTBOOT_DRY_RUN=1), and the profile step runs the real
``xnai-edge doctor --write-config`` through this Python.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from xnai_edge.config import load_config

REPO = Path(__file__).resolve().parents[2]
FIRSTBOOT = REPO / "image" / "firstboot.sh"
BANNER = REPO / "image" / "banner.sh"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc/hostname").write_text("xnai-edge\n")
    (r / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\txnai-edge\n")
    (r / "usr/lib/xnai-edge").mkdir(parents=True)
    (r / "usr/lib/xnai-edge/model-set").write_text("tiny\n")
    shutil.copytree(REPO / "hardware", r / "usr/share/xnai-edge/hardware")
    return r


def firstboot(root: Path, tmp_path: Path, *, rootdev: str = "/dev/nvme0n1p2",
              xnai: str | None = None) -> subprocess.CompletedProcess[str]:
    wrapper = tmp_path / "xnai-edge"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m xnai_edge.cli "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ, XNAI_FIRSTBOOT_ROOT=str(root), XNAI_FIRSTBOOT_DRY_RUN="1",
               XNAI_FIRSTBOOT_ROOTDEV=rootdev, XNAI_FIRSTBOOT_XNAI=xnai or str(wrapper))
    return subprocess.run(["sh", str(FIRSTBOOT)], capture_output=True, text=True, env=env,
                          timeout=120)


def test_first_boot_makes_the_device(root: Path, tmp_path: Path) -> None:
    result = firstboot(root, tmp_path)
    assert result.returncode == 0, result.stderr
    data = root / "var/lib/xnai-edge"
    device_id = (data / "device-id").read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{12}", device_id)
    assert stat.S_IMODE((data / "secrets").stat().st_mode) == 0o700
    assert list((data / "secrets").iterdir()) == []  # the daemon makes its password itself
    hostname = f"xnai-edge-{device_id[:6]}"
    assert (root / "etc/hostname").read_text() == hostname + "\n"
    assert f"127.0.1.1\t{hostname}" in (root / "etc/hosts").read_text()
    assert f"+ hostname {hostname}" in result.stdout
    config_file = root / "etc/xnai-edge/config.toml"
    config = load_config(config_file)  # a valid config, as the daemon will load it
    assert config.models.set == "tiny"
    assert "profile: " in result.stderr  # doctor said which profile and why
    assert (data / ".firstboot-done").exists()


def test_grow_commands_for_the_root_disk(root: Path, tmp_path: Path) -> None:
    out = firstboot(root, tmp_path, rootdev="/dev/nvme0n1p2").stdout
    assert "+ sfdisk --no-reread --no-tell-kernel --relocate gpt-bak-std /dev/nvme0n1" in out
    assert "sfdisk --no-reread --no-tell-kernel -N 2 /dev/nvme0n1" in out
    assert "+ partx --update --nr 2 /dev/nvme0n1" in out
    assert "+ resize2fs /dev/nvme0n1p2" in out


@pytest.mark.parametrize(("dev", "split"), [
    ("/dev/vda2", "/dev/vda 2"), ("/dev/sda12", "/dev/sda 12"),
    ("/dev/nvme0n1p2", "/dev/nvme0n1 2"), ("/dev/mmcblk0p3", "/dev/mmcblk0 3"),
])
def test_split_partition(dev: str, split: str) -> None:
    out = subprocess.run(["sh", "-c", f'. "{FIRSTBOOT}"; split_partition {dev}'],
                         env=dict(os.environ, XNAI_FIRSTBOOT_LIB="1"), capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == split


def test_second_boot_changes_nothing(root: Path, tmp_path: Path) -> None:
    assert firstboot(root, tmp_path).returncode == 0
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    again = firstboot(root, tmp_path)
    assert again.returncode == 0 and "already done" in again.stderr
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_owner_hostname_and_config_are_kept(root: Path, tmp_path: Path) -> None:
    (root / "etc/hostname").write_text("kitchen\n")
    (root / "etc/xnai-edge").mkdir()
    (root / "etc/xnai-edge/config.toml").write_text("[llm]\nthreads = 3\n")
    assert firstboot(root, tmp_path).returncode == 0
    assert (root / "etc/hostname").read_text() == "kitchen\n"
    assert (root / "etc/xnai-edge/config.toml").read_text() == "[llm]\nthreads = 3\n"


def test_a_failing_step_is_reported_and_retried_next_boot(root: Path, tmp_path: Path) -> None:
    result = firstboot(root, tmp_path, xnai="/bin/false")
    assert result.returncode == 1
    assert "failed: config" in result.stderr
    assert (root / "var/lib/xnai-edge/device-id").exists()  # the other steps still ran
    assert not (root / "var/lib/xnai-edge/.firstboot-done").exists()
    config = root / "etc/xnai-edge/config.toml"
    assert load_config(config).models.set == "tiny"  # the daemon can still start
    assert firstboot(root, tmp_path).returncode == 0  # next boot finishes the job
    assert config.read_text().startswith("# Written by xnai-edge's first boot from ")


def test_unknown_root_device_fails_only_the_grow_step(root: Path, tmp_path: Path) -> None:
    result = firstboot(root, tmp_path, rootdev="/dev/root")
    assert result.returncode == 1 and "failed: grow-root" in result.stderr
    assert tomllib.loads((root / "etc/xnai-edge/config.toml").read_text())["models"]["set"] \
        == "tiny"


def banner(root: Path, tmp_path: Path, **env: str) -> tuple[str, str, str]:
    console, tty = tmp_path / "console", tmp_path / "tty1"
    console.write_text("")
    tty.write_text("")
    out = subprocess.run(["sh", str(BANNER)], capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, XNAI_BANNER_ROOT=str(root),
                                  XNAI_BANNER_CONSOLE=str(console), XNAI_BANNER_TTY=str(tty),
                                  **env), check=True)
    return out.stdout, console.read_text(), tty.read_text()


def test_banner_shows_the_url_and_the_password_only_on_the_local_screen(
        root: Path, tmp_path: Path) -> None:
    (root / "etc/xnai-edge").mkdir()
    (root / "etc/xnai-edge/config.toml").write_text("[web]\nbind = \"0.0.0.0\"\nport = 8181\n")
    secrets = root / "var/lib/xnai-edge/secrets"
    secrets.mkdir(parents=True)
    (secrets / "web-password").write_text("correct-horse\n")
    _, console, tty = banner(root, tmp_path, XNAI_BANNER_IP="10.0.2.15")
    assert "http://10.0.2.15:8181/" in console and "http://10.0.2.15:8181/" in tty
    assert "correct-horse" in tty
    assert "correct-horse" not in console


def test_banner_without_an_address_says_what_to_do(root: Path, tmp_path: Path) -> None:
    stdout, console, _ = banner(root, tmp_path, XNAI_BANNER_IP="", XNAI_BANNER_WAIT_S="0")
    assert "plug in a network cable" in console
    assert "http://" not in stdout
