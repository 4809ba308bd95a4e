"""Pick the sentence that answers the question, and describe the evidence for it (pure).

With the tiny model set the LLM alone is right ~23% of the time on SQuAD-style questions, while
the passage sentence sharing the most (rare) words with the question is right far more often
(MODELS.md).  So the answer is *found* here, from the passages, and the LLM only phrases it.

Every sentence of the retrieved passages gets a few general features (idf-weighted share of the
question's terms in it, in its neighbours, in its headings; neighbouring question terms close
together; whether it holds a candidate of the kind the question asks for; the passage's rank,
retrieval score and similarity; for the best few, the sentence's own embedding similarity to
the question, ``sdense``); a linear score over them, fitted on dev data (``answerability.json``),
picks the sentence.  The same features of the winner, plus the margin over the runner-up and
the question terms nowhere to be found, feed the answerability score.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from xnai_edge.brain.answerability import Linear, model
from xnai_edge.brain.entry import entry_term, is_setting
from xnai_edge.brain.sentences import passage_sentences, sentence_embedding_text
from xnai_edge.brain.span import answer_kind, has_candidate, question_proper, wants_value
from xnai_edge.brain.terms import (
    idf,
    near_pairs,
    pairs,
    question_terms,
    share,
    stem,
    stem_list,
    stems,
)

__all__ = ["Extract", "Scored", "SourceText", "best_sentence", "score_sentences", "stem",
           "stems", "top_sentences"]


@dataclass(frozen=True)
class SourceText:
    """One retrieved passage as the answerer sees it."""

    title: str
    heading: str
    text: str
    path: str
    chunk_id: int
    similarity: float = 0.0
    """Cosine similarity of the passage to the question (from retrieval)."""
    score: float = 0.0
    """The passage's retrieval score (fused, reranked); 0 when unknown."""


@dataclass(frozen=True)
class Extract:
    sentence: str
    source: SourceText
    support: float
    """Share (idf-weighted) of the question's key terms found in the sentence or its context."""
    score: float
    features: Mapping[str, float] = field(default_factory=dict)
    """Evidence for answering (see ``answerability.ANSWER``)."""


_NEGATION = re.compile(r"\b(not|never|no|none|nor|without|n't|cannot)\b|n't\b", re.IGNORECASE)
# A sentence answers a negated question with "fails" or "unable" too: avahi-daemon.conf(5)
# says "starts up even when it fails to connect" where the owner asks "... if it can't
# connect?".  Only these two: with "unless", "except", "ignored", ... as well, SQuAD 2.0's
# negated look-alikes went through (report half refused 0.193 -> 0.178); with these two,
# 0.193 -> 0.189, and answerable questions refused 0.069 -> 0.068.
_NEGATIVE = re.compile(r"\b(?:not|never|no|none|nor|without|cannot|fails?|unable)\b|n't\b",
                       re.IGNORECASE)
_NAME_OR_NUMBER = re.compile(r"(?<=\w )[A-Z][\w'’-]+|\d[\d,.]*")  # not "I"


def _unmatched_name(question: str, found: set[str]) -> float:
    """1 when a name or number of the question is nowhere in the passage: a question about
    something the documents do not mention (checked before trusting a partial match)."""
    for token in _NAME_OR_NUMBER.findall(question):
        if not stems(token) <= found:
            return 1.0
    return 0.0


def _kind_evidence(question: str, kind: str, sentence: str) -> float:
    """1: the sentence has a candidate of the kind asked for; 0: it has none although the
    question wants a date/number/name/place; 0.5: no way to tell ("what ...", "how do I ...",
    answered by prose as often as by a command)."""
    if has_candidate(question, sentence):
        return 1.0
    return 0.5 if kind in ("other", "command", "option") else 0.0


_COPULA = frozenset({"is", "are", "was", "were"})


def _defines(q_terms: list[str], terms: list[str]) -> float:
    """1 when the sentence says '<the question's last key word> is/are ...' ("The wake word
    is ..." for "What is the wake word?"): it states what was asked about."""
    if not q_terms:
        return 0.0
    last = q_terms[-1]
    return float(any(t == last and nxt in _COPULA for t, nxt in itertools.pairwise(terms)))


def window_text(scored: Scored) -> str:
    """The sentence with its neighbours in its passage."""
    from xnai_edge.brain.sentences import window

    return window(scored.source.text, scored.sentence)


@dataclass(frozen=True)
class Scored:
    """One candidate sentence with its features and its sentence score."""

    sentence: str
    source: SourceText
    features: Mapping[str, float]
    score: float
    window: frozenset[str]
    """Stems of the sentence and its neighbours."""


@dataclass(frozen=True)
class Scoring:
    scored: list[Scored]
    """Best first (earlier sentences break ties)."""
    weights: dict[str, float]
    """idf weight of each (stemmed) question term."""


