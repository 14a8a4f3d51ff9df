"""extract, generate, validate and split as pure functions on small records."""
import json
import subprocess
import sys

import pytest

from curation.extract import extract_sections
from curation.generate import generate_candidates
from curation.rules import generate_from_section, problem_question, steps_question, task_from_heading
from curation.split import SplitError, card_metadata, license_for, split_by_page
from curation.validate import GateError, parse_candidates, validate_candidates
from tests.conftest import ROOT, SHARED_FIXTURES
from wpqa.hub import card_metadata_problems, size_categories, size_category
from wpqa.params import ExtractParams, SplitParams, ValidateParams
from wpqa.records import Page, QAPair, Section, to_row

HTML = (ROOT / "tests/fixtures/tiny_docs_page.html").read_text()
EXTRACT = ExtractParams(min_section_words=3)


def split_params(test_size):
    return SplitParams(test_size=test_size, near_dup_threshold=0.7, num_perm=128, shingle_words=3,
                       leak_ngram_words=13, licenses={"*": "mit"})


def page(body=HTML, kind="html", url="https://docs.example.test/drafts/"):
    return Page(url=url, status=200, headers={}, body=body, source="documentation", kind=kind)


def by_heading(sections):
    return {s.heading: s for s in sections}


def test_extract_cuts_at_headings_and_merges_continued_lists():
    sections, rejected = extract_sections(page(), EXTRACT)
    found = by_heading(sections)
    save = found["Save a draft"]
    assert save.heading_path == ["Work with drafts", "Save a draft"]
    # The list split around the screenshot and continued with start="3" is one procedure.
    assert save.ordered_lists == [["Open the post in the editor.", "Click Save draft in the top toolbar.",
                                   "Check that the toolbar now says Saved."]]
    assert save.notes == ["Drafts are also saved automatically every minute."]
    assert not save.has_code
    assert found["Draft statuses"].unordered_lists == [["Draft means only editors can see it.",
                                                        "Pending means it awaits review."]]
    assert found["Preview a draft with code"].has_code
    # Table of contents, breadcrumbs and navigation are page chrome, not sections.
    assert "In this article" not in found and all("Next" not in s.paragraphs for s in sections)
    assert rejected == []


def test_extract_rejects_page_without_body_and_bad_json():
    _, rejected = extract_sections(page("<html><body><p>Just a stub</p></body></html>"), EXTRACT)
    assert [r.reason for r in rejected] == ["no_article_body"]
    _, rejected = extract_sections(page("{not json", kind="plugin_api"), EXTRACT)
    assert [r.reason for r in rejected] == ["invalid_json"]


def test_extract_plugin_api_faq_even_when_malformed():
    info = {"name": "Spam Guard", "sections": {
        "installation": "<ol><li>Upload the plugin folder.</li><li>Activate it on the Plugins screen.</li></ol>",
        "faq": ('<dl><dt id="q1"><h3>Why are comments held for review?</h4></dt><dd><p>Some look like spam.</p>'
                '<ol><li>Open the Comments screen.</li><li>Approve the comments you trust.</li></ol></dd>'
                '<dt id="q2"><h3>Is it free?</h3></dt><dd><p>Yes, for personal sites.</p></dd></dl>')}}
    sections, rejected = extract_sections(page(json.dumps(info), kind="plugin_api"), EXTRACT)
    found = by_heading(sections)
    assert found["Installation"].ordered_lists == [["Upload the plugin folder.", "Activate it on the Plugins screen."]]
    held = found["Why are comments held for review?"]
    assert held.heading_path == ["Spam Guard", "FAQ", "Why are comments held for review?"]
    assert held.troubleshooting and len(held.ordered_lists[0]) == 2
    assert found["Is it free?"].paragraphs == ["Yes, for personal sites."]


def test_headings_become_questions():
    assert task_from_heading("Install a plugin from the dashboard") == "install a plugin from the dashboard"
    assert task_from_heading("How to change your password") == "change your password"
    assert task_from_heading("Draft statuses") is None
    assert task_from_heading("Installation", subject="Spam Guard") == "install Spam Guard"
    assert task_from_heading("Installation") is None
    assert steps_question("change your site title") == "How do I change my site title?"
    assert steps_question("set up WooCommerce payments") == "How do I set up WooCommerce payments?"
    assert problem_question("You see a white screen after updating") == "I see a white screen after updating"
    assert problem_question("Why are emails not sent?") == "Why are emails not sent?"
    assert problem_question("The preview does not show your latest changes") == \
        "The preview does not show my latest changes. How do I fix it?"
    assert problem_question("Error establishing a database connection") == \
        'How do I fix "Error establishing a database connection"?'


