"""The four voice backends on the real tiny models: Piper speaks, the wake word, VAD and STT
listen.  No mocks: every score below comes from the ONNX/CTranslate2 models themselves."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import non_speech, silence, spoken

from xnai_edge.audio import SAMPLE_RATE, AudioChunk, chunked
from xnai_edge.audio.wav import read_wav
from xnai_edge.backends.stt import SpeechGate, Transcriber
from xnai_edge.backends.tts import LEAD_FLOOR, LEAD_KEEP_S, Synthesizer, trim_lead
from xnai_edge.backends.vad import WINDOW, VoiceActivity
from xnai_edge.backends.wake import WakeDetector
from xnai_edge.modelstore import ModelStore

SPEECH = Path(__file__).resolve().parents[1] / "data" / "speech"
pytestmark = pytest.mark.slow


def _recordings() -> list[dict[str, str]]:
    manifest = SPEECH / "manifest.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


RECORDINGS = _recordings()


def test_the_recordings_are_in_the_repository() -> None:
    assert len(RECORDINGS) >= 12 and all((SPEECH / r["path"]).is_file() for r in RECORDINGS)


@pytest.fixture(scope="module")
def store(models_dir: Path) -> ModelStore:
    return ModelStore(models_dir)


@pytest.fixture(scope="module")
def synth(store: ModelStore) -> Synthesizer:
    return Synthesizer(store.path("tts", "en_US-joe-medium.onnx"),
                       store.path("tts", "en_US-joe-medium.onnx.json"))


@pytest.fixture(scope="module")
def wake(store: ModelStore) -> WakeDetector:
    return WakeDetector(store.path("wake", "melspectrogram.onnx"),
                        store.path("wake", "embedding_model.onnx"),
                        store.path("wake", "hey_jarvis_v0.1.onnx"))


@pytest.fixture(scope="module")
def vad(store: ModelStore) -> VoiceActivity:
    return VoiceActivity(store.path("vad", "silero_vad.onnx"))


@pytest.fixture(scope="module")
def stt(store: ModelStore, vad: VoiceActivity) -> Transcriber:
    return Transcriber(store.path("stt"), threads=2, vad=vad)


@pytest.fixture(scope="module")
def hey_jarvis(synth: Synthesizer) -> tuple[np.ndarray, list[float]]:
    return spoken(synth, "Hey Jarvis. What is your wake word?")


def _scores(wake: WakeDetector, samples: np.ndarray, chunk: int = 1280) -> np.ndarray:
    wake.reset()
    return np.array([wake.process(c) for c in chunked([samples], chunk)])


# --- TTS ---------------------------------------------------------------------------------

def test_speech_starts_without_its_silent_lead(synth: Synthesizer) -> None:
    """Piper leads each sentence with ~50 ms of near-silence: dead air before an answer."""
    audio = synth.synthesize("Remove a document.")
    first_loud = int(np.flatnonzero(np.abs(audio.astype(np.int32)) > LEAD_FLOOR)[0])
    assert first_loud <= LEAD_KEEP_S * synth.sample_rate + 1
    quiet = np.full(100, LEAD_FLOOR, dtype=np.int16)
    assert len(trim_lead(quiet, 22050)) == 100  # nothing loud: kept whole
    ramp = np.concatenate([quiet, np.array([LEAD_FLOOR + 1, -900], dtype=np.int16)])
    assert list(trim_lead(ramp, 1000)[-3:]) == [LEAD_FLOOR, LEAD_FLOOR + 1, -900]


def test_the_quiet_voice_session_says_the_same(store: ModelStore) -> None:
    """A second session (``quiet_threads``) of the same voice: the same sentence comes out as
    long (Piper's noise makes samples differ run to run; the length is the words)."""
    voice = Synthesizer(store.path("tts", "en_US-joe-medium.onnx"), quiet_threads=2)
    assert voice._quiet_voice is not voice._voice
    loud = voice.stream("The kettle is on.")
    quiet = voice.stream("The kettle is on.", quiet=True)
    (a,), (b,) = list(loud), list(quiet)
    assert 0.9 < len(b) / len(a) < 1.1 and np.abs(b).max() > 1000

def test_piper_streams_one_array_per_sentence(synth: Synthesizer) -> None:
    parts = list(synth.stream("The kettle is on. It boils in three minutes! Anything else?"))
    assert len(parts) == 3 and all(p.dtype == np.int16 for p in parts)
    assert synth.sample_rate == 22050
    whole = synth.synthesize("The kettle is on.")
    assert 0.6 < len(whole) / synth.sample_rate < 3.0
    low = synth.to_16k(whole)
    assert abs(len(low) - len(whole) * SAMPLE_RATE / 22050) <= 2
    assert len(synth.synthesize("   ")) == 0 and list(synth.stream("")) == []


# --- wake word -----------------------------------------------------------------------------

def test_wake_fires_on_hey_jarvis_and_only_there(
        wake: WakeDetector, hey_jarvis: tuple[np.ndarray, list[float]]) -> None:
    audio, ends = hey_jarvis
    scores = _scores(wake, audio)
    assert scores.max() > 0.5
    fired = np.flatnonzero(scores > 0.5)
    first, last = fired[0] * 0.08, (fired[-1] + 1) * 0.08
    assert 1.0 < first <= ends[0] + 0.3, (first, ends)  # during or just after "Hey Jarvis"
    assert last <= ends[0] + 0.8
    assert scores[int((ends[0] + 1.0) / 0.08):].max() < 0.1  # not on "What is your wake word?"


def test_wake_scores_do_not_depend_on_chunk_size(
        wake: WakeDetector, hey_jarvis: tuple[np.ndarray, list[float]]) -> None:
    audio, _ = hey_jarvis
    by_hop = _scores(wake, audio)
    wake.reset()
    odd = [wake.process(c) for c in chunked([audio], 3 * 1280)]  # max over 3 hops each
    assert max(odd) == pytest.approx(by_hop.max(), abs=1e-5)


def test_wake_reset_forgets_the_past(wake: WakeDetector,
                                     hey_jarvis: tuple[np.ndarray, list[float]]) -> None:
    audio, _ = hey_jarvis
    first = _scores(wake, audio)
    again = _scores(wake, audio)
    assert np.allclose(first, again, atol=1e-5)


@pytest.mark.parametrize("row", RECORDINGS, ids=lambda r: r["path"])
def test_other_speech_does_not_wake(wake: WakeDetector, row: dict[str, str]) -> None:
    assert _scores(wake, read_wav(SPEECH / row["path"])).max() < 0.1


@pytest.mark.parametrize("name", list(non_speech()))
def test_noise_and_music_do_not_wake(wake: WakeDetector, name: str) -> None:
    assert _scores(wake, non_speech()[name]).max() < 0.1


def test_noise_switched_on_after_silence_stays_far_below_threshold(wake: WakeDetector) -> None:
    """The classifier reacts a little to a sudden onset of broadband noise (0.11 measured for
    pink noise at -20 dBFS after digital silence), still far below the usual 0.5."""
    for name in ("pink noise", "white noise", "loud white noise"):
        audio = np.concatenate([silence(2.0), non_speech()[name]])
        assert _scores(wake, audio).max() < 0.2, name


# --- VAD -----------------------------------------------------------------------------------

def test_vad_finds_the_speech_and_not_the_silence(
        vad: VoiceActivity, hey_jarvis: tuple[np.ndarray, list[float]]) -> None:
    audio, ends = hey_jarvis
    vad.reset()
    flags = [(c.start, vad.is_speech(c)) for c in chunked([audio], 1280)]
    speech_times = [t for t, s in flags if s]
    assert speech_times, "no speech found"
    assert 0.9 <= speech_times[0] <= 1.3  # speech starts after 1 s of silence
    assert ends[-1] - 0.3 <= speech_times[-1] <= ends[-1] + 0.3
    assert sum(s for _, s in flags) * 0.08 > 0.6 * (ends[-1] - 1.0)


def test_vad_streaming_equals_whole_clip(vad: VoiceActivity,
                                         hey_jarvis: tuple[np.ndarray, list[float]]) -> None:
    audio, _ = hey_jarvis
    whole = vad.probabilities(audio)
    vad.reset()
    streamed = [vad.probability(AudioChunk(audio[i:i + WINDOW], i / SAMPLE_RATE))
                for i in range(0, len(audio) - WINDOW + 1, WINDOW)]
    assert np.allclose(whole[:len(streamed)], streamed, atol=1e-6)


VOICED = {"sung vowel"}
"""Singing is voice: the VAD rightly passes it, and the Whisper layer of the gate must stop it."""


@pytest.mark.parametrize("name", list(non_speech()))
def test_vad_layer_of_the_gate(vad: VoiceActivity, name: str) -> None:
    summary = vad.summary(non_speech()[name])
    gate = SpeechGate()
    passes = (summary.total >= gate.min_speech_seconds
              and summary.longest >= gate.min_speech_run_seconds)
    assert passes == (name in VOICED), summary


# --- STT -----------------------------------------------------------------------------------

def test_stt_transcribes_the_piper_question(
        stt: Transcriber, hey_jarvis: tuple[np.ndarray, list[float]]) -> None:
    audio, _ = hey_jarvis
    result = stt.transcribe(audio)
    assert "wake word" in result.text.lower(), result
    assert result.rejected == "" and result.speech_seconds > 1.0
    assert result.audio_seconds == pytest.approx(len(audio) / SAMPLE_RATE)


@pytest.mark.parametrize("name", list(non_speech()))
def test_non_speech_gives_no_text(stt: Transcriber, name: str) -> None:
    result = stt.transcribe(non_speech()[name])
    assert result.text == "" and result.rejected, result


@pytest.mark.parametrize("name", list(non_speech()))
def test_whisper_layer_alone_rejects_non_speech(store: ModelStore, name: str,
                                                whisper_only: Transcriber) -> None:
    """Without the VAD in front, the Whisper-statistics layer of the gate still holds."""
    result = whisper_only.transcribe(non_speech()[name])
    assert result.text == "" and result.rejected in ("whisper", "hallucination"), result


@pytest.fixture(scope="module")
def whisper_only(store: ModelStore) -> Transcriber:
    return Transcriber(store.path("stt"), threads=2, vad=None)


def test_speech_with_silence_around_it_is_kept(stt: Transcriber) -> None:
    row = next(r for r in RECORDINGS if r["path"] == "goforward.wav")
    audio = np.concatenate([silence(1.5), read_wav(SPEECH / row["path"]), silence(1.5)])
    assert "forward" in stt.transcribe(audio).text.lower()


def test_empty_clip(stt: Transcriber) -> None:
    result = stt.transcribe(np.zeros(0, dtype=np.int16))
    assert result.text == "" and result.rejected == "vad"
