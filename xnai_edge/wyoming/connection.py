"""One client connection: read events within the limits, serve requests one after another.

How a request ends when it cannot be served -- chosen by what Home Assistant waits for (it has
no timeouts of its own):

* ``synthesize``: ``error``, then ``audio-stop`` (HA reads until ``audio-stop``); the
  connection stays usable.
* ``transcribe``: ``error``, then the connection is closed once the client has sent its
  ``audio-stop`` (HA reads until ``transcript`` or the end of the stream; an empty transcript
  would be a lie: "nothing was said").
* ``detect``: ``error``, then the connection is closed at once (HA streams audio until it
  hears back; a wake stream has no natural end).
* malformed or oversized input: ``error``, then close (the stream cannot be trusted).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import ByteStream
from anyio.streams.buffered import BufferedByteReceiveStream
from wyoming.asr import Transcript
from wyoming.audio import AudioStop
from wyoming.error import Error
from wyoming.event import Event

from xnai_edge.config import VoiceConfig
from xnai_edge.control import Controls
from xnai_edge.errors import XnaiError
from xnai_edge.wyoming.framing import encode_event, read_event
from xnai_edge.wyoming.info import Catalog
from xnai_edge.wyoming.limits import Limits, WyomingError
from xnai_edge.wyoming.priority import LoopPriority
from xnai_edge.wyoming.requests import (
    AsrRequest,
    SpeechOut,
    WakeRequest,
    speech_parts,
    synthesize,
)

LINGER_S = 2.0
TIER_CHECK_S = 1.0
"""A wake stream looks at the tier again after this much audio."""
LINGER_BYTES = 4 * 1024 * 1024


@dataclass
class Stats:
    clients: int = 0
    connections: int = 0
    served: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("describe", "transcribe", "synthesize", "detect"), 0))
    errors: int = 0
    last_error: str = ""


@dataclass
class Services:
    """What every connection shares: the one ``Controls``, the cached catalog, the priority
    gate, the wake-hop limiter and the counters."""

    controls: Controls
    catalog: Catalog
    priority: LoopPriority
    voice: VoiceConfig
    limits: Limits
    wake_limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(1))
    stats: Stats = field(default_factory=Stats)


class _Refused:
    """A transcribe refused at its start: its audio is read and dropped until audio-stop."""


class Connection:
    def __init__(self, stream: ByteStream, services: Services) -> None:
        self._stream = stream
        self._s = services
        self._request: AsrRequest | WakeRequest | _Refused | None = None
        self._tier_checked_at = 0.0

    async def run(self) -> None:
        reader = BufferedByteReceiveStream(self._stream)
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError,
                                 anyio.EndOfStream, OSError):
            while True:
                try:
                    event = await read_event(reader, self._s.limits)
                    if event is None or not await self._dispatch(event):
                        return
                except WyomingError as exc:
                    await self.send_error(exc)
                    if exc.fatal:
                        await self._linger(reader)
                        return
                except XnaiError as exc:  # a backend failed: report it, keep the daemon
                    await self.send_error(exc)
                    await self._linger(reader)
                    return

    async def _linger(self, reader: BufferedByteReceiveStream) -> None:
        """Close gently after an error: end our side, then read and drop what the client is
        still sending (bounded), so the kernel does not answer it with a reset that would
        destroy the ``error`` event before the client has read it."""
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError,
                                 anyio.EndOfStream, OSError):
            await self._stream.send_eof()
            dropped = 0
            with anyio.move_on_after(LINGER_S):
                while dropped < LINGER_BYTES:
                    dropped += len(await reader.receive())

    async def send(self, event: Event | bytes) -> None:
        data = event if isinstance(event, bytes) else encode_event(event)
        with anyio.fail_after(self._s.limits.write_timeout_s):
            await self._stream.send(data)

    async def send_error(self, exc: XnaiError) -> None:
        self._s.stats.errors += 1
        self._s.stats.last_error = f"{exc.code}: {exc.message}"
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError,
                                 TimeoutError, OSError):
            await self.send(Error(text=exc.message, code=exc.code).event())

    # ------------------------------------------------------------------ dispatch
    async def _dispatch(self, event: Event) -> bool:
        """Handle one event; False when the connection should close."""
        kind, data = event.type, event.data
        if kind == "describe":
            self._s.stats.served["describe"] += 1
            await self.send(self._s.catalog.info_bytes)
        elif kind == "ping":
            await self.send(Event(type="pong", data={"text": data.get("text")}))
        elif kind == "transcribe":
            return await self._transcribe(data)
        elif kind == "detect":
            await self._detect(data)
        elif kind == "synthesize":
            await self._synthesize(data)
        elif kind == "audio-start":
            if not isinstance(self._request, _Refused):
                self._current().start(data)
        elif kind == "audio-chunk":
            await self._chunk(data, event.payload or b"")
        elif kind == "audio-stop":
            return await self._audio_stop()
        return True  # other events are not for us: the protocol says drop them

    def _current(self) -> AsrRequest | WakeRequest:
        """The request audio belongs to; audio without one is transcribed (as others do)."""
        if self._request is None or isinstance(self._request, _Refused):
            self._request = self._new_asr(None)
        return self._request

    def _check_tier(self, *, fatal: bool = False) -> None:
        status = self._s.controls.status()
        if status.get("tier") == 4:
            raise WyomingError(
                f"the device is in tier 4 ({status.get('tier_name', 'minimal')}: "
                f"{status.get('tier_reason', 'memory pressure')}): speech services are paused "
                "until memory recovers", code="tier", fatal=fatal)

    def _new_asr(self, language: str | None) -> AsrRequest:
        if self._s.catalog.asr_model is None:
            raise WyomingError("this device has no speech-to-text model installed",
                               code="model", fatal=True)
        if language and language.replace("_", "-").lower().split("-")[0] != "en":
            raise WyomingError(f"language {language!r} is not supported: the speech-to-text "
                               "model understands English (en)", code="language", fatal=True)
        return AsrRequest(language, self._s.limits)

    # ------------------------------------------------------------------ requests
    async def _transcribe(self, data: dict[str, Any]) -> bool:
        language = data.get("language")
        self._request = self._new_asr(language if isinstance(language, str) else None)
        try:
            self._check_tier()
        except WyomingError as exc:
            await self.send_error(exc)
            self._request = _Refused()
        return True

    async def _chunk(self, data: dict[str, Any], payload: bytes) -> None:
        if isinstance(self._request, _Refused):
            return
        request = self._current()
        if isinstance(request, AsrRequest):
            request.chunk(data, payload)
            return
        if request.audio_s - self._tier_checked_at >= TIER_CHECK_S:  # a wake stream may run
            self._tier_checked_at = request.audio_s                    # for hours
            self._check_tier(fatal=True)
        for out in await request.chunk(data, payload):
            await self.send(out)

    async def _audio_stop(self) -> bool:
        request, self._request = self._request, None
        if isinstance(request, _Refused):
            return False  # the error was sent at transcribe; closing ends HA's wait
        if isinstance(request, WakeRequest):
            for out in request.stop():
                await self.send(out)
            return True
        samples = (request or self._new_asr(None)).finish()
        if not len(samples):  # audio-stop without audio: nothing was said
            await self.send(Transcript(text="", language="en").event())
            return True
        self._check_tier(fatal=True)
        backends = await self._s.controls.voice_backends()
        result = await self._s.priority.run(backends.stt.transcribe, samples)
        self._s.stats.served["transcribe"] += 1
        await self.send(Transcript(text=result.text, language="en").event())
        return True

    async def _detect(self, data: dict[str, Any]) -> None:
        catalog = self._s.catalog
        names = data.get("names") or []
        if catalog.wake_model is None:
            raise WyomingError("this device has no wake-word model installed", code="model",
                               fatal=True)
        if not isinstance(names, list) or (names and catalog.wake_model not in names):
            raise WyomingError(f"unknown wake word {names!r}; this device detects "
                               f"{catalog.wake_model!r}", code="wake-word", fatal=True)
        self._check_tier(fatal=True)
        backends = await self._s.controls.voice_backends()
        voice = self._s.voice
        self._tier_checked_at = 0.0
        self._request = WakeRequest(backends.wake.fresh(), catalog.wake_model,
                                    threshold=voice.wake_threshold,
                                    cooldown_s=voice.wake_cooldown_s,
                                    limiter=self._s.wake_limiter)
        self._s.stats.served["detect"] += 1

    async def _synthesize(self, data: dict[str, Any]) -> None:
        catalog = self._s.catalog
        out = SpeechOut(rate=catalog.tts_rate)
        try:
            self._check_tier()
            if catalog.tts_voice is None:
                raise WyomingError("this device has no text-to-speech voice installed",
                                   code="model")
            voice = data.get("voice") or {}
            name = voice.get("name") if isinstance(voice, dict) else None
            if name is not None and name != catalog.tts_voice:
                raise WyomingError(f"unknown voice {name!r}; this device speaks with "
                                   f"{catalog.tts_voice!r}", code="voice")
            text = data.get("text")
            parts = speech_parts(text if isinstance(text, str) else "", self._s.limits)
            tts = (await self._s.controls.voice_backends()).tts
            out = SpeechOut(rate=int(tts.sample_rate))

            async def run(part: str) -> Any:
                return await self._s.priority.run(tts.synthesize, part)

            async for event in synthesize(parts, out, run):
                await self.send(event)
            self._s.stats.served["synthesize"] += 1
        except XnaiError as exc:  # WyomingError, or the voice failed: HA still gets its stop
            await self.send_error(exc)
        await self.send(AudioStop().event())
