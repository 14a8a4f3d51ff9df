"""Loose scoring (IFEval-style): what it forgives and what it still fails."""
import pytest

from wpqa.pattern import DEFAULT_BOUNDS, check_answer
from eval.loose import (check_answer_loose, conforms_loose, loose_intro_kind, loose_variants,
                        strip_emphasis)

THESIS = ("You can login to your webserver by using the following steps:\n"
          "1. Open a terminal on your computer.\n"
          "2. Connect with ssh user@example.com and your password.\n"
          "3. Change to the folder that holds WordPress.")


def rules(failures):
    return sorted({f.rule for f in failures})


def test_thesis_example_fails_strict_kind_but_passes_loose():
    assert rules(check_answer(THESIS, "steps", DEFAULT_BOUNDS)) == ["kind"]
    assert conforms_loose(THESIS, "steps", DEFAULT_BOUNDS)


@pytest.mark.parametrize("intro, kind", [
    ("Here are the steps:", "steps"),
    ("To add a user, follow these steps:", "steps"),
    ("Here are the possible solutions to the problem:", "solutions"),
    ("Try these fixes:", "solutions"),
    ("Do the following:", "steps"),
    ("Do the following:", "solutions"),
])
def test_intros_in_other_words_pass_loose(intro, kind):
    answer = f"{intro}\n1. Open the dashboard screen.\n2. Click the Save button."
    assert conforms_loose(answer, kind, DEFAULT_BOUNDS), check_answer_loose(answer, kind, DEFAULT_BOUNDS)


def test_intro_announcing_the_other_kind_fails_loose():
    answer = "Here are some solutions:\n1. Open the dashboard screen.\n2. Click the Save button."
    assert rules(check_answer_loose(answer, "steps", DEFAULT_BOUNDS)) == ["kind"]
    assert loose_intro_kind("Here is an overview.") is None
    assert loose_intro_kind("WordPress is a CMS:") is None


def test_emphasis_preamble_and_closing_line_are_forgiven():
    answer = ("Sure!\nHere are the steps:\n1. Go to **Settings > General**.\n"
              "2. Change the *Site Title* field.\nI hope this helps!")
    assert rules(check_answer(answer, "steps", DEFAULT_BOUNDS)) == ["intro", "kind", "list", "no_markup", "tail"]
    assert conforms_loose(answer, "steps", DEFAULT_BOUNDS)
    assert strip_emphasis("a **b** c __d__ *e* 2 * 3 wp_config_x") == "a b c d e 2 * 3 wp_config_x"


def test_loose_still_fails_code_headings_and_lists_without_numbers():
    code = "Here are the steps:\n1. Open the file.\n2. Add this line.\n```php\ndefine('WP_DEBUG', true);\n```"
    assert "no_code" in rules(check_answer_loose(code, "steps", DEFAULT_BOUNDS))
    bullets = "Here are the steps:\n- Open the file.\n- Save it."
    assert "list" in rules(check_answer_loose(bullets, "steps", DEFAULT_BOUNDS))
    heading = "## Steps\nHere are the steps:\n1. Open the file.\n2. Save it now.\nThanks."
    assert not conforms_loose(heading + "\nMore text here.", "steps", DEFAULT_BOUNDS)


def test_strict_pass_implies_loose_pass_and_the_list_is_never_cut():
    answer = "To add a user, follow these steps:\n1. Go to Users.\n2. Click Add New User.\nNote: admins only."
    assert not check_answer(answer, "steps", DEFAULT_BOUNDS)
    assert conforms_loose(answer, "steps", DEFAULT_BOUNDS)
    for variant in loose_variants(answer):
        assert "1. Go to Users." in variant and "2. Click Add New User." in variant
