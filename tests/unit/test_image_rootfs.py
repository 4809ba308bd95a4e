"""What the built image promises, on small trees: image/check_rootfs.sh (which build.sh runs on
the real root before making the file system) accepts a good tree and names each broken promise;
the overlay and unit files say what the issue asks for (DHCP on every wired NIC, a capped
persistent journal, the daemon's data dir, SSH and Mosquitto off)."""

from __future__ import annotations

import configparser
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "image"
ROOTFS = IMAGE / "rootfs"


def good_tree(root: Path) -> Path:
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    units = root / "usr/lib/systemd/system"
    units.mkdir(parents=True)
    for unit in ("xnai-edge.service", "systemd-networkd.service"):
        (units / unit).write_text("[Service]\n")
        (wants / unit).symlink_to(f"/usr/lib/systemd/system/{unit}")
    (root / "etc/systemd/network").mkdir(parents=True)
    (root / "etc/systemd/network/80-wired.network").write_text("[Match]\n")
    (root / "etc/machine-id").write_text("uninitialized\n")
    (root / "etc/ssh").mkdir()
    (root / "etc/ssh/sshd_config").write_text("")
    venv = root / "opt/xnai-edge/venv/bin"
    venv.mkdir(parents=True)
    (venv / "xnai-edge").write_text("#!/bin/sh\n")
    (venv / "xnai-edge").chmod(0o755)
    (root / "var/lib/xnai-edge/secrets").mkdir(parents=True)
    return root


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(IMAGE / "check_rootfs.sh"), str(root)],
                          capture_output=True, text=True)


def test_good_tree_passes(tmp_path: Path) -> None:
    result = check(good_tree(tmp_path))
    assert result.returncode == 0, result.stderr
    (tmp_path / "etc/machine-id").write_text("")  # empty is as good as 'uninitialized'
    assert check(tmp_path).returncode == 0


def _secret(r: Path) -> None:
    (r / "var/lib/xnai-edge/secrets/web-password").write_text("hunter2\n")