def test_generate_from_extracted_page(params):
    sections, _ = extract_sections(page(), EXTRACT)
    candidates, rejected, metrics = generate_candidates(sections, params.generate)
    assert [c.question for c in candidates] == ["How do I save a draft?"]
    qa = candidates[0]
    assert qa.answer.splitlines()[0] == "To save a draft, follow these steps:"
    assert qa.answer.endswith("Note: Drafts are also saved automatically every minute.")
    assert qa.source_url == "https://docs.example.test/drafts/" and qa.generator == "rules-v2"
    reasons = {r.reason for r in rejected}
    # "Add the snippet below" over a list followed by a code block cannot be followed
    # without the code; a bulleted list of statuses is not a procedure.
    assert {"needs_code", "unordered_list_not_steps", "no_list"} <= reasons
    # Nothing lost: every section ends as a candidate or a rejected row.
    assert {q.section_id for q in candidates} | {r.ref for r in rejected} == {s.section_id for s in sections}
    assert metrics["sections_with_candidates"] + metrics["sections_rejected"] == len(sections)


def test_generate_solutions_from_troubleshooting_section():
    section = Section(section_id="s1", url="u", source="documentation", page_title="Troubleshoot",
                      heading_path=["Troubleshoot", "You can't upload images"], heading="You can't upload images",
                      paragraphs=[], ordered_lists=[], unordered_lists=[["Check the uploads folder permissions",
                                                                          "Raise the upload size limit"]],
                      notes=[], has_code=False, troubleshooting=True, content_hash="h")
    [qa], rejected = generate_from_section(section)
    assert qa.kind == "solutions" and qa.question == "I can't upload images"
    assert qa.answer == ("Here are the possible solutions to the problem:\n"
                         "1. Check the uploads folder permissions.\n2. Raise the upload size limit.")


def qa(i, question, answer, url="https://docs.example.test/a/", kind="steps"):
    return QAPair(id=f"id{i:03d}", question=question, answer=answer, kind=kind, source_url=url,
                  source="documentation", section_id=f"s{i}", heading_path=["A"], content_hash="h",
                  generator="rules-v1")


GOOD = "To save a draft, follow these steps:\n1. Open the post in the editor.\n2. Click Save draft."


def test_validate_quarantines_with_rule_and_keeps_first_duplicate(bounds):
    items = [qa(1, "How do I save a draft?", GOOD),
             qa(2, "How do I save a draft", GOOD),  # same question once normalised
             qa(3, "How do I publish?", "Just click Publish."),
             qa(4, "Ok?", GOOD.replace("save a draft", "publish"))]  # too short for the GX bound
    accepted, quarantine, results, metrics = validate_candidates(items, bounds, ValidateParams(min_accepted=1))
    assert [q.id for q in accepted] == ["id001"]
    rules = {q["id"]: q["failed_rules"] for q in quarantine}
    assert rules["id002"] == ["duplicate_question"]
    assert "intro" in rules["id003"] and "list" in rules["id003"]
    assert rules["id004"] == ["gx:expect_column_value_lengths_to_be_between:question"]
    assert results["accepted"]["success"] and not results["candidates"]["success"]
    assert metrics["accepted"] + metrics["quarantined"] == metrics["candidates_in"] == 4


