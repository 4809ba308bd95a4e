"""Settings as frozen dataclasses, loaded strictly from TOML.

The dataclass defaults are the defaults; ``config/default.toml`` documents every key with the
same values (a test keeps the two equal).  A config file names only what it changes.  Anything
the loader does not recognise -- an unknown section or key, a value of the wrong type or out of
range -- is one ``ConfigError`` that names the file, the key and what was expected, because a
typo in a config file must never be silently ignored on an appliance nobody is watching.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xnai_edge.errors import ConfigError


def _opt(default: Any, doc: str, *, min: float | None = None, max: float | None = None,
         choices: tuple[str, ...] | None = None) -> Any:
    """A field with its documentation and bounds kept next to its default."""
    meta = {"doc": doc, "min": min, "max": max, "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ModelsConfig:
    """Which model set the appliance uses (see config/models.toml)."""

    set: str = _opt("tiny", "Model set to use ('tiny' comes from PyPI packages).",
                    choices=("tiny", "standard"))


@dataclass(frozen=True)
class EmbedConfig:
    """The sentence embedder (MiniLM, ONNX) used for ingest and search."""

    threads: int = _opt(2, "onnxruntime intra-op threads for the embedder.", min=1, max=64)
    batch_size: int = _opt(16, "Chunks embedded and written per step of an ingest (the model "
                           "itself runs 4 at a time, measured fastest).", min=1, max=1024)
    max_tokens: int = _opt(256, "Longest input the embedder sees, in word pieces.", min=16,
                           max=512)


@dataclass(frozen=True)
class LlmConfig:
    """The local language model (llama.cpp) that phrases answers."""

    threads: int = _opt(2, "llama.cpp threads for generation.", min=1, max=64)
    context_tokens: int = _opt(2048, "Context window of the LLM, in tokens.", min=256,
                               max=32768)
    max_answer_tokens: int = _opt(64, "Longest spoken answer, in tokens.", min=8, max=1024)
    temperature: float = _opt(0.0, "Sampling temperature; 0 = greedy (repeatable).", min=0.0,
                              max=2.0)
    omp_wait_policy: str = _opt("PASSIVE", "OpenMP wait policy: PASSIVE lets idle llama.cpp "
                                "threads sleep, so the wake word keeps its core.",
                                choices=("PASSIVE", "ACTIVE"))


@dataclass(frozen=True)
class IngestConfig:
    """Turning documents into chunks."""

    chunk_chars: int = _opt(1000, "Target chunk size in characters.", min=200, max=20000)
    overlap_chars: int = _opt(150, "Characters repeated between neighbouring chunks.", min=0,
                              max=5000)
    max_file_mb: int = _opt(512, "Files larger than this many MiB are refused.", min=1, max=100000)
    bundled_manual: bool = _opt(True, "Ingest the appliance's own user manual on first use.")


@dataclass(frozen=True)
class RetrievalConfig:
    """Hybrid search: BM25 (SQLite FTS5) + vectors (FAISS)."""

    k: int = _opt(5, "Passages returned by a search.", min=1, max=100)
    candidates: int = _opt(40, "Candidates taken from each of BM25 and FAISS before fusion.",
                           min=1, max=1000)
    dense_weight: float = _opt(0.5, "Weight of the dense score in the fusion (BM25 gets the "
                               "rest).", min=0.0, max=1.0)
    hnsw_min_chunks: int = _opt(50000, "From this many chunks on, FAISS uses HNSW instead of "
                                "an exact index.", min=1, max=100_000_000)
    rerank_depth: int = _opt(20, "Head of the fused ranking re-ordered by its best sentence.",
                             min=1, max=200)
    rerank_weight: float = _opt(0.5, "Weight of the best sentence's share of the query in that "
                                "re-ordering (0 = off).", min=0.0, max=10.0)
    sentence_dense_weight: float = _opt(1.0, "Weight of the cosine of a chunk's closest "
                                        "sentence to the query in that re-ordering.",
                                        min=0.0, max=10.0)


@dataclass(frozen=True)
class AnswerConfig:
    """The grounded answerer: when to answer and when to say "I don't know"."""

    passages: int = _opt(3, "Passages shown to the LLM (tier 0).", min=1, max=20)
    min_answerability: float = _opt(0.0, "Answer only when the fitted answerability score "
                                    "(0-1) reaches this; 0 = the threshold fitted with it "
                                    "(xnai_edge/data/answerability.json).", min=0.0, max=1.0)
    max_answer_words: int = _opt(30, "Spoken answers longer than this many words are cut to "
                                 "that many around the question's words (25 words lost 4 "
                                 "points of right answers on SQuAD dev, 30 kept p95 <= 30).",
                                 min=3, max=200)
    typed_answer_words: int = _opt(15, "... and to this many around the answer when the "
                                   "question asks for a date, number, name or place and the "
                                   "sentence has one.", min=3, max=200)
    llm_min_words: int = _opt(1000, "Answer sentences shorter than this are read out as they "
                              "are; longer ones are shortened by the LLM (and checked). 1000 = "
                              "never: the tiny LLM changed no answer on 60 dev questions and "
                              "cost 2-5 s before the first audio (docs/answering.md); a profile "
                              "with a production LLM lowers it (0 = every answer).",
                              min=0, max=1000)
    max_question_chars: int = _opt(1000, "Longer questions are refused.", min=10, max=100000)
    similar_sentences: int = _opt(4, "The best this many candidate sentences are also compared "
                                  "with the question by the embedder, which then helps pick "
                                  "the answer (~6 ms a sentence on a 2-core CPU; 0 = off, "
                                  "words alone pick it).", min=0, max=100)


@dataclass(frozen=True)
class AudioConfig:
    """Where sound comes from and goes to."""

    input: str = _opt("default", "Microphone: 'default', a device name or index, a WAV file "
                      "path, or 'none'.")
    output: str = _opt("default", "Speaker: 'default', a device name or index, a WAV file "
                       "path, or 'none'.")


@dataclass(frozen=True)
class VoiceConfig:
    """Wake word, end of speech and follow-up."""

    wake_model: str = _opt("hey_jarvis_v0.1.onnx", "Wake word model file in the wake model "
                           "dir ('Hey Jarvis').")
    wake_threshold: float = _opt(0.5, "Wake word score that counts as a detection.", min=0.0,
                                 max=1.0)
    wake_cooldown_s: float = _opt(1.5, "Ignore further detections for this long after one.",
                                  min=0.0, max=10.0)
    vad_threshold: float = _opt(0.5, "Speech probability that counts as speech.", min=0.0,
                                max=1.0)
    hangover_s: float = _opt(0.8, "Silence that ends an utterance (0.4 s more while the "
                             "utterance is still short, for slow speakers).", min=0.2, max=5.0)
    start_timeout_s: float = _opt(5.0, "Give up if no speech starts this long after the wake "
                                  "word.", min=0.5, max=30.0)
    max_utterance_s: float = _opt(15.0, "Longest question, in seconds.", min=1.0, max=120.0)
    followup_s: float = _opt(6.0, "After an answer, listen this long for a follow-up without "
                             "the wake word (0 = off).", min=0.0, max=60.0)
    speak_source: bool = _opt(True, "Say which document the answer came from.")
    complete_silence_s: float = _opt(0.3, "Silence that ends a turn whose transcript is a "
                                     "complete sentence (others wait hangover_s).", min=0.1,
                                     max=5.0)
    statement_silence_s: float = _opt(0.5, "... and one whose transcript is a complete "
                                      "statement (ends in a full stop).", min=0.1, max=5.0)
    min_silence_s: float = _opt(0.25, "No turn ends on less silence than this.", min=0.1,
                                max=5.0)
    incremental_stt: bool = _opt(True, "Transcribe while the person speaks and end the turn "
                                 "from the transcript (false: full hangover, then one pass).")


@dataclass(frozen=True)
class SttConfig:
    """Speech to text (faster-whisper)."""

    threads: int = _opt(2, "CTranslate2 threads for faster-whisper (2 on 2 cores: the pass "
                        "after the last word ~0.1 s sooner, docs/voice.md).", min=1, max=64)
    beam_size: int = _opt(1, "Beam size (1 = greedy, fastest).", min=1, max=10)
    pass_every_s: float = _opt(1.0, "While speech goes on, transcribe the utterance so far "
                               "after this much new audio.", min=0.2, max=10.0)


@dataclass(frozen=True)
class TtsConfig:
    """Text to speech (Piper)."""

    threads: int = _opt(1, "onnxruntime threads for Piper while an answer plays (2 on 2 cores "
                        "made input chunks late, so playback would skip: docs/voice.md).",
                        min=1, max=64)
    quiet_threads: int = _opt(2, "Threads for an answer's first part, made while nothing plays "
                              "(a second voice session, +130 MB resident, if above threads; "
                              "0 = threads).", min=0, max=64)
    vary: bool = _opt(True, "Piper's random variation of timing and pitch (the voice's "
                      "noise_scale / noise_w); false: the same text gives the same samples "
                      "every time (the tests' spoken wake phrase).")


@dataclass(frozen=True)
class MemoryConfig:
    """Where memory pressure is read from, and how often (DESIGN §5)."""

    psi_path: str = _opt("/proc/pressure/memory", "PSI file: /proc/pressure/memory (whole "
                         "machine), a cgroup v2 memory.pressure file, 'cgroup' (this service's "
                         "own cgroup v2 memory.pressure) or '' (none).")
    meminfo_path: str = _opt("/proc/meminfo", "File with MemAvailable and MemTotal ('' = none).")
    cgroup_dir: str = _opt("auto", "Memory cgroup directory: 'auto' (the process's own, v1 or "
                           "v2, from /proc/self/cgroup), a path, or '' (none).")
    interval_s: float = _opt(2.0, "Seconds between readings (a PSI trigger wakes the monitor "
                             "earlier).", min=0.05, max=60.0)
    psi_trigger: str = _opt("some 150000 1000000", "PSI poll trigger written to the PSI file "
                            "('some|full <stall µs> <window µs>'); '' = plain polling. "
                            "Unprivileged triggers need a window that is a multiple of 2 s: "
                            "the monitor widens it (same share) when the kernel refuses.")
    reserve_mb: int = _opt(512, "MiB kept free for the rest of the system when deciding whether "
                           "a model fits (admission check).", min=0, max=1_000_000)

    def __post_init__(self) -> None:
        if self.psi_trigger:
            from xnai_edge.health.trigger import parse_spec  # no config import there

            try:
                parse_spec(self.psi_trigger)
            except ValueError as exc:
                raise ConfigError(f"[memory] psi_trigger: {exc}") from None


@dataclass(frozen=True)
class TiersConfig:
    """When to step down to cheaper ways of answering (thresholds for tiers 1-4) and back up."""

    quiet_s: float = _opt(120.0, "Seconds of calm readings before stepping up one tier.",
                          min=0.0, max=86400.0)
    psi_lean: float = _opt(10.0, "PSI some avg10 % from which tier 1 (lean) is used.",
                           min=0.0, max=100.0)
    psi_extractive: float = _opt(20.0, "PSI some avg10 % for tier 2 (extractive).", min=0.0,
                                 max=100.0)
    psi_canned: float = _opt(40.0, "PSI some avg10 % for tier 3 (canned).", min=0.0, max=100.0)
    psi_minimal: float = _opt(60.0, "PSI some avg10 % for tier 4 (minimal).", min=0.0,
                              max=100.0)
    avail_lean_mb: int = _opt(1500, "MemAvailable below this many MiB: tier 1 (lean).", min=0,
                              max=1_000_000)
    avail_extractive_mb: int = _opt(800, "MemAvailable MiB below which tier 2 is used.", min=0,
                                    max=1_000_000)
    avail_canned_mb: int = _opt(400, "MemAvailable MiB below which tier 3 is used.", min=0,
                                max=1_000_000)
    avail_minimal_mb: int = _opt(200, "MemAvailable MiB below which tier 4 is used.", min=0,
                                 max=1_000_000)
    cgroup_lean_pct: float = _opt(85.0, "Service cgroup working set, % of memory.high (else "
                                  "memory.max), from which tier 1 is used.", min=0.0, max=1000.0)
    cgroup_extractive_pct: float = _opt(90.0, "Cgroup working set % of its limit for tier 2.",
                                        min=0.0, max=1000.0)
    cgroup_canned_pct: float = _opt(95.0, "Cgroup working set % of its limit for tier 3.",
                                    min=0.0, max=1000.0)
    cgroup_minimal_pct: float = _opt(98.0, "Cgroup working set % of its limit for tier 4.",
                                     min=0.0, max=1000.0)

    def __post_init__(self) -> None:
        for name, values, rising in (("psi", self.psi, True), ("avail", self.avail_mb, False),
                                     ("cgroup", self.cgroup_pct, True)):
            ordered = list(values) == sorted(values, reverse=not rising)
            if not ordered:
                raise ConfigError(f"[tiers] {name}_* thresholds must get "
                                  f"{'higher' if rising else 'lower'} from lean to minimal: "
                                  f"{list(values)}")

    @property
    def psi(self) -> tuple[float, float, float, float]:
        return self.psi_lean, self.psi_extractive, self.psi_canned, self.psi_minimal

    @property
    def avail_mb(self) -> tuple[int, int, int, int]:
        return (self.avail_lean_mb, self.avail_extractive_mb, self.avail_canned_mb,
                self.avail_minimal_mb)

    @property
    def cgroup_pct(self) -> tuple[float, float, float, float]:
        return (self.cgroup_lean_pct, self.cgroup_extractive_pct, self.cgroup_canned_pct,
                self.cgroup_minimal_pct)


@dataclass(frozen=True)
class BreakersConfig:
    """Circuit breakers around the model backends (DESIGN §5)."""

    failures: int = _opt(3, "Consecutive failures or timeouts that open a backend's breaker.",
                         min=1, max=100)
    cooldown_s: float = _opt(30.0, "Seconds before an open breaker lets one trial call through.",
                             min=0.0, max=3600.0)
    stt_timeout_s: float = _opt(20.0, "Longest speech-to-text call before it is abandoned.",
                                min=0.1, max=600.0)
    embed_timeout_s: float = _opt(5.0, "Longest embedding call (one question).", min=0.1,
                                  max=600.0)
    llm_timeout_s: float = _opt(30.0, "Longest LLM call (the first sentence of an answer).",
                                min=0.1, max=600.0)
    tts_timeout_s: float = _opt(20.0, "Longest speech synthesis call (one sentence).", min=0.1,
                                max=600.0)


@dataclass(frozen=True)
class MqttConfig:
    """Home Assistant over MQTT: discovery, availability, state, commands (docs/home-assistant.md).

    Off by default: nothing talks to the network until the owner names a broker."""

    enabled: bool = _opt(False, "Connect to an MQTT broker and appear in Home Assistant.")
    host: str = _opt("localhost", "Broker host name or address.")
    port: int = _opt(1883, "Broker port (8883 is usual with TLS).", min=1, max=65535)
    tls_ca_file: str = _opt("", "CA certificate file (PEM) to verify the broker with; '' = no "
                            "TLS.")
    tls_cert_file: str = _opt("", "Client certificate (PEM) for brokers that ask for one; '' = "
                              "none.")
    tls_key_file: str = _opt("", "Private key of the client certificate; '' = none.")
    username: str = _opt("", "User name on the broker; '' = anonymous.")
    password_file: str = _opt("", "File holding the broker password (a trailing newline is "
                              "dropped); '' = the systemd credential 'mqtt-password' in "
                              "$CREDENTIALS_DIRECTORY if there is one, else no password.")
    discovery_prefix: str = _opt("homeassistant", "Home Assistant's MQTT discovery prefix.")
    base_topic: str = _opt("", "Topic under which the device publishes; '' = "
                           "'xnai-edge/<device_id>'.")
    device_name: str = _opt("xnai-edge", "Device name shown in Home Assistant; entity ids are "
                            "<component>.<device_name>_<object_id>.")
    keepalive_s: int = _opt(30, "MQTT keepalive; the broker declares the device offline after "
                            "1.5 times this without a word.", min=5, max=3600)
    state_interval_s: float = _opt(5.0, "Least seconds between two state publications (a "
                                   "change sooner is sent when the interval is over).",
                                   min=0.1, max=3600.0)
    reconnect_max_s: float = _opt(30.0, "Longest wait between two connection attempts (the "
                                  "wait doubles from 1 s up to this).", min=1.0, max=3600.0)
    status_page_url: str = _opt("", "Link from the device in Home Assistant to its status "
                                "page; '' = http://<host name>:<[web] port>/.")


@dataclass(frozen=True)
class WebConfig:
    """The local status page, HTTP API and Prometheus /metrics (docs/web.md)."""

    enabled: bool = _opt(True, "Serve the status page, the API and /metrics.")
    bind: str = _opt("0.0.0.0", "Address to listen on: 0.0.0.0 (every interface: the "
                     "appliance), 127.0.0.1 (this machine only: development).")
    port: int = _opt(8080, "TCP port (0 = any free port, written to the status).", min=0,
                     max=65535)
    max_upload_mb: int = _opt(64, "Largest document upload in MiB; larger ones get 413.", min=1,
                              max=100000)
    request_timeout_s: float = _opt(30.0, "A client that sends no part of its request body for "
                                    "this long gets 408 (a slow client holds a slot briefly).",
                                    min=1.0, max=600.0)


@dataclass(frozen=True)
class WyomingConfig:
    """The Wyoming server: Home Assistant's Assist uses our wake word, STT and TTS.

    Off by default: the protocol has no authentication, so the owner turns it on knowingly."""

    enabled: bool = _opt(False, "Serve the Wyoming protocol (wake word, speech to text, text to "
                         "speech) to Home Assistant.")
    host: str = _opt("0.0.0.0", "Address to listen on.")
    port: int = _opt(10700, "TCP port (0 = any free port).", min=0, max=65535)
    zeroconf: bool = _opt(False, "Announce the server on the LAN as _wyoming._tcp (mDNS).")


@dataclass(frozen=True)
class Config:
    models: ModelsConfig = field(default_factory=ModelsConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    stt: SttConfig = field(default_factory=SttConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    tiers: TiersConfig = field(default_factory=TiersConfig)
    breakers: BreakersConfig = field(default_factory=BreakersConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    web: WebConfig = field(default_factory=WebConfig)
    wyoming: WyomingConfig = field(default_factory=WyomingConfig)


def sections() -> dict[str, type[Any]]:
    """Section name -> dataclass, in file order."""
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def load_config(path: Path | None = None) -> Config:
    """Defaults, overlaid with the keys of ``path`` (if given)."""
    if path is None:
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: dict[str, Any], *, source: str = "<config>") -> Config:
    known = sections()
    built: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in known:
            raise ConfigError(f"{source}: unknown section [{name}]; known sections: "
                              f"{', '.join(known)}")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{name}] must be a table of keys")
        built[name] = _section(known[name], name, value, source)
    return Config(**built)


def _section(cls: type[Any], name: str, raw: dict[str, Any], source: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(f"{source}: unknown key [{name}] {key}; known keys: "
                              f"{', '.join(fields)}")
        values[key] = _check(value, hints[key], fields[key].metadata, f"[{name}] {key}", source)
    try:
        return cls(**values)
    except ConfigError as exc:  # a rule across keys (e.g. thresholds must rise)
        raise ConfigError(f"{source}: {exc.message}") from None


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, str(tp))


def _check(value: Any, tp: Any, meta: typing.Mapping[str, Any], key: str, source: str) -> Any:
    if isinstance(tp, types.UnionType):
        raise ConfigError(f"{source}: {key}: unsupported field type {tp}")
    ok = (isinstance(value, bool) if tp is bool
          else isinstance(value, int | float) and not isinstance(value, bool) if tp is float
          else isinstance(value, tp) and not isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{source}: {key} = {value!r} must be {_type_name(tp)}")
    if tp is float:
        value = float(value)
    lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    # Written as 'not inside' so that nan (TOML allows it) is out of every range.
    if (lo is not None and not value >= lo) or (hi is not None and not value <= hi):
        raise ConfigError(f"{source}: {key} = {value!r} must be between {lo} and {hi}")
    if choices and value not in choices:
        raise ConfigError(f"{source}: {key} = {value!r} must be one of {', '.join(choices)}")
    return value
