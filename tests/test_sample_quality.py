"""The bundled sample site yields exactly its labelled procedures.

The scrape stage crawls the sample site over loopback (a subprocess: Twisted's reactor
starts once per process), then extract, the rules backend and the pattern gate run as the
pipeline runs them. The accepted items must be the procedures and troubleshooting items of
benchmarks/labels/sample-site.yaml, page by page: every one found with all its steps in
order and of its kind, nothing else accepted. Procedures whose steps are code (labelled
`code: true`) are left out: the pattern cannot carry them, and their rejection is checked.
"""
import subprocess
import sys

import pytest
import yaml

from curation.extract import extract_all
from curation.generate import generate_candidates
from curation.validate import validate_candidates
from tests.conftest import ROOT
from wpqa.io import read_jsonl
from wpqa.labels import item_to_score, label_row, page_label, score_items
from wpqa.params import load_params
from wpqa.records import Page, from_row

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    subprocess.run([sys.executable, "-m", "scraping.scrape", "--params", "params.yaml", "--sources",
                    "scraping/sources.yaml", "--site-root", "scraping/sample_site", "--out", str(out),
                    "--metrics", str(out / "metrics.json"), "--no-cache"],
                   cwd=ROOT, check=True, capture_output=True, timeout=600)
    params = load_params(ROOT / "params.yaml")
    pages = [from_row(Page, row) for row in read_jsonl(out / "pages.jsonl")]
    sections, _, _ = extract_all(pages, params.extract)
    candidates, rejected, _ = generate_candidates(sections, params.generate, bounds=params.pattern)
    accepted, quarantine, _, _ = validate_candidates(candidates, params.pattern, params.validate)
    drafts = yaml.safe_load((ROOT / "benchmarks/labels/sample-site.yaml").read_text(encoding="utf-8"))
    labels = [page_label(label_row(d["page"], d["site"], d.get("procedures") or [])) for d in drafts]
    return accepted, quarantine, labels


def test_every_labelled_procedure_and_nothing_else(curated):
    accepted, _, labels = curated
    items = [item_to_score(q.id, q.source_url, q.kind, q.answer) for q in accepted]
    score = score_items(items, labels, skip_code=True)
    by_id = {q.id: q for q in accepted}
    assert score.misses == []
    assert [by_id[i].question for i in score.false_items] == []
    assert score.incomplete == []
    assert score.kind_correct == score.items_matched == score.items
    assert score.procedures >= 400  # the sample keeps a training set's worth of procedures


def test_code_procedures_are_not_accepted(curated):
    accepted, quarantine, labels = curated
    code = [p for label in labels for p in label.procedures if p.code]
    assert code
    items = [item_to_score(q.id, q.source_url, q.kind, q.answer) for q in accepted]
    only_code = [type(label)(label.page, label.site, tuple(p for p in label.procedures if p.code))
                 for label in labels]
    assert score_items(items, only_code).procedures_found == 0
    # Where the rules took them for steps, the gate stopped them on the no_code rule.
    assert all("no_code" in q["failed_rules"] or "item_length" in q["failed_rules"] for q in quarantine)


def test_an_item_claims_the_procedure_closest_in_length_when_shares_tie():
    six = [f"Step number {n} of the release." for n in range(1, 7)]
    eleven = [f"Prepare part {n} first." for n in range(1, 6)] + six
    label = page_label(label_row("p", "s", [
        {"heading_path": ["Sync"], "kind": "steps", "steps": eleven},
        {"heading_path": ["Fix"], "kind": "steps", "steps": six}]))
    answer = lambda steps: "Do this:\n" + "\n".join(f"{n}. {s}" for n, s in enumerate(steps, 1))  # noqa: E731
    items = [item_to_score("a", "p", "steps", answer(six)), item_to_score("b", "p", "steps", answer(eleven))]
    score = score_items(items, [label])
    # Both share all six steps with each procedure; each claims its own.
    assert (score.procedures_found, score.misses, score.completeness_sum) == (2, [], 2.0)
