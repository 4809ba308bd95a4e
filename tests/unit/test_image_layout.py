"""The image's disk layout and boot files (image/layout.sh), rendered without building anything.

The functions are run by a real POSIX shell exactly as build.sh sources them; the sfdisk script
is parsed and checked for what UEFI and the kernel need: aligned, non-overlapping partitions of
the right GPT types, and a kernel command line that names the root by the same PARTUUID.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

IMAGE = Path(__file__).resolve().parents[2] / "image"
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ROOT_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"


def sh(expr: str) -> str:
    out = subprocess.run(["sh", "-c", f". {IMAGE / 'layout.sh'}; {expr}"], check=True,
                         capture_output=True, text=True)
    return out.stdout


def var(name: str) -> str:
    return sh(f'printf "%s" "${name}"')


def partitions(root_mb: int) -> list[dict[str, str]]:
    parts = []
    for line in sh(f"render_sfdisk {root_mb}").splitlines():
        if line.startswith("start="):
            parts.append(dict(kv.strip().split("=", 1) for kv in line.split(",")))
    return parts


@pytest.mark.parametrize("root_mb", [1024, 3000, 65536])
def test_partitions_are_aligned_typed_and_fit_the_disk(root_mb: int) -> None:
    esp, root = partitions(root_mb)
    assert esp["type"] == ESP_TYPE and root["type"] == ROOT_TYPE
    assert esp["name"] == '"esp"' and root["name"] == '"xnai-root"'
    for part in (esp, root):
        assert int(part["start"]) % 2048 == 0  # 1 MiB alignment
    assert int(esp["start"]) + int(esp["size"]) <= int(root["start"])
    assert int(esp["size"]) * 512 >= 256 * 2**20  # room for kernel + initrd (FAT32)
    disk_sectors = int(sh(f"disk_size_mb {root_mb}")) * 2048
    assert int(root["start"]) + int(root["size"]) + 33 <= disk_sectors  # backup GPT fits
    assert int(root["size"]) == root_mb * 2048


def test_guids_are_fixed_and_distinct() -> None:
    names = ["DISK_GUID", "ESP_PARTUUID", "ROOT_PARTUUID", "ROOT_FS_UUID", "ROOT_FS_HASH_SEED"]
    values = [var(n) for n in names]
    assert all(re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", v) for v in values)
    assert len(set(values)) == len(values)
    esp, root = partitions(2048)
    assert esp["uuid"] == var("ESP_PARTUUID") and root["uuid"] == var("ROOT_PARTUUID")
    assert f"label-id: {var('DISK_GUID')}" in sh("render_sfdisk 2048")


def test_root_size_leaves_room_and_is_rounded() -> None:
    for used in (100, 2500, 10_000):
        size = int(sh(f"root_size_mb {used}"))
        assert size % 64 == 0
        assert size >= used * 1.15 + 512


def test_boot_entry_names_the_root_partition_and_the_serial_console_last() -> None:
    entry = sh("render_boot_entry")
    options = next(line for line in entry.splitlines() if line.startswith("options "))
    assert f"root=PARTUUID={var('ROOT_PARTUUID')}" in options
    consoles = re.findall(r"console=(\S+)", options)
    assert consoles[-1].startswith("ttyS0")  # /dev/console: systemd's status lines go there
    assert "systemd.show_status=yes" in options
    assert re.search(r"^linux /xnai-edge/vmlinuz$", entry, re.M)
    assert re.search(r"^initrd /xnai-edge/initrd.img$", entry, re.M)
    loader = sh("render_loader_conf")
    assert "editor no" in loader and "default xnai-edge.conf" in loader


def test_fstab_mounts_the_root_by_partuuid_noatime() -> None:
    fstab = [line.split() for line in sh("render_fstab").splitlines()
             if line and not line.startswith("#")]
    assert len(fstab) == 1
    source, mountpoint, fstype, options, _, passno = fstab[0]
    assert (source, mountpoint, fstype, passno) == (f"PARTUUID={var('ROOT_PARTUUID')}", "/",
                                                    "ext4", "1")
    assert "noatime" in options.split(",")


def test_llama_flags_are_portable_for_zen2() -> None:
    flags = var("LLAMA_CMAKE_ARGS").split()
    for wanted in ("-DGGML_NATIVE=OFF", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
                   "-DGGML_AVX512=OFF"):
        assert wanted in flags
    for script in IMAGE.glob("*.sh"):  # never in a command, only in comments saying why not
        code = [ln for ln in script.read_text().splitlines() if not ln.lstrip().startswith("#")]
        assert not [ln for ln in code if "march=native" in ln], script.name
