"""A broker with users and TLS: a wrong password, a corrected one, a CA made here, a wrong CA.

The daemon starts with a wrong password in its ``password_file``: one clear error line, then
retries with a growing wait (seen from its status socket).  Writing the right password into the
file lets the next attempt in (the file is read again after each refusal), over TLS verified
with the test's CA.  The password never appears in the daemon's output.  The MQTT connection
module alone (in this process, against the same broker) shows that a CA that did not sign the
broker's certificate is refused with a clear error, and that the systemd credential
``$CREDENTIALS_DIRECTORY/mqtt-password`` is used when no file is named.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from daemon_helpers import build_template
from mosquitto import Broker, Watcher, XnaiDaemon, make_ca, make_server_cert

from xnai_edge.config import MqttConfig
from xnai_edge.mqtt.connection import LinkEvent, MqttLink, read_password
from xnai_edge.mqtt.topics import Topics

pytestmark = pytest.mark.slow

WRONG, RIGHT = "not-the-password-x1", "Right-pass-7"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory)
    cert, key = make_server_cert(directory, ca)
    other, _ = make_ca(directory, "other-ca")
    return {"ca": ca[0], "ca_key": ca[1], "cert": cert, "key": key, "other_ca": other}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Path]) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("broker"), users={"xnai": RIGHT, "ha": "ha-pass"},
               tls=(pki["ca"], pki["cert"], pki["key"]))
    b.start()
    yield b
    b.stop()


def test_wrong_password_one_error_backoff_then_connects_over_tls(
        broker: Broker, pki: dict[str, Path], models_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text(WRONG + "\n")
    template = build_template(models_dir, tmp_path / "template")
    mqtt = (f'username = "xnai"\npassword_file = "{secret}"\n'
            f'tls_ca_file = "{pki["ca"]}"\n')
    d = XnaiDaemon.start(tmp_path / "d", template, models_dir, broker, mqtt=mqtt,
                         reconnect_max_s=4)
    try:
        # Watch the failed attempts arrive (status socket, every 50 ms).
        seen: list[tuple[float, int]] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not seen or seen[-1][1] < 5):
            try:
                n = d.status()["mqtt"]["failed_attempts"]
            except Exception:  # noqa: BLE001 - the socket is not up yet
                n = 0
            if n and (not seen or n > seen[-1][1]):
                seen.append((time.monotonic(), n))
            assert d.proc.poll() is None, d.output()
            time.sleep(0.05)  # polling interval, not synchronisation
        assert seen and seen[-1][1] >= 5, seen
        gaps = [round(b[0] - a[0], 2) for a, b in itertools.pairwise(seen)]
        print(f"failed attempts at gaps of {gaps} s (backoff 1, 2, 4, 4 ...)")
        assert gaps[-1] >= 3.0 and gaps[0] < gaps[-1], gaps
        errors = d.lines("error[")
        assert len(errors) == 1, f"{errors}\n{d.diagnosis()}"
        assert errors[0].startswith("error[mqtt-auth]: MQTT broker 127.0.0.1:") and \
            "refused" in errors[0] and "'xnai'" in errors[0], errors
        assert d.status()["mqtt"]["connected"] is False

        secret.write_text(RIGHT + "\n")
        base = f"xnai-edge/{d.device_id()}"
        with Watcher(broker, f"{base}/#", username="ha", password="ha-pass",
                     ca=pki["ca"]) as ha:
            ha.last(f"{base}/availability", timeout_s=30, match=lambda m: m.text == "online")
            ha.last(f"{base}/state", timeout_s=10)
        assert d.status()["mqtt"]["connected"] is True
        out = d.output()
        assert WRONG not in out and RIGHT not in out
        assert len(d.lines("error[")) == 1, out
        assert "failed attempts" in d.lines("mqtt: connected to broker")[0], out
    finally:
        d.kill()


async def _first(link: MqttLink, kinds: set[str], timeout_s: float = 20) -> LinkEvent:
    with anyio.fail_after(timeout_s):
        async for event in link.link_events:
            if event.kind in kinds:
                return event
    raise AssertionError("the link ended")


def _link(broker: Broker, **options: Any) -> MqttLink:
    cfg = MqttConfig(enabled=True, host="127.0.0.1", port=broker.port, reconnect_max_s=2,
                     **options)
    return MqttLink(cfg, Topics.from_config(cfg, "feedfacecafe"), "xnai-edge-test-link")


def test_a_wrong_ca_is_refused_with_a_clear_error(broker: Broker, pki: dict[str, Path],
                                                  ) -> None:
    async def main() -> LinkEvent:
        link = _link(broker, tls_ca_file=str(pki["other_ca"]), username="ha",
                     password_file="")
        link.start()
        try:
            return await _first(link, {"failed", "connected"})
        finally:
            await link.close()

    event = anyio.run(main)
    print(event.reason)
    assert event.kind == "failed"
    assert "TLS" in event.reason and "certificate verify failed" in event.reason, event
    assert str(pki["other_ca"]) in event.reason


def test_the_systemd_credential_is_the_password(broker: Broker, pki: dict[str, Path],
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mqtt-password").write_text("ha-pass\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert read_password(MqttConfig()) == "ha-pass"

    async def main() -> LinkEvent:
        link = _link(broker, tls_ca_file=str(pki["ca"]), username="ha")
        link.start()
        try:
            return await _first(link, {"failed", "connected", "refused"})
        finally:
            await link.close()

    assert anyio.run(main).kind == "connected"


def test_a_client_certificate_when_the_broker_asks_for_one(pki: dict[str, Path],
                                                          tmp_path: Path) -> None:
    cert, key = make_server_cert(tmp_path, (pki["ca"], pki["ca_key"]), name="device")
    mtls = Broker(tmp_path / "mtls", tls=(pki["ca"], pki["cert"], pki["key"]),
                  require_certificate=True)
    mtls.start()
    try:
        async def connect(**options: Any) -> LinkEvent:
            link = _link(mtls, tls_ca_file=str(pki["ca"]), **options)
            link.start()
            try:
                return await _first(link, {"failed", "connected", "refused", "dropped"})
            finally:
                await link.close()

        assert anyio.run(lambda: connect(tls_cert_file=str(cert), tls_key_file=str(key))
                         ).kind == "connected"
        without = anyio.run(connect)
        print(f"without a client certificate: {without.kind} {without.reason}")
        assert without.kind in ("dropped", "failed"), without
    finally:
        mtls.stop()