TYPICAL_COSINE = 0.5
"""The mean cosine of a candidate sentence to its question (SQuAD dev fit half, 4 best per
question: 0.50).  Without an embedder the fitted weights then answer as a model fitted
without the feature would: report half 0.650 / 0.069 / 0.201 (contains gold / "I don't know"
on answerable / on SQuAD 2.0 unanswerables) against 0.650 / 0.069 / 0.195 refitted; leaving the
feature out instead refused 15% of answerable questions."""


def score_sentences(question: str, passages: Sequence[SourceText], *, carried: str = "",
                    scorer: Linear | None = None,
                    cosines: Mapping[str, float] | None = None) -> Scoring:
    """Every sentence of ``passages`` with its features, scored by ``scorer``.

    ``carried``: words of a previous question a follow-up leans on; they count half.
    ``cosines``: the embedding similarity of sentences to the question (``top_sentences``
    says which are worth embedding); a sentence without one gets 0.  With ``None`` (no
    embedder, or ``[answer] similar_sentences = 0``) every sentence gets ``TYPICAL_COSINE``:
    words alone order them, and the fitted score keeps its calibration.
    """
    q_terms = question_terms(question)
    extra = [t for t in question_terms(carried) if t not in q_terms]
    if not q_terms or not passages:
        return Scoring([], {})
    rows: list[tuple[str, int, list[str], set[str]]] = []
    for p_index, passage in enumerate(passages):
        sentences = passage_sentences(passage.text)
        bags = [stem_list(s) for s in sentences]
        for i, sentence in enumerate(sentences):
            rows.append((sentence, p_index, bags[i], set().union(*bags[max(0, i - 1): i + 2])))
    weights = idf(q_terms + extra, [set(r[2]) for r in rows])
    for t in extra:
        weights[t] *= 0.5
    scorer = scorer or model().sentence
    kind = answer_kind(question)
    top_score = max((p.score for p in passages), default=0.0)
    heads = [stems(f"{p.title} {p.heading}") for p in passages]
    term_pairs = pairs(q_terms)
    scored: list[tuple[float, int, Scored]] = []
    for index, (sentence, p_index, terms, window) in enumerate(rows):
        passage = passages[p_index]
        bag = set(terms)
        f = {"cov": share(weights, bag), "ctx": share(weights, window - bag),
             "head": share(weights, heads[p_index] - window),
             "pairs": near_pairs(term_pairs, terms),
             "kind": _kind_evidence(question, kind, sentence),
             "defines": _defines(q_terms, terms),
             "novel": min(1.0, len(bag - set(q_terms)) / 6),
             "rank": p_index / max(1, len(passages) - 1),
             "fused": passage.score / top_score if top_score > 0 else 0.0,
             "dense": passage.similarity}
        f["sdense"] = TYPICAL_COSINE if cosines is None else cosines.get(sentence, 0.0)
        score = scorer.raw(f)
        scored.append((score, index, Scored(sentence, passage, f, score,
                                            frozenset(window | heads[p_index]))))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return Scoring([s for _, _, s in scored], weights)


def top_sentences(question: str, passages: Sequence[SourceText], n: int, *,
                  carried: str = "", scorer: Linear | None = None) -> dict[str, str]:
    """The ``n`` best sentences before their embedding is known (the only ones worth the
    embedder's time, ~6 ms a sentence on a 2-core CPU), each with the text to embed for it.

    Words find the candidates; the sentence's meaning then orders them (SQuAD dev report half:
    the picked sentence holds the gold 0.754 -> 0.763 with the 4 best, 0.766 with the 8 best
    at twice the cost; docs/answering.md).  A sentence under a section heading is embedded with
    the heading's last part in front: "-r --recursive: Travel the directory structure
    recursively." is about ``-r``, which the sentence alone never says.
    """
    scoring = score_sentences(question, passages, carried=carried, scorer=scorer)
    top: dict[str, str] = {}
    for s in scoring.scored[:n]:
        top.setdefault(s.sentence, sentence_embedding_text(s.source.heading, s.sentence))
    return top


def _typed_neighbour(question: str, scored: list[Scored], best: Scored) -> Scored:
    """``best``, or, when the question wants a number or a date and it has none, the
    best sentence of the same passage that has one ("The operator user is no longer created
    by default. It had uid 37." for "What uid did the operator user have?").

    The same passage, any sentence: with the sentence similarity in the score, the sentence
    that names the thing asked about is not always the one just before the value.  Against
    only the next sentence (SQuAD dev report half, 8 sentences embedded): contains gold 0.657
    either way, "I don't know" on answerable 0.079 -> 0.074; the manual set keeps "It had uid
    37." (docs/answering.md).
    """
    kind = answer_kind(question)
    if kind == "option":  # no option in the sentence, and none in its entry's heading
        if best.features["kind"] >= 1 or is_setting(entry_term(best.source.heading)):
            return best
        return next((s for s in scored if s.source is best.source and s.features["kind"] >= 1),
                    best)
    if best.features["kind"] > 0 or kind not in ("number", "date"):
        return best
    return next((s for s in scored if s.source is best.source and s.features["kind"] > 0), best)


