"""``xnai-edge listen``, ``say`` and ``doctor`` as a user runs them: real subprocesses, real
models, recordings spoken by Piper at fixture time.  Bad audio files end in one
``error[audio]`` line and exit code 1 before any model is loaded."""

from __future__ import annotations

import json
import struct
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_fixtures import pcm_wav_bytes, silence, write_wav
from conftest import CliRunner

from xnai_edge.audio.chunk import SAMPLE_RATE, convert
from xnai_edge.audio.devices import list_devices
from xnai_edge.backends.registry import load_tts
from xnai_edge.backends.tts import Synthesizer
from xnai_edge.config import load_config
from xnai_edge.demo_cli import make_recording
from xnai_edge.knowledge.base import MANUAL_KEY

pytestmark = pytest.mark.slow

TIMINGS = {"speech_end_to_transcript", "speech_end_to_first_audio", "end_of_turn_ms",
           "end_of_turn_to_first_audio", "total", "stt", "retrieve", "llm_total", "tts_total"}
STAMPS = {"wake", "speech_end", "end_of_turn", "transcript", "first_token", "first_audio",
          "done"}


@pytest.fixture(scope="module")
def tts(models_dir: Path) -> Synthesizer:
    return load_tts(models_dir, load_config(None))


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One knowledge base for the runs that load models (the manual is ingested once)."""
    return tmp_path_factory.mktemp("listen-data")


@pytest.fixture(scope="module")
def question_wav(tts: Synthesizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "question.wav"
    make_recording(tts, "What is your wake word?", path)
    return path


def wav_info(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes() / \
            w.getframerate()


def wav_samples(path: Path) -> np.ndarray[Any, np.dtype[np.int16]]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def assert_clean_failure(proc: Any, code: str, *phrases: str) -> str:
    """Exit 1, one ``error[code]: ...`` line on stderr naming the problem, no traceback."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error[{code}]: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    message: str = lines[0]
    return message


def check_interaction(line: dict[str, Any]) -> None:
    assert set(line) >= {"wake_score", "transcript", "answer", "sources", "tier", "timings_ms"}
    assert 0.5 <= line["wake_score"] <= 1.0
    assert "wake word" in line["transcript"].lower()
    assert "jarvis" in line["answer"].lower()
    assert line["sources"] and line["sources"][0]["path"] == MANUAL_KEY
    assert isinstance(line["tier"], int)
    t = line["timings_ms"]
    assert set(t) >= TIMINGS and all(isinstance(v, int | float) and v >= 0 for v in t.values())
    assert 0 < t["speech_end_to_transcript"] <= t["speech_end_to_first_audio"] < t["total"]
    assert t["stt"] > 0 and t["tts_total"] > 0
    # speech_end is the last speech frame; the decision came end_of_turn_ms later.
    s = line["stamps"]
    assert set(s) == STAMPS
    assert s["wake"] < s["speech_end"] < s["end_of_turn"] <= s["first_audio"] < s["done"]
    assert t["end_of_turn_ms"] == pytest.approx((s["end_of_turn"] - s["speech_end"]) * 1000,
                                                abs=2.0)
    assert t["speech_end_to_first_audio"] == pytest.approx(
        (s["first_audio"] - s["speech_end"]) * 1000, abs=2.0)


