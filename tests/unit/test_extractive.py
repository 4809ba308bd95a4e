"""Picking the answer sentence out of retrieved passages (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xnai_edge.brain.answerability import model
from xnai_edge.brain.extractive import (
    TYPICAL_COSINE,
    SourceText,
    best_sentence,
    score_sentences,
    stem,
    top_sentences,
)

BOILER = SourceText(
    title="House notes", heading="Heating",
    text="The house has a gas boiler in the cellar. The boiler service is due every May. "
         "The plumber is called Anna Berg and lives nearby.",
    path="/docs/house.md", chunk_id=7, similarity=0.6)
GARDEN = SourceText(
    title="Garden guide", heading="Tomatoes",
    text="Tomatoes need sun. Water them every morning in summer. Harvest them in August.",
    path="/docs/garden.md", chunk_id=9, similarity=0.4)


@pytest.mark.parametrize(("word", "expected"), [
    ("files", "file"), ("boiled", "boil"), ("boiling", "boil"), ("boxes", "box"),
    ("batteries", "battery"), ("glass", "glass"), ("status", "status"), ("is", "is"),
    ("red", "red"), ("sing", "sing"),
])
def test_stem(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_the_sentence_with_the_questions_words_wins() -> None:
    found = best_sentence("When is the boiler service due?", [GARDEN, BOILER])
    assert found is not None
    assert found.sentence == "The boiler service is due every May."
    assert found.source == BOILER
    assert found.support == pytest.approx(1.0)


def test_who_questions_prefer_a_name() -> None:
    found = best_sentence("Who is the plumber?", [BOILER])
    assert found is not None and "Anna Berg" in found.sentence


def test_when_questions_prefer_a_date() -> None:
    found = best_sentence("When do I harvest tomatoes?", [GARDEN])
    assert found is not None and found.sentence == "Harvest them in August."


def test_heading_and_title_words_count_as_context() -> None:
    found = best_sentence("How do I water the tomatoes in the garden?", [GARDEN])
    assert found is not None and found.sentence in GARDEN.text
    # "water" and "tomatoes" in the sentence or its neighbour, "garden" in the title.
    assert found.support == pytest.approx(1.0)
    bare = SourceText("Notes", "", GARDEN.text, GARDEN.path, GARDEN.chunk_id)
    without = best_sentence("How do I water the tomatoes in the garden?", [bare])
    assert without is not None and without.support < 0.7


def test_unrelated_question_has_low_support() -> None:
    found = best_sentence("What is the capital of Peru?", [BOILER, GARDEN])
    assert found is None or found.support < 0.4


def test_nothing_to_pick_from() -> None:
    assert best_sentence("When is the boiler service due?", []) is None
    assert best_sentence("Is it?", [BOILER]) is None  # stop words only: no key terms
    empty = SourceText("t", "", "   ", "/x", 1)
    assert best_sentence("boiler service", [empty]) is None


def test_an_earlier_passage_wins_a_tie() -> None:
    twin = SourceText(**{**BOILER.__dict__, "path": "/docs/copy.md", "chunk_id": 8})
    assert best_sentence("boiler service due", [BOILER, twin]).source == BOILER  # type: ignore[union-attr]
    assert best_sentence("boiler service due", [twin, BOILER]).source == twin  # type: ignore[union-attr]


sentences = st.lists(st.sampled_from([
    "The boiler is old.", "Service is due in May.", "Anna Berg repairs boilers.",
    "Tomatoes need sun.", "It costs 40 euros.", "Nothing else matters here."]),
    min_size=1, max_size=6).map(" ".join)


@given(st.lists(sentences, min_size=1, max_size=4),
       st.sampled_from(["When is the service due?", "Who repairs the boiler?",
                        "How much does it cost?", "Do tomatoes need sun?"]))
def test_the_pick_is_a_sentence_of_a_passage_and_support_is_a_share(texts: list[str],
                                                                    question: str) -> None:
    passages = [SourceText("Notes", "", t, f"/p{i}", i) for i, t in enumerate(texts)]
    found = best_sentence(question, passages)
    assert found is not None
    assert found.sentence in found.source.text
    assert found.source in passages
    assert 0.0 <= found.support <= 1.0


OPERATOR = SourceText(
    title="Users and Groups", heading="Chapter 2. Users and Groups > operator",
    text="Historically, the operator user account was used by system operators to dump "
         "filesystem backups to tape. In Debian, the operator user is no longer created by "
         "default. It had uid 37.\nThe operator group is used by dump.",
    path="/docs/users.txt", chunk_id=3, similarity=0.6, score=1.0)


def test_a_number_question_takes_the_sentence_of_its_passage_that_has_the_number(
        ) -> None:
    # "... no longer created by default." holds more of the question's words, but no number.
    found = best_sentence("What uid did the operator user have?", [OPERATOR])
    assert found is not None and found.sentence == "It had uid 37."
    # The evidence for answering is the sentence that matched the question; the neighbour
    # only holds the value, and says there is one.
    top = score_sentences("What uid did the operator user have?", [OPERATOR]).scored[0]
    assert top.sentence != found.sentence
    assert found.features["sel"] == top.score and found.features["margin"] >= 0
    assert found.features["cov"] == top.features["cov"] and found.features["kind"] == 1.0


def test_an_untyped_question_keeps_its_best_sentence() -> None:
    # The next sentence has a number, but the question does not ask for one.
    found = best_sentence("What happened to the operator user in Debian?", [OPERATOR])
    assert found is not None
    assert found.sentence == "In Debian, the operator user is no longer created by default."


def test_a_number_question_whose_passage_has_no_number_says_so() -> None:
    www = SourceText(title="Users and groups", heading="www-data",
                     text="Some web servers run as www-data. Web content should not be "
                          "owned by this user.", path="/docs/users.txt", chunk_id=4,
                     similarity=0.5, score=1.0)
    found = best_sentence("What uid does the www-data user have?", [www])
    assert found is not None and found.features["no_value"] == 1.0
    found = best_sentence("What uid did the operator user have?", [OPERATOR])
    assert found is not None and found.features["no_value"] == 0.0


def test_a_number_question_looks_past_the_next_sentence_in_the_same_passage() -> None:
    # The sentence holding the value need not follow the best one directly.
    moved = SourceText(
        title="Users and Groups", heading="Chapter 2. Users and Groups > operator",
        text="In Debian, the operator user is no longer created by default. Backups went to "
             "tape. It had uid 37.", path="/docs/users.txt", chunk_id=3, similarity=0.6,
        score=1.0)
    found = best_sentence("What uid did the operator user have?", [moved])
    assert found is not None and found.sentence == "It had uid 37."


TWINS = SourceText(
    title="House notes", heading="Heating",
    text="The boiler was fitted by Anna Berg. The boiler was serviced by Anna Berg.",
    path="/docs/house.md", chunk_id=8, similarity=0.5, score=1.0)
Q_TWINS = "Who repaired the boiler?"  # the same words in both: a tie


def test_the_sentences_meaning_orders_the_candidates_that_words_found() -> None:
    fitted = "The boiler was fitted by Anna Berg."
    serviced = "The boiler was serviced by Anna Berg."
    without = best_sentence(Q_TWINS, [TWINS])
    assert without is not None and without.features["sdense"] == TYPICAL_COSINE
    for near in (fitted, serviced):
        far = serviced if near == fitted else fitted
        found = best_sentence(Q_TWINS, [TWINS], cosines={near: 0.9, far: 0.1})
        assert found is not None and found.sentence == near
        assert found.features["sdense"] == 0.9


def test_the_top_sentences_are_embedded_with_their_sections_label() -> None:
    top = top_sentences("What uid did the operator user have?", [OPERATOR], 2)
    assert len(top) == 2
    for sentence, text in top.items():
        assert text == f"operator: {sentence}"
    plain = SourceText("Notes", "", "The uid was 37.", "/n.txt", 1)
    assert top_sentences("What uid?", [plain], 8) == {"The uid was 37.": "The uid was 37."}


def _entry(heading: str, text: str, chunk_id: int) -> SourceText:
    return SourceText(title="mosquitto.conf", heading=heading, text=text,
                      path="/docs/mosquitto.conf.txt", chunk_id=chunk_id, similarity=0.6,
                      score=1.0)


QUEUED = _entry("GENERAL OPTIONS > max_queued_messages count",
                "The maximum number of QoS 1 or 2 messages to hold in the queue (per client) "
                "above those messages that are currently in flight.", 1)
QUEUED_REST = _entry("GENERAL OPTIONS > max_queued_messages count",
                     "Set to 0 for no maximum (not recommended).\nDefaults to 1000.", 2)
def test_a_default_question_takes_the_sentence_of_its_entry_that_states_the_default(
        ) -> None:
    # The option's entry is cut into two chunks; its default is in the second, in a sentence
    # that shares no word with the question.
    question = "How many messages does the broker queue per client by default?"
    top = score_sentences(question, [QUEUED, QUEUED_REST]).scored[0]
    assert top.sentence.startswith("The maximum number")
    found = best_sentence(question, [QUEUED, QUEUED_REST])
    assert found is not None and found.sentence == "Defaults to 1000."
    assert found.source is QUEUED_REST
    # ... answered on the evidence of the sentence that matched
    assert found.features["sel"] == top.score and found.features["cov"] == top.features["cov"]


def test_a_default_is_taken_only_from_the_entries_of_the_best_sentences_and_when_asked(
        ) -> None:
    # The sibling option matches best; the default asked for is in the option beside it.
    on_changes = _entry("GENERAL OPTIONS > autosave_on_changes [ true | false ]",
                        "If false, mosquitto will save the in-memory database to disk by "
                        "treating autosave_interval as a time in seconds.", 6)
    interval = _entry("GENERAL OPTIONS > autosave_interval seconds",
                      "The number of seconds that mosquitto will wait between each time it "
                      "saves the in-memory database to disk. Defaults to 1800 seconds.", 7)
    found = best_sentence("How often does the broker save its in-memory database to disk by "
                          "default?", [on_changes, interval])
    assert found is not None and found.sentence == "Defaults to 1800 seconds."
    question = "How many messages does the broker queue per client by default?"
    # An entry none of the best sentences is in: its default is not taken.
    queue = _entry("GENERAL OPTIONS > max_queued_messages count",
                   "The broker holds messages in a queue per client. The queue per client holds "
                   "QoS 1 and 2 messages. Messages over the queue limit per client are dropped.",
                   4)
    far = _entry("GENERAL OPTIONS > sys_interval seconds",
                 "The number of seconds between updates of the status topics. Defaults to 10 "
                 "seconds.", 5)
    found = best_sentence(question, [queue, far])
    assert found is not None and found.source is queue
    # Not asked for a default: the best sentence stays.
    found = best_sentence("How many messages does the broker queue per client?",
                          [QUEUED, QUEUED_REST])
    assert found is not None and found.sentence.startswith("The maximum number")


def test_a_negated_question_is_matched_by_a_sentence_that_says_fails() -> None:
    dbus = _entry("SECTION [SERVER] > enable-dbus=",
                  "Takes yes or warn. Warn behaves like yes, but the daemon starts up "
                  "even when it fails to connect to a D-Bus daemon.", 8)
    found = best_sentence("Which setting lets the daemon start if it can't connect to D-Bus?",
                          [dbus])
    assert found is not None and found.features["unmatched_negation"] == 0.0
    # A question negating what a passage states plainly still stands out.
    boot = _entry("SECTION [SERVER] > use-ipv6=", "The daemon uses IPv6 sockets at boot.", 9)
    found = best_sentence("Why does the daemon not use IPv6 sockets at boot?", [boot])
    assert found is not None and found.features["unmatched_negation"] == 1.0


def test_a_sentence_naming_a_default_is_not_one_stating_it() -> None:
    domain = _entry("SECTION [SERVER] > domain-name=",
                    "Set the default domain name the daemon registers its host name in. If "
                    "omitted defaults to \".local\".", 10)
    found = best_sentence("What is the default domain name the daemon registers in?", [domain])
    assert found is not None and found.sentence == 'If omitted defaults to ".local".'


def test_a_default_asked_for_and_not_stated_is_no_answer_and_one_stated_is() -> None:
    cache = _entry("SECTION [SERVER] > cache-entries-max=",
                   "Takes an unsigned integer specifying how many records are cached per "
                   "interface. Bigger values allow more records to be cached.", 11)
    found = best_sentence("What is the default number of records cached per interface?", [cache])
    assert found is not None and found.features["no_value"] == 1.0
    assert not model().answers(found.features)  # vetoed, however well the words match
    bridge = _entry("CONFIGURING BRIDGES > bridge_protocol_version version",
                    "Set the version of the MQTT protocol to use with for this bridge. Can be "
                    "one of mqttv50, mqttv311 or mqttv31. Defaults to mqttv311.", 12)
    found = best_sentence("Which MQTT protocol version does a bridge use by default?", [bridge])
    # The default stated is the value (no digits of its own to count as a number), and the
    # number neighbour ("one of") does not move the answer off it.
    assert found is not None and found.sentence == "Defaults to mqttv311."
    assert found.features["no_value"] == 0.0


def test_a_default_said_in_the_scene_is_not_what_the_question_asks_for() -> None:
    # "... by default." sets the scene; the question proper asks for an option (manual-dev4,
    # restic): it was vetoed for stating no default.
    atime = _entry("Backing up > Reading data from stdin",
                   "By default, restic does not save the access time (atime) for any files. "
                   "Use the --with-atime option to save the access time.", 13)
    found = best_sentence("Restic doesn't record access times by default. Which option makes "
                          "it save atime?", [atime])
    assert found is not None and "--with-atime" in found.sentence
    assert found.features["no_value"] == 0.0


def test_an_option_question_takes_the_sentence_of_its_passage_that_names_one() -> None:
    # An FAQ's answer: the sentence that matches the question best names no option.
    faq = SourceText(
        title="Valgrind FAQ", heading="Valgrind FAQ > Programs die at exit with a crash",
        text="The problem is that programs running __libc_freeres in older glibc crash at "
             "exit with errors. Workaround for later versions: use the --run-libc-freeres=no "
             "option.",
        path="/docs/faq.html", chunk_id=3, similarity=0.6, score=1.0)
    question = ("My program crashes at exit with errors about __libc_freeres. Which option "
                "works around that?")
    assert score_sentences(question, [faq]).scored[0].sentence.startswith("The problem")
    found = best_sentence(question, [faq])
    assert found is not None and "--run-libc-freeres=no" in found.sentence
    # A man page's option entry names its option in the heading: its sentence is the answer.
    keep = _entry("OPTIONS > -k --keep", "Keep (do not delete) input files during "
                  "compression. See also the --force and --stdout options.", 11)
    found = best_sentence("Which option keeps the input files during compression?", [keep])
    assert found is not None and found.sentence.startswith("Keep (do not delete)")
