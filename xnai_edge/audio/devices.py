"""Microphone and speaker through sounddevice (PortAudio); ``list_devices`` for ``doctor``.

The PortAudio callbacks only copy frames: into a bounded queue for the microphone (when the
consumer lags, the oldest block is dropped and counted, so latency never grows), out of a
bounded buffer for the speaker.  Conversion to 16 kHz happens in the consumer's thread, never in
the callback.  A machine without a sound card gets an ``AudioError`` that says so.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any, Literal

import numpy as np

from xnai_edge.audio.chunk import (
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    AudioChunk,
    Converter,
    Int16Array,
    convert,
)
from xnai_edge.audio.error import AudioError

Kind = Literal["input", "output"]
_DOCTOR = "`xnai-edge doctor` lists devices"


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: int
    default_input: bool
    default_output: bool


def _sounddevice() -> ModuleType:
    try:
        import sounddevice
        module: ModuleType = sounddevice
    except OSError as exc:  # the module raises OSError when libportaudio is missing
        raise AudioError(f"PortAudio is not installed ({exc}); install it with "
                         "`apt-get install libportaudio2`") from exc
    return module


def list_devices() -> list[DeviceInfo]:
    """Every PortAudio device (empty on a machine without a sound card)."""
    sd = _sounddevice()
    default_in, default_out = (int(i) for i in sd.default.device)
    return [DeviceInfo(int(d["index"]), str(d["name"]), int(d["max_input_channels"]),
                       int(d["max_output_channels"]), int(d["default_samplerate"]),
                       int(d["index"]) == default_in, int(d["index"]) == default_out)
            for d in sd.query_devices()]


def find_device(device: str | int | None, kind: Kind) -> DeviceInfo:
    """The device to open: by index, by (unique, case-insensitive, partial) name, or default."""
    devices = list_devices()
    capable = [d for d in devices if (d.inputs if kind == "input" else d.outputs) > 0]
    if not capable:
        raise AudioError(f"no audio {kind} device found; {_DOCTOR}")
    names = ", ".join(f"{d.index}: {d.name}" for d in capable)
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    if device is None:
        defaults = [d for d in capable if (d.default_input if kind == "input"
                                            else d.default_output)]
        return (defaults or capable)[0]
    if isinstance(device, int):
        for d in capable:
            if d.index == device:
                return d
        raise AudioError(f"no audio {kind} device with index {device}; {kind} devices: {names}")
    wanted = device.casefold()
    exact = [d for d in capable if d.name.casefold() == wanted]
    partial = exact or [d for d in capable if wanted in d.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    what = "matches several" if partial else "matches no"
    raise AudioError(f"{device!r} {what} audio {kind} device; {kind} devices: {names}")


def _pick_rate(sd: ModuleType, info: DeviceInfo, kind: Kind, wanted: int) -> int:
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=info.index, channels=1, dtype="int16", samplerate=wanted)
        return wanted
    except Exception:  # noqa: BLE001 (PortAudio says "invalid sample rate" in many ways)
        return info.default_rate


class CaptureQueue:
    """The bridge between PortAudio's thread and the consumer: ``put`` (in the callback) only
    copies a block into a bounded queue, dropping the oldest when full; ``get`` (consumer
    thread) converts to 16 kHz and re-cuts into fixed chunks."""

    def __init__(self, rate: int, *, chunk_samples: int = CHUNK_SAMPLES,
                 max_blocks: int = 64) -> None:
        self.chunk_samples = chunk_samples
        self._queue: queue.Queue[Int16Array] = queue.Queue(maxsize=max_blocks)
        self._converter = Converter(rate, 1, 2)
        self._pending = np.zeros(0, dtype=np.int16)
        self._emitted = 0
        self.dropped = 0
        """Blocks dropped because the consumer fell behind."""

    def put(self, frames: Any) -> None:
        block = np.array(frames, dtype=np.int16).reshape(-1)  # a copy: PortAudio reuses it
        try:
            self._queue.put_nowait(block)
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()
            self.dropped += 1
            self._queue.put_nowait(block)

    def get(self, timeout: float | None = None) -> AudioChunk | None:
        """The next chunk, or None when ``timeout`` seconds pass without enough audio.  Start
        times count delivered audio (a dropped block is not counted)."""
        while len(self._pending) < self.chunk_samples:
            try:
                block = self._queue.get(timeout=timeout)
            except queue.Empty:
                return None
            self._pending = np.concatenate([self._pending, self._converter.push(block)])
        out = self._pending[:self.chunk_samples]
        self._pending = self._pending[self.chunk_samples:]
        chunk = AudioChunk(out, self._emitted / SAMPLE_RATE)
        self._emitted += len(out)
        return chunk


class Microphone:
    """16 kHz mono int16 ``AudioChunk``s from an input device; ``with Microphone() as mic:``.
    Opens at 16 kHz when the device can, else at its default rate (converted off-callback)."""

    def __init__(self, device: str | int | None = None, *, chunk_samples: int = CHUNK_SAMPLES,
                 max_queued_chunks: int = 64) -> None:
        self.device = device
        self.chunk_samples = chunk_samples
        self.max_queued_chunks = max_queued_chunks
        self.capture: CaptureQueue | None = None
        self._stream: Any = None
        self.name = ""
        self.rate = SAMPLE_RATE

    def open(self) -> Microphone:
        sd = _sounddevice()
        info = find_device(self.device, "input")
        rate = _pick_rate(sd, info, "input", SAMPLE_RATE)
        capture = CaptureQueue(rate, chunk_samples=self.chunk_samples,
                               max_blocks=self.max_queued_chunks)

        def callback(indata: Any, frames: int, time: Any, status: Any) -> None:
            capture.put(indata[:, 0])

        try:
            self._stream = sd.InputStream(samplerate=rate, channels=1, dtype="int16",
                                          device=info.index, callback=callback,
                                          blocksize=self.chunk_samples * rate // SAMPLE_RATE)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioError(f"cannot open microphone {info.name!r}: {exc}; {_DOCTOR}") from exc
        self.capture, self.name, self.rate = capture, info.name, rate
        return self

    def read(self, timeout: float | None = None) -> AudioChunk | None:
        """The next chunk, or None when ``timeout`` seconds pass without one."""
        if self.capture is None:
            raise AudioError("microphone is not open; call open() first")
        return self.capture.get(timeout)

    def __iter__(self) -> Iterator[AudioChunk]:
        while self._stream is not None:
            chunk = self.read(timeout=0.5)
            if chunk is not None:
                yield chunk

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()

    def __enter__(self) -> Microphone:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Speaker:
    """Plays mono int16 at ``rate``; ``play`` blocks only while ``max_buffer_seconds`` are
    queued; ``stop`` drops what is queued (barge-in); ``drain`` waits until it has played."""

    def __init__(self, device: str | int | None = None, *, rate: int = 22050,
                 max_buffer_seconds: float = 10.0) -> None:
        self.device, self.rate = device, rate
        self._buffer = np.zeros(0, dtype=np.int16)
        self._cond = threading.Condition()
        self._stream: Any = None
        self._device_rate = rate
        self._max_seconds = max_buffer_seconds
        self._max = int(max_buffer_seconds * rate)
        self._epoch = 0

    def open(self) -> Speaker:
        sd = _sounddevice()
        info = find_device(self.device, "output")
        self._device_rate = _pick_rate(sd, info, "output", self.rate)
        self._max = int(self._max_seconds * self._device_rate)
        try:
            self._stream = sd.OutputStream(samplerate=self._device_rate, channels=1,
                                           dtype="int16", device=info.index,
                                           callback=self._callback)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioError(f"cannot open speaker {info.name!r}: {exc}; {_DOCTOR}") from exc
        return self

    def _callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        with self._cond:
            n = min(frames, len(self._buffer))
            outdata[:n, 0] = self._buffer[:n]
            outdata[n:, 0] = 0
            self._buffer = self._buffer[n:]
            self._cond.notify_all()

    def play(self, samples: Int16Array) -> None:
        """Queue ``samples``; returns once the last of them is queued (or ``stop`` is called)."""
        if self._stream is None:
            raise AudioError("speaker is not open; call open() first")
        if self._device_rate != self.rate:
            samples = convert(samples, self.rate, out_rate=self._device_rate)
        step = max(1, self._max // 2)
        with self._cond:
            epoch = self._epoch
            for start in range(0, len(samples), step):
                self._cond.wait_for(lambda: len(self._buffer) < step or self._stream is None
                                    or self._epoch != epoch)
                if self._stream is None or self._epoch != epoch:
                    return
                self._buffer = np.concatenate([self._buffer, samples[start:start + step]])

    def stop(self) -> None:
        """Barge-in: drop what is queued, and make a ``play`` in progress return."""
        with self._cond:
            self._buffer = np.zeros(0, dtype=np.int16)
            self._epoch += 1
            self._cond.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self._buffer) == 0, timeout=timeout)

    def close(self) -> None:
        self.stop()
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()

    def __enter__(self) -> Speaker:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