def test_listen_json_and_output_wav(cli: CliRunner, question_wav: Path, shared_data: Path,
                                    tmp_path: Path) -> None:
    """In real time, as the demo does: one JSON line, and what the device said, aligned with
    the input."""
    out = tmp_path / "out.wav"
    proc = cli("listen", "--input", str(question_wav), "--output", str(out), "--json",
               data=shared_data)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    check_interaction(lines[0])

    rate, channels, width, seconds = wav_info(out)
    assert (rate, channels, width) == (22050, 1, 2)
    _, _, _, in_seconds = wav_info(question_wav)
    t = lines[0]["timings_ms"]
    # As long as the input, plus the tail of the answer that was still playing at its end.
    assert in_seconds - 0.1 <= seconds <= in_seconds + t["total"] / 1000
    said = wav_samples(out)
    assert not said[:int(2.0 * rate)].any(), "the device spoke during the question"
    assert np.sqrt(np.mean(said.astype(float) ** 2)) > 100
    # Aligned with the input clock: silent to the sample until the first answer audio.
    first_audio = round(lines[0]["stamps"]["first_audio"] * rate)
    assert not said[:first_audio - 20].any()  # stamps are rounded to 1 ms
    assert np.abs(said[first_audio:first_audio + rate // 2].astype(int)).max() > 1000


def test_listen_converts_8_bit_stereo_44k(cli: CliRunner, question_wav: Path,
                                          shared_data: Path, tmp_path: Path) -> None:
    """The same question as 8-bit unsigned stereo at 44.1 kHz: converted at the edge, heard."""
    mono = wav_samples(question_wav).astype(np.float64) / 32768.0
    resampled = convert((mono * 32767).astype(np.int16), SAMPLE_RATE, out_rate=44100)
    x = resampled.astype(np.float64) / 32768.0
    odd = tmp_path / "q-8bit-stereo-44k.wav"
    odd.write_bytes(pcm_wav_bytes(np.stack([x, x * 0.9], axis=1), 44100, 2, 1))
    out = tmp_path / "out.wav"
    proc = cli("listen", "--input", str(odd), "--output", str(out), "--json", "--fast",
               data=shared_data)
    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    assert "wake word" in line["transcript"].lower() and "jarvis" in line["answer"].lower()
    assert wav_info(out)[0] == 22050


def test_listen_without_wake_word_prints_nothing(cli: CliRunner, shared_data: Path,
                                                 tmp_path: Path) -> None:
    quiet = write_wav(tmp_path / "quiet.wav", silence(3.0))
    out = tmp_path / "out.wav"
    proc = cli("listen", "--input", str(quiet), "--output", str(out), "--json", "--fast",
               data=shared_data)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
    rate, _, _, seconds = wav_info(out)
    assert rate == 22050 and seconds == pytest.approx(3.0, abs=0.1)
    assert not wav_samples(out).any()


def _bad_files(tmp: Path) -> dict[str, tuple[Path, list[str]]]:
    tone = np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440) * 0.5
    good = pcm_wav_bytes(tone, 16000, 1, 2)
    mulaw = bytearray(good)
    struct.pack_into("<H", mulaw, 20, 7)  # format code 7: mu-law
    mp3 = bytearray(good)
    struct.pack_into("<H", mp3, 20, 0x55)
    files = {
        "missing": (tmp / "nope.wav", ["nope.wav", "No such file"]),
        "empty": (tmp / "empty.wav", ["empty.wav", "empty"]),
        "not a wav": (tmp / "text.wav", ["not a WAV file"]),
        "truncated header": (tmp / "trunc.wav", ["corrupt"]),
        "mu-law": (tmp / "mulaw.wav", ["mu-law, not PCM", "ffmpeg"]),
        "mp3 in wav": (tmp / "mp3.wav", ["MP3, not PCM"]),
        "no audio": (tmp / "noaudio.wav", ["holds no audio"]),
    }
    (tmp / "empty.wav").write_bytes(b"")
    (tmp / "text.wav").write_text("this is not audio\n" * 20)
    (tmp / "trunc.wav").write_bytes(good[:30])
    (tmp / "mulaw.wav").write_bytes(bytes(mulaw))
    (tmp / "mp3.wav").write_bytes(bytes(mp3))
    (tmp / "noaudio.wav").write_bytes(good[:44])
    return files


BAD = ["missing", "empty", "not a wav", "truncated header", "mu-law", "mp3 in wav", "no audio"]


@pytest.mark.parametrize("case", BAD)
def test_listen_refuses_bad_audio_clearly(cli: CliRunner, tmp_path: Path, case: str) -> None:
    path, phrases = _bad_files(tmp_path)[case]
    out = tmp_path / "out.wav"
    proc = cli("listen", "--input", str(path), "--output", str(out), timeout=60)
    assert_clean_failure(proc, "audio", *phrases)
    assert not out.exists(), "nothing is written for an input that cannot be read"


def test_listen_needs_an_output_for_a_file(cli: CliRunner, question_wav: Path) -> None:
    proc = cli("listen", "--input", str(question_wav), timeout=60)
    assert_clean_failure(proc, "input", "--output")


@pytest.mark.skipif(bool(list_devices()), reason="this machine has a sound card")
def test_listen_mic_without_sound_card(cli: CliRunner, tmp_path: Path) -> None:
    proc = cli("listen", "--mic", "--output", str(tmp_path / "o.wav"), timeout=120)
    assert_clean_failure(proc, "audio", "no audio input device", "doctor")


def test_say_writes_a_22050_hz_wav(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "said.wav"
    proc = cli("say", "The kettle is on. It boils in three minutes.", "--output", str(out),
               timeout=120)
    assert proc.returncode == 0, proc.stderr
    rate, channels, width, seconds = wav_info(out)
    assert (rate, channels, width) == (22050, 1, 2)
    assert 1.5 < seconds < 8.0
    assert np.sqrt(np.mean(wav_samples(out).astype(float) ** 2)) > 300
    empty = cli("say", "   ", "--output", str(tmp_path / "none.wav"), timeout=60)
    assert_clean_failure(empty, "input", "empty")


def test_doctor_runs(cli: CliRunner) -> None:
    proc = cli("doctor", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "audio devices:" in proc.stdout
    for role in ("wake", "stt", "tts", "llm"):
        assert f"model {role}" in proc.stdout
    assert "present" in proc.stdout
