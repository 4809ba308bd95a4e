"""The audio edge: everything becomes 16 kHz mono int16 ``AudioChunk``s here, exactly once.

Sources (WAV file, raw stdin, microphone) convert whatever they read -- any PCM rate, channel
count and sample width -- at the boundary; everything downstream (wake word, VAD, STT) sees one
format.  Sinks take int16 at the rate of whoever made the samples (Piper: 22,050 Hz).
Only ``devices`` imports sounddevice, and only when a device is opened or listed.
"""

from __future__ import annotations

from xnai_edge.audio.chunk import (
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    AudioChunk,
    Converter,
    chunked,
    convert,
)
from xnai_edge.audio.error import AudioError

__all__ = [
    "CHUNK_SAMPLES",
    "SAMPLE_RATE",
    "AudioChunk",
    "AudioError",
    "Converter",
    "chunked",
    "convert",
]
