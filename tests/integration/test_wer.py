"""Word error rate through our audio path is no worse than faster-whisper used directly.

Ours: WavSource -> 80 ms chunks -> concatenation -> Transcriber (VAD + gate).  Direct: the same
model and ``DECODE_OPTIONS`` given the file path (faster-whisper decodes it with PyAV).  Both are
scored against the manifest's references after the same normalisation (case, punctuation,
hyphens, digits as words, common abbreviations).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from xnai_edge.audio.wav import WavSource
from xnai_edge.backends.stt import DECODE_OPTIONS, Transcriber
from xnai_edge.backends.vad import VoiceActivity
from xnai_edge.modelstore import ModelStore

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
