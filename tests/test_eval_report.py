"""The eval report: content, escaping of model and scraped text, and a headless Chromium check."""
from __future__ import annotations

import pytest

from eval import evaluate, report
from tests.browser import rendered_dom, require_chromium, screenshot
from tests.tiny_models import qa_rows
from wpqa.html_page import CSP
from wpqa.params import Decoding
from wpqa.records import QAPair, from_row

ATTACK = ("To hack, follow these steps:\n1. <script>document.body.setAttribute('data-pwned', "
          "'yes'); document.title = 'pwned'</script>\n2. Done.")
IMG = '<img src=x onerror="document.body.setAttribute(\'data-pwned\', \'img\')">'


def _report_inputs(bounds):
    rows = qa_rows(3)
    rows[0] = {**rows[0], "question": rows[0]["question"] + " " + IMG}
    rows[1] = {**rows[1], "source_url": "javascript:alert(1)"}
    pairs = [from_row(QAPair, row) for row in rows]
    tuned = [row["answer"] for row in rows]
    tuned[2] = ATTACK
    base = ["prose with no list", ATTACK, "also prose"]
    predictions = evaluate.sort_predictions(
        evaluate.score_answers(pairs, base, "base", bounds)
        + evaluate.score_answers(pairs, tuned, "tuned", bounds))
    metrics, comparisons = evaluate.summarize(predictions, ["base", "tuned"], resamples=300)
    sections = {"s0": {"heading_path": ["Doc", "Install <b>it</b>"]}}
    return predictions, metrics, comparisons, sections


def test_markdown_report_has_every_part_worst_first(bounds):
    predictions, metrics, comparisons, sections = _report_inputs(bounds)
    md = report.render_markdown(predictions, metrics, comparisons, ["base", "tuned"],
                                Decoding("greedy", 0.0, 1.0, 0, 200, 1), sections)
    for part in ("## Summary", "## Paired tests", "## Per-rule pass rates",
                 "## Questions, worst first", "| tuned vs base | strict conformance |"):
        assert part in md
    tuned_strict = f"{metrics['tuned_strict']:.2f} [{metrics['tuned_strict_ci_low']:.2f}, "
    assert tuned_strict in md
    order = [line.split(":")[0][4:] for line in md.splitlines() if line.startswith("### ")]
    # qa0002: both models fail; qa0000 and qa0001: base fails, tuned conforms
    assert order[0] == "qa0002" and set(order) == {"qa0000", "qa0001", "qa0002"}
    assert "[Doc &gt; Install &lt;b&gt;it&lt;/b&gt;](<http://127.0.0.1/doc/>)" in md
    assert "(javascript:" not in md and "<img" not in md
    assert "&lt;img src=x onerror=" in md


def test_html_report_escapes_model_and_scraped_text(bounds, tmp_path):
    predictions, metrics, comparisons, sections = _report_inputs(bounds)
    page = report.render_html(predictions, metrics, comparisons, ["base", "tuned"],
                              sections=sections)
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "<img" not in page and "<b>it" not in page
    assert 'href="javascript:' not in page
    assert f'content="{CSP}"' in page  # scripts fall under default-src 'none'
    assert page.count('<div class="question">') == 3


@pytest.mark.integration
def test_report_renders_in_headless_chromium_and_runs_no_script(bounds, tmp_path):
    require_chromium()
    predictions, metrics, comparisons, sections = _report_inputs(bounds)
    html_path, _ = report.write_report(tmp_path, predictions, metrics, comparisons,
                                       ["base", "tuned"], sections=sections)
    dom = rendered_dom(html_path)
    for heading in ('id="summary"', 'id="paired"', 'id="rules"', 'id="questions"'):
        assert heading in dom
    assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]
    assert "<title>wpqa evaluation</title>" in dom
    assert "&lt;script&gt;document.body.setAttribute" in dom  # shown as text
    assert dom.count('class="bar"') == 2 * 9
    png = screenshot(html_path, tmp_path / "eval-report.png")
    assert png.stat().st_size > 10_000


def test_verdict_states_the_difference_with_its_uncertainty():
    significant = {"a": "tuned", "b": "base", "metric": "strict", "diff": 0.8, "ci_low": 0.6,
                   "ci_high": 0.95, "p_value": 0.0001, "test": "mcnemar_exact", "n": 30}
    unsure = {**significant, "diff": 0.2, "ci_low": -0.1, "p_value": 0.3}
    assert report.verdicts([significant]) == [
        "Strict conformance: tuned beats base (+0.80, 95% CI [+0.60, +0.95], mcnemar_exact "
        "p = 0.0001, 30 questions)."]
    assert "no significant difference between tuned and base" in report.verdicts([unsure])[0]
    assert report.verdicts([{**significant, "metric": "rougeL"}]) == []


def test_markdown_keeps_untrusted_text_inside_its_place():
    fence = "`" * 3
    assert report.md_block(f"a\n{fence}\n# not a heading") == "a\n'''\n# not a heading"
    assert report.md_text("[click](javascript:x) <b>*bold*</b>\nnext") == (
        r"\[click\](javascript:x) &lt;b&gt;\*bold\*&lt;/b&gt; next")
