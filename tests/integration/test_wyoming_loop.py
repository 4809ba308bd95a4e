"""Wyoming beside a running voice loop: the loop goes first, and the server uses the loop's
models (no second copy in memory).

The daemon hears a Piper-made "Hey Jarvis. How do I add documents?" (played once in real time)
while a Wyoming client asks for speech in the middle of the loop's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_helpers import build_template
from test_wer import MANIFEST
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.tts import Synthesize
from wyoming.wake import Detect
from wyoming_helpers import DaemonProc, wav_samples, wyoming_daemon

pytestmark = pytest.mark.slow

SPEECH = MANIFEST.parent
SECOND_COPY_MB = 140.0
"""What a second copy of the voice models would add at least: STT 75 MB + TTS 63 MB files
(loaded, they take more)."""


@pytest.fixture(scope="module")
def loop_daemon(models_dir: Path, tmp_path_factory: pytest.TempPathFactory,
                ) -> Iterator[DaemonProc]:
    from xnai_edge.backends import registry
    from xnai_edge.config import Config
    from xnai_edge.demo_cli import make_recording

    base = tmp_path_factory.mktemp("loop")
    template = build_template(models_dir, base / "data")
    wav = base / "question.wav"
    make_recording(registry.load_tts(models_dir, Config()), "How do I add documents?", wav)
    with wyoming_daemon(models_dir, template, input=str(wav)) as d:
        yield d


async def ask(port: int, events: list[Event], last: str) -> list[Event]:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        for event in events:
            await client.write_event(event)
        got = []
        async with asyncio.timeout(180):
            while (event := await client.read_event()) is not None:
                got.append(event)
                if event.type == last:
                    break
        return got


def audio(samples: np.ndarray[Any, Any]) -> list[Event]:
    data = samples.astype("<i2").tobytes()
    return [AudioStart(rate=16000, width=2, channels=1).event(),
            *[AudioChunk(rate=16000, width=2, channels=1, audio=data[i:i + 2048]).event()
              for i in range(0, len(data), 2048)], AudioStop().event()]


def test_the_voice_loop_goes_first_and_the_models_are_shared(loop_daemon: DaemonProc) -> None:
    d = loop_daemon
    busy = d.wait_status(lambda s: s["state"] in ("thinking", "speaking"), 120,
                         "the loop answering the WAV's question")
    print(f"loop {busy['state']}: asking Wyoming for speech now")
    events = asyncio.run(ask(d.port, [Synthesize(text="The kettle is in the kitchen.").event()],
                             "audio-stop"))
    assert [e.type for e in events][::len(events) - 1] == ["audio-start", "audio-stop"]
    assert sum(AudioChunk.is_type(e.type) for e in events) > 5
    done = d.wait_status(lambda s: s["last_interaction"] is not None, 120, "the loop's answer")
    part = done["wyoming"]
    print(f"loop answered {done['last_interaction']['answer']!r}; Wyoming waited for the "
          f"loop {part['waited_for_loop']} time(s)")
    assert part["waited_for_loop"] >= 1, part  # held back while the loop was busy ...
    assert "ingest" in done["last_interaction"]["answer"]  # ... and the loop was not disturbed
    assert done["last_interaction"]["tier"] == 0

    # Memory: the loop has used every voice model; Wyoming requests on all of them add
    # nothing like a second copy.
    d.wait_status(lambda s: s["state"] in ("idle", "follow-up", "input-ended"), 60,
                  "the loop idle")
    before = d.rss_mb()
    clip = wav_samples(SPEECH / "librivox/sense_and_sensibility_01_austen_64kb-0880.wav")
    for _ in range(2):
        stt = asyncio.run(ask(d.port, [Transcribe(language="en").event(), *audio(clip)],
                              "transcript"))
        assert "young man" in Transcript.from_event(stt[-1]).text
        asyncio.run(ask(d.port, [Synthesize(text="The boiler is serviced in March.").event()],
                        "audio-stop"))
        asyncio.run(ask(d.port, [Detect().event(), *audio(clip)], "not-detected"))
    after = d.rss_mb()
    print(f"RSS with the loop's models loaded {before:.0f} MiB, after 6 Wyoming requests "
          f"{after:.0f} MiB (+{after - before:.0f})")
    assert after - before < SECOND_COPY_MB / 3, (before, after)
