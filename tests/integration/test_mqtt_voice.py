"""MQTT with the voice loop running: a broker outage, the mute switch, and ``kill -9``.

The daemon listens to a Piper-made WAV (played once, in real time): "Hey Jarvis. How do I add
documents?", 30 s of silence, then the very same audio again.  The broker is stopped as soon as
the device is online; the first question must be answered while it is down.  The broker comes
back on the same port: the daemon reconnects, re-publishes ``online``, and takes the ``mute``
command -- which must keep the second, identical wake word from being heard.  Last, ``kill -9``:
the broker publishes the will, ``offline``.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_helpers import build_template
from mosquitto import Broker, Watcher, XnaiDaemon

pytestmark = pytest.mark.slow

START_S = 120.0
QUESTION = "How do I add documents?"
FIRST_END_S = 8.0
"""Audio time by which the first turn has ended (it starts at 2 s)."""
GAP_S = 30.0


def recording(models_dir: Path, path: Path) -> Path:
    from xnai_edge.audio.chunk import SAMPLE_RATE
    from xnai_edge.audio.wav import WavSink
    from xnai_edge.backends import registry
    from xnai_edge.config import Config

    tts = registry.load_tts(models_dir, Config())

    def gap(seconds: float) -> Any:
        return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)

    turn = np.concatenate([tts.to_16k(tts.synthesize("Hey Jarvis.")), gap(0.5),
                           tts.to_16k(tts.synthesize(QUESTION))])
    assert len(turn) / SAMPLE_RATE < FIRST_END_S - 2.0
    audio = np.concatenate([gap(2.0), turn, gap(FIRST_END_S - 2.0 - len(turn) / SAMPLE_RATE),
                            gap(GAP_S), turn, gap(3.0)])
    with WavSink(path, rate=SAMPLE_RATE) as sink:
        sink.write(audio)
    return path


def interactions(data: Path) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(f"file:{data / 'knowledge.sqlite3'}?mode=ro",
                                            uri=True)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM interactions ORDER BY id")]


@pytest.fixture
def setup(models_dir: Path, tmp_path: Path) -> Iterator[tuple[Broker, XnaiDaemon]]:
    broker = Broker(tmp_path / "broker")
    broker.start()
    wav = recording(models_dir, tmp_path / "twice.wav")
    template = build_template(models_dir, tmp_path / "template")
    daemon = XnaiDaemon.start(tmp_path / "d", template, models_dir, broker,
                              audio_input=str(wav))
    try:
        yield broker, daemon
    finally:
        daemon.kill()
        broker.stop()


def test_outage_reconnect_mute_and_kill_9(setup: tuple[Broker, XnaiDaemon]) -> None:
    broker, d = setup
    base = f"xnai-edge/{d.device_id()}"
    with Watcher(broker, f"{base}/availability") as ha:
        ha.last(f"{base}/availability", timeout_s=START_S, match=lambda m: m.text == "online")
    down_at = time.monotonic()
    broker.stop()

    # The voice loop answers the first question while the broker is away.
    status = d.wait_status(lambda s: s["last_interaction"] is not None, 120,
                           "the first question answered during the outage")
    heard = status["last_interaction"]
    assert "document" in heard["question"].lower() and heard["answer"], heard
    assert status["mqtt"]["connected"] is False, status["mqtt"]
    assert broker.proc is None
    lost = d.wait_line("error[mqtt-offline]: lost the connection to MQTT broker", 10)
    answered_s = time.monotonic() - down_at

    # The broker is back: the device reconnects and says online again (a fresh broker has no
    # retained messages, so this one is new).
    broker.start()
    back_at = time.monotonic()
    with Watcher(broker, f"{base}/#") as ha:
        ha.last(f"{base}/availability", timeout_s=30, match=lambda m: m.text == "online")
        online_s = time.monotonic() - back_at
        # The state says what happened while the broker was away.  (paho re-sends first what
        # was in flight when the broker went, so an older state may arrive before it.)
        state = ha.last(f"{base}/state", timeout_s=10,
                        match=lambda m: m.json()["last_question"] != "").json()
        assert "document" in state["last_question"].lower(), state
        assert state["interactions_today"] == 1 and state["last_latency_ms"] > 0, state
        restored = d.wait_line("connection to broker", 10)
        assert "restored" in restored[-1], restored
        # Commands work again.
        since = time.monotonic()
        ha.send(f"{base}/cmd/mute", '{"muted": true, "id": "m1"}')
        reply = ha.last(f"{base}/response", since=since, timeout_s=10).json()
        assert reply == {"command": "mute", "id": "m1", "ok": True, "muted": True}
        ha.last(f"{base}/state", since=since, timeout_s=10, match=lambda m: m.json()["muted"])
        muted_at = time.monotonic()

        # The second, identical wake word is not heard: the WAV plays out, nothing answered.
        done = d.wait_status(lambda s: s["state"] == "input-ended", 120, "the WAV played out")
        assert done["muted"] is True
        wakes = [m for m in ha.on(f"{base}/events", since) if m.json()["type"] ==
                 "wake-detected"]
        assert not wakes, [w.json() for w in wakes]
        rows = interactions(d.data)
        assert len(rows) == 1, [r["transcript"] for r in rows]
        assert "document" in rows[0]["transcript"].lower()
        stamps = json.loads(rows[0]["stamps"])
        assert stamps["wake"] < FIRST_END_S, stamps  # the first turn's, not the second's
        print(f"answered {answered_s:.1f} s after the broker stopped (audio time: wake "
              f"{stamps['wake']:.1f} s, done {stamps['done']:.1f} s; the second wake word is at "
              f"{FIRST_END_S + GAP_S:.1f} s); online {online_s:.2f} s after the broker restart; "
              f"muted {muted_at - back_at:.1f} s after it")

        # Lost once, restored once: not a line per retry.
        assert len(d.lines("lost the connection")) == 1, lost
        assert len(d.lines("restored")) == 1

        # kill -9: no DISCONNECT, so the broker publishes the will.
        since = time.monotonic()
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(30)
        will = ha.last(f"{base}/availability", since=since, timeout_s=15)
        assert will.text == "offline"
    with Watcher(broker, f"{base}/availability") as later:
        retained = later.last(f"{base}/availability", timeout_s=10)
        assert retained.text == "offline" and retained.retain
