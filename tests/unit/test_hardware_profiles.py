"""Device profiles (hardware/*.toml + hardware/match/*.toml): which machine gets which, and why.

Facts are read from cpuinfo/meminfo files written here (the lowest level: procfs), shaped like a
Ryzen 7 5700U mini-PC, QEMU's EPYC-Rome model and an old CPU without AVX2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xnai_edge import hwprofile
from xnai_edge.config import config_from_dict, load_config
from xnai_edge.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
HARDWARE = REPO / "hardware"
ZEN2_FLAGS = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi1 avx2 bmi2 sha_ni"


def facts(tmp_path: Path, model: str, flags: str, cpus: int, mem_kb: int) -> hwprofile.Facts:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("".join(f"processor\t: {i}\nmodel name\t: {model}\nflags\t\t: {flags}\n\n"
                               for i in range(cpus)))
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal:       {mem_kb} kB\nMemFree:  1000 kB\n"
                       f"MemAvailable:   {mem_kb // 2} kB\n")
    return hwprofile.read_facts(cpuinfo, meminfo)


def test_read_facts(tmp_path: Path) -> None:
    f = facts(tmp_path, "AMD Ryzen 7 5700U with Radeon Graphics", ZEN2_FLAGS, 16, 15_728_640)
    assert f.cpu_model == "AMD Ryzen 7 5700U with Radeon Graphics"
    assert f.cpus == 16 and f.mem_total_mb == 15_360 and f.mem_available_mb == 7_680
    assert {"avx2", "fma", "f16c"} <= f.flags and "avx512f" not in f.flags
    missing = hwprofile.read_facts(tmp_path / "none", tmp_path / "none")
    assert missing == hwprofile.Facts("", frozenset(), 0, 0, 0)


def test_profiles_load_and_their_configs_are_valid() -> None:
    profiles = {p.name: p for p in hwprofile.load_profiles(HARDWARE)}
    assert set(profiles) >= {"ryzen7-16gb", "generic-x86-64"}
    for p in profiles.values():
        load_config(p.config_path)
        assert p.audio_devices  # every profile says which audio devices it looks for


@pytest.mark.parametrize(("model", "flags", "cpus", "mem_kb", "expected"), [
    ("AMD Ryzen 7 5700U with Radeon Graphics", ZEN2_FLAGS, 16, 15_728_640, "ryzen7-16gb"),
    ("AMD Ryzen 7 5700U with Radeon Graphics", ZEN2_FLAGS, 16, 8_000_000, "generic-x86-64"),
    ("AMD EPYC-Rome Processor", ZEN2_FLAGS, 2, 4_028_000, "generic-x86-64"),
    ("Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz", ZEN2_FLAGS, 8, 16_000_000, "generic-x86-64"),
    ("Intel(R) Celeron(R) CPU N3050", "fpu sse sse2 ssse3 sse4_1 sse4_2", 2, 4_000_000, None),
])
def test_choose(tmp_path: Path, model: str, flags: str, cpus: int, mem_kb: int,
                expected: str | None) -> None:
    chosen, why = hwprofile.choose(hwprofile.load_profiles(HARDWARE),
                                   facts(tmp_path, model, flags, cpus, mem_kb))
    assert (chosen.name if chosen else None) == expected
    assert len(why) == len(hwprofile.load_profiles(HARDWARE))
    if expected != "ryzen7-16gb":
        ryzen = next(line for line in why if line.startswith("ryzen7-16gb"))
        assert ": no (" in ryzen  # and it says why not


def test_render_config_keeps_the_profile_but_takes_the_image_model_set() -> None:
    ryzen = next(p for p in hwprofile.load_profiles(HARDWARE) if p.name == "ryzen7-16gb")
    text = hwprofile.render_config(ryzen, "tiny", why="it fits")
    assert text.startswith("# Written by xnai-edge's first boot from hardware/ryzen7-16gb.toml")
    import tomllib
    config = config_from_dict(tomllib.loads(text))
    assert config.models.set == "tiny"  # the profile says standard; the image has tiny
    assert (config.web.bind, config.web.port) == ("0.0.0.0", 8080)  # the LAN's status page
    assert config.llm.threads == load_config(ryzen.config_path).llm.threads == 4
    assert config.tiers == load_config(ryzen.config_path).tiers
    assert config_from_dict(tomllib.loads(hwprofile.render_config(None, "tiny"))).models.set \
        == "tiny"


def test_audio_rules_pick_the_first_rule_that_matches() -> None:
    ryzen = next(p for p in hwprofile.load_profiles(HARDWARE) if p.name == "ryzen7-16gb")
    names = ["HDA ATI HDMI: 0 (hw:1,3)", "Jabra SPEAK 510 USB: Audio (hw:0,0)", "speakerphone"]
    assert ryzen.audio_match(names) == "speakerphone"
    assert ryzen.audio_match(names[:2]) == "Jabra SPEAK 510 USB: Audio (hw:0,0)"
    assert ryzen.audio_match(names[:1]) is None


@pytest.mark.parametrize(("rules", "message"), [
    ('config = "p.toml"\nspeed = 3\n', "unknown keys speed"),
    ('description = "no config"\n', 'config = "<name>.toml"'),
    ('config = "p.toml"\n[cpu]\nmodel = "Ryzen ("\n', "not a valid regular expression"),
    ('config = "p.toml"\n[audio]\ndevices = "Jabra"\n', "must be a list of strings"),
    ('config = "missing.toml"\n', "cannot read the profile"),
    ('config = "bad.toml"\n', "unknown key [llm] speed"),
    ('config = "p.toml"\n[cpu\n', "cannot read the profile rules"),
])
def test_bad_rules_are_one_clear_error(tmp_path: Path, rules: str, message: str) -> None:
    (tmp_path / "match").mkdir()
    (tmp_path / "p.toml").write_text("[llm]\nthreads = 3\n")
    (tmp_path / "bad.toml").write_text("[llm]\nspeed = 3\n")
    (tmp_path / "match/p.toml").write_text(rules)
    with pytest.raises(ConfigError) as err:
        hwprofile.load_profiles(tmp_path)
    assert message in err.value.message
    assert str(tmp_path) in err.value.message  # names the file


def test_psi_state(tmp_path: Path) -> None:
    assert hwprofile.psi_state(tmp_path / "absent") == "missing"
    (tmp_path / "pressure").write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    assert hwprofile.psi_state(tmp_path / "pressure") == "available"
    assert hwprofile.psi_state(tmp_path).startswith("disabled")  # unreadable: a directory


def test_doctor_reports_profile_cpu_memory_psi_and_writes_the_config(tmp_path: Path) -> None:
    out = tmp_path / "etc" / "config.toml"
    result = subprocess.run([sys.executable, "-m", "xnai_edge.cli", "doctor", "--profiles",
                             str(HARDWARE), "--write-config", str(out), "--model-set", "tiny"],
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    cpu = next(line for line in lines if line.startswith("cpu: "))
    for flag in ("avx2=", "fma=", "f16c=", "avx512f="):
        assert flag in cpu
    assert any(line.startswith("memory: ") and "MB total" in line for line in lines)
    assert any(line.startswith("psi: ") for line in lines)
    assert any(line.startswith("profile: ") for line in lines)
    assert any("ryzen7-16gb: no (" in line for line in lines)  # this is no 5700U
    assert load_config(out).models.set == "tiny"
    assert f"wrote {out}" in result.stdout


def test_doctor_with_bad_profiles_dir_is_one_line_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "xnai_edge.cli", "doctor", "--profiles",
                             str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "error[config]: " in result.stderr and "no match/ directory" in result.stderr
    assert "Traceback" not in result.stderr
