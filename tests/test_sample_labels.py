"""The sample site's hand labels (benchmarks/labels/sample-site.yaml) stay true to the site.

The labels say which procedures and troubleshooting items the bundled sample site holds,
so a test of the curation can assert that the pipeline finds exactly these. These tests
keep the label file and the site in step: one draft per stored page, every labelled step
and heading is on its page, and the structures that must never become Q&A (tables of
contents, link, option, file, shortcut, requirement and cause lists, rankings and hook
orders) are on the site and in no label.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from wpqa.labels import label_row, normalise_step, step_fingerprint

REPO = Path(__file__).resolve().parent.parent
LABELS = REPO / "benchmarks" / "labels" / "sample-site.yaml"
PUBLIC = "https://sample.wpqa.test"

# (page path, heading of the section, opening words of a list item): lists on the site
# that look like steps but are not a procedure or a problem's fixes.
TRAPS = [
    ("/documentation/write-a-post/", "Write and publish a post", "Create a new post"),  # in-body contents
    ("/documentation/manage-menus-classic/", "Related articles", "Edit templates in the Site Editor"),
    ("/documentation/manage-widgets/", "Related articles", "Block editor basics"),
    ("/documentation/manage-widgets/", "Widget areas", "Sidebar, shown beside posts and pages"),
    ("/documentation/block-editor-basics/", "Using keyboard shortcuts", "Ctrl + Z: undo the last change"),
    ("/documentation/settings-general/", "What the General screen controls", "Site Title – the name of the site"),
    ("/documentation/users-and-roles/", "The default user roles", "Administrator: can do everything"),
    ("/documentation/update-wordpress/", "When an update fails", "Downloads the update package from WordPress.org"),
    ("/documentation/backups/", "Back up these files first", "wp-config.php"),
    ("/documentation/troubleshoot-login-issues/", "The login page reloads without logging me in",
     "A cookie set for a different address"),
    ("/documentation/troubleshoot-common-errors/", "Common causes of errors",
     "A plugin or theme update that does not work"),
    ("/developer/advanced-administration/common-errors/", "What causes a blank white screen",
     "A fatal PHP error in a plugin or theme"),
    ("/developer/advanced-administration/common-errors/", "Before you start",
     "Error establishing a database connection"),  # in-body list of the page's errors
    ("/developer/advanced-administration/install-wordpress/", "Requirements",
     "A server that meets the current requirements"),
    ("/developer/plugins/plugin-basics/", "What a plugin is made of", "my-first-plugin/my-first-plugin.php"),
    ("/developer/advanced-administration/wp-cli/", "What you need", "Shell access to the server, usually over SSH"),
    ("/developer/advanced-administration/wp-cli/", "Commands you will use often", "wp plugin list – every installed plugin"),
    ("/documentation/navigation-block/", "Overlay menu", "Mobile – the overlay is used on small screens only"),
    ("/documentation/navigation-block/", "Related articles", "Edit templates in the Site Editor"),
    ("/developer/plugins/header-requirements/", "Header fields WordPress reads", "Plugin Name – the display name"),
    ("/developer/plugins/activation-deactivation-hooks/", "When each hook runs", "muplugins_loaded, after must-use"),
    ("/developer/themes/template-hierarchy/", "How templates are chosen", "single-{post-type}-{slug}"),
    ("/plugins/yoast-seo/docs/configuration/", "Where the main settings live", "Site features – turns whole"),
    ("/plugins/yoast-seo/docs/configuration/", "Related articles", "Write meta descriptions"),
    ("/gutenberg/docs/getting-started/create-your-first-block.md", "Related guides", "Troubleshoot block development"),
    ("/gutenberg/docs/getting-started/create-your-first-block.md", "What the generated plugin contains",
     "block.json holds the block's name"),
    ("/plugins-svn/health-check/trunk/readme.txt", "Screenshots", "The Site Health status screen"),
    ("/api/plugins/info/1.2/?action=plugin_information&request%5Bslug%5D=woocommerce", "WooCommerce",
     "Adding a product with a price, images and stock details"),  # the screenshots section
]


@pytest.fixture(scope="module")
def drafts() -> list[dict]:
    return yaml.safe_load(LABELS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def stored_pages(tmp_path_factory) -> dict[str, dict]:
    """The sample site as the scrape stage stores it: url -> page row."""
    tmp = tmp_path_factory.mktemp("sample-labels")
    proc = subprocess.run(
        [sys.executable, "-m", "scraping.scrape", "--params", str(REPO / "params.yaml"),
         "--out", str(tmp / "raw"), "--metrics", str(tmp / "metrics.json"), "--no-cache"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp / "raw" / "pages.jsonl").read_text(encoding="utf-8").splitlines()]
    return {row["url"]: row for row in rows}


def page_text(row: dict) -> str:
    """A stored page's words, normalised like a step (markup and punctuation gone)."""
    body = row["body"]
    if row["kind"] == "plugin_api":
        info = json.loads(body)
        body = " ".join([str(info.get("name", ""))] + [str(v) for v in info["sections"].values()])
        return normalise_step(BeautifulSoup(body, "lxml").get_text(" "))
    if row["kind"] in ("html", "rest_item"):
        text = BeautifulSoup(body, "lxml").get_text(" ")
        return normalise_step(" ".join([str(row["meta"].get("title", "")), text]))
    return normalise_step(body)  # readme.txt and Markdown: the raw text


def test_sample_labels_cover_exactly_the_stored_pages(drafts, stored_pages):
    pages = [d["page"] for d in drafts]
    assert len(pages) == len(set(pages)), [p for p, n in Counter(pages).items() if n > 1]
    assert set(pages) == set(stored_pages)
    assert all(d["site"] == "sample" for d in drafts)


def test_sample_labels_build_into_label_rows(drafts):
    rows = [label_row(d["page"], d["site"], d["procedures"]) for d in drafts]
    kinds = Counter(p["kind"] for r in rows for p in r["procedures"])
    # The offline default must keep its volume: at least as many procedures as before the
    # site was rewritten (about 390 Q&A), and troubleshooting items on several sites.
    assert kinds["steps"] >= 330 and kinds["solutions"] >= 80, kinds
    assert any(p["code"] for r in rows for p in r["procedures"])
    assert sum(1 for r in rows if not r["procedures"]) >= 5  # index pages and the like


def test_sample_label_steps_and_headings_are_on_their_pages(drafts, stored_pages):
    missing = []
    for draft in drafts:
        text = page_text(stored_pages[draft["page"]])
        for proc in draft["procedures"]:
            heading = proc["heading_path"][-1]
            if heading not in ("Installation", "FAQ") and normalise_step(heading) not in text:
                missing.append((draft["page"], "heading", heading))
            for step in proc["steps"]:
                if normalise_step(step) not in text:
                    missing.append((draft["page"], proc["heading_path"][-1], step))
    assert not missing, missing[:10]


@pytest.mark.parametrize("path,heading,item", TRAPS, ids=[f"{p}#{h}" for p, h, _ in TRAPS])
def test_sample_traps_are_on_the_site_and_in_no_label(drafts, stored_pages, path, heading, item):
    row = stored_pages[PUBLIC + path]
    text = page_text(row)
    assert normalise_step(heading) in text and normalise_step(item) in text
    labelled = {fp for d in drafts for p in d["procedures"] for fp in map(step_fingerprint, p["steps"])}
    assert step_fingerprint(item) not in labelled
