"""Generate config/default.toml from the settings dataclasses in ``xnai_edge/config.py``.

Every key is written with its default value, under a comment made of the field's
``metadata["doc"]``, its TOML type and its range or choices, so the file documents the whole
config and can never drift from the code (tests/unit/test_default_config.py compares it with
``render()``).  Change a setting's default or doc in config.py, then run::

    .venv/bin/python tools/gen_default_config.py --write

With no option the TOML is printed; ``--check`` exits 1 (naming the fix) if the file differs.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

from xnai_edge.config import sections

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOML = ROOT / "config" / "default.toml"
WIDTH = 100  # as the code (ruff line-length)

HEADER = """\
# Default settings of xnai-edge: every key, with its default value.
#
# GENERATED from the dataclasses in xnai_edge/config.py by tools/gen_default_config.py; do not
# edit by hand (a test fails if this file and the code differ).  To change a default or a
# description, edit config.py and run `.venv/bin/python tools/gen_default_config.py --write`.
#
# This file is documentation, not something to copy: a config file names only what it changes,
# and every key it leaves out keeps the default below (see config/dev.toml).  Pass it with
# `xnai-edge --config FILE` or $XNAI_EDGE_CONFIG.  An unknown section or key, a value of the
# wrong type or out of range is an error naming the file and the key, never silently ignored.
"""

_TOML_TYPES = {bool: "boolean", int: "integer", float: "float", str: "string"}


def render() -> str:
    """The text of config/default.toml."""
    parts = [HEADER]
    for name, cls in sections().items():
        lines = [f"[{name}]"]
        if section_doc := _section_doc(cls):
            lines[:0] = _comment(section_doc)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if tp not in _TOML_TYPES:
                raise TypeError(f"[{name}] {f.name}: no TOML rendering for type {tp}")
            doc = f.metadata.get("doc")
            if not isinstance(doc, str) or not doc.strip():
                raise ValueError(f"[{name}] {f.name}: field has no metadata['doc'] to document it")
            if f.default is dataclasses.MISSING:
                raise ValueError(f"[{name}] {f.name}: field has no plain default")
            lines += _comment(doc, suffix=f"({_describe(tp, f.metadata)})")
            lines.append(f"{f.name} = {_value(tp, f.default)}")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def _section_doc(cls: type[Any]) -> str:
    """The class docstring, unless it is the one ``@dataclass`` makes up ("Name(field: ...)")."""
    doc = cls.__doc__ or ""
    if doc.startswith(f"{cls.__name__}("):
        return ""
    return " ".join(doc.split())


def _comment(text: str, *, suffix: str = "") -> list[str]:
    """``text`` as "# " lines of at most ``WIDTH``; ``suffix`` is kept whole on the last line
    (or on a line of its own if it does not fit there)."""
    lines = textwrap.wrap(" ".join(text.split()), WIDTH, initial_indent="# ",
                          subsequent_indent="# ", break_on_hyphens=False)
    if suffix:
        if len(lines[-1]) + 1 + len(suffix) <= WIDTH:
            lines[-1] += f" {suffix}"
        else:
            lines.append(f"# {suffix}")
    return lines


def _describe(tp: Any, meta: typing.Mapping[str, Any]) -> str:
    """"integer; 1 to 64", "float; at least 0.0", "string; one of: a, b", "boolean"."""
    lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    if choices:
        limit = "one of: " + ", ".join(_value(tp, c) for c in choices)
    elif lo is not None and hi is not None:
        limit = f"{_value(tp, lo)} to {_value(tp, hi)}"
    elif lo is not None:
        limit = f"at least {_value(tp, lo)}"
    elif hi is not None:
        limit = f"at most {_value(tp, hi)}"
    else:
        return _TOML_TYPES[tp]
    return f"{_TOML_TYPES[tp]}; {limit}"


def _value(tp: Any, value: Any) -> str:
    """``value`` as a TOML literal of type ``tp``."""
    if tp is bool:
        return "true" if value else "false"
    if tp is int:
        return str(int(value))
    if tp is float:
        number = float(value)
        if math.isnan(number):
            return "nan"
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return repr(number)  # always has "." or "e", as TOML floats must
    return _string(str(value))


def _string(text: str) -> str:
    """A TOML basic string: backslash, quote and control characters escaped."""
    escapes = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
               "\r": "\\r"}
    out = "".join(escapes.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F
                                     else c) for c in text)
    return f'"{out}"'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {DEFAULT_TOML}")
    mode.add_argument("--check", action="store_true",
                      help=f"exit 1 if {DEFAULT_TOML} differs from what would be written")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DEFAULT_TOML.write_text(text, encoding="utf-8")
        print(f"wrote {DEFAULT_TOML}", file=sys.stderr)
    elif args.check:
        try:
            current = DEFAULT_TOML.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{DEFAULT_TOML} is out of date with xnai_edge/config.py; run "
                  "tools/gen_default_config.py --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
