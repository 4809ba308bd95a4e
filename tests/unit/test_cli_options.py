"""Global options work before and after the command (``xnai-edge run --config F``)."""

from __future__ import annotations

import pytest

from xnai_edge.cli import build_parser


@pytest.mark.parametrize("argv", [
    ["--config", "c.toml", "--data-dir", "d", "--models-dir", "m", "-q", "run"],
    ["run", "--config", "c.toml", "--data-dir", "d", "--models-dir", "m", "-q"],
    ["--config", "c.toml", "run", "--data-dir", "d", "--models-dir", "m", "--quiet"],
])
def test_global_options_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.config, args.data_dir, args.models_dir, args.quiet) == ("c.toml", "d", "m", True)


def test_nested_commands_take_them_at_either_level() -> None:
    args = build_parser().parse_args(["kb", "--config", "a.toml", "stats", "--data-dir", "d"])
    assert (args.config, args.data_dir, args.kb_command) == ("a.toml", "d", "stats")


def test_a_value_before_the_command_is_kept_when_not_repeated() -> None:
    args = build_parser().parse_args(["--config", "before.toml", "status", "--json"])
    assert args.config == "before.toml" and args.json and args.quiet is False


def test_after_wins_when_given_twice() -> None:
    args = build_parser().parse_args(["--config", "a.toml", "run", "--config", "b.toml"])
    assert args.config == "b.toml"


def test_defaults_when_absent() -> None:
    args = build_parser().parse_args(["run"])
    assert (args.config, args.data_dir, args.models_dir, args.quiet) == (None, None, None, False)


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["run", "--no-such-option"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err
