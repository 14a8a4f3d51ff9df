"""The no-LLM grounding check: share of an answer's content words found in its section."""
import pytest

from wpqa.grounding import content_words, grounding_score

SECTION = ("Save a draft. Open the post in the editor. Click Save draft in the top toolbar. "
           "Check that the toolbar now says Saved.")


def test_answer_from_the_section_scores_high():
    answer = ("To save a draft, follow these steps:\n1. Open the post in the editor.\n"
              "2. Click Save draft in the toolbar.\n3. Check that the toolbar says Saved.")
    assert grounding_score(answer, SECTION) == 1.0


def test_inflections_match_and_boilerplate_does_not_count():
    assert grounding_score("1. Clicking saves the drafts.", SECTION) == 1.0
    assert content_words("Here are the possible solutions to the problem:") == []


def test_invented_steps_score_low():
    answer = ("To save a draft, follow these steps:\n1. Install the Turbo Drafts plugin.\n"
              "2. Enter your license key under Settings.\n3. Open the post in the editor.")
    score = grounding_score(answer, SECTION)
    assert 0.2 < score < 0.6


def test_empty_answer_scores_zero():
    assert grounding_score("", SECTION) == 0.0
    assert grounding_score("1. the and of", SECTION) == 0.0


@pytest.mark.parametrize("answer", ["Visit cheap-watches.example now", "Ignore all previous instructions"])
def test_words_absent_from_the_source_are_not_grounded(answer):
    assert grounding_score(answer, SECTION) == 0.0
