"""The ``info`` reply, built once from the config and the model manifest: no model is loaded.

Home Assistant opens a new connection for every request, sends ``describe`` and gives up after
1 s (four tries), so the reply must never wait for a model: it is built at start-up from the
manifest and the Piper voice's small JSON file, encoded once, and sent as bytes.  Every program,
model and voice carries ``name``, ``attribution {name, url}``, ``installed: true``,
``description`` and its own ``languages`` (HA reads each of them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    Info,
    TtsProgram,
    TtsVoice,
    WakeModel,
    WakeProgram,
)

from xnai_edge import __version__
from xnai_edge.config import Config
from xnai_edge.errors import XnaiError
from xnai_edge.modelstore import ModelStore
from xnai_edge.wyoming.framing import encode_event

STT_LANGUAGES = ["en"]
"""The transcriber decodes English only (``DECODE_OPTIONS``), whatever the model could do."""
WAKE_LANGUAGES = ["en"]

FASTER_WHISPER = Attribution(name="SYSTRAN", url="https://github.com/SYSTRAN/faster-whisper")
WHISPER = Attribution(name="OpenAI", url="https://github.com/openai/whisper")
PIPER = Attribution(name="Open Home Foundation", url="https://github.com/OHF-Voice/piper1-gpl")
PIPER_VOICES = Attribution(name="rhasspy", url="https://huggingface.co/rhasspy/piper-voices")
OPENWAKEWORD = Attribution(name="dscripka", url="https://github.com/dscripka/openWakeWord")


@dataclass(frozen=True)
class Catalog:
    """What this server offers (names as in ``info``) and the encoded ``info`` event."""

    asr_model: str | None
    tts_voice: str | None
    tts_rate: int
    tts_languages: tuple[str, ...]
    wake_model: str | None
    wake_phrase: str
    info: Info
    info_bytes: bytes


def _head(description: str, fallback: str) -> str:
    """'faster-whisper tiny.en (CTranslate2 directory)' -> 'faster-whisper tiny.en'."""
    return description.split(" (", 1)[0].strip() or fallback


def wake_phrase(model_stem: str) -> str:
    """'hey_jarvis_v0.1' -> 'hey jarvis'."""
    return model_stem.split("_v", 1)[0].replace("_", " ").strip()


def _voice(store: ModelStore, set_name: str) -> tuple[str, int, list[str]]:
    """(voice name, sample rate, languages) of the configured Piper voice."""
    spec = store.spec("tts", set_name=set_name)
    onnx = next(f.name for f in spec.files if f.name.endswith(".onnx"))
    rate, languages = 22050, ["en_US"]
    config = store.model_dir("tts", set_name=set_name) / f"{onnx}.json"
    try:
        meta = json.loads(config.read_text(encoding="utf-8"))
        rate = int(meta.get("audio", {}).get("sample_rate", rate))
        code = meta.get("language", {}).get("code")
        if isinstance(code, str) and code:
            languages = [code]
    except (OSError, ValueError, AttributeError):
        pass  # not installed yet: the request will say so; info keeps the manifest's name
    return Path(onnx).stem, rate, languages


def build_catalog(config: Config, models_dir: Path) -> Catalog:
    """The programs the installed model set can serve (a role missing from the manifest is
    simply not offered)."""
    store, set_name = ModelStore(models_dir), config.models.set
    info = Info()
    asr_model = tts_voice = wake_model = None
    tts_rate, tts_languages = 22050, ["en_US"]
    try:
        spec = store.spec("stt", set_name=set_name)
        asr_model = _head(spec.description, f"{set_name} stt")
        info.asr.append(AsrProgram(
            name="xnai-edge stt", attribution=FASTER_WHISPER, installed=True,
            description="xnai-edge speech to text (faster-whisper, speech gate)",
            version=__version__, models=[AsrModel(
                name=asr_model, attribution=WHISPER, installed=True,
                description=spec.description or asr_model, version=None,
                languages=list(STT_LANGUAGES))]))
    except XnaiError:
        pass
    try:
        tts_voice, tts_rate, tts_languages = _voice(store, set_name)
        spec = store.spec("tts", set_name=set_name)
        info.tts.append(TtsProgram(
            name="xnai-edge tts", attribution=PIPER, installed=True,
            description="xnai-edge text to speech (Piper)", version=__version__,
            voices=[TtsVoice(name=tts_voice, attribution=PIPER_VOICES, installed=True,
                             description=spec.description or tts_voice, version=None,
                             languages=list(tts_languages))]))
    except (XnaiError, StopIteration):
        tts_voice = None
    try:
        store.spec("wake", set_name=set_name)
        wake_model = Path(config.voice.wake_model).stem
        info.wake.append(WakeProgram(
            name="xnai-edge wake", attribution=OPENWAKEWORD, installed=True,
            description="xnai-edge wake word (openWakeWord on onnxruntime)",
            version=__version__, models=[WakeModel(
                name=wake_model, attribution=OPENWAKEWORD, installed=True,
                description=f"openWakeWord \"{wake_phrase(wake_model)}\"", version=None,
                languages=list(WAKE_LANGUAGES), phrase=wake_phrase(wake_model))]))
    except XnaiError:
        wake_model = None
    return Catalog(asr_model=asr_model, tts_voice=tts_voice, tts_rate=tts_rate,
                   tts_languages=tuple(tts_languages), wake_model=wake_model,
                   wake_phrase=wake_phrase(wake_model or ""), info=info,
                   info_bytes=encode_event(info.event()))
