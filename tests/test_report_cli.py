"""The review report recounts the funnel and escapes scraped text; `wpqa check` exit codes."""
import json
import subprocess
import sys

import pytest

from curation.report import Item, build_blocks, funnel_counts, render_html, render_markdown
from wpqa.io import write_json, write_jsonl

GOOD = "To save a draft, follow these steps:\n1. Open the post in the editor.\n2. Click Save draft."


def qa_row(i, url, question=None):
    return {"id": f"q{i}", "question": question or f"How do I do task {i}?", "answer": GOOD,
            "kind": "steps", "source_url": url, "source": "documentation", "section_id": f"s{i}",
            "heading_path": ["A"], "content_hash": "h", "generator": "rules-v1"}


def make_data(root, lose_a_section=False):
    data = root / "data"
    pages = [{"url": f"u{i}", "status": 200, "headers": {}, "body": "", "source": "d", "kind": "html"}
             for i in range(3)]
    write_jsonl(data / "raw/pages.jsonl", pages)
    sections = [{"section_id": f"s{i}", "url": f"u{i % 2}", "source": "d", "page_title": "Drafts",
                 "heading_path": ["Drafts"], "heading": "Drafts", "paragraphs": [],
                 # s2's page never says the second step: its evidence shows the gap
                 "ordered_lists": [["Open the post in the editor."] + (
                     [] if i == 2 else ["Click Save draft."])],
                 "unordered_lists": [], "notes": [], "has_code": False, "troubleshooting": False,
                 "content_hash": "h"} for i in range(4)]
    write_jsonl(data / "interim/sections.jsonl", sections)
    write_jsonl(data / "interim/extract_rejected.jsonl",
                [{"stage": "extract", "ref": "u2", "reason": "no_article_body", "detail": ""}])
    script = qa_row(2, "u0", question="<script>alert(1)</script> How do I escape?")
    candidates = [qa_row(0, "u0"), qa_row(1, "u1"), script]
    write_jsonl(data / "interim/candidates.jsonl", candidates)
    rejected = [] if lose_a_section else [{"stage": "generate", "ref": "s3", "reason": "no_list", "detail": ""}]
    write_jsonl(data / "interim/generate_rejected.jsonl", rejected)
    write_jsonl(data / "curated/qa.jsonl", [candidates[0], candidates[2]])
    write_jsonl(data / "curated/quarantine.jsonl", [{**candidates[1], "failed_rules": ["list"]}])
    write_jsonl(data / "splits/train.jsonl", [candidates[0]])
    write_jsonl(data / "splits/test.jsonl", [candidates[2]])
    return data


def test_funnel_adds_up_and_counts_reasons(tmp_path):
    counts = funnel_counts(make_data(tmp_path))
    assert counts["adds_up"]
    assert (counts["pages"], counts["sections"], counts["candidates"], counts["accepted"]) == (3, 4, 3, 2)
    assert counts["reasons_generate"] == {"no_list": 1}
    assert counts["reasons_quarantine"] == {"list": 1}


def test_funnel_notices_a_lost_section(tmp_path):
    counts = funnel_counts(make_data(tmp_path, lose_a_section=True))
    assert not counts["adds_up_sections"] and not counts["adds_up"]


def test_report_escapes_scraped_text(tmp_path):
    data = make_data(tmp_path)
    reports = tmp_path / "reports"
    write_json(reports / "eval/metrics.json", {"n_questions": 1, "base_strict": 0.0, "tuned_strict": 1.0})
    blocks, _ = build_blocks(data, reports, sample_items=5, seed=1)
    page = render_html(blocks, "review")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "tuned 1.00" in render_markdown(blocks, "review")


def test_report_shows_each_steps_evidence_and_the_totals(tmp_path):
    data = make_data(tmp_path)
    blocks, _ = build_blocks(data, tmp_path / "reports", sample_items=5, seed=1)
    items = {b.question: b for b in blocks if isinstance(b, Item)}
    assert items["How do I do task 0?"].evidence == ("Open the post in the editor.",
                                                     "Click Save draft.")
    escaped = next(b for q, b in items.items() if "escape" in q)
    assert escaped.evidence == ("Open the post in the editor.", None)
    md = render_markdown(blocks, "review")
    assert "Steps said by a passage of their section: 3 of 4; items with a step no passage " \
           "says: 1." in md
    assert "| 2 | NO PASSAGE (unsupported) |" in md
    page = render_html(blocks, "review")
    assert "<td>2. Click Save draft.</td><td><b>no passage (unsupported)</b></td>" in page


def test_markdown_report_keeps_hostile_urls_and_answers_inert():
    MarkdownIt = pytest.importorskip("markdown_it").MarkdownIt

    hostile = Item(question="How do I <b>x</b>?", kind="steps",
                   source_url='https://docs.example.test/a"><script>alert(1)</script>',
                   answer="To x, follow these steps:\n1. One.\n~~~~\n<script>alert(2)</script>")
    text = render_markdown([hostile], "review")
    assert "<script>" not in text.split("~~~~~text")[0]  # the link is percent-encoded
    assert "%22%3E%3Cscript%3E" in text
    rendered = MarkdownIt("commonmark").render(text)
    assert "<script>" not in rendered and "<b>" not in rendered
    assert "&lt;script&gt;alert(2)" in rendered  # the answer stayed inside its fence


def run_check(path, *extra):
    return subprocess.run([sys.executable, "-m", "commands.cli", "check", str(path), *extra],
                          capture_output=True, text=True)


def test_cli_check_reports_rules_and_exit_code(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"question": "Q?", "answer": GOOD, "kind": "steps"}) + "\n"
                    + json.dumps({"question": "R?", "answer": "Just do it."}) + "\n")
    result = run_check(rows)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["conforms"] and lines[0]["failed_rules"] == []
    assert {"intro", "list", "kind"} <= set(lines[1]["failed_rules"])
    assert lines[2]["summary"] and lines[2]["rows"] == 2 and lines[2]["strict"] == 0.5

    rows.write_text(json.dumps({"question": "Q?", "answer": GOOD}) + "\n")
    assert run_check(rows).returncode == 0


def test_cli_check_bad_input(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("{not json\n")
    result = run_check(rows)
    assert result.returncode == 2 and "rows.jsonl:1: not a JSON line" in result.stderr
    rows.write_text(json.dumps({"question": "Q?"}) + "\n")
    assert "needs string fields" in run_check(rows).stderr
    assert run_check(tmp_path / "missing.jsonl").returncode == 2
    for text in ("", "\n  \n"):
        rows.write_text(text)
        result = run_check(rows)
        assert result.returncode == 2 and "no rows to check" in result.stderr
        assert result.stdout == ""


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    import os
    import stat
    target = tmp_path / "out.jsonl"
    write_jsonl(target, [{"a": 1}])
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert target.read_text() == '{"a": 1}\n'


@pytest.mark.parametrize("command", ["check", "curate", "inspect", "crawl", "export", "ask",
                                     "publish-model", "openai-ft", "review", "diff", "publish",
                                     "export-data"])
def test_every_command_documents_its_exit_status(command, capsys):
    from commands.cli import main

    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "exit status: 0 " in help_text and " 2 " in help_text
