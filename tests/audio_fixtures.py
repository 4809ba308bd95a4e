"""Audio made at test time: non-speech clips from numpy, WAV files in any format, Piper speech.

Everything is deterministic except Piper (its generator noise is not seeded); tests that use
Piper speech assert on properties that hold for any run (a score above a bar, words present).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 16000
Int16 = npt.NDArray[np.int16]


def _scale(x: npt.NDArray[np.float64], dbfs: float) -> Int16:
    rms = float(np.sqrt(np.mean(x**2))) or 1.0
    y = x / rms * 32768.0 * 10 ** (dbfs / 20)
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


def silence(seconds: float) -> Int16:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def white_noise(seconds: float, dbfs: float = -20.0, seed: int = 1) -> Int16:
    return _scale(np.random.default_rng(seed).standard_normal(int(seconds * RATE)), dbfs)


def pink_noise(seconds: float, dbfs: float = -20.0, seed: int = 2) -> Int16:
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    return _scale(np.fft.irfft(spectrum, n), dbfs)


def hum(seconds: float, mains: float = 50.0, dbfs: float = -25.0, seed: int = 3) -> Int16:
    """Mains hum: the fundamental and odd harmonics, with a little hiss."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * mains * k * t) / k for k in (1, 3, 5, 7))
    x = x + 0.02 * np.random.default_rng(seed).standard_normal(len(t))
    return _scale(np.asarray(x, dtype=np.float64), dbfs)


def music(seconds: float, bpm: float = 112.0, dbfs: float = -18.0, seed: int = 4) -> Int16:
    """A chord sequence (C G Am F) plucked on every beat, with a bass note, kick and hi-hat."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    x = np.zeros(n + RATE)
    beat = int(60.0 / bpm * RATE)
    chords = [(261.6, 329.6, 392.0), (196.0, 246.9, 293.7), (220.0, 261.6, 329.6),
              (174.6, 220.0, 261.6)]
    t = np.arange(beat) / RATE
    pluck = np.exp(-t * 6.0)
    for i, start in enumerate(range(0, n, beat)):
        chord = chords[(i // 4) % len(chords)]
        note = sum(np.sin(2 * np.pi * f * h * t) / h**1.5 for f in chord for h in (1, 2, 3))
        bass = 1.5 * np.sin(2 * np.pi * chord[0] / 2 * t)
        x[start:start + beat] += (note + bass) * pluck
        kick = np.sin(2 * np.pi * (120 - 60 * t) * t) * np.exp(-t * 25.0)
        x[start:start + beat] += 3.0 * kick if i % 2 == 0 else 0.0
        half = start + beat // 2
        hat = rng.standard_normal(min(800, beat)) * np.exp(-np.arange(min(800, beat)) / 150)
        x[half:half + len(hat)] += 0.6 * hat
    return _scale(x[:n], dbfs)


def sung_vowel(seconds: float, f0: float = 220.0, dbfs: float = -18.0) -> Int16:
    """A held, sung "ah": harmonics of ``f0`` with 5 Hz vibrato, shaped by a formant at 700 Hz."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / RATE
    x = sum(np.sin(k * phase) * np.exp(-(((k * f0 - 700) / 400) ** 2)) for k in range(1, 20))
    return _scale(np.asarray(x, dtype=np.float64), dbfs)


def babble(seconds: float, dbfs: float = -20.0, seed: int = 5) -> Int16:
    """Pink noise pulsed at a syllable rate (4 Hz): speech-like rhythm without words."""
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    return _scale(pink_noise(seconds, seed=seed).astype(np.float64) * envelope, dbfs)


def pcm_wav_bytes(samples: npt.NDArray[np.float64], rate: int, channels: int, sampwidth: int,
                  *, extensible: bool = False) -> bytes:
    """A WAV file's bytes: float samples in [-1, 1], interleaved (frames x channels), written as
    8-bit unsigned or 16/24/32-bit signed PCM, optionally as WAVE_FORMAT_EXTENSIBLE."""
    x = np.clip(np.asarray(samples, dtype=np.float64).reshape(-1), -1.0, 1.0)
    if sampwidth == 1:
        data = np.rint(x * 127 + 128).astype(np.uint8).tobytes()
    elif sampwidth == 3:
        ints = np.rint(x * (2**23 - 1)).astype(np.int32)
        data = ints.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        dtype = {2: "<i2", 4: "<i4"}[sampwidth]
        data = np.rint(x * (2 ** (8 * sampwidth - 1) - 1)).astype(dtype).tobytes()
    align = channels * sampwidth
    base = struct.pack("<HHIIHH", 0xFFFE if extensible else 1, channels, rate, rate * align,
                       align, 8 * sampwidth)
    if extensible:
        guid = struct.pack("<H", 1) + bytes.fromhex("000000001000800000aa00389b71")
        base += struct.pack("<HHI", 22, 8 * sampwidth, 0) + guid
    fmt = b"fmt " + struct.pack("<I", len(base)) + base
    body = b"WAVE" + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write_wav(path: Path, samples: Int16, rate: int = RATE) -> Path:
    path.write_bytes(pcm_wav_bytes(samples.astype(np.float64) / 32767.0, rate, 1, 2))
    return path


def tone(seconds: float, freq: float, rate: int) -> npt.NDArray[np.float64]:
    t = np.arange(int(seconds * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t)


def dominant_frequency(samples: Int16, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def spoken(synth: object, text: str, *, lead: float = 1.0, tail: float = 1.0,
           ) -> tuple[Int16, list[float]]:
    """``text`` said by Piper (a ``Synthesizer``), at 16 kHz, with ``lead``/``tail`` seconds of
    silence around it; also the audio time at which each sentence ends."""
    parts = [synth.to_16k(p) for p in synth.stream(text)]  # type: ignore[attr-defined]
    ends, at = [], lead
    for p in parts:
        at += len(p) / RATE
        ends.append(at)
    return np.concatenate([silence(lead), *parts, silence(tail)]), ends


NON_SPEECH: dict[str, Int16] = {}
"""Filled lazily by ``non_speech()``."""


def non_speech() -> dict[str, Int16]:
    """The clips the STT gate must turn into no text (and the wake word must ignore)."""
    if not NON_SPEECH:
        NON_SPEECH.update({
            "silence": silence(4.0),
            "white noise": white_noise(4.0),
            "quiet white noise": white_noise(4.0, dbfs=-45),
            "loud white noise": white_noise(4.0, dbfs=-6),
            "pink noise": pink_noise(4.0),
            "hum 50 Hz": hum(4.0, 50.0),
            "hum 60 Hz": hum(4.0, 60.0),
            "music 90 bpm loud": music(8.0, bpm=90, dbfs=-10),
            "music 112 bpm": music(8.0),
            "music 128 bpm quiet": music(8.0, bpm=128, dbfs=-35),
            "sung vowel": sung_vowel(6.0),
            "syllable-rate babble": babble(6.0),
        })
    return NON_SPEECH