def _machine_id(r: Path) -> None:
    (r / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")


def _host_key(r: Path) -> None:
    (r / "etc/ssh/ssh_host_ed25519_key").write_text("key")


def _not_enabled(r: Path) -> None:
    (r / "etc/systemd/system/multi-user.target.wants/xnai-edge.service").unlink()


def _ssh_enabled(r: Path) -> None:
    (r / "etc/systemd/system/multi-user.target.wants/ssh.service").symlink_to("/x")


def _device_id(r: Path) -> None:
    (r / "var/lib/xnai-edge/device-id").write_text("0123456789ab\n")


def _config(r: Path) -> None:
    (r / "etc/xnai-edge").mkdir()
    (r / "etc/xnai-edge/config.toml").write_text("")


@pytest.mark.parametrize(("breakage", "message"), [
    (_secret, "holds secrets: web-password"), (_machine_id, "/etc/machine-id must be empty"),
    (_host_key, "SSH host key in the image: /etc/ssh/ssh_host_ed25519_key"),
    (_not_enabled, "xnai-edge.service is not enabled"), (_ssh_enabled, "ssh.service is enabled"),
    (_device_id, "holds a device id"), (_config, "config.toml is made on the device"),
])
def test_each_broken_promise_is_named(tmp_path: Path, breakage: Callable[[Path], None],
                                      message: str) -> None:
    breakage(good_tree(tmp_path))
    result = check(tmp_path)
    assert result.returncode == 1
    assert message in result.stderr


def ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_networkd_dhcp_on_every_wired_interface() -> None:
    net = ini(ROOTFS / "etc/systemd/network/80-wired.network")
    assert net["Match"]["Type"] == "ether" and "Name" not in net["Match"]  # any name
    assert net["Network"]["DHCP"] == "yes"


def test_journal_is_persistent_and_capped() -> None:
    journal = ini(ROOTFS / "etc/systemd/journald.conf.d/10-xnai-edge.conf")["Journal"]
    assert journal["Storage"] == "persistent"
    assert journal["SystemMaxUse"].endswith("M") and int(journal["SystemMaxUse"][:-1]) <= 256


def test_daemon_drop_in_uses_var_lib_xnai_edge_and_the_first_boot() -> None:
    drop_in = ini(ROOTFS / "etc/systemd/system/xnai-edge.service.d/10-image.conf")
    env = (ROOTFS / "etc/systemd/system/xnai-edge.service.d/10-image.conf").read_text()
    assert "Environment=XNAI_EDGE_DATA_DIR=/var/lib/xnai-edge\n" in env
    assert "Environment=XNAI_EDGE_CONFIG=/etc/xnai-edge/config.toml\n" in env
    assert drop_in["Service"]["StateDirectory"] == "xnai-edge"  # the daemon owns secrets/
    assert "xnai-edge-firstboot.service" in drop_in["Unit"]["After"]
    firstboot = ini(REPO / "systemd/xnai-edge-firstboot.service")
    assert "xnai-edge.service" in firstboot["Unit"]["Before"]
    assert firstboot["Unit"]["ConditionPathExists"] == "!/var/lib/xnai-edge/.firstboot-done"
    banner = ini(REPO / "systemd/xnai-edge-banner.service")
    assert "xnai-edge.service" in banner["Unit"]["After"]  # i.e. after READY=1 (Type=notify)


def test_ssh_and_mosquitto_are_installed_but_off() -> None:
    customize = (IMAGE / "customize.sh").read_text()
    disable = next(line for line in customize.splitlines() if "systemctl disable" in line)
    assert "mosquitto.service" in disable and "ssh.service" in disable
    assert 'rm -f "$R"/etc/ssh/ssh_host_*' in customize
    keys = [ln for ln in (ROOTFS / "etc/systemd/system/ssh.service.d/10-host-keys.conf")
            .read_text().splitlines() if ln.startswith("ExecStartPre=")]
    # Debian's `sshd -t` would fail without keys: reset, make them on the device, then test.
    assert keys == ["ExecStartPre=", "ExecStartPre=/usr/bin/ssh-keygen -A",
                    "ExecStartPre=/usr/sbin/sshd -t"]


def test_first_boot_presets_keep_ssh_and_mosquitto_off() -> None:
    """systemd runs preset-all on the first boot (machine-id 'uninitialized'); Debian's preset
    enables everything, so without ours SSH and Mosquitto came up on the first boot in QEMU."""
    presets = sorted((ROOTFS / "etc/systemd/system-preset").glob("*.preset"))
    assert presets and presets[0].name < "90-systemd.preset"  # read before Debian's
    rules = {}
    for line in presets[0].read_text().splitlines():
        if line and not line.startswith("#"):
            action, unit = line.split()
            rules[unit] = action
    for unit in ("ssh.service", "ssh.socket", "mosquitto.service"):
        assert rules[unit] == "disable"
    for unit in ("xnai-edge.service", "xnai-edge-firstboot.service", "xnai-edge-banner.service",
                 "systemd-networkd.service"):
        assert rules[unit] == "enable"


def test_package_list_is_bookworm_names_only() -> None:
    lines = [ln.strip() for ln in (IMAGE / "packages.txt").read_text().splitlines()]
    packages = [ln for ln in lines if ln and not ln.startswith("#")]
    assert len(packages) == len(set(packages))
    assert all(p == p.lower() and " " not in p for p in packages)
    for needed in ("linux-image-amd64", "systemd-boot-efi", "python3-venv", "libgomp1",
                   "fdisk", "e2fsprogs"):
        assert needed in packages


def test_no_login_on_the_serial_console() -> None:
    """systemd stops printing its status lines on /dev/console (ttyS0, the last console=) once a
    getty runs there, so "Started xnai-edge.service" would never be seen; root is locked, so a
    serial login prompt has no use on the appliance anyway."""
    getty = ROOTFS / "etc/systemd/system/serial-getty@ttyS0.service"
    assert getty.is_symlink() and str(getty.readlink()) == "/dev/null"
