"""Per-step evidence: each step aligned with the passage of its source that says it."""
from __future__ import annotations

from wpqa.evidence import evidence_rows, passages, step_span, step_spans, step_support

SOURCE = ("Menus\nAppearance\n"
          "Menus list the links of your site. Add pages to a menu from the left column.\n"
          "1. Open Appearance > Menus in the dashboard.\n"
          "2. Tick the pages you want, then click Add to Menu.\n"
          "3. Click Save Menu.")



def test_passages_are_sentences_and_lines_without_list_markers():
    assert [SOURCE[a:b] for a, b in passages(SOURCE)] == [
        "Menus", "Appearance", "Menus list the links of your site.",
        "Add pages to a menu from the left column.",
        "Open Appearance > Menus in the dashboard.",
        "Tick the pages you want, then click Add to Menu.", "Click Save Menu."]
    # a file name or an abbreviation does not end a sentence
    assert len(passages("Edit the wp-config.php file. Then save it.")) == 2
    assert len(passages("Use a plugin, e.g. the Classic Editor one.")) == 1


def test_each_step_gets_the_shortest_passage_that_says_it():
    answer = ("To add pages to a menu, follow these steps:\n"
              "1. Open Appearance > Menus in the dashboard.\n"
              "2. Tick the pages you want and click Add to Menu.\n"
              "3. Click Save Menu.")
    spans = step_spans(answer, SOURCE)
    assert [SOURCE[s.start:s.end] for s in spans] == [
        "Open Appearance > Menus in the dashboard.",
        "Tick the pages you want, then click Add to Menu.", "Click Save Menu."]
    assert all(s.support == 1.0 for s in spans)
    assert evidence_rows(spans)[2] == [spans[2].start, spans[2].end]
    assert step_support(answer, SOURCE) == 1.0


def test_a_step_may_join_adjacent_sentences_but_an_invented_one_has_no_span():
    joined = step_span("Menus list the links of your site; add pages from the left column.",
                       SOURCE)
    assert SOURCE[joined.start:joined.end] == ("Menus list the links of your site. Add pages "
                                               "to a menu from the left column.")
    invented = ("To add pages to a menu, follow these steps:\n"
                "1. Open Appearance > Menus in the dashboard.\n"
                "2. Install the Max Mega Menu plugin and activate its license.")
    spans = step_spans(invented, SOURCE)
    assert spans[0] is not None and spans[1] is None
    assert evidence_rows(spans)[1] is None
    assert step_support(invented, SOURCE) == 0.5


def test_an_answer_without_steps_has_no_step_support():
    assert step_support("Menus are lists of links.", SOURCE) is None
    assert step_span("the and of", SOURCE) is None  # no content words
