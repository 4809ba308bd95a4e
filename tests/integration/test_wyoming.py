"""Home Assistant's side of Wyoming, for real: the ``wyoming`` package's own client over TCP
against ``xnai-edge run`` in a subprocess, on the real tiny models.

One daemon (no audio input, ``[web]`` off, Wyoming on a free port) serves every test of this
module except the voice-loop one; each test leaves it answering the next client, and checks
that it does.  Waits are for conditions with deadlines (a reply, a status field), never sleeps.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_fixtures import silence
from daemon_helpers import build_template, psi_text
from test_wer import MANIFEST, SPEECH, wer
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice
from wyoming.wake import Detect, Detection, NotDetected
from wyoming_helpers import (
    DaemonProc,
    events_of,
    raw_exchange,
    wav_samples,
    wyoming_daemon,
)

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"
SENTENCE = "The boiler service is due every March, before the heating season starts."


@pytest.fixture(scope="module")
def template(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(models_dir, tmp_path_factory.mktemp("template") / "data")


@pytest.fixture(scope="module")
def daemon(models_dir: Path, template: Path) -> Iterator[DaemonProc]:
    with wyoming_daemon(models_dir, template, extra="[tiers]\nquiet_s = 0.5\n") as d:
        yield d


@pytest.fixture(scope="module")
def piper(models_dir: Path) -> Any:
    from xnai_edge.backends import registry
    from xnai_edge.config import Config

    return registry.load_tts(models_dir, Config())


@pytest.fixture(scope="module")
def hey_jarvis(piper: Any) -> tuple[np.ndarray[Any, Any], int]:
    """Piper says "Hey Jarvis." with pauses, at its own 22,050 Hz (the server converts)."""
    lead = np.zeros(piper.sample_rate // 2, dtype=np.int16)
    return np.concatenate([lead, piper.synthesize("Hey Jarvis."), lead, lead]), \
        piper.sample_rate


def rows() -> list[dict[str, str]]:
    with MANIFEST.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def audio(samples: np.ndarray[Any, Any], rate: int = 16000, channels: int = 1,
          per_chunk: int = 1024) -> list[Event]:
    """audio-start, chunks of ``per_chunk`` frames (as HA sends them), audio-stop."""
    data = samples.astype("<i2").tobytes()
    step = per_chunk * 2 * channels
    return [AudioStart(rate=rate, width=2, channels=channels).event(),
            *[AudioChunk(rate=rate, width=2, channels=channels, audio=data[i:i + step]).event()
              for i in range(0, len(data), step)],
            AudioStop().event()]


async def exchange(port: int, events: list[Event], until: Callable[[Event], bool],
                   timeout_s: float = 180.0) -> list[Event]:
    """Send ``events`` with the wyoming client, read until ``until(event)`` or the close."""
    async with AsyncTcpClient(HOST, port) as client:
        for event in events:
            await client.write_event(event)
        got: list[Event] = []
        async with asyncio.timeout(timeout_s):
            while (event := await client.read_event()) is not None:
                got.append(event)
                if until(event):
                    break
        return got


def transcribe(port: int, samples: np.ndarray[Any, Any], rate: int = 16000,
               channels: int = 1) -> list[Event]:
    return asyncio.run(exchange(port, [Transcribe(language="en").event(),
                                       *audio(samples, rate, channels)],
                                lambda e: Transcript.is_type(e.type)))


def synthesize(port: int, text: str, voice: str | None = None) -> list[Event]:
    request = Synthesize(text=text, voice=SynthesizeVoice(name=voice) if voice else None)
    return asyncio.run(exchange(port, [request.event()], lambda e: AudioStop.is_type(e.type)))


def assert_answers(d: DaemonProc) -> None:
    """The daemon is alive and a fresh client gets its ``info``."""
    assert d.proc.poll() is None, d.output()
    (info,) = asyncio.run(exchange(d.port, [Describe().event()], lambda e: True, 10))
    assert Info.is_type(info.type)


# ----------------------------------------------------------------------------- describe
def test_describe_is_answered_at_once_with_every_field_home_assistant_reads(
        daemon: DaemonProc) -> None:
    async def describe_like_home_assistant() -> Event:
        # HA: a new connection per request, 1 s for the info, 4 tries.  Ours must never need
        # a second try, even while the models are loading right after the start.
        async with AsyncTcpClient(HOST, daemon.port) as client:
            await client.write_event(Describe().event())
            event = await asyncio.wait_for(client.read_event(), timeout=1.0)
            assert event is not None
            return event

    for _ in range(4):
        event = asyncio.run(describe_like_home_assistant())
        assert Info.is_type(event.type)
    info = Info.from_event(event)
    assert [p.name for p in info.asr] and [p.name for p in info.tts] and info.wake
    for kind, items in (("asr", "models"), ("tts", "voices"), ("wake", "models")):
        (program,) = event.data[kind]
        for artifact in (program, *program[items]):
            assert artifact["name"] and artifact["description"], artifact
            assert artifact["installed"] is True, artifact
            assert artifact["attribution"]["name"], artifact
            assert artifact["attribution"]["url"].startswith("https://"), artifact
        for model in program[items]:
            assert model["languages"] and all(isinstance(x, str) for x in model["languages"])
    assert info.asr[0].models[0].languages == ["en"]
    assert info.wake[0].models[0].name == "hey_jarvis_v0.1"
    # The raw header carries version and data_length (HA's parser needs both).
    header, _ = raw_exchange(daemon.port, b'{"type": "describe"}\n', read_events=1)[0]
    assert header["type"] == "info" and header["version"] and header["data_length"] > 100
    assert daemon.status()["wyoming"]["served"]["describe"] >= 5


# ----------------------------------------------------------------------------- STT
def test_recordings_are_transcribed_as_well_as_by_faster_whisper_directly(
        daemon: DaemonProc, models_dir: Path) -> None:
    from faster_whisper import WhisperModel

    from xnai_edge.backends.stt import DECODE_OPTIONS
    from xnai_edge.modelstore import ModelStore

    direct = WhisperModel(str(ModelStore(models_dir).path("stt")), device="cpu",
                          compute_type="int8", cpu_threads=2)
    ours, theirs = [], []
    for row in rows():
        path = SPEECH / row["path"]
        events = transcribe(daemon.port, wav_samples(path))
        assert Transcript.is_type(events[-1].type), events
        ours.append((row["reference"], Transcript.from_event(events[-1]).text))
        segments, _ = direct.transcribe(str(path), **DECODE_OPTIONS)
        theirs.append((row["reference"], " ".join(s.text.strip() for s in segments)))
    ours_wer, direct_wer = wer(ours), wer(theirs)
    print(f"WER over {len(ours)} recordings: Wyoming {ours_wer:.3f}, faster-whisper directly "
          f"{direct_wer:.3f}")
    assert ours_wer <= direct_wer + 1e-9
    assert direct_wer < 0.35

    # The same recordings as 44.1 kHz stereo (what a browser or satellite may send): the
    # converter must not cost more than a word here and there.
    from xnai_edge.audio.chunk import convert

    picked = [0, 2, 3]
    stereo_pairs = []
    for i in picked:
        mono = convert(wav_samples(SPEECH / rows()[i]["path"]), 16000, out_rate=44100)
        stereo = np.repeat(mono[:, None], 2, axis=1).reshape(-1)
        events = transcribe(daemon.port, stereo, rate=44100, channels=2)
        stereo_pairs.append((rows()[i]["reference"], Transcript.from_event(events[-1]).text))
    mono_wer, stereo_wer = wer([ours[i] for i in picked]), wer(stereo_pairs)
    print(f"44.1 kHz stereo: WER {stereo_wer:.3f} vs {mono_wer:.3f} at 16 kHz: {stereo_pairs}")
    assert stereo_wer <= mono_wer + 0.1, stereo_pairs


def test_silence_gives_an_empty_transcript_not_a_hallucination(daemon: DaemonProc) -> None:
    events = transcribe(daemon.port, silence(3.0))
    assert Transcript.from_event(events[-1]).text == ""


# ----------------------------------------------------------------------------- TTS
def check_speech(events: list[Event], text: str) -> np.ndarray[Any, Any]:
    """audio-start, chunks each carrying rate/width/channels, audio-stop last: the samples."""
    assert AudioStart.is_type(events[0].type), events[0]
    assert AudioStop.is_type(events[-1].type), events[-1]
    chunks = [e for e in events if AudioChunk.is_type(e.type)]
    assert len(chunks) == len(events) - 2 and chunks
    for chunk in chunks:
        assert {k: chunk.data.get(k) for k in ("rate", "width", "channels")} == {
            "rate": 22050, "width": 2, "channels": 1}, chunk.data
    samples = np.frombuffer(b"".join(c.payload or b"" for c in chunks), dtype="<i2")
    seconds, words = len(samples) / 22050, len(text.split())
    print(f"{words} words -> {seconds:.2f} s of speech")
    assert 0.15 * words <= seconds <= 0.8 * words, seconds  # ~0.3-0.4 s a word
    assert float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) > 300  # not silence
    return samples


def test_a_sentence_is_synthesised_streamed_and_ends_with_audio_stop(
        daemon: DaemonProc) -> None:
    voice = daemon.info_voice()
    samples = check_speech(synthesize(daemon.port, SENTENCE, voice), SENTENCE)
    check_speech(synthesize(daemon.port, "Hello there, how are you?"), "Hello there how are you")
    # What was said can be heard: our own STT over Wyoming finds the words again.
    from xnai_edge.audio.chunk import convert

    heard = Transcript.from_event(transcribe(daemon.port, convert(samples, 22050))[-1]).text
    print(f"heard back: {heard!r}")
    assert {"boiler", "march"} <= set(re.findall(r"[a-z]+", heard.lower())), heard


@pytest.mark.parametrize(("request_data", "code"), [
    ({"text": "Hello.", "voice": {"name": "nobody"}}, "voice"),
    ({"text": "   "}, "input"),
    ({"text": "x " * 6000}, "input"),
    ({}, "input"),
])
def test_a_bad_synthesize_gets_an_error_and_still_its_audio_stop(
        daemon: DaemonProc, request_data: dict[str, Any], code: str) -> None:
    events = asyncio.run(exchange(daemon.port, [Event(type="synthesize", data=request_data)],
                                  lambda e: AudioStop.is_type(e.type), 30))
    assert [e.type for e in events] == ["error", "audio-stop"], events
    assert events[0].data["code"] == code


# ----------------------------------------------------------------------------- wake
def detect(port: int, samples: np.ndarray[Any, Any], rate: int,
           names: list[str] | None = None) -> list[Event]:
    return asyncio.run(exchange(port, [Detect(names=names).event(), *audio(samples, rate)],
                                lambda e: e.type in ("detection", "not-detected", "error")))


def test_the_wake_word_is_detected_and_other_speech_is_not(
        daemon: DaemonProc, hey_jarvis: tuple[np.ndarray[Any, Any], int]) -> None:
    samples, rate = hey_jarvis
    events = detect(daemon.port, samples, rate, ["hey_jarvis_v0.1"])
    assert Detection.is_type(events[-1].type), events
    hit = Detection.from_event(events[-1])
    assert hit.name == "hey_jarvis_v0.1"
    assert hit.timestamp is not None and 500 <= hit.timestamp <= 1000 * len(samples) / rate
    other = wav_samples(SPEECH / rows()[0]["path"])
    assert NotDetected.is_type(detect(daemon.port, other, 16000)[-1].type)
    events = detect(daemon.port, samples, rate, ["alexa_v9"])
    assert events[-1].type == "error" and events[-1].data["code"] == "wake-word"


# ----------------------------------------------------------------------------- concurrency
def test_several_clients_at_once_each_get_their_own_answer(
        daemon: DaemonProc, hey_jarvis: tuple[np.ndarray[Any, Any], int]) -> None:
    samples, rate = hey_jarvis
    clip = wav_samples(SPEECH / rows()[1]["path"])
    alone = Transcript.from_event(transcribe(daemon.port, clip)[-1]).text

    async def together() -> list[list[Event]]:
        return list(await asyncio.gather(
            exchange(daemon.port, [Transcribe(language="en").event(), *audio(clip)],
                     lambda e: Transcript.is_type(e.type)),
            exchange(daemon.port, [Synthesize(text=SENTENCE).event()],
                     lambda e: AudioStop.is_type(e.type)),
            # Two wake streams at once: each has its own detector state.
            exchange(daemon.port, [Detect().event(), *audio(samples, rate)],
                     lambda e: e.type in ("detection", "not-detected")),
            exchange(daemon.port, [Detect().event(), *audio(clip)],
                     lambda e: e.type in ("detection", "not-detected")),
            exchange(daemon.port, [Describe().event()], lambda e: True)))

    stt, tts, wake_yes, wake_no, info = asyncio.run(together())
    assert Transcript.from_event(stt[-1]).text == alone
    check_speech(tts, SENTENCE)
    assert Detection.is_type(wake_yes[-1].type), wake_yes
    assert NotDetected.is_type(wake_no[-1].type), wake_no
    assert Info.is_type(info[0].type)
    daemon.wait_status(lambda s: s["wyoming"]["clients"] == 0, 10, "all clients gone")


# ----------------------------------------------------------------------------- bad clients
@pytest.mark.parametrize(("raw", "code"), [
    (b"{this is not json\n", "bad-event"),
    (b'["describe"]\n', "bad-event"),
    (b'{"type": "audio-chunk", "payload_length": 1000000000000}\n', "too-large"),
    (b'{"type": "synthesize", "data_length": 99999999}\n', "too-large"),
    (b"x" * 200_000, "too-large"),
    (b'{"type": "audio-chunk", "data": {"rate": 16000, "width": 7, "channels": 1}, '
     b'"payload_length": 4}\n\0\0\0\0', "bad-audio"),
])
def test_a_malformed_or_oversized_event_gets_an_error_and_the_door(
        daemon: DaemonProc, raw: bytes, code: str) -> None:
    replies = raw_exchange(daemon.port, raw, read_events=2)
    assert len(replies) == 1, replies  # the error, then the connection is closed
    header, data = replies[0]
    assert header["type"] == "error" and data["code"] == code, replies
    assert data["text"]
    assert_answers(daemon)


def test_clients_that_vanish_mid_stream_leave_the_daemon_serving(
        daemon: DaemonProc) -> None:
    clip = wav_samples(SPEECH / rows()[0]["path"])
    # 1. gone in the middle of an audio-chunk's payload
    start = b"".join(events_of([Transcribe(language="en").event(), *audio(clip)[:5]]))
    half = b'{"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, ' \
           b'"payload_length": 2048}\n' + b"\0" * 100
    assert raw_exchange(daemon.port, start + half, read_events=0) == []
    # 2. gone while its speech is being streamed to it

    async def leave_during_tts() -> str:
        async with AsyncTcpClient(HOST, daemon.port) as client:
            await client.write_event(Synthesize(text=SENTENCE * 4).event())
            while (event := await client.read_event()) is not None:
                if AudioChunk.is_type(event.type):
                    return event.type
        return "closed"

    assert asyncio.run(leave_during_tts()) == "audio-chunk"
    # 3. gone in the middle of a wake stream
    raw_exchange(daemon.port, b"".join(events_of([Detect().event(), *audio(clip)[:8]])),
                 read_events=0)
    daemon.wait_status(lambda s: s["wyoming"]["clients"] == 0, 30, "the clients released")
    assert_answers(daemon)
    assert Transcript.is_type(transcribe(daemon.port, clip)[-1].type)


# ----------------------------------------------------------------------------- tiers
def test_in_tier_4_every_request_is_refused_naming_the_tier(daemon: DaemonProc) -> None:
    clip = wav_samples(SPEECH / rows()[1]["path"])
    daemon.psi.write_text(psi_text(65.0))
    try:
        daemon.wait_status(lambda s: s["tier"] == 4, 15, "tier 4")
        stt = transcribe(daemon.port, clip)
        tts = synthesize(daemon.port, SENTENCE)
        wake = detect(daemon.port, clip, 16000)
        for events in (stt, tts, wake):
            assert events[0].type == "error" and events[0].data["code"] == "tier", events
            assert "tier 4" in events[0].data["text"], events[0].data
        assert [e.type for e in tts] == ["error", "audio-stop"]
        assert len(stt) == 1 and len(wake) == 1  # then closed: HA stops waiting
        assert_answers(daemon)  # describe still works: it costs nothing
    finally:
        daemon.psi.write_text(psi_text(0.0))
    daemon.wait_status(lambda s: s["tier"] == 0, 30, "back to tier 0")
    assert Transcript.from_event(transcribe(daemon.port, clip)[-1]).text


def test_a_port_in_use_is_reported_and_the_daemon_runs_on(
        models_dir: Path, template: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with wyoming_daemon(models_dir, template, port=port) as d:
            part = d.status()["wyoming"]
            assert not part["listening"] and part["port"] is None, part
            assert part["error"].startswith(f"cannot listen on 127.0.0.1:{port}"), part
            d.wait_status(lambda s: s["state"] == "no-audio", 60, "the daemon running on")
            assert f"error[wyoming]: cannot listen on 127.0.0.1:{port}" in d.output()


def test_status_reports_the_server(daemon: DaemonProc) -> None:
    part = daemon.status()["wyoming"]
    print(json.dumps(part))
    assert part["listening"] and part["port"] == daemon.port and part["error"] == ""
    assert part["models"] == "loaded"
