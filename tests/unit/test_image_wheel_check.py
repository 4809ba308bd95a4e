"""image/check_wheel.py refuses a llama-cpp-python wheel with AVX-512 code (SIGILL on a Ryzen
5700U) and accepts AVX2 code: both wheels are built here from a few lines of C with gcc, and
disassembled with binutils' objdump, as the image build does with the real wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parents[2] / "image" / "check_wheel.py"
SOURCE = """
#include <immintrin.h>
void add(float *a, const float *b) {
#ifdef WIDE
    _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(b)));
#else
    _mm256_storeu_ps(a, _mm256_fmadd_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b),
                                        _mm256_loadu_ps(a)));
#endif
}
"""
pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("objdump") is None,
                                reason="gcc/objdump missing: apt-get install build-essential")


def wheel(tmp_path: Path, flags: list[str]) -> Path:
    src = tmp_path / "add.c"
    src.write_text(SOURCE)
    lib = tmp_path / "libggml-cpu.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", *flags, "-o", str(lib), str(src)],
                   check=True)
    whl = tmp_path / "llama_cpp_python-0.0.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.write(lib, "llama_cpp/lib/libggml-cpu.so")
        zf.writestr("llama_cpp/__init__.py", "")
    return whl


def check(whl: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), str(whl)], capture_output=True,
                          text=True)


def test_avx2_wheel_passes(tmp_path: Path) -> None:
    result = check(wheel(tmp_path, ["-mavx2", "-mfma"]))
    assert result.returncode == 0, result.stderr
    assert "1 libraries, no AVX-512" in result.stdout


def test_avx512_wheel_is_refused(tmp_path: Path) -> None:
    result = check(wheel(tmp_path, ["-mavx512f", "-DWIDE"]))
    assert result.returncode == 1
    assert "uses AVX-512: not portable to Zen 2/3" in result.stderr
    assert "zmm" in result.stderr  # shows an offending instruction


def test_wheel_without_libraries_is_refused(tmp_path: Path) -> None:
    whl = tmp_path / "empty-0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("empty/__init__.py", "")
    result = check(whl)
    assert result.returncode == 1 and "holds no shared library" in result.stderr
