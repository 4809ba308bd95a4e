"""Sound devices: a machine without a sound card gets a clear AudioError; the capture queue
between PortAudio's callback and the consumer is bounded and converts off-callback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import dominant_frequency, tone

from xnai_edge.audio import AudioError
from xnai_edge.audio.devices import CaptureQueue, Microphone, Speaker, find_device, list_devices

no_card = pytest.mark.skipif(bool(list_devices()), reason="this machine has a sound card")


@no_card
def test_no_sound_card_microphone_is_a_clear_audio_error() -> None:
    with pytest.raises(AudioError) as err:
        Microphone().open()
    assert err.value.code == "audio"
    assert str(err.value) == ("no audio input device found; `xnai-edge doctor` lists devices")


@no_card
def test_no_sound_card_speaker_and_named_device() -> None:
    with pytest.raises(AudioError, match="no audio output device found"), Speaker():
        pass
    with pytest.raises(AudioError, match="no audio input device found"):
        find_device("USB mic", "input")
    assert list_devices() == []


def test_reading_a_closed_microphone_says_so() -> None:
    with pytest.raises(AudioError, match="not open"):
        Microphone().read(timeout=0)


def test_capture_queue_converts_48k_blocks_into_16k_chunks() -> None:
    capture = CaptureQueue(48000, chunk_samples=1280)
    audio = np.rint(tone(1.0, 440, 48000) * 20000).astype(np.int16)
    for i in range(0, len(audio), 3840):
        capture.put(audio[i:i + 3840])
    chunks = []
    while (chunk := capture.get(timeout=0)) is not None:
        chunks.append(chunk)
    assert len(chunks) >= 11 and all(len(c.samples) == 1280 for c in chunks)
    assert [c.start for c in chunks[:3]] == pytest.approx([0.0, 0.08, 0.16])
    assert dominant_frequency(np.concatenate([c.samples for c in chunks])) == pytest.approx(
        440, abs=2)


def test_capture_queue_drops_the_oldest_block_when_the_consumer_lags() -> None:
    capture = CaptureQueue(16000, chunk_samples=4, max_blocks=3)
    for value in range(5):
        capture.put(np.full(4, value, dtype=np.int16))
    assert capture.dropped == 2
    got = [capture.get(timeout=0) for _ in range(4)]
    assert [int(c.samples[0]) for c in got if c is not None] == [2, 3, 4]
    assert got[-1] is None


def test_capture_queue_copies_the_callback_buffer() -> None:
    capture = CaptureQueue(16000, chunk_samples=2)
    buffer = np.array([[1], [2]], dtype=np.int16)
    capture.put(buffer[:, 0])
    buffer[:] = 0  # PortAudio reuses its buffer after the callback returns
    chunk = capture.get(timeout=0)
    assert chunk is not None and chunk.samples.tolist() == [1, 2]


ALSA_CONF = Path("/usr/share/alsa/alsa.conf")
NULL_DEVICE_SCRIPT = """
import time
import numpy as np
from xnai_edge.audio import AudioError
from xnai_edge.audio.devices import Microphone, Speaker, list_devices

devices = list_devices()
assert [d.name for d in devices] == ["xnainull"], devices
with Microphone("XNAI") as mic:                      # partial, case-insensitive name
    chunks = [mic.read(timeout=5) for _ in range(5)]
assert all(c is not None and len(c.samples) == 1280 for c in chunks), chunks
assert [round(c.start, 2) for c in chunks] == [0.0, 0.08, 0.16, 0.24, 0.32]
with Speaker(0, rate=22050, max_buffer_seconds=0.5) as speaker:
    speaker.play(np.zeros(22050, dtype=np.int16))   # 1 s through a 0.5 s buffer
    assert speaker.drain(timeout=10)
    speaker.stop()
for wrong in ("usb mic", 7):
    try:
        Microphone(wrong).open()
    except AudioError as exc:
        assert "input devices: 0: xnainull" in str(exc), exc
    else:
        raise AssertionError(f"{wrong!r} opened")
print("ok")
"""


@pytest.mark.skipif(not ALSA_CONF.is_file(), reason="no ALSA configuration to extend")
def test_real_portaudio_streams_on_an_alsa_null_device(tmp_path: Path) -> None:
    """Microphone and Speaker through real PortAudio/ALSA on a ``null`` PCM (no sound card
    needed): the callback/queue path, device selection by name and index, drain."""
    conf = tmp_path / "asound.conf"
    conf.write_text(f"<{ALSA_CONF}>\npcm.xnainull {{\n  type null\n"
                    '  hint { show on description "xnai-edge test device" }\n}\n')
    env = {**os.environ, "ALSA_CONFIG_PATH": str(conf)}
    proc = subprocess.run([sys.executable, "-c", NULL_DEVICE_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
