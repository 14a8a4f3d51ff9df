"""The exact procedures of real labelled pages (../shared/corpus, skipped when absent).

Each page below is run through extract, the rules backend and the pattern gate, and the
accepted items must be exactly the page's hand-labelled procedures (benchmarks/labels):
every procedure found, with all its steps in order and of its kind, and nothing else. The
pages with no procedure must yield nothing. The labels hold fingerprints, not the text.
"""
import json

import pytest

from curation.extract import extract_sections
from curation.generate import generate_candidates
from curation.validate import check_candidates
from tests.conftest import ROOT
from wpqa.labels import item_to_score, page_label, score_items
from wpqa.params import load_params
from wpqa.records import Page

CORPUS = ROOT.parent / "shared" / "corpus" / "wp-docs"
LABELS = ROOT / "benchmarks" / "labels" / "wp-docs-dev.jsonl"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")

WITH_PROCEDURES = [
    "adv-admin-handbook-145819", "adv-admin-handbook-145849", "adv-admin-handbook-145867",
    "apis-handbook-125652", "blocks-handbook-134991",
    "blocks-handbook-138993", "plugin-handbook-11187", "plugin-handbook-19213",
    "scf-handbook-156772", "scf-handbook-156775", "scf-handbook-156822", "theme-handbook-152151",
    "theme-handbook-24973", "articles-10450778", "articles-10776396", "articles-10776416",
    "articles-10844598", "articles-10851298", "articles-11032107", "articles-11289129",
    "articles-11640106", "articles-13004478", "articles-13069582", "articles-13355125",
    "articles-14179888", "articles-15127782", "articles-15491343",
    # steps in a description under "How to …", steps quoted in a code block, developer verbs
    "articles-13658820", "plugin-handbook-152747", "plugin-handbook-25263",
]
WITHOUT_PROCEDURES = [
    "adv-admin-handbook-148820", "apis-handbook-129272", "blocks-handbook-134450",
    "blocks-handbook-135623", "plugin-handbook-11162", "plugin-handbook-129591",
    "theme-handbook-11285", "articles-11032274", "articles-15473605", "articles-16357504",
]


@pytest.fixture(scope="module")
def setup():
    params = load_params(ROOT / "params.yaml")
    labels = {row["page"]: page_label(row) for row in map(json.loads, LABELS.read_text().splitlines())}
    return params, labels


def accepted_items(page_id, params):
    [path] = list(CORPUS.glob(f"*/{page_id}.json"))
    item = json.loads(path.read_text(encoding="utf-8"))
    page = Page(url=item["link"], status=200, headers={}, body=item["content"]["rendered"],
                source="corpus", kind="rest_item", meta={"title": item["title"]["rendered"]})
    sections, _ = extract_sections(page, params.extract)
    candidates, _, _ = generate_candidates(sections, params.generate, bounds=params.pattern)
    return [c.qa for c in check_candidates(candidates, params.pattern) if not c.failed_rules]


@pytest.mark.parametrize("page_id", WITH_PROCEDURES + WITHOUT_PROCEDURES)
def test_page_yields_exactly_its_labelled_procedures(page_id, setup):
    params, labels = setup
    label = labels[page_id]
    assert bool(label.procedures) == (page_id in WITH_PROCEDURES)
    items = accepted_items(page_id, params)
    score = score_items([item_to_score(q.id, page_id, q.kind, q.answer) for q in items], [label])
    assert score.misses == [], f"missed: {score.misses}"
    assert score.false_items == [], [q.question for q in items if q.id in score.false_items]
    assert score.incomplete == []
    assert score.kind_correct == score.items_matched == len(items)
