"""The server's request semantics, fast: the real ``serve`` and the ``wyoming`` client over TCP
in one process, with stand-in models (the real ones are in tests/integration/test_wyoming*.py).

What is checked here is ours, not the models': audio converted before STT, TTS streamed per
sentence and ended with ``audio-stop`` even when synthesis fails, tier 4 refusals and how each
request ends, the voice loop's priority, per-client wake state, the client limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import numpy as np
import pytest
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.tts import Synthesize
from wyoming.wake import Detect

from xnai_edge.bus import EventBus
from xnai_edge.config import Config, WyomingConfig
from xnai_edge.context import AppContext
from xnai_edge.errors import BackendError
from xnai_edge.events import StateChanged
from xnai_edge.wyoming import serve
from xnai_edge.wyoming.limits import Limits


class Detector:
    """Scores 0.9 on loud audio: enough to see per-client state and timestamps."""

    def __init__(self) -> None:
        self.resets = 0

    def fresh(self) -> Detector:
        return Detector()

    def reset(self) -> None:
        self.resets += 1

    def process(self, chunk: Any) -> float:
        return 0.9 if len(chunk.samples) and int(np.abs(chunk.samples).max()) > 10000 else 0.0


@dataclass
class Models:
    heard: list[int] = field(default_factory=list)
    wake: Detector = field(default_factory=Detector)
    sample_rate: int = 22050

    def transcribe(self, samples: np.ndarray[Any, Any]) -> Any:
        self.heard.append(len(samples))
        return SimpleNamespace(text=f"{len(samples)} samples", rejected="")

    def synthesize(self, text: str) -> np.ndarray[Any, Any]:
        if "explode" in text:
            raise BackendError("speech synthesis failed: boom", code="tts")
        return np.full(100 * len(text), 1000, dtype=np.int16)


class FakeControls:
    """The parts of ``Controls`` the server uses."""

    def __init__(self, models: Models) -> None:
        self.bus, self.model_limiter = EventBus(), anyio.CapacityLimiter(1)
        self.loop: Any = None
        self.status_parts: dict[str, Callable[[], Any]] = {}
        self.device_id, self.tier, self.models = "0123456789abcdef", 0, models

    def status(self) -> dict[str, Any]:
        return {"tier": self.tier, "tier_name": "minimal", "tier_reason": "psi 65%"}

    async def voice_backends(self) -> Any:
        m = self.models
        return SimpleNamespace(stt=m, tts=m, wake=m.wake, vad=None, llm=None)


@asynccontextmanager
async def server(tmp_path: Path, limits: Limits | None = None,
                 ) -> AsyncIterator[tuple[FakeControls, int]]:
    controls = FakeControls(Models())
    ctx = AppContext(config=Config(), data_dir=tmp_path, models_dir=tmp_path)
    async with anyio.create_task_group() as tg:
        await tg.start(lambda task_status: serve(
            controls, WyomingConfig(enabled=True, host="127.0.0.1", port=0), ctx,  # type: ignore[arg-type]
            limits=limits or Limits(), task_status=task_status))
        yield controls, controls.status_parts["wyoming"]()["port"]
        tg.cancel_scope.cancel()


async def talk(port: int, events: list[Event], until: Callable[[Event], bool] = lambda e: False,
               ) -> list[Event]:
    """Send, then read until ``until`` or the server closes."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        for event in events:
            await client.write_event(event)
        got = []
        with anyio.fail_after(10):
            while (event := await client.read_event()) is not None:
                got.append(event)
                if until(event):
                    break
        return got


def audio(rate: int, channels: int, seconds: float, level: int = 1000) -> list[Event]:
    frames = np.full(int(rate * seconds) * channels, level, dtype="<i2").tobytes()
    step = 2048 * channels
    return [AudioStart(rate=rate, width=2, channels=channels).event(),
            *[AudioChunk(rate=rate, width=2, channels=channels, audio=frames[i:i + step]).event()
              for i in range(0, len(frames), step)], AudioStop().event()]


def run(tmp_path: Path, body: Callable[[FakeControls, int], Awaitable[None]],
        limits: Limits | None = None) -> None:
    async def main() -> None:
        async with server(tmp_path, limits) as (controls, port):
            await body(controls, port)

    anyio.run(main)


def test_audio_in_any_format_reaches_stt_as_16k_mono(tmp_path: Path) -> None:
    async def body(controls: FakeControls, port: int) -> None:
        got = await talk(port, [Transcribe(language="en-US").event(), *audio(48000, 2, 1.0)],
                         lambda e: e.type == "transcript")
        assert got[-1].data["language"] == "en"
        assert abs(int(got[-1].data["text"].split()[0]) - 16000) <= 2
        # German is refused at once (the model is English), the connection closed.
        got = await talk(port, [Transcribe(language="de").event(), *audio(16000, 1, 0.2)])
        assert [e.type for e in got] == ["error"] and got[0].data["code"] == "language"

    run(tmp_path, body)


