"""The review report in a real browser: sections render, scraped script text stays text,
no script runs (the page's Content-Security-Policy forbids them), and a screenshot."""
from curation.report import build_blocks, render_html, render_markdown
from wpqa.html_page import CSP
from tests.browser import rendered_dom, require_chromium, screenshot
from tests.test_report_cli import make_data
from wpqa.io import read_jsonl, write_json, write_jsonl

RAN = "document.body.setAttribute('data-ran','yes')"
SECTIONS = ("Funnel", "Extraction drop reasons", "Generation drop reasons", "Quarantine rules",
            "Split drop reasons (review and dedup)", "Great Expectations", "Distributions",
            "Dedup and leakage", "Human review", "Per-step evidence and UI strings", "Sample items",
            "Version diff", "Evaluation")


def report_inputs(root):
    data = make_data(root)
    # The scraped question carries a script that would mark the page if it ran.
    rows = [{**r, "question": f"<script>{RAN}</script> How do I escape?"} if r["id"] == "q2" else r
            for r in read_jsonl(data / "splits/test.jsonl")]
    write_jsonl(data / "splits/test.jsonl", rows)
    reports = root / "reports"
    write_json(reports / "eval/metrics.json", {"n_questions": 1, "base_strict": 0.0, "tuned_strict": 1.0})
    write_json(reports / "split/metrics.json", {"dropped_near_duplicate": 1, "dedup_clusters": 1,
                                                "leaks": 0, "groups": 2, "largest_group": 1})
    write_json(reports / "split/gx_results.json", {"success": True, "rows": 1, "expectations": [
        {"expectation": "expect_column_values_to_be_between", "column": "ngram_train_matches",
         "success": True, "unexpected_count": 0, "unexpected_ids": []}]})
    write_json(reports / "split/dedup.json", {"clusters": [{"kept": "q0", "question": "How do I do task 0?",
                                                            "source_url": "u0", "dropped": [
        {"id": "q9", "question": "How do I do task 0 now?", "reason": "near_duplicate",
         "similarity": 0.91, "source_url": "u1"}]}], "near_misses": [], "leaks": []})
    write_json(reports / "split/review.json", {"review_decisions": 2, "review_reviewed": 2,
                                               "review_vetoed": 1, "review_edits_rejected": 1,
                                               "rejected_edits": [{"id": "q5", "failed_rules": ["list"],
                                                                   "reasons": ["list: no numbered items"]}]})
    return data, reports


def test_report_renders_in_chromium_without_running_scripts(tmp_path):
    require_chromium()
    data, reports = report_inputs(tmp_path)
    blocks, counts = build_blocks(data, reports, sample_items=5, seed=1, repo=tmp_path)
    page = tmp_path / "report.html"
    page.write_text(render_html(blocks, "review"))
    dom = rendered_dom(page)
    for title in SECTIONS:
        anchor = next(b.anchor for b in blocks if getattr(b, "text", None) == title)
        assert f'<h2 id="{anchor}">' in dom, title
    assert dom.count("<svg") == 4 and "<rect" in dom  # the four distributions as plots
    assert "&lt;script&gt;" in dom  # the scraped tag shows as text …
    assert "<script" not in dom and 'data-ran="yes"' not in dom  # … and never runs
    assert "q9: How do I do task 0 now?" in dom and "list: no numbered items" in dom
    assert "No earlier version" in dom
    png = screenshot(page, tmp_path / "report.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = render_markdown(blocks, "review")
    assert all(f"## {title}" in md for title in SECTIONS) and "**Steps per answer**" in md
    assert "<script" not in md and "&lt;script&gt;" in md  # Markdown viewers render HTML


def test_csp_forbids_scripts_in_chromium(tmp_path):
    """The detector works (a page without the policy runs its script) and the policy holds."""
    require_chromium()
    body = f"<body><p>x</p><script>{RAN}</script></body>"
    plain, guarded = tmp_path / "plain.html", tmp_path / "guarded.html"
    plain.write_text(f"<!DOCTYPE html><html><head></head>{body}</html>")
    guarded.write_text(f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
                       f'content="{CSP}"></head>{body}</html>')
    assert 'data-ran="yes"' in rendered_dom(plain)
    assert 'data-ran="yes"' not in rendered_dom(guarded)


def test_only_web_links_become_links(tmp_path):
    data, reports = report_inputs(tmp_path)
    rows = read_jsonl(data / "splits/train.jsonl")
    write_jsonl(data / "splits/train.jsonl", [{**rows[0], "source_url": "javascript:alert(1)"}])
    page = render_html(build_blocks(data, reports, sample_items=5, seed=1, repo=tmp_path)[0], "r")
    assert 'href="javascript:' not in page and "source: javascript:alert(1)" in page


def test_funnel_counts_split_drops_and_notices_a_lost_item(tmp_path):
    from curation.report import funnel_counts
    data = make_data(tmp_path)
    [dropped] = read_jsonl(data / "splits/test.jsonl")
    write_jsonl(data / "splits/test.jsonl", [])
    write_jsonl(data / "splits/dropped.jsonl", [{"stage": "split", "ref": dropped["id"],
                                                "reason": "near_duplicate", "detail": "duplicate of q0"}])
    counts = funnel_counts(data)
    assert counts["adds_up"] and counts["reasons_split"] == {"near_duplicate": 1}
    write_jsonl(data / "splits/dropped.jsonl", [])
    assert not funnel_counts(data)["adds_up_splits"]


def test_funnel_counts_rejected_outputs_of_sections_that_also_gave_candidates(tmp_path):
    from curation.report import funnel_counts
    data = make_data(tmp_path)
    rejected = read_jsonl(data / "interim/generate_rejected.jsonl")
    write_jsonl(data / "interim/generate_rejected.jsonl", rejected + [
        {"stage": "generate", "ref": "s0", "reason": "llm_not_a_list", "detail": ""}])
    counts = funnel_counts(data)
    assert counts["adds_up"] and counts["sections_rejected"] == 1
    assert counts["reasons_generate"] == {"llm_not_a_list": 1, "no_list": 1}


def test_the_page_shell_escapes_the_title_and_sets_the_one_policy():
    from wpqa.html_page import html_page

    page = html_page("<script>alert(1)</script> & co", ["<p>kept &amp; escaped by the report</p>"],
                     style="p{color:#000}", viewport=True)
    assert page.startswith("<!DOCTYPE html>\n") and page.endswith("\n</body></html>\n")
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</title>" in page
    assert "<p>kept &amp; escaped by the report</p>" in page and "<script>" not in page
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert CSP.startswith("default-src 'none';") and "script-src" not in CSP
    assert 'name="viewport"' in page
    assert 'name="viewport"' not in html_page("t", [], style="")
