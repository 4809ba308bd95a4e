"""WAV files of every PCM flavour in, 16 kHz mono int16 chunks out; bad files are AudioErrors."""

from __future__ import annotations

import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import dominant_frequency, pcm_wav_bytes, tone, write_wav

from xnai_edge.audio import SAMPLE_RATE, AudioError
from xnai_edge.audio.wav import WavSink, WavSource, read_wav


def _wav(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("rate", "channels", "sampwidth", "extensible"), [
    (8000, 1, 1, False),      # 8-bit unsigned telephone audio
    (16000, 1, 2, False),
    (48000, 1, 3, True),      # 24-bit as most tools write it (WAVE_FORMAT_EXTENSIBLE)
    (22050, 1, 3, False),
    (44100, 2, 2, False),     # CD stereo
    (96000, 2, 4, True),      # 32-bit integer
])
def test_pcm_formats_convert_to_16k_mono(tmp_path: Path, rate: int, channels: int,
                                         sampwidth: int, extensible: bool) -> None:
    x = tone(1.5, 440, rate)
    frames = np.stack([x] * channels, axis=1)
    path = _wav(tmp_path, "a.wav", pcm_wav_bytes(frames, rate, channels, sampwidth,
                                                 extensible=extensible))
    source = WavSource(path)
    assert (source.info.rate, source.info.channels, source.info.sampwidth) == (
        rate, channels, sampwidth)
    assert source.duration == pytest.approx(1.5, abs=1e-3)
    chunks = list(source)
    assert all(len(c.samples) == 1280 for c in chunks[:-1])
    out = np.concatenate([c.samples for c in chunks])
    assert out.dtype == np.int16
    assert abs(len(out) - 1.5 * SAMPLE_RATE) <= 2
    assert dominant_frequency(out) == pytest.approx(440, abs=2)
    assert np.sqrt(np.mean(out.astype(float) ** 2)) == pytest.approx(0.5 / np.sqrt(2) * 32768,
                                                                     rel=0.05)


def test_float32_wav(tmp_path: Path) -> None:
    x = tone(0.5, 1000, 32000).astype("<f4")
    fmt = struct.pack("<HHIIHH", 3, 1, 32000, 128000, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack(
        "<I", x.nbytes) + x.tobytes()
    out = read_wav(_wav(tmp_path, "f.wav", b"RIFF" + struct.pack("<I", len(body)) + body))
    assert dominant_frequency(out) == pytest.approx(1000, abs=3)


def test_extra_chunks_and_odd_sizes_are_skipped(tmp_path: Path) -> None:
    good = pcm_wav_bytes(tone(0.2, 440, 16000), 16000, 1, 2)
    # a LIST chunk of odd size (padded to even) between fmt and data
    fmt_end = 12 + 8 + 16
    extra = b"LIST" + struct.pack("<I", 5) + b"abcde" + b"\0"
    data = good[:fmt_end] + extra + good[fmt_end:]
    assert len(read_wav(_wav(tmp_path, "x.wav", data))) == 3200


def test_a_killed_recorder_file_is_read_to_its_end(tmp_path: Path) -> None:
    x = np.rint(tone(0.5, 440, 16000) * 30000).astype("<i2")
    for size in (0, 0xFFFFFFFF, 10**9):
        head = pcm_wav_bytes(np.zeros(0), 16000, 1, 2)[:-4] + struct.pack("<I", size)
        assert np.array_equal(read_wav(_wav(tmp_path, "k.wav", head + x.tobytes())), x)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "no fmt chunk"),
    (b"ID3\x03\x00" + b"\0" * 100, "not a WAV file"),
    (b"RF64" + b"\xff" * 4 + b"WAVE", "RF64"),
    (pcm_wav_bytes(np.zeros(0), 16000, 1, 2), "holds no audio"),
    (pcm_wav_bytes(np.zeros(0), 16000, 1, 2)[:36], "no data chunk"),
    (b"RIFF\x14\x00\x00\x00WAVEfmt \x04\x00\x00\x00\x01\x00\x01\x00", "fmt chunk of 4"),
])
def test_corrupt_and_empty_files_are_audio_errors(tmp_path: Path, data: bytes,
                                                  message: str) -> None:
    path = _wav(tmp_path, "bad.wav", data)
    with pytest.raises(AudioError, match=message) as err:
        WavSource(path)
    assert err.value.code == "audio" and str(path) in str(err.value)


def test_non_pcm_codecs_are_refused_with_the_fix(tmp_path: Path) -> None:
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)  # mu-law
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 4) + b"\0" * 4
    path = _wav(tmp_path, "mulaw.wav", b"RIFF" + struct.pack("<I", len(body)) + body)
    with pytest.raises(AudioError, match=r"mu-law, not PCM; convert it with .*ffmpeg"):
        WavSource(path)


def test_missing_file_is_an_audio_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="cannot read audio file"):
        WavSource(tmp_path / "nope.wav")


@pytest.mark.slow
def test_an_hour_streams_in_bounded_memory(tmp_path: Path) -> None:
    """A 1-hour 44.1 kHz stereo WAV (635 MB, sparse: silence costs no disk) is streamed with a
    peak of a few hundred KiB of Python/numpy allocations."""
    rate, channels, seconds = 44100, 2, 3600
    path = tmp_path / "hour.wav"
    nbytes = rate * channels * 2 * seconds
    header = pcm_wav_bytes(np.zeros(0), rate, channels, 2)
    header = header[:4] + struct.pack("<I", 36 + nbytes) + header[8:-4] + struct.pack("<I", nbytes)
    with path.open("wb") as f:
        f.write(header)
        f.truncate(len(header) + nbytes)
    started = time.perf_counter()
    tracemalloc.start()
    try:
        count = samples = 0
        for chunk in WavSource(path):
            count += 1
            samples += len(chunk.samples)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert abs(samples - seconds * SAMPLE_RATE) <= 2
    assert count == -(-samples // 1280)
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    print(f"1 h of 44.1 kHz stereo: {time.perf_counter() - started:.1f} s, "
          f"peak {peak / 2**10:.0f} KiB")


def test_sink_writes_int16_at_any_rate(tmp_path: Path) -> None:
    x = np.rint(tone(1.0, 300, 22050) * 20000).astype(np.int16)
    with WavSink(tmp_path / "out.wav", rate=22050) as sink:
        sink.write(x[:1000])
        sink.write(x[1000:])
    source = WavSource(tmp_path / "out.wav")
    assert (source.info.rate, source.info.channels, source.info.sampwidth) == (22050, 1, 2)
    assert dominant_frequency(read_wav(tmp_path / "out.wav")) == pytest.approx(300, abs=2)
    back = write_wav(tmp_path / "16k.wav", x[:16000])
    assert np.array_equal(read_wav(back), x[:16000])