_DEFAULT = re.compile(r"\bdefault(?:s|ed)?\b", re.IGNORECASE)
# A sentence that states a default ("Defaults to 1000.", "The default is 5 minutes.", "If
# enabled (the default)"), not one that names one ("Set the default domain name ...").
_STATES_DEFAULT = re.compile(r"\bdefaults? (?:to|is|are|was|value)\b|\bdefault(?:ed)? to\b|"
                             r"\bby default\b|\bthe default\)|\bdefault:", re.IGNORECASE)


def _same_entry(a: SourceText, b: SourceText) -> bool:
    """Two passages of one entry: a man page's option is often cut into several chunks that
    share its heading ("OPTIONS > Storage="); without a heading, only the passage itself."""
    if not a.heading or not b.heading:
        return a is b
    return a.path == b.path and a.heading == b.heading


ENTRIES = 3
"""A default is looked for in the entries of the best this many sentences: a question about
an option can match a sibling option's text best ("autosave_on_changes" for "How often does
the broker save ... by default?", whose default is under "autosave_interval").  On
tests/data/manual-dev1 (docs/answering.md, eighth step): the entry of the best sentence only
0.675 right, of the best 2 0.700, of the best 3 0.725; one more unanswerable question
answered (0.3 -> 0.2 refused)."""


def _default_neighbour(question: str, scored: list[Scored], best: Scored) -> Scored:
    """For "What is the default ...?" / "... by default?", the best sentence that states a
    default in the entry of one of the best sentences, when the best one states none.

    A manual states an option's default in a short sentence of its own ("Defaults to
    1000."), which shares almost no word with the question, so words and meaning pick the
    sentence that describes the option instead (journald.conf(5), mosquitto.conf(5):
    tests/data/manual-dev1, docs/answering.md).
    """
    if not _DEFAULT.search(question_proper(question)) or _STATES_DEFAULT.search(best.sentence):
        return best
    entries = [s.source for s in scored[:ENTRIES]]
    return next((s for s in scored if _STATES_DEFAULT.search(s.sentence)
                 and any(_same_entry(s.source, e) for e in entries)), best)


def _no_value(question: str, sentence: str, kind: float) -> float:
    """1 when the question asks for a value the sentence does not give (``answerability``
    vetoes the answer): a number or a date the sentence has none of; or a default the
    sentence says nothing of ("What is the default number of cached records?" -> "Takes an
    unsigned integer specifying how many records are cached.").  A default stated is a value
    even without digits ("Defaults to mqttv311.")."""
    if _DEFAULT.search(question_proper(question)):
        if not _DEFAULT.search(sentence):
            return 1.0
        if _STATES_DEFAULT.search(sentence):
            return 0.0
    return float(kind <= 0 and wants_value(question))


def best_sentence(question: str, passages: Sequence[SourceText], *, carried: str = "",
                  scorer: Linear | None = None,
                  cosines: Mapping[str, float] | None = None) -> Extract | None:
    """The highest-scoring sentence over the passages, with the evidence for answering."""
    scoring = score_sentences(question, passages, carried=carried, scorer=scorer,
                              cosines=cosines)
    if not scoring.scored:
        return None
    # The evidence for answering is the sentence that matched the question best; a neighbour
    # that holds the value asked for ("Defaults to 1000.", "It had uid 37.") only says it.
    # (SQuAD dev report half, for the number neighbour: contains gold 0.672 -> 0.673, "I
    # don't know" on answerable 0.072 -> 0.069, on SQuAD 2.0 unanswerables 0.199 -> 0.193.)
    evidence = scoring.scored[0]
    best = _default_neighbour(question, scoring.scored, evidence)
    if best is evidence:  # a default found is the value, even if no number ("mqttv311")
        best = _typed_neighbour(question, scoring.scored, evidence)
    others = [s.score for s in scoring.scored if s is not evidence]
    runner_up = max(others) if others else evidence.score - 1.0
    weights = scoring.weights
    total = sum(weights.values())
    everywhere = stems(best.source.text) | stems(f"{best.source.title} {best.source.heading}")
    if evidence.source is not best.source:
        everywhere |= stems(evidence.source.text)
    f = {**evidence.features, "kind": max(evidence.features["kind"], best.features["kind"])}
    features = {**f, "sel": evidence.score, "margin": evidence.score - runner_up,
                "support": min(1.0, f["cov"] + f["ctx"] + f["head"]),
                "missing": max((w for t, w in weights.items() if t not in evidence.window),
                               default=0.0) / total,
                "absent": 1.0 - share(weights, everywhere),
                "terms": min(1.0, len(question_terms(question)) / 4),
                "unmatched_name": _unmatched_name(question, everywhere),
                "unmatched_negation": float(bool(_NEGATION.search(question)) and not
                                            _NEGATIVE.search(window_text(evidence))),
                "no_value": _no_value(question, best.sentence, f["kind"])}
    return Extract(sentence=best.sentence, source=best.source, support=features["support"],
                   score=best.score, features=features)
