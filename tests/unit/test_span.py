"""The answer-kind of a question, the span picker and the short spoken answer (pure)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from xnai_edge.brain.shorten import short_answer
from xnai_edge.brain.span import answer_kind, candidates, has_candidate, pick_span, wants_value

NORMANS = ("The Normans invaded Ireland in 1169, led by Richard de Clare, known as Strongbow, "
           "and soon took control of large parts of the country.")


@pytest.mark.parametrize(("question", "kind"), [
    ("When did the Normans invade Ireland?", "date"),
    ("In what year did it happen?", "date"),
    ("What century saw the conquest?", "date"),
    ("How many people live there?", "number"),
    ("What percentage of voters agreed?", "number"),
    ("Who led the Normans into Ireland?", "person"),
    ("By whom was it written?", "person"),
    ("Where are the models stored?", "place"),
    ("What country did the Normans invade in 1169?", "place"),
    ("How do I remove a document?", "command"),
    ("What is the colour of the sky?", "other"),
    ("What uid does the www-data user have?", "number"),
    ("What is the default block size of bzip2?", "number"),
    ("Which port does the server listen on?", "number"),
    ("What level of detail does the log keep?", "other"),
    ("What does the -t option do?", "other"),
    # A leading condition is not the question: its kind comes from what follows.
    ("When root-squashing is used over NFS, which user is root access performed as?",
     "other"),
    ("If I reset the device, how many documents are kept?", "number"),
    ("When a pathogen is eaten it becomes trapped in what vesicle?", "other"),
    ("When was the boiler serviced?", "date"),
    ("Before what year was the boiler serviced?", "date"),
    # It asks for the setting, whatever the setting holds: its entry names it.
    ("Which setting controls how many records are cached?", "other"),
    # ... and an option or an environment variable has a shape of its own.
    ("What option sets how long the timeout is?", "option"),
    ("Which command-line flag turns on colours?", "option"),
    ("With GCC 3.4, which environment variable stops the pooling?", "option"),
    # A sentence that sets the scene is not the question.
    ("My program crashes at exit. Which option works around that?", "option"),
    ("The boiler broke in May. When was it serviced?", "date"),
])
def test_answer_kind(question: str, kind: str) -> None:
    assert answer_kind(question) == kind


@pytest.mark.parametrize(("question", "span"), [
    ("When did the Normans invade Ireland?", "1169"),
    ("What country did the Normans invade in 1169?", "Ireland"),
    ("Who led the Normans into Ireland?", "Richard de Clare"),
])
def test_the_span_is_what_the_question_asks_for(question: str, span: str) -> None:
    found = pick_span(question, NORMANS)
    assert found is not None and found.text == span
    assert NORMANS[found.start:found.start + len(found.text)] == found.text


def test_a_span_made_of_the_questions_own_words_is_no_answer() -> None:
    assert pick_span("When did the Normans invade in 1169?", "The Normans came in 1169.") is None
    assert candidates("Who are the Normans?", "The Normans were a people.") == []


def test_the_span_is_placed_by_the_questions_key_words_not_its_stop_words() -> None:
    # "the" after "Maria Silva of" is no sign she founded anything; "founded" is.
    found = pick_span("Who founded the company?",
                      "Maria Silva of the board says the company was founded by John Baker.")
    assert found is not None and found.text.rstrip(".") == "John Baker"


def test_question_words_inside_a_candidate_do_not_make_it_near() -> None:
    # "Denver Broncos" holds the question's "Broncos" but is not the coach.
    found = pick_span("Who is the head coach of the Broncos?",
                      "Following the season, the Denver Broncos hired Gary Kubiak as their "
                      "head coach.")
    assert found is not None and found.text == "Gary Kubiak"


def test_the_unit_asked_for_inside_a_number_makes_it_near() -> None:
    # "194 yards" holds the question's "yards": that is the number asked for, not "11 first".
    found = pick_span("How many yards did Denver have in Super Bowl 50?",
                      "Their 194 yards and 11 first downs "
                      "were both the lowest totals ever by a Super Bowl winning team.")
    assert found is not None and found.text == "194 yards"


def test_a_digit_in_a_name_is_no_number() -> None:
    # "UTF-8 text" held the question's "text" and so beat "128 bytes" (manual-dev3, a PDF).
    question = ("How much of a file should be checked for control characters to guess "
                "whether it is text or binary?")
    sentence = ("Checking the first 128 bytes of the file for ASCII control characters is a "
                "good way to guess, since high-bit characters can appear in UTF-8 text.")
    assert [c.text for c in candidates(question, sentence)] == ["128 bytes"]
    assert [c.text for c in candidates("How many bits?", "SHA-256 uses 64 rounds, level -6.")
            ] == ["64 rounds", "6"]


def test_the_questions_own_number_is_no_answer_and_a_trailing_stop_word_no_unit() -> None:
    # "2010 there" is the question's year with a stop word after it, not a count.
    question, sentence = ("How many people lived in the town in 2010?",
                          "In 2010 there were 4,500 people in the town.")
    assert [c.text for c in candidates(question, sentence)] == ["4,500 people"]
    assert [c.text for c in candidates("How many were special?", "19 of 28 were special.")
            ] == ["19", "28"]
    # A currency sign before the number is not the question's number.
    assert [c.text for c in candidates("How much did it cost?", "It cost $ 5 million.")] == [
        "$ 5 million"]


def test_the_doer_named_after_by_answers_who() -> None:
    # Nearer names lose to the one after "designed by" / "was written by" (the verb may be
    # another form of the question's: "wrote" / "written").
    found = pick_span("Who designed the logo?",
                      "Like the Lombardi Trophy, the logo will be designed by Tiffany & Co.")
    assert found is not None and found.text == "Tiffany"
    found = pick_span("Who wrote the report?",
                      "The report, like the Unix manual, was written by Ann Smith.")
    assert found is not None and found.text.rstrip(".") == "Ann Smith"
    # "... designed by?" still asks for the doer; "... by the Broncos?" names it and asks for
    # the one it was done to.
    found = pick_span("Who was the logo designed by?",
                      "Like the Lombardi Trophy, the logo will be designed by Tiffany & Co.")
    assert found is not None and found.text == "Tiffany"
    found = pick_span("Who was defeated by the Broncos?",
                      "The Patriots were defeated by the Broncos and Miller.")
    assert found is not None and found.text == "Patriots"


def test_a_capitalised_sentence_opener_is_not_part_of_a_name() -> None:
    assert [c.text for c in candidates("Who won the race?", "Under Kubiak, the team won the "
                                       "race.")] == ["Kubiak"]


def test_dates_numbers_and_commands() -> None:
    assert pick_span("When was it founded?", "It was founded on 4 July 1776 in town.")\
        .text == "4 July 1776"  # type: ignore[union-attr]
    assert pick_span("How many moons does it have?", "It has 79 moons and rings.")\
        .text == "79 moons"  # type: ignore[union-attr]
    found = pick_span("How do I remove a document?",
                      "Remove a document with `xnai-edge kb remove PATH`.")
    assert found is not None and "kb remove" in found.text


def test_weekdays_and_spans_of_centuries_are_dates() -> None:
    found = pick_span("When is the meeting held?", "It is held on Tuesday evenings.")
    assert found is not None and found.text == "Tuesday"
    found = pick_span("When did the plague return?",
                      "It returned to Europe throughout the 14th to 17th centuries.")
    assert found is not None and found.text.endswith("14th to 17th centuries")


def test_short_sentences_are_said_whole_and_long_ones_cut_around_the_span() -> None:
    assert short_answer("When?", "It was in May.", 15) == "It was in May."
    cut = short_answer("Who led the Normans into Ireland?", NORMANS, 8)
    assert "Richard de Clare" in cut and len(cut.split()) <= 8 and cut in NORMANS


def test_the_clauses_said_cover_the_most_different_question_words() -> None:
    # Four clauses each repeating "main server" do not outweigh the one that has them all and
    # says what was installed.
    sentence = ("The main server A was checked, the main server B was checked, the main server "
                "C was checked, the main server D was checked, and long ago in the spring Alice "
                "installed a new database on the main server.")
    cut = short_answer("What did Alice install on the main server?", sentence, 30, 15)
    assert "installed a new database" in cut and len(cut.split()) <= 30


words = st.sampled_from(["The", "boiler", "was", "serviced", "in", "May", "1999", "by", "Anna",
                         "Berg", "of", "Oslo", "and", "cost", "40", "euros", "twelve", "times",
                         "`kb", "remove`", "/var/lib/x", ",", "on", "3", "June", "2001."])
sentences = st.lists(words, min_size=1, max_size=40).map(" ".join)
questions = st.sampled_from([
    "When was the boiler serviced?", "Who serviced the boiler?", "How much did it cost?",
    "Where does Anna live?", "How do I remove it?", "What was serviced?",
    "In what year was it?", "How many times?"])


@given(questions, sentences | st.text(max_size=200))
@example("Who?", "A B C")
def test_every_span_is_a_substring_of_its_sentence(question: str, sentence: str) -> None:
    for span in candidates(question, sentence):
        assert sentence[span.start:span.start + len(span.text)] == span.text
    picked = pick_span(question, sentence)
    assert picked is None or picked.text in sentence


@given(questions, sentences, st.integers(3, 40))
def test_the_short_answer_is_a_piece_of_the_sentence_within_the_limit(
        question: str, sentence: str, limit: int) -> None:
    answer = short_answer(question, sentence, limit)
    assert answer in sentence
    assert len(answer.split()) <= max(limit, 0) or answer == sentence


MODELS = ("Install or repair them with `xnai-edge models install --set tiny`; the standard set "
          "for a 16 GB mini-PC is installed with `--set standard`.")


def test_marked_code_is_the_command_and_a_size_is_not() -> None:
    assert [c.text for c in candidates("How do I install the models?", MODELS)] == [
        "`xnai-edge models install --set tiny`", "`--set standard`"]
    plain = MODELS.replace("`", "")
    assert "a 16 GB" not in [c.text for c in candidates("How do I install them?", plain)]


def test_a_command_holding_the_questions_verb_is_the_answer_and_the_cut_ends_its_clause(
        ) -> None:
    question = "How do I install or repair the models?"
    found = pick_span(question, MODELS)
    assert found is not None and found.text == "`xnai-edge models install --set tiny`"
    assert short_answer(question, MODELS, 30, 15) == \
        "Install or repair them with `xnai-edge models install --set tiny`"


@pytest.mark.parametrize(("question", "wants"), [
    ("What uid does the www-data user have?", True),
    ("How much memory does gzip need?", True),
    ("In what year did Tesla's father die?", True),
    ("When was the boiler serviced?", True),
    ("When do treaties apply?", False),  # a rule: "as soon as they enter into force"
    ("Who owns PostgreSQL databases?", False),
    ("How do I mute the microphone?", False),
])
def test_which_questions_want_a_number_or_a_date(question: str, wants: bool) -> None:
    assert wants_value(question) is wants


def test_clock_times_are_dates() -> None:
    assert [c.text for c in candidates("What time do members vote?",
                                       "Each sitting day, normally at 5 pm, members vote.")] \
        == ["5 pm"]
    assert [c.text for c in candidates("When does the backup run?",
                                       "The backup runs at 03:30 am.")] == ["03:30 am"]


def test_a_path_answers_where() -> None:
    # avahi-daemon.conf(5)'s SYNOPSIS: the file's place is its path.
    span = pick_span("Where is the avahi daemon configuration file?",
                     "Its configuration file is /etc/avahi/avahi-daemon.conf on Debian.")
    assert span is not None and span.text == "/etc/avahi/avahi-daemon.conf"
    assert has_candidate("Where do I keep my images?", "Keep them in ~/images or in /var/.")
    assert not has_candidate("Where do I keep my images?", "Keep them and/or share them.")


def test_a_repeated_clause_is_cut_where_it_is_not_where_its_twin_is() -> None:
    # Found by Hypothesis: the second "," was looked up by its text, found as the first.
    assert short_answer("When was the boiler serviced?", "The , , The boiler", 3) == (
        "The boiler")


def test_an_aside_does_not_use_up_the_words_that_say_how() -> None:
    # The chrony FAQ: the parenthesis took the five words that follow the clause, and a
    # sentence setting the scene hid that the question asks "how".
    sentence = ("If you do not need to use chronyc, or you want to run chronyc only under the "
                "root or chrony user (which can access chronyd through a Unix domain socket), "
                "you can disable the IPv4 and IPv6 command sockets (by default listening on "
                "localhost) by adding cmdport 0 to the configuration file.")
    said = short_answer("I never use chronyc over the network. How do I switch off the IPv4 "
                        "and IPv6 command sockets in chronyd?", sentence, 30, 15)
    assert said.endswith("by adding cmdport 0 to") and len(said.split()) <= 30


def test_a_how_question_hears_what_follows_the_clause_that_restates_it() -> None:
    sentence = ("Please note that the user may specify additional browsing domains on the "
                "client side, either by setting $AVAHI_BROWSE_DOMAINS to a list of colon "
                "separated domains or by adding them to the XDG config file "
                "~/.config/avahi/browse-domains (separated by newlines).")
    answer = short_answer("How can a user add extra browsing domains on the client side?",
                          sentence, 30)
    assert answer.startswith("Please note") and "$AVAHI_BROWSE_DOMAINS" in answer
    assert len(answer.split()) <= 30 and answer in sentence
    # "how many" asks for a number, not a way: the clause rule is unchanged.
    assert "$AVAHI" not in short_answer("How many browsing domains may the user specify on "
                                        "the client side?", sentence, 30)


def test_an_option_asked_for_is_a_dash_option_or_an_environment_variable() -> None:
    workaround = "Workaround for 1.1.X and later: use the --run-libc-freeres=no option."
    assert [c.text for c in candidates("Which option works around the crash?", workaround)] == [
        "--run-libc-freeres=no"]
    # Named by the question's own words, it is still the answer; named by the question, not.
    assert [c.text for c in candidates("Which option keeps the input files?",
                                       "Use --keep to keep them.")] == ["--keep"]
    assert not candidates("Is the --keep option safe?", "Use --keep to keep them.", "option")
    assert not has_candidate("Which option keeps the input files?", "Keep them all, co-owner.")
    exported = "With GCC 3.4 and later, export GLIBCXX_FORCE_NEW before running --tool=memcheck."
    assert [c.text for c in candidates("Which environment variable stops the pooling?",
                                       exported)] == ["GLIBCXX_FORCE_NEW"]


def test_an_option_answer_keeps_its_clause_whole() -> None:
    # An option is often one of a pair: "-1 or --fast", not "or --fast indicates ...".
    sentence = ("Regulate the speed of compression using the specified digit #, where -1 or "
                "--fast indicates the fastest compression method (less compression) and -9 or "
                "--best indicates the slowest compression method (best compression).")
    said = short_answer("Which option gives the fastest compression?", sentence, 25, 12)
    assert "-1 or --fast indicates the fastest compression method" in said


def test_an_option_answers_how_do_i() -> None:
    found = candidates("How do I follow the child processes?",
                       "To trace them, use the --trace-children=yes option.")
    assert "--trace-children=yes" in [c.text for c in found]
    assert not candidates("How do I follow the child processes?", "They are not traced.")
