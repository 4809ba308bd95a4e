"""Command parsing: what Home Assistant sends is accepted, everything else is one CommandError."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xnai_edge.config import MqttConfig
from xnai_edge.errors import ConfigError
from xnai_edge.mqtt.commands import COMMANDS, MAX_PAYLOAD, Command, CommandError, parse
from xnai_edge.mqtt.connection import read_password


@pytest.mark.parametrize(("name", "payload", "args"), [
    ("mute", b"ON", {"muted": True}), ("mute", b"OFF", {"muted": False}),
    ("mute", b'{"muted": true}', {"muted": True}), ("mute", b'{"state": "off"}', {"muted": False}),
    ("stop", b"PRESS", {}), ("reindex", b"", {}), ("reindex", b"{}", {}),
    ("say", b"The washing machine is done.", {"text": "The washing machine is done."}),
    ("ask", b"  What is the wake word? ", {"text": "What is the wake word?", "speak": True}),
    ("ask", "Wie spät ist es?".encode(), {"text": "Wie spät ist es?", "speak": True}),
    ("ask", b'{"question": "q?", "speak": false}', {"text": "q?", "speak": False}),
])
def test_home_assistant_payloads_are_accepted(name: str, payload: bytes,
                                              args: dict[str, object]) -> None:
    assert parse(name, payload) == Command(name, args)


def test_ids_come_from_json_or_correlation_data() -> None:
    assert parse("stop", b'{"id": "a-1"}').id == "a-1"
    assert parse("stop", b'{"id": 7}', b"corr").id == 7
    cmd = parse("stop", b"PRESS", b"corr-9")
    assert cmd.id == "corr-9" and cmd.correlation == b"corr-9"
    assert parse("stop", b"PRESS", b"\xff\x00").id == "ff00"


@pytest.mark.parametrize(("name", "payload", "why"), [
    ("ask", b"{not json", "not valid JSON"),
    ("ask", b"[1, 2]", "must be an object"),
    ("launch", b"PRESS", "unknown command 'launch'"),
    ("say", b"x" * 1_000_000, "1,000,000 bytes"),
    ("ask", b'{"text": 42}', "must be text"),
    ("ask", b'{"text": "  "}', "empty"),
    ("say", b"", "empty"),
    ("mute", b"MAYBE", "ON/OFF"),
    ("mute", b'{"muted": "perhaps"}', "ON/OFF"),
    ("mute", b'{"muted": 1}', "ON/OFF"),
    ("mute", b"{}", "needs 'muted'"),
    ("stop", b"now please", "PRESS"),
    ("stop", b'{"force": true}', "unexpected field 'force'"),
    ("say", b"\xff\xfeh\x00i", "not UTF-8"),
    ("ask", b'{"text": "q", "id": [1]}', "'id' must be"),
    ("ask", b"[" * 50_000, "not valid JSON"),
])
def test_bad_commands_are_one_clear_error(name: str, payload: bytes, why: str) -> None:
    with pytest.raises(CommandError, match=why) as info:
        parse(name, payload, b"c1")
    assert info.value.code == "mqtt-command"
    assert len(str(info.value)) < 200


def test_the_id_of_a_bad_command_is_kept_for_the_response() -> None:
    with pytest.raises(CommandError) as info:
        parse("mute", b'{"muted": "x", "id": "m-2"}')
    assert info.value.id == "m-2"


@given(st.sampled_from([*COMMANDS, "nope"]), st.binary(max_size=300))
def test_parse_never_raises_anything_else(name: str, payload: bytes) -> None:
    try:
        cmd = parse(name, payload)
    except CommandError:
        return
    assert cmd.name in COMMANDS
    json.dumps(cmd.args)


@given(st.sampled_from(COMMANDS), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4), max_leaves=12))
def test_any_json_is_parsed_or_refused(name: str, value: object) -> None:
    with contextlib.suppress(CommandError):
        parse(name, json.dumps(value).encode())


def test_the_payload_limit() -> None:
    assert parse("say", b"a" * MAX_PAYLOAD).args["text"] == "a" * MAX_PAYLOAD
    with pytest.raises(CommandError, match="limit is 64 KiB"):
        parse("say", b"a" * (MAX_PAYLOAD + 1))


def test_password_from_file_or_systemd_credential(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret pass\n")
    assert read_password(MqttConfig(password_file=str(secret)), {}) == "s3cret pass"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text("from-systemd\r\n")
    assert read_password(MqttConfig(), {"CREDENTIALS_DIRECTORY": str(creds)}) == "from-systemd"
    # an explicit file wins over the credential
    assert read_password(MqttConfig(password_file=str(secret)),
                         {"CREDENTIALS_DIRECTORY": str(creds)}) == "s3cret pass"
    assert read_password(MqttConfig(), {}) is None
    assert read_password(MqttConfig(), {"CREDENTIALS_DIRECTORY": str(tmp_path / "no")}) is None
    with pytest.raises(ConfigError, match=r"cannot read the MQTT password file .*missing"):
        read_password(MqttConfig(password_file=str(tmp_path / "missing")), {})
