"""The systemd unit: `systemd-analyze verify` and `security` pass, and its layout matches paths.py.

`verify` insists that ExecStart's binary exists, so the unit is checked as a copy in tmp_path
whose ExecStart points at a stub executable there; nothing else is changed.  The tools come from
Debian's ``systemd`` package (no running systemd needed).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from xnai_edge import paths

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD / "xnai-edge.service"
EXEC = "/opt/xnai-edge/venv/bin/xnai-edge"

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze missing: apt-get install systemd")


def settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    stub = tmp_path / "xnai-edge"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = UNIT.read_text()
    assert f"ExecStart={EXEC} run" in text
    copy = tmp_path / "xnai-edge.service"
    copy.write_text(text.replace(EXEC, str(stub)))
    return copy


@needs_analyze
def test_systemd_analyze_verify_passes_without_warnings(unit_copy: Path) -> None:
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit_copy)],
                            capture_output=True, text=True, timeout=60, check=False)
    ours = [line for line in (result.stdout + result.stderr).splitlines()
            if "xnai-edge" in line]
    assert result.returncode == 0, result.stderr
    assert ours == []


@needs_analyze
def test_security_exposure_is_at_most_2_5(unit_copy: Path) -> None:
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=25",
                             "--no-pager", str(unit_copy)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert level is not None, result.stdout
    print(f"exposure {level.group(1)}")
    assert float(level.group(1)) <= 2.5


def test_the_unit_says_what_the_design_asks_for() -> None:
    s = settings()
    for key, value in {"Type": "notify", "NotifyAccess": "main", "WatchdogSec": "30",
                       "TimeoutStartSec": "120", "Restart": "on-failure",
                       "DevicePolicy": "closed", "DeviceAllow": "char-alsa rw",
                       "ProtectSystem": "strict", "NoNewPrivileges": "yes", "UMask": "0077",
                       "CapabilityBoundingSet": "", "PrivateNetwork": "no"}.items():
        assert s.get(key) == [value], key
    assert "ProcSubset" not in s  # PSI lives in /proc/pressure
    assert "PrivateDevices" not in s  # it would hide /dev/snd
    assert s["User"] == ["xnai-edge"] and s["SupplementaryGroups"] == ["audio"]
    assert s["ExecStart"] == [f"{EXEC} run"]
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]


def test_state_directories_match_the_paths_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """systemd sets $STATE_DIRECTORY to the StateDirectory= entries, colon-separated."""
    (entries,) = settings()["StateDirectory"]
    state = ":".join(f"/var/lib/{e}" for e in entries.split())
    monkeypatch.setenv("STATE_DIRECTORY", state)
    for var in ("XNAI_EDGE_DATA_DIR", "XNAI_EDGE_MODELS_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert paths.data_dir() == Path("/var/lib/xnai-edge/data")
    assert paths.models_dir() == paths.SYSTEM_MODELS_DIR == Path("/var/lib/xnai-edge/models")


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers missing")
def test_sysusers_creates_the_user_in_the_audio_group(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\naudio:x:29:\n")
    conf = (SYSTEMD / "xnai-edge.sysusers.conf").read_text()
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", "-"], input=conf, text=True,
                   capture_output=True, timeout=60, check=True)
    passwd = (tmp_path / "etc" / "passwd").read_text()
    assert re.search(r"^xnai-edge:x:\d+:\d+:[^:]*:/var/lib/xnai-edge:/usr/sbin/nologin$",
                     passwd, re.M)
    assert "audio:x:29:xnai-edge" in (tmp_path / "etc" / "group").read_text()
