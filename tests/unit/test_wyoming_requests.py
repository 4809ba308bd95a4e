"""Wyoming request pieces without models: audio formats, limits, TTS chunking, loop priority,
and the cached ``info`` with every field Home Assistant reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from audio_fixtures import dominant_frequency, tone

from xnai_edge.config import Config
from xnai_edge.wyoming.info import build_catalog, wake_phrase
from xnai_edge.wyoming.limits import Limits, WyomingError
from xnai_edge.wyoming.priority import LoopPriority
from xnai_edge.wyoming.requests import (
    TTS_CHUNK_SAMPLES,
    AsrRequest,
    AudioIn,
    SpeechOut,
    audio_format,
    speech_parts,
)


def pcm(x: np.ndarray[Any, Any], width: int) -> bytes:
    if width == 1:
        return np.rint(x * 127 + 128).astype(np.uint8).tobytes()
    dtype = {2: "<i2", 4: "<i4"}[width]
    return np.rint(x * (2 ** (8 * width - 1) - 1)).astype(dtype).tobytes()


@pytest.mark.parametrize(("rate", "width", "channels"), [
    (16000, 2, 1), (44100, 2, 2), (22050, 1, 1), (48000, 4, 2), (8000, 2, 1)])
def test_any_format_becomes_16k_mono_with_its_pitch_and_length(rate: int, width: int,
                                                              channels: int) -> None:
    x = tone(1.0, 440.0, rate)
    frames = np.repeat(x[:, None], channels, axis=1).reshape(-1)
    audio = AudioIn()
    audio.start({"rate": rate, "width": width, "channels": channels})
    raw = pcm(frames, width)
    step = 1000 * width * channels + width  # odd cuts: partial frames wait for the next block
    blocks = [audio.push({}, raw[i:i + step]) for i in range(0, len(raw), step)]
    out = np.concatenate([*blocks, audio.flush()])
    assert abs(len(out) - 16000) <= 2, len(out)
    assert dominant_frequency(out) == pytest.approx(440.0, abs=2.0)
    assert audio.samples == len(out)


def test_a_chunk_naming_another_format_switches_the_converter() -> None:
    audio = AudioIn()
    first = audio.push({"rate": 16000, "width": 2, "channels": 1}, pcm(tone(0.5, 300, 16000), 2))
    second = audio.push({"rate": 32000, "width": 2, "channels": 1},
                        pcm(tone(0.5, 300, 32000), 2))
    total = len(first) + len(second) + len(audio.flush())
    assert abs(total - 16000) <= 2


@pytest.mark.parametrize(("data", "words"), [
    ({}, "needs rate, width and channels"),
    ({"rate": 16000, "width": 2}, "needs rate"),
    ({"rate": 16000, "width": 5, "channels": 1}, "unsupported"),
    ({"rate": 10, "width": 2, "channels": 1}, "unsupported"),
    ({"rate": "16000", "width": 2, "channels": 1}, "integers"),
    ({"rate": 16000, "width": 2, "channels": 0}, "unsupported"),
])
def test_bad_formats_are_fatal_errors(data: dict[str, Any], words: str) -> None:
    with pytest.raises(WyomingError, match=words) as caught:
        audio_format(data, None)
    assert caught.value.fatal and caught.value.code == "bad-audio"


def test_a_transcribe_request_is_bounded() -> None:
    request = AsrRequest("en", Limits(max_audio_s=1.0))
    fmt = {"rate": 16000, "width": 2, "channels": 1}
    request.chunk(fmt, b"\0\0" * 16000)
    with pytest.raises(WyomingError, match="more than 1 s") as caught:
        request.chunk(fmt, b"\0\0" * 100)
    assert caught.value.fatal


def test_speech_parts_cut_sentences_and_clauses_within_limits() -> None:
    text = ("The boiler is serviced every March. If the pressure gauge reads below one bar, "
            "top it up through the filling loop, then bleed the radiators upstairs.")
    parts = speech_parts(text)
    assert parts[0] == "The boiler is serviced every March."
    assert len(parts) >= 3 and " ".join(parts) == " ".join(text.split())
    with pytest.raises(WyomingError, match="empty"):
        speech_parts("  \n ")
    with pytest.raises(WyomingError, match="limit is 10"):
        speech_parts("x" * 11, Limits(max_text_chars=10))


def test_tts_chunks_carry_rate_width_channels_and_timestamps() -> None:
    out = SpeechOut(rate=22050)
    samples = np.arange(2500, dtype=np.int16)
    events = out.chunks(samples, at_samples=22050)
    assert [len(e.payload or b"") for e in events] == [2048, 2048, 2 * (2500 - 2 * 1024)]
    for i, event in enumerate(events):
        assert event.type == "audio-chunk"
        assert {k: event.data[k] for k in ("rate", "width", "channels")} == {
            "rate": 22050, "width": 2, "channels": 1}
        assert event.data["timestamp"] == round((22050 + i * TTS_CHUNK_SAMPLES) * 1000 / 22050)
    joined = np.frombuffer(b"".join(e.payload or b"" for e in events), dtype="<i2")
    assert np.array_equal(joined, samples)
    assert {k: out.start().data[k] for k in ("rate", "width", "channels")} == {
        "rate": 22050, "width": 2, "channels": 1}
    assert out.stop().type == "audio-stop"


# ----------------------------------------------------------------------------- priority
def test_a_wyoming_call_waits_while_the_loop_is_busy_and_goes_when_it_is_not() -> None:
    state = {"loop": "thinking"}
    ran: list[str] = []

    async def main() -> None:
        priority = LoopPriority(anyio.CapacityLimiter(1), lambda: state["loop"], max_wait_s=30)
        done = anyio.Event()

        async def call() -> None:
            await priority.run(ran.append, "wyoming")
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            assert ran == [] and priority.waited == 1  # held back while thinking
            state["loop"] = "speaking"
            priority.notify()
            await anyio.wait_all_tasks_blocked()
            assert ran == []
            state["loop"] = "idle"
            priority.notify()
            with anyio.fail_after(5):
                await done.wait()
        assert ran == ["wyoming"]

    anyio.run(main)


def test_the_wait_for_the_loop_is_capped_and_calls_are_serialised() -> None:
    async def main() -> list[str]:
        priority = LoopPriority(anyio.CapacityLimiter(5), lambda: "speaking", max_wait_s=0.05)
        order: list[str] = []
        async with anyio.create_task_group() as tg:
            for name in ("a", "b"):
                tg.start_soon(priority.run, order.append, name)
        return order

    assert sorted(anyio.run(main)) == ["a", "b"]


def test_no_loop_means_no_wait() -> None:
    async def main() -> int:
        priority = LoopPriority(anyio.CapacityLimiter(1), lambda: None)
        return await priority.run(len, "abc")

    assert anyio.run(main) == 3


# ----------------------------------------------------------------------------- info
def test_info_lists_every_field_home_assistant_reads(tmp_path: Path) -> None:
    catalog = build_catalog(Config(), tmp_path)  # nothing installed: info needs no model
    assert catalog.asr_model and catalog.tts_voice == "en_US-joe-medium"
    assert catalog.wake_model == "hey_jarvis_v0.1" and catalog.wake_phrase == "hey jarvis"
    header, rest = catalog.info_bytes.split(b"\n", 1)
    head = json.loads(header)
    assert head["type"] == "info" and head["version"] and head["data_length"] == len(rest)
    data = json.loads(rest)
    for kind, items in (("asr", "models"), ("tts", "voices"), ("wake", "models")):
        (program,) = data[kind]
        for artifact in (program, *program[items]):
            assert artifact["name"] and artifact["description"], artifact
            assert artifact["installed"] is True
            assert artifact["attribution"]["name"] and \
                artifact["attribution"]["url"].startswith("https://")
        for model in program[items]:
            assert isinstance(model["languages"], list) and model["languages"], model
    assert data["asr"][0]["models"][0]["languages"] == ["en"]
    assert data["tts"][0]["voices"][0]["name"] == "en_US-joe-medium"


def test_wake_phrase() -> None:
    assert wake_phrase("hey_jarvis_v0.1") == "hey jarvis"
    assert wake_phrase("alexa_v0.1") == "alexa"
