"""End of turn decided from what was said (pure: text, seconds in, seconds out).

A fixed hangover makes everyone wait for the slowest case: 0.8 s of silence (1.2 s while the
utterance is short) after every question, although "what is your wake word?" is plainly over
after a breath.  Here the silence needed depends on the transcript so far:

- a transcript that reads as a finished question (ends in ? or !, and its last word is not one
  that needs a continuation: "the", "of", "is", "what", ...) ends the turn after
  ``complete_silence_s`` (~0.3 s); a finished statement (ends in .) after
  ``statement_silence_s`` (0.5 s): people list things ("eight of spades. four of clubs...")
  and narrowband (8 kHz) audio makes Silero hear 0.3-0.35 s gaps inside such lists
  (tests/data/speech/cards/005.wav), while questions are what the device is asked;
- anything else ("what is the...", a one-word statement such as "5.", no transcript yet, or
  the gate's empty text) waits the configured hangover, as before;
- never less than ``min_silence_s``, whatever the text says (the property test's invariant).

Whisper punctuates what it hears as finished and tends to write "..." or no full stop for
speech cut mid-phrase, which is what makes the text a usable signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TurnSettings:
    min_silence_s: float = 0.25
    """No turn ends on less silence than this."""
    complete_silence_s: float = 0.3
    """Silence that ends a turn whose transcript is a complete question."""
    statement_silence_s: float = 0.5
    """Silence that ends a turn whose transcript is a complete statement."""
    hangover_s: float = 0.8
    """Silence that ends any other turn ..."""
    slow_start_extra_s: float = 0.4
    """... plus this while less than ``slow_start_below_s`` of speech has been heard."""
    slow_start_below_s: float = 1.0


DANGLING = frozenset("""
a an the this that these those my your his her its our their some any no every each
of to for in on at by with from into onto about as than like between after before over under
and or but nor so because if when while whether then
is are was were be been am do does did can could will would should shall may might must has
have had not
what whats how when where why who whom whose which
i you he she it we they me him us them
please just very more most""".split())
"""Words a finished question or command does not end with."""

_WORD = re.compile(r"[a-z0-9']+")


def looks_complete(text: str) -> bool:
    """True when ``text`` reads as a finished sentence (see the module docstring)."""
    stripped = text.strip().rstrip("\"')]")
    if not stripped or stripped.endswith(("...", "…")) or stripped[-1] not in ".?!":
        return False
    words = _WORD.findall(stripped.lower())
    return bool(words) and words[-1].replace("'", "") not in DANGLING


def _one_word(text: str) -> bool:
    """A one-word statement ("5.", "Okay.") is more often the first word of a number said in
    parts or of a list ("five... five" at 8 kHz, tests/integration/test_wer.py) than a whole
    turn: it waits the hangover.  "Stop!" and "Why?" still end at once."""
    return len(_WORD.findall(text.lower())) < 2


def silence_needed(text: str | None, speech_s: float, settings: TurnSettings) -> float:
    """Seconds of silence after the last speech frame that end the turn.

    ``text`` is the transcript of all speech so far, or None when none covers it yet."""
    s = settings
    end = text.strip().rstrip("\"')]")[-1:] if text is not None else ""
    if text is not None and looks_complete(text) and not (end == "." and _one_word(text)):
        need = s.statement_silence_s if end == "." else s.complete_silence_s
    else:
        need = s.hangover_s + (s.slow_start_extra_s if speech_s < s.slow_start_below_s
                               else 0.0)
    return max(s.min_silence_s, need)


def ends_turn(silence_s: float, text: str | None, speech_s: float,
              settings: TurnSettings) -> bool:
    """True when ``silence_s`` of silence after the last speech frame ends the turn."""
    return silence_s >= silence_needed(text, speech_s, settings) - 1e-9
