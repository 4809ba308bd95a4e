"""The ``xnai-edge`` command line: argument parsing and error reporting, no logic.

Each command group lives in its own ``*_cli.py`` module exposing ``register(subparsers)``; the
parser stores a handler ``func(args) -> int`` on the namespace.  Every expected failure is an
``XnaiError`` and becomes one line on stderr (``error[code]: message``) and exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from xnai_edge import __version__, heap
from xnai_edge.errors import XnaiError

EXIT_ERROR = 1
EXIT_USAGE = 2


def _add_global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """The options every command understands, before or after the command name."""
    parser.add_argument("--data-dir", metavar="DIR", default=default,
                        help="knowledge base and logs (env XNAI_EDGE_DATA_DIR; default "
                        "$XDG_DATA_HOME/xnai-edge/data)")
    parser.add_argument("--models-dir", metavar="DIR", default=default,
                        help="installed models (env XNAI_EDGE_MODELS_DIR; default "
                        "$XDG_DATA_HOME/xnai-edge/models)")
    parser.add_argument("--config", metavar="FILE", default=default,
                        help="TOML file with the settings to change (env XNAI_EDGE_CONFIG); "
                        "see config/default.toml")
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="no progress bars")


class CommandParser(argparse.ArgumentParser):
    """A command's parser: it also takes the global options, so ``xnai-edge run --config F``
    works as well as ``xnai-edge --config F run``.  Their default is SUPPRESS, so a value given
    before the command is not overwritten by the command's own (absent) option."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_global_options(self, default=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xnai-edge",
        description="Offline voice assistant appliance: answers from your own documents, "
        "nothing leaves the box.",
        epilog="Start with: xnai-edge models install --set tiny; xnai-edge ingest ~/docs; "
        "xnai-edge ask 'what is your wake word?'. Global options may also follow the command.",
    )
    parser.add_argument("--version", action="version", version=f"xnai-edge {__version__}")
    _add_global_options(parser, default=None)
    parser.set_defaults(quiet=False)
    sub: Any = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=CommandParser)

    from xnai_edge import daemon_cli, demo_cli, kb_cli, models_cli, voice_cli

    models_cli.register(sub)
    kb_cli.register(sub)
    voice_cli.register(sub)
    demo_cli.register(sub)
    daemon_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    heap.limit_arenas()  # before any thread starts (xnai_edge/heap.py says why)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except XnaiError as exc:
        print(f"error[{exc.code}]: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
