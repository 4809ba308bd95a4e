"""Is an LLM sentence backed by the passage it was shown? (pure)"""

from __future__ import annotations

import pytest

from xnai_edge.brain.grounding import is_abstention, is_grounded, unsupported_terms

PASSAGE = ("Kettle manual > Cleaning. Descale the kettle every 4 weeks with white vinegar. "
           "The kettle was designed by Maria Lopez in 2019 and boils 1.7 litres.")
QUESTION = "How often should I descale the kettle?"


@pytest.mark.parametrize("answer", [
    "Descale the kettle every 4 weeks with white vinegar.",  # verbatim
    "You should descale it every 4 weeks with white vinegar.",  # paraphrase
    "Every 4 weeks, with vinegar.",
    "It boils 1.7 litres.",
    "Maria Lopez designed the kettle.",  # 'designed' -> 'design' stem matches
    "Maria Lopez was designing kettles in 2019.",  # other forms of the passage's words
])
def test_paraphrase_from_the_passage_is_accepted(answer: str) -> None:
    assert unsupported_terms(answer, PASSAGE, QUESTION) == []
    assert is_grounded(answer, PASSAGE, QUESTION)


@pytest.mark.parametrize(("answer", "invented"), [
    ("Descale the kettle every 6 weeks.", ["6"]),  # invented number
    ("Descale it every 4 weeks; it boils 2.5 litres.", ["2.5"]),
    ("The kettle was designed by John Smith.", ["john", "smith"]),  # invented name
    ("Descale the kettle every 4 weeks with lemon juice.", ["lemon", "juice"]),
    ("It was designed in 2018.", ["2018"]),
])
def test_invented_numbers_and_names_are_rejected(answer: str, invented: list[str]) -> None:
    found = unsupported_terms(answer, PASSAGE, QUESTION)
    assert set(invented) <= set(found)
    assert not set(found) & {"descale", "kettle", "weeks", "4", "it"}
    assert not is_grounded(answer, PASSAGE, QUESTION)


def test_a_number_must_appear_verbatim_not_just_its_digits() -> None:
    assert unsupported_terms("It boils 17 litres.", PASSAGE, QUESTION) == ["17"]
    assert unsupported_terms("every 4 weeks", PASSAGE, QUESTION) == []


def test_words_from_the_question_are_allowed() -> None:
    assert is_grounded("You should descale the kettle often.", PASSAGE, QUESTION)
    assert not is_grounded("You should descale the kettle often.", PASSAGE, "When?")


def test_an_answer_without_content_words_is_not_grounded() -> None:
    assert not is_grounded("It is.", PASSAGE, QUESTION)
    assert not is_grounded("", PASSAGE, QUESTION)


@pytest.mark.parametrize(("answer", "abstains"), [
    ("I don't know.", True),
    ("I dont know that.", True),
    ("I do not know.", True),
    ("The answer is not mentioned in the passages.", True),
    ("There is no information about that.", True),
    ("Descale it every 4 weeks.", False),
    ("Unknowingly, it boils.", False),
])
def test_abstentions_are_recognised(answer: str, abstains: bool) -> None:
    assert is_abstention(answer) is abstains