def test_validate_quarantines_rows_it_cannot_read(bounds, tmp_path):
    good = to_row(qa(1, "How do I save a draft?", GOOD))
    no_url = {k: v for k, v in good.items() if k != "source_url"} | {"id": "id002"}
    null_question = good | {"id": "id003", "question": None}
    candidates, malformed = parse_candidates([good, no_url, null_question, ["not", "a", "row"]])
    assert [c.id for c in candidates] == ["id001"]
    assert [m["reasons"] for m in malformed] == [
        ["source_url: missing"], ["question: expected str, got NoneType"],
        ["not a JSON object: ['not', 'a', 'row']"]]
    accepted, quarantine, _, metrics = validate_candidates(
        candidates, bounds, ValidateParams(min_accepted=1), malformed)
    assert [q.id for q in accepted] == ["id001"]
    assert metrics["quarantined_malformed_row"] == 3
    assert metrics["accepted"] + metrics["quarantined"] == metrics["candidates_in"] == 4
    assert {q.get("id") for q in quarantine} == {"id002", "id003", None}

    # The stage command: no traceback, the bad rows land in the quarantine file.
    path = tmp_path / "candidates.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (good, no_url, null_question)))
    done = subprocess.run([sys.executable, "-m", "curation.validate", "--params",
                           str(ROOT / "params.yaml"), "--candidates", str(path),
                           "--out", str(tmp_path / "qa.jsonl"), "--quarantine",
                           str(tmp_path / "quarantine.jsonl"), "--reports", str(tmp_path / "r")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 candidates -> 1 accepted, 2 quarantined" in done.stdout
    rows = [json.loads(line) for line in (tmp_path / "quarantine.jsonl").read_text().splitlines()]
    assert [r["failed_rules"] for r in rows] == [["malformed_row"], ["malformed_row"]]


def test_validate_stops_when_too_few_survive(bounds):
    with pytest.raises(GateError, match="only 1 of 1 candidates passed"):
        validate_candidates([qa(1, "How do I save a draft?", GOOD)], bounds, ValidateParams(min_accepted=5))


def test_split_groups_pages_and_hits_count():
    items = [qa(i, f"How do I do task {i}?", GOOD, url=f"https://docs.example.test/p{i % 10}/") for i in range(100)]
    train, test = split_by_page(items, split_params(30), seed=42)
    assert len(test) == 30 and len(train) == 70
    assert not {q.source_url for q in train} & {q.source_url for q in test}
    again = split_by_page(list(reversed(items)), split_params(30), seed=42)
    assert again == (train, test)  # file order does not matter
    assert split_by_page(items, split_params(30), seed=7) != (train, test)
    assert len(split_by_page(items, split_params(0.2), seed=42)[1]) == 20


def test_split_refuses_when_no_group_fits_the_test_size():
    items = [qa(i, f"Q {i}?", GOOD, url=f"https://docs.example.test/p{i % 2}/") for i in range(10)]
    with pytest.raises(SplitError, match="no group of items fits in a test split of 2: the smallest has 5"):
        split_by_page(items, split_params(2), seed=1)


def test_split_refuses_a_test_set_as_large_as_the_data():
    items = [qa(i, f"Q {i}?", GOOD) for i in range(5)]
    with pytest.raises(SplitError, match="asks for 30 test items but only 5"):
        split_by_page(items, split_params(30), seed=1)


def test_card_metadata_uses_hub_values():
    items = [qa(1, "Q?", GOOD), qa(2, "R?", GOOD, url="https://developer.wordpress.org/x/")]
    meta = card_metadata(items[:1], items[1:], {"docs.example.test": "mit", "wordpress.org": "gpl-2.0"})
    from huggingface_hub import DatasetCardData
    data = DatasetCardData(**meta)
    assert data.license == ["gpl-2.0", "mit"] and data.size_categories == ["n<1K"]
    assert card_metadata_problems(meta) == []
    splits = meta["dataset_info"]["splits"]
    assert [(s["name"], s["num_examples"]) for s in splits] == [("train", 1), ("test", 1)]
    assert all(s["num_bytes"] > 0 for s in splits)
    bad = {**meta, "license": "GPLv2+", "task_categories": ["qa"], "size_categories": ["n>1M"]}
    problems = card_metadata_problems(bad)
    assert len(problems) == 3 and "license 'GPLv2+'" in problems[0]


def test_license_by_host_and_parent_domain():
    licenses = {"sample.wpqa.test": "mit", "wordpress.org": "gpl-2.0", "*": "unknown"}
    assert license_for("https://sample.wpqa.test/docs/", licenses) == "mit"
    assert license_for("https://developer.wordpress.org/plugins/", licenses) == "gpl-2.0"
    assert license_for("https://yoast.com/help/", licenses) == "unknown"
    assert size_category(999) == "n<1K" and size_category(100_000) == "100K<n<1M"
    assert size_category(5_000_000) in size_categories()


@pytest.mark.skipif(not SHARED_FIXTURES.exists(), reason="../shared fixtures absent")
def test_real_block_markup_extracts():
    for path in sorted((SHARED_FIXTURES / "blockmarkup").glob("*.html")):
        sections, rejected = extract_sections(page(path.read_text(), url=path.name), EXTRACT)
        assert sections, f"{path.name}: {rejected}"
        assert any(s.ordered_lists or s.unordered_lists for s in sections), path.name


def test_rejected_rows_are_counted_in_one_place():
    from wpqa.records import RejectedRow, reason_counts

    rows = [RejectedRow("generate", "s1", "no_list", ""), {"reason": "toc"},
            RejectedRow("generate", "s2", "no_list", ""),
            {"failed_rules": ["no_code", "kind"], "reason": "ignored for quarantine rows"}]
    assert reason_counts(rows, "rejected_") == {"rejected_kind": 1, "rejected_no_code": 1,
                                               "rejected_no_list": 2, "rejected_toc": 1}
    assert list(reason_counts(rows)) == sorted(reason_counts(rows))
