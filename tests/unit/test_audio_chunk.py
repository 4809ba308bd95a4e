"""The one converter to 16 kHz mono int16, and re-cutting blocks into fixed chunks."""

from __future__ import annotations

import numpy as np
import pytest
from audio_fixtures import dominant_frequency, tone
from hypothesis import given, settings
from hypothesis import strategies as st

from xnai_edge.audio import SAMPLE_RATE, AudioChunk, AudioError, Converter, chunked, convert


def test_int16_at_16k_passes_through_unchanged() -> None:
    x = np.arange(-1000, 1000, dtype=np.int16)
    assert np.array_equal(convert(x, SAMPLE_RATE), x)
    assert np.array_equal(convert(x.tobytes(), SAMPLE_RATE), x)


@pytest.mark.parametrize("sampwidth", [1, 2, 3, 4])
def test_every_pcm_width_decodes_to_the_same_signal(sampwidth: int) -> None:
    x = tone(0.1, 440, SAMPLE_RATE)
    raw = {1: lambda: np.rint(x * 127 + 128).astype(np.uint8).tobytes(),
           2: lambda: np.rint(x * 32767).astype("<i2").tobytes(),
           3: lambda: np.rint(x * (2**23 - 1)).astype("<i4").view(np.uint8)
           .reshape(-1, 4)[:, :3].tobytes(),
           4: lambda: np.rint(x * (2**31 - 1)).astype("<i4").tobytes()}[sampwidth]()
    out = convert(raw, SAMPLE_RATE, 1, sampwidth)
    tolerance = 300 if sampwidth == 1 else 2  # 8-bit keeps 1/128 of full scale
    assert out.dtype == np.int16
    assert np.abs(out.astype(int) - np.rint(x * 32767)).max() <= tolerance


def test_stereo_is_mixed_down_and_44k1_resampled() -> None:
    left, right = tone(1.0, 440, 44100), tone(1.0, 1000, 44100)
    frames = np.stack([left, right], axis=1)
    out = convert(np.rint(frames * 32767).astype("<i2").tobytes(), 44100, 2, 2)
    assert abs(len(out) - SAMPLE_RATE) <= 2
    spectrum = np.abs(np.fft.rfft(out.astype(float)))
    freqs = np.fft.rfftfreq(len(out), 1 / SAMPLE_RATE)
    peaks = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert peaks == pytest.approx([440, 1000], abs=2)


def test_float_arrays_and_float_wav_data_convert() -> None:
    x = tone(0.5, 300, 22050).astype(np.float32)
    out = convert(x, 22050)
    assert dominant_frequency(out) == pytest.approx(300, abs=3)
    assert np.array_equal(convert(x.astype("<f4").tobytes(), 22050, 1, 4, float_format=True),
                          out)


def test_streaming_in_blocks_equals_converting_at_once() -> None:
    x = np.rint(tone(2.0, 523, 48000) * 20000).astype("<i2")
    whole = convert(x.tobytes(), 48000)
    conv = Converter(48000, 1, 2)
    raw = x.tobytes()
    parts = [conv.push(raw[i:i + 1001]) for i in range(0, len(raw), 1001)]  # odd: torn samples
    parts.append(conv.flush())
    assert np.array_equal(np.concatenate(parts), whole)


def test_unsupported_widths_and_arrays_are_audio_errors() -> None:
    with pytest.raises(AudioError, match="sample width"):
        convert(b"\0" * 10, SAMPLE_RATE, 1, 5)
    with pytest.raises(AudioError, match="int16 or float"):
        convert(np.zeros(10, dtype=np.int32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="bad audio format"):
        Converter(0, 1, 2)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 5000), max_size=12), chunk=st.integers(1, 2000))
def test_chunked_recuts_without_losing_or_reordering(sizes: list[int], chunk: int) -> None:
    data = np.arange(sum(sizes), dtype=np.int64).astype(np.int16)
    blocks, at = [], 0
    for n in sizes:
        blocks.append(data[at:at + n])
        at += n
    out = list(chunked(blocks, chunk, start=2.0))
    assert np.array_equal(np.concatenate([c.samples for c in out]) if out else data[:0], data)
    assert all(len(c.samples) == chunk for c in out[:-1])
    assert all(0 < len(c.samples) <= chunk for c in out)
    for i, c in enumerate(out):
        assert c.start == pytest.approx(2.0 + i * chunk / SAMPLE_RATE)


def test_chunk_times() -> None:
    c = AudioChunk(np.zeros(1280, dtype=np.int16), 1.0)
    assert c.duration == pytest.approx(0.08)
    assert c.end == pytest.approx(1.08)
