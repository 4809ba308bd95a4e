"""Word error rate through our audio path is no worse than faster-whisper used directly.

Ours: WavSource -> 80 ms chunks -> concatenation -> Transcriber (VAD + gate); then the voice
loop itself (wake word, VAD onset and pre-roll, incremental passes, the pass that covers the
last speech frame) on the recordings at 16, 8 and 48 kHz; then ``xnai-edge listen`` in real
time.  Direct: the same model and ``DECODE_OPTIONS`` given the file path (faster-whisper decodes
it with PyAV).  All are scored against the manifest's references after the same normalisation
(case, punctuation, hyphens, digits as words, common abbreviations).
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from audio_fixtures import non_speech, silence, write_wav
from conftest import CliRunner
from lockstep import heard, transcript

from xnai_edge.audio.chunk import SAMPLE_RATE, convert
from xnai_edge.audio.wav import WavSource, read_wav
from xnai_edge.backends.stt import DECODE_OPTIONS, Transcriber
from xnai_edge.backends.vad import VoiceActivity
from xnai_edge.config import load_config
from xnai_edge.context import AppContext
from xnai_edge.modelstore import ModelStore

Int16 = np.ndarray[Any, np.dtype[np.int16]]

SPEECH = Path(__file__).resolve().parents[1] / "data" / "speech"
MANIFEST = SPEECH / "manifest.tsv"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not MANIFEST.is_file(), reason=f"no {MANIFEST}")]

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def number_words(n: int) -> str:
    """0 <= n < 1,000,000 in words ("twenty one", "three hundred five")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    rest = n % 1000
    return number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_words(rest))


def normalise(text: str) -> list[str]:
    text = text.lower().replace("'", "")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"\d+", lambda m: f" {number_words(int(m.group()))} "
                  if len(m.group()) < 7 else m.group(), text)
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return [_ABBREVIATIONS.get(w, w) for w in words]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def wer(pairs: list[tuple[str, str]]) -> float:
    """Corpus WER: all word errors over all reference words."""
    errors = sum(edit_distance(normalise(r), normalise(h)) for r, h in pairs)
    return errors / max(1, sum(len(normalise(r)) for r, _ in pairs))


def test_normaliser_and_wer() -> None:
    assert normalise("Mr. Dashwood's 10 cold-hearted, ill-disposed") == [
        "mister", "dashwoods", "ten", "cold", "hearted", "ill", "disposed"]
    assert number_words(1905) == "one thousand nine hundred five"
    assert wer([("a b c d", "a x c")]) == 0.5
    assert wer([("go forward ten meters", "Go forward 10 meters.")]) == 0.0


def test_our_path_is_no_worse_than_faster_whisper_directly(models_dir: Path) -> None:
    from faster_whisper import WhisperModel

    with MANIFEST.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    store = ModelStore(models_dir)
    ours = Transcriber(store.path("stt"), threads=2,
                       vad=VoiceActivity(store.path("vad", "silero_vad.onnx")))
    direct = WhisperModel(str(store.path("stt")), device="cpu", compute_type="int8",
                          cpu_threads=2)
    ours_pairs, direct_pairs = [], []
    for row in rows:
        path = SPEECH / row["path"]
        samples = np.concatenate([c.samples for c in WavSource(path)])
        ours_pairs.append((row["reference"], ours.transcribe(samples).text))
        segments, _ = direct.transcribe(str(path), **DECODE_OPTIONS)
        direct_pairs.append((row["reference"], " ".join(s.text.strip() for s in segments)))
    ours_wer, direct_wer = wer(ours_pairs), wer(direct_pairs)
    print(f"WER over {len(rows)} recordings: ours {ours_wer:.3f}, direct {direct_wer:.3f}")
    for (ref, o), (_, d) in zip(ours_pairs, direct_pairs, strict=True):
        if o != d:
            print(f"  differs: {ref!r}: ours {o!r}, direct {d!r}")
    assert ours_wer <= direct_wer + 1e-9
    assert direct_wer < 0.35  # the tiny.en model itself: a sanity bar, not a target


# ------------------------------------------------------------------ through the voice loop
def manifest() -> list[dict[str, str]]:
    with MANIFEST.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="module")
def direct(models_dir: Path) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(str(ModelStore(models_dir).path("stt")), device="cpu",
                        compute_type="int8", cpu_threads=1)


@pytest.fixture(scope="module")
def raw_pairs(direct: Any) -> list[tuple[str, str]]:
    """faster-whisper on each file as it is (computed in this run, same settings)."""
    pairs = []
    for row in manifest():
        segments, _ = direct.transcribe(str(SPEECH / row["path"]), **DECODE_OPTIONS)
        pairs.append((row["reference"], " ".join(s.text.strip() for s in segments)))
    return pairs


@pytest.fixture(scope="module")
def voice(models_dir: Path) -> Any:
    from xnai_edge.voice.session import VoiceBackends

    # Piper without its random variation: the same "Hey Jarvis." before every clip in every
    # run.  With it, each process drew another wake phrase (19.1-20.6k samples), and the
    # loop's transcript of a borderline clip ("five five": "5 5.", "5" or nothing) with it.
    config = load_config(None)
    config = replace(config, tts=replace(config.tts, vary=False))
    ctx = AppContext(config=config, data_dir=Path(tempfile.mkdtemp()), models_dir=models_dir)
    return ctx, anyio.run(VoiceBackends.load, ctx)


