"""A docs snapshot (a folder of saved WordPress REST items) crawled over loopback.

The scrape stage's `snapshot` profile serves the folder as REST collections, one per post
type, and the `rest` sources crawl them with real Scrapy. Our own small items here; the
real corpus (../shared/corpus/wp-docs) when present.
"""
import json
import subprocess
import sys

import pytest

from scraping.sample_api import paged_reply, snapshot_collections
from tests.conftest import ROOT
from wpqa.io import read_jsonl

CORPUS = ROOT.parent / "shared" / "corpus" / "wp-docs"
SOURCES = ROOT / "scraping" / "sources.yaml"


def write_item(folder, post_type, item_id, slug, title, html):
    folder.mkdir(parents=True, exist_ok=True)
    item = {"id": item_id, "type": post_type, "slug": slug, "status": "publish",
            "link": f"https://docs.example.test/{post_type}/{slug}/",
            "title": {"rendered": title}, "content": {"rendered": html, "protected": False},
            "modified": "2026-01-02T03:04:05", "parent": 0, "menu_order": 0}
    (folder / f"{post_type}-{item_id}.json").write_text(json.dumps(item), encoding="utf-8")


@pytest.fixture
def snapshot(tmp_path):
    root = tmp_path / "snapshot"
    for n in range(1, 13):  # more than one REST page at per_page 10
        write_item(root / "user-docs", "helphub_article", n, f"article-{n}", f"Article {n}",
                   f"<h2>Change setting {n}</h2><ol><li>Open Settings.</li><li>Pick value {n}.</li></ol>")
    write_item(root / "dev", "plugin-handbook", 500, "hooks", "Hooks &#8211; basics",
               "<p>Hooks let a plugin change WordPress.</p>")
    (root / "notes.json").write_text('{"not": "an item"}', encoding="utf-8")
    (root / "broken.json").write_text("{", encoding="utf-8")
    return root


def test_snapshot_collections_group_items_by_type_in_id_order(snapshot):
    collections = snapshot_collections(snapshot)
    assert sorted(collections) == ["helphub_article", "plugin-handbook"]
    assert [i["id"] for i in collections["helphub_article"]] == list(range(1, 13))


def test_paged_reply_pages_like_wordpress():
    items = [{"id": n} for n in range(25)]
    reply = paged_reply(items, "per_page=10&page=3")
    assert reply.status == 200 and reply.headers == {"X-WP-Total": "25", "X-WP-TotalPages": "3"}
    assert [i["id"] for i in json.loads(reply.body)] == [20, 21, 22, 23, 24]
    assert paged_reply(items, "per_page=10&page=4").status == 400
    assert paged_reply(items, "per_page=101").status == 400


def run_stage(tmp_path, site_root, max_pages=400):
    """The scrape stage in a subprocess (Twisted's reactor starts once per process)."""
    params_file = tmp_path / "params.yaml"
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    text = text.replace("profile: sample", "profile: snapshot")
    text = text.replace("max_pages: 400", f"max_pages: {max_pages}")
    params_file.write_text(text, encoding="utf-8")
    out = tmp_path / "raw"
    proc = subprocess.run(
        [sys.executable, "-m", "scraping.scrape", "--params", str(params_file), "--sources",
         str(SOURCES), "--site-root", str(site_root), "--out", str(out),
         "--metrics", str(tmp_path / "metrics.json"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(read_jsonl(out / "pages.jsonl"))
    return rows, json.loads((tmp_path / "metrics.json").read_text())


@pytest.mark.integration
def test_scrape_stage_crawls_a_snapshot_folder(snapshot, tmp_path):
    rows, metrics = run_stage(tmp_path, snapshot)
    assert len(rows) == 13 and rows == sorted(rows, key=lambda r: r["url"])
    assert "https://docs.example.test/plugin-handbook/hooks/" in [r["url"] for r in rows]
    page = next(r for r in rows if r["url"].endswith("/article-7/"))
    assert page["kind"] == "rest_item" and page["source"] == "documentation"
    assert "Pick value 7" in page["body"] and page["meta"]["title"] == "Article 7"
    assert metrics["pages_from_plugin_handbook"] == 1 and metrics["pages_from_documentation"] == 12
    # Post types the folder does not hold are empty collections: counted, not fatal.
    assert metrics["urls_failed"] == 7


@pytest.mark.integration
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")
def test_scrape_crawls_the_whole_real_corpus(tmp_path):
    rows, metrics = run_stage(tmp_path, CORPUS, max_pages=5000)
    assert len(rows) == len(list(CORPUS.rglob("*.json"))) == 1148
    assert metrics["urls_failed"] == 0
