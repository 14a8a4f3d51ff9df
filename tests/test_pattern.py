"""The pattern rules: each rule fails on its own kind of break, and only then."""
import pytest

from wpqa.pattern import (DEFAULT_BOUNDS, RULE_CHECKS, RULE_IDS, check_answer,
                          conformance_rates, format_answer, parse_answer)
from wpqa.params import PatternParams

GOOD_STEPS = """To install a plugin, follow these steps:
1. Go to Plugins > Add New Plugin in the dashboard.
2. Search for the plugin by name.
3. Click Install Now, then Activate."""

GOOD_SOLUTIONS = """Here are the possible solutions to the problem:
1. Reset your password from the login screen.
2. Clear your browser cookies for the site.
3. Rename the plugins folder to rule out a plugin conflict.
Note: Keep a backup before renaming folders."""


def rules(answer, kind="steps", bounds=DEFAULT_BOUNDS):
    return sorted({f.rule for f in check_answer(answer, kind, bounds)})


def test_design_examples_conform():
    assert rules(GOOD_STEPS, "steps") == []
    assert rules(GOOD_SOLUTIONS, "solutions") == []
    assert rules(GOOD_STEPS, None) == []


@pytest.mark.parametrize("answer, kind, expected", [
    ("1. Go to Plugins.\n2. Click Add.", "steps", "intro"),
    ("To install a plugin follow these steps\n1. Go to Plugins.\n2. Click Add New.", "steps", "intro"),
    ("Sure. To install a plugin, follow these steps:\n1. Go to Plugins.\n2. Click Add New.", "steps", "intro"),
    ("To install a plugin, follow these steps:\n1. Go to Plugins now.", "steps", "list"),
    ("To install a plugin, follow these steps:\n1. Go to Plugins.\nThen wait.\n2. Click Add New.", "steps", "list"),
    ("To install a plugin, follow these steps:\n1. Go to Plugins.\n3. Click Add New.", "steps", "numbering"),
    ("To install a plugin, follow these steps:\n1. Go to Plugins.\n1. Click Add New.", "steps", "numbering"),
    (GOOD_STEPS + "\nThat is all.", "steps", "tail"),
    (GOOD_STEPS + "\nNote: one.\nNote: two.", "steps", "tail"),
    (GOOD_STEPS + "\n```php\necho 1;\n```", "steps", "no_code"),
    ("To enable debugging, follow these steps:\n1. Open wp-config.php.\n2. Add define('WP_DEBUG', true);", "steps", "no_code"),
    ("To enable debugging, follow these steps:\n1. Open the file.\n2. Add `define('WP_DEBUG', true);` to it.", "steps", "no_code"),
    ("To install a plugin, follow these steps:\n1. Go to <b>Plugins</b>.\n2. Click Add New.", "steps", "no_markup"),
    ("To install a plugin, follow these steps:\n1. Go to **Plugins**.\n2. Click Add New.", "steps", "no_markup"),
    ("To install a plugin, follow these steps:\n1. Go.\n2. Click Add New.", "steps", "item_length"),
    ("To install a plugin, follow these steps:\n1. Go to Plugins.\n2. Go to plugins.", "steps", "no_repeat"),
    ("To install a plugin, follow these steps:\n1. Click the button button button button.\n2. Save it.", "steps", "no_repeat"),
    (GOOD_SOLUTIONS, "steps", "kind"),
    (GOOD_STEPS, "solutions", "kind"),
    ("Do this:\n1. Go to Plugins.\n2. Click Add New.", None, "kind"),
])
def test_each_rule_catches_its_break(answer, kind, expected):
    assert expected in rules(answer, kind)


def test_every_rule_has_one_check_and_failures_come_in_rule_order():
    assert tuple(RULE_CHECKS) == RULE_IDS
    broken = "**Sure**\n1. Go.\n3. Go."
    order = [f.rule for f in check_answer(broken, "steps", DEFAULT_BOUNDS)]
    assert order == sorted(order, key=RULE_IDS.index)
    assert {"intro", "numbering", "no_markup", "item_length"} <= set(order)


def test_a_short_terminal_command_is_a_step_a_long_one_is_code():
    steps = "To release a fix, follow these steps:\n1. `git cherry-pick -m 1 cb150a2`\n2. `git push`"
    assert rules(steps) == []
    # the same length outside a command is a statement, and a command has a limit too
    assert "no_code" in rules(steps.replace("git cherry-pick", "pick one of"))
    long = "`git log --oneline --graph --all --decorate --color --stat --reverse`"
    assert "no_code" in rules(steps.replace("`git push`", long))
    # a quoted argument is one word to the shell, however long the message
    message = '`git commit -m "Merge the changes published in the plugin release"`'
    assert rules(steps.replace("`git push`", message)) == []
    assert "no_code" in rules(steps.replace("`git push`", message.replace('"', "")))


def test_inline_names_are_not_code_or_markup():
    answer = ("To register a hook, follow these steps:\n1. Open `wp-config.php` in an editor.\n"
              "2. Call `add_action()` from the file named by `__FILE__`.\n3. Save the file.")
    assert rules(answer) == []


def test_bounds_come_from_params():
    tight = PatternParams(min_items=4, max_items=5, min_item_words=1, max_item_words=3, max_intro_words=30)
    failed = rules(GOOD_STEPS, "steps", tight)
    assert "list" in failed and "item_length" in failed


def test_every_failure_has_a_known_rule_and_reason():
    garbage = "<h1>Hi</h1>\n# Title\n| a | b |\n5. x\n5. x\nmore text\n```code```"
    failures = check_answer(garbage, "steps", DEFAULT_BOUNDS)
    assert failures and all(f.rule in RULE_IDS and f.reason for f in failures)


def test_format_answer_round_trips():
    answer = format_answer("steps", ["Open the dashboard.", "Click Save."], task="save a draft",
                           note="Drafts autosave too.")
    parsed = parse_answer(answer)
    assert parsed.intro == "To save a draft, follow these steps:"
    assert [n for n, _ in parsed.items] == [1, 2] and parsed.tail == ["Note: Drafts autosave too."]
    assert rules(answer) == []
    with pytest.raises(ValueError, match="allowed: steps, solutions"):
        format_answer("recipe", ["a b"])


def test_conformance_rates():
    results = [check_answer(GOOD_STEPS, "steps", DEFAULT_BOUNDS),
               check_answer("1. Go to Plugins.\n3. Click Add New.", "steps", DEFAULT_BOUNDS)]
    rates = conformance_rates(results)
    assert rates["strict"] == 0.5
    assert rates["rule_numbering"] == 0.5 and rates["rule_no_markup"] == 1.0
    assert set(rates) == {"strict", *(f"rule_{r}" for r in RULE_IDS)}
    assert conformance_rates([])["strict"] == 0.0