def test_tts_is_streamed_per_sentence_and_a_failure_still_ends_with_audio_stop(
        tmp_path: Path) -> None:
    async def body(controls: FakeControls, port: int) -> None:
        got = await talk(port, [Synthesize(text="Hello there. Now explode, please.").event()],
                         lambda e: e.type == "audio-stop")
        kinds = [e.type for e in got]
        assert kinds[0] == "audio-start" and kinds[-2:] == ["error", "audio-stop"], kinds
        assert kinds.count("audio-chunk") == -(-100 * len("Hello there.") // 1024)
        assert got[-2].data == {"text": "speech synthesis failed: boom", "code": "tts"}

    run(tmp_path, body)


def test_tier_4_refuses_each_request_the_way_home_assistant_stops_waiting(
        tmp_path: Path) -> None:
    async def body(controls: FakeControls, port: int) -> None:
        controls.tier = 4
        stt = await talk(port, [Transcribe().event(), *audio(16000, 1, 0.5)])
        assert [e.type for e in stt] == ["error"]  # then closed, after the client's audio-stop
        assert "tier 4 (minimal: psi 65%)" in stt[0].data["text"]
        wake = await talk(port, [Detect().event(), *audio(16000, 1, 0.5)])
        assert [e.type for e in wake] == ["error"]
        # TTS: error + audio-stop, and the connection is still good for the next request.
        tts = await talk(port, [Synthesize(text="Hi.").event(), Describe().event()],
                         lambda e: e.type == "info")
        assert [e.type for e in tts] == ["error", "audio-stop", "info"]
        assert controls.models.heard == []  # no model was called
        controls.tier = 2
        stt = await talk(port, [Transcribe().event(), *audio(16000, 1, 0.5)],
                         lambda e: e.type == "transcript")
        assert stt[-1].data["text"] == "8000 samples"

    run(tmp_path, body)


def test_a_request_waits_while_the_loop_speaks(tmp_path: Path) -> None:
    async def body(controls: FakeControls, port: int) -> None:
        controls.loop = SimpleNamespace(state="speaking")
        answers: list[list[Event]] = []

        async def ask() -> None:
            answers.append(await talk(port, [Synthesize(text="Hi.").event()],
                                      lambda e: e.type == "audio-stop"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            with anyio.fail_after(5):
                while controls.status_parts["wyoming"]()["waited_for_loop"] == 0:
                    await anyio.sleep(0.01)  # polling the counter, not synchronisation
            assert answers == []
            controls.loop.state = "follow-up"
            controls.bus.publish(StateChanged(state="follow-up", previous="speaking"))
        assert [e.type for e in answers[0]][::2] == ["audio-start", "audio-stop"]

    run(tmp_path, body)


def test_each_wake_stream_has_its_own_detector(tmp_path: Path) -> None:
    async def body(controls: FakeControls, port: int) -> None:
        loud = await talk(port, [Detect().event(), *audio(16000, 1, 0.5, level=20000)],
                          lambda e: e.type in ("detection", "not-detected"))
        assert loud[-1].type == "detection" and loud[-1].data["name"] == "hey_jarvis_v0.1"
        assert 0 < loud[-1].data["timestamp"] <= 200
        quiet = await talk(port, [Detect(names=["hey_jarvis_v0.1"]).event(),
                                  *audio(16000, 1, 0.5)],
                           lambda e: e.type in ("detection", "not-detected"))
        assert quiet[-1].type == "not-detected"
        assert controls.models.wake.resets == 0  # the loop's detector was never touched

    run(tmp_path, body)


@pytest.mark.parametrize("extra", [0, 1])
def test_clients_beyond_the_limit_are_told_so(tmp_path: Path, extra: int) -> None:
    async def body(controls: FakeControls, port: int) -> None:
        async with AsyncTcpClient("127.0.0.1", port) as first:
            await first.write_event(Describe().event())
            assert (await first.read_event()) is not None  # connected and counted
            got = await talk(port, [Describe().event()], lambda e: True)
            if extra:
                assert [e.type for e in got] == ["info"]
            else:
                assert [e.type for e in got] == ["error"] and got[0].data["code"] == "busy"

    run(tmp_path, body, Limits(max_clients=1 + extra))


def test_a_long_wake_stream_is_ended_when_the_tier_drops_to_4(tmp_path: Path) -> None:
    async def body(controls: FakeControls, port: int) -> None:
        start, *chunks, _ = audio(16000, 1, 3.0, level=20000)
        async with AsyncTcpClient("127.0.0.1", port) as client:
            for event in [Detect().event(), start, *chunks[:2]]:
                await client.write_event(event)
            with anyio.fail_after(10):
                hit = await client.read_event()
            assert hit is not None and hit.type == "detection"
            controls.tier = 4
            for event in chunks[2:]:
                await client.write_event(event)
            with anyio.fail_after(10):
                refused = await client.read_event()
                assert refused is not None and refused.type == "error", refused
                assert refused.data["code"] == "tier"
                assert await client.read_event() is None  # and the stream is closed

    run(tmp_path, body)