def loop_transcripts(ctx: AppContext, backends: Any, clips: list[Int16]) -> list[str]:
    """Each clip after "Hey Jarvis." through a real ``VoiceLoop`` in lock step with its passes
    (tests/lockstep.py): the transcript the answer started on."""
    from xnai_edge.knowledge.base import KnowledgeBase

    wake = backends.tts.to_16k(backends.tts.synthesize("Hey Jarvis."))
    out: list[str] = []

    async def main() -> None:
        async with KnowledgeBase.open(ctx.data_dir, ctx.models_dir, ctx.config) as kb:
            # The manual is ingested first, as the daemon does before READY: the lock-step
            # runs stop each answer at once, and that must not land inside the first ingest.
            await kb.retriever()
            for clip in clips:
                audio = np.concatenate([silence(0.5), wake, silence(0.5), clip, silence(2.0)])
                out.append(transcript(await heard(ctx, backends, kb, audio)))

    anyio.run(main)
    return out


def clips_at(rate: int) -> list[Int16]:
    """The recordings as a microphone at ``rate`` would deliver them, converted back to 16 kHz
    where audio enters (``WavSource``), as the loop sees them."""
    out = []
    for row in manifest():
        samples = read_wav(SPEECH / row["path"])
        if rate != SAMPLE_RATE:
            samples = convert(convert(samples, SAMPLE_RATE, out_rate=rate), rate)
        out.append(samples)
    return out


@pytest.mark.parametrize("rate", [16000, 8000, 48000])
def test_loop_wer_is_no_worse_than_raw(voice: Any, direct: Any,
                                       raw_pairs: list[tuple[str, str]], rate: int) -> None:
    """The loop (wake word first, VAD cut, the covering pass) against raw faster-whisper on the
    same audio: the file itself at 16 kHz, the same resampled samples at 8 and 48 kHz (8 kHz
    loses everything above 4 kHz for both)."""
    ctx, backends = voice
    clips = clips_at(rate)
    heard = loop_transcripts(ctx, backends, clips)
    raw = raw_pairs if rate == SAMPLE_RATE else [
        (ref, " ".join(s.text.strip() for s in direct.transcribe(
            clip.astype(np.float32) / 32768.0, **DECODE_OPTIONS)[0]))
        for (ref, _), clip in zip(raw_pairs, clips, strict=True)]
    ours = [(ref, text) for (ref, _), text in zip(raw, heard, strict=True)]
    print(f"WER at {rate} Hz: loop {wer(ours):.3f}, raw {wer(raw):.3f}")
    for (ref, r), (_, text) in zip(raw, ours, strict=True):
        if normalise(r) != normalise(text):
            print(f"  differs: {ref!r}: loop {text!r}, raw {r!r}")
    assert all(text for text in heard), "a recording gave no transcript"
    # At 16 kHz (the files as recorded) no worse at all. Resampled, the two paths decode
    # slightly different windows of the same samples: one word in the ~100 may go either way
    # (seen at 8 kHz on a loaded machine: 5 vs 4 word errors).
    one_word = 1 / sum(len(normalise(ref)) for ref, _ in raw)
    slack = 0.0 if rate == SAMPLE_RATE else one_word
    assert wer(ours) <= wer(raw) + slack + 1e-9


def test_short_utterances_and_no_invented_text(voice: Any) -> None:
    """One to three words ("five five", "ten of clubs", single words cut from the cards) are
    heard; silence and noise after the wake word give no transcript."""
    ctx, backends = voice
    cards = [r for r in manifest() if r["path"].startswith("cards/")]
    clips = [read_wav(SPEECH / r["path"]) for r in cards]
    heard = loop_transcripts(ctx, backends, clips)
    pairs = [(r["reference"], h) for r, h in zip(cards, heard, strict=True)]
    print("cards:", pairs)
    assert wer(pairs) <= 0.25
    invented = loop_transcripts(ctx, backends, [silence(3.0), non_speech()["pink noise"]])
    assert invented == ["", ""] or all(not t for t in invented), invented


def test_wer_through_listen_in_real_time(cli: CliRunner, raw_pairs: list[tuple[str, str]],
                                         voice: Any, tmp_path: Path) -> None:
    """The shared recordings, each after "Hey Jarvis.", through ``xnai-edge listen`` fed in
    real time: its transcripts are no worse than raw faster-whisper on the same files."""
    _, backends = voice
    wake = backends.tts.to_16k(backends.tts.synthesize("Hey Jarvis."))
    parts = []
    # The answers ("I don't know that from your documents.", no source) are over 2.9-3.6 s
    # after the end of speech (measured); the next wake word ends ~6 s after it (4.5 s + 0.5 s
    # + the phrase), so it never barges in on an answer, which would log no line for it.
    for row in manifest():
        parts += [silence(0.5), wake, silence(0.5), read_wav(SPEECH / row["path"]), silence(4.5)]
    wav = write_wav(tmp_path / "all.wav", np.concatenate(parts))
    config = tmp_path / "c.toml"
    config.write_text("[voice]\nfollowup_s = 0.0\nspeak_source = false\n"
                      "[answer]\nmax_answer_words = 5\ntyped_answer_words = 3\n",
                      encoding="utf-8")
    proc = cli("--config", str(config), "listen", "--input", str(wav), "--output",
               str(tmp_path / "out.wav"), "--json", timeout=900)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    assert len(lines) == len(raw_pairs), proc.stdout
    ours = [(ref, line["transcript"]) for (ref, _), line in zip(raw_pairs, lines, strict=True)]
    print(f"WER through listen: {wer(ours):.3f}, raw {wer(raw_pairs):.3f}")
    for (ref, raw), (_, text) in zip(raw_pairs, ours, strict=True):
        if normalise(raw) != normalise(text):
            print(f"  differs: {ref!r}: listen {text!r}, raw {raw!r}")
    assert wer(ours) <= wer(raw_pairs) + 1e-9
    for line in lines:
        assert line["stamps"]["speech_end"] < line["stamps"]["end_of_turn"]
        assert line["timings_ms"]["end_of_turn_ms"] > 0
