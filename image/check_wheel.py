"""Refuse a llama-cpp-python wheel that uses AVX-512: the image must run on a Ryzen 5700U.

The build hosts have AVX-512 and llama.cpp builds with -march=native by default, so a wheel
from the pip cache may hold AVX-512 code that dies with SIGILL on Zen 2/3.  This disassembles
every shared library in the wheel (binutils' objdump) and fails on any ZMM register or opmask
register use, which only AVX-512 has.  Usage: python check_wheel.py WHEEL
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

AVX512 = re.compile(r"%zmm\d|\{%k[1-7]\}|\bk(?:mov|or|and|not|test)[bwdq]\b")


def avx512_lines(library: Path) -> list[str]:
    """Disassembly lines of ``library`` that need AVX-512."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(library)],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if AVX512.search(line)]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_wheel.py WHEEL", file=sys.stderr)
        return 2
    wheel = Path(argv[0])
    bad = 0
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
        libs = [n for n in zf.namelist() if re.search(r"\.so(\.\d+)*$", n)]
        for name in libs:
            path = Path(zf.extract(name, tmp))
            lines = avx512_lines(path)
            if lines:
                bad += 1
                print(f"{wheel.name}: {name}: {len(lines)} AVX-512 instructions, e.g. "
                      f"{lines[0].strip()}", file=sys.stderr)
    if not libs:
        print(f"error[image]: {wheel.name} holds no shared library", file=sys.stderr)
        return 1
    if bad:
        print(f"error[image]: {wheel.name} uses AVX-512: not portable to Zen 2/3",
              file=sys.stderr)
        return 1
    print(f"{wheel.name}: {len(libs)} libraries, no AVX-512")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
