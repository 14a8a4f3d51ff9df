"""Tests of the scrape stage: pure URL, API-reply, ledger and response functions, the
sources config, the loopback sample server, and real crawls of real loopback servers.

Crawls run `python -m scraping.scrape` in a subprocess, because Twisted's reactor starts
only once per process. Most crawls use a server this test process owns (`--site-url`),
so its request log can prove what the crawler never fetched. The fault-injection suite
and the resume test are in test_scrape_faults.py.
"""
from __future__ import annotations

import gzip
import http.client
import http.server
import json
import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.dupefilters import RFPDupeFilter
from scrapy.exceptions import (DownloadCancelledError, DownloadFailedError,
                               DownloadTimeoutError, IgnoreRequest, ResponseDataLossError)
from scrapy.http import HtmlResponse, Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.test import get_crawler
from twisted.internet.error import ConnectionRefusedError
from twisted.python.failure import Failure

from scraping.build_sitemap import UNLISTED, list_sitemap_paths, page_paths, render_sitemap
from scraping.crawl import CrawlOptions, build_summary, crawl_settings, documents_add_up
from scraping.items import FetchedDocument
from scraping.ledger import PageBudget, UrlLedger, summary_adds_up
from scraping.middlewares import RateLimitedRequest, SkippedRequest
from scraping.pipelines import PageRowsPipeline, page_from_document
from scraping.responses import failure_outcome, fetch_state, response_text
from scraping.sample_api import (collection_articles, plugin_api_reply, plugin_info_reply,
                                 rest_collection_reply)
from scraping.scrape import main
from scraping.serve import SAMPLE_SITE_ROOT, serve_sample_site
from scraping.spiders.docs import DocsSpider
from scraping.sources import (SOURCES_PATH, CrawlLimits, HtmlSource, PluginApiSource,
                              RestSource, SourcesProfile,
                              SourcesError, load_sources, needs_origin, parse_sources)
from scraping.urls import (classify_url, extract_links, is_allowed_domain, parse_sitemap,
                           plugin_info_url, query_plugins_url, raw_markdown_url,
                           rest_page_url, rewrite_origin, same_host)
from scraping.wpapi import (next_rest_pages, parse_manifest, parse_query_plugins,
                            parse_rest_page, plugin_info_problem)
from wpqa.params import load_params
from wpqa.records import Page
from wpqa.retry_after import retry_after_seconds

REPO = Path(__file__).resolve().parents[1]
REAL_FIXTURES = REPO.parent / "shared" / "fixtures" / "real"
PUBLIC = "https://sample.wpqa.test"
CRAWL_TIMEOUT_S = 60
DOCS = HtmlSource(name="documentation", start_urls=(), sitemaps=(),
                  allowed_domains=("127.0.0.1:8000",), allow=("/documentation/",),
                  deny=("/documentation/old/",))
PLUGINS = HtmlSource(name="plugins", start_urls=(), sitemaps=(),
                     allowed_domains=("127.0.0.1:8000",), allow=(r"^/plugins/[a-z0-9-]+/docs/",))


# --- helpers -------------------------------------------------------------------------

def write_params(path: Path, **scrape) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    raw["scrape"].update(scrape)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def run_scrape(tmp: Path, *args: str, cache: Path | None = None,
               **scrape) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """Run the stage in a subprocess; return the process, pages.jsonl and metrics.json."""
    tmp.mkdir(parents=True, exist_ok=True)
    params = write_params(tmp / "params.yaml", **scrape)
    out, metrics = tmp / "raw", tmp / "metrics.json"
    proc = subprocess.run(
        [sys.executable, "-m", "scraping.scrape", "--params", str(params), "--out", str(out),
         "--metrics", str(metrics), "--cache-dir", str(cache or tmp / "cache"), *args],
        cwd=REPO, capture_output=True, text=True, timeout=CRAWL_TIMEOUT_S)
    return proc, out / "pages.jsonl", metrics


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def http_get(base_url: str, path: str, headers: dict | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def page_html(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"UTF-8\">"
            f"<title>{title}</title></head>\n<body><main><article><h1>{title}</h1>\n"
            f"<div class=\"entry-content\">{body}</div></article></main></body></html>\n")


def write_page(root: Path, url_path: str, title: str, body: str) -> None:
    folder = root / url_path.strip("/")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(page_html(title, body), encoding="utf-8")


TINY_SOURCES = {"sample": {"public_origin": PUBLIC, "crawl": {"min_download_delay": 0},
                           "sources": {
    "documentation": {"kind": "html", "sitemaps": ["{origin}/sitemap.xml"],
                      "allow": ["/documentation/"]},
    "plugins": {"kind": "html", "sitemaps": ["{origin}/sitemap.xml"], "allow": ["/plugins/"],
                "body_selector": ".entry-content"},
    "plugin_api": {"kind": "plugin_api", "api": "{origin}/api/plugins/info/1.2/"},
}}}


def make_tiny_site(root: Path, offsite_origin: str) -> Path:
    """A six-page site whose links exercise every crawl rule; returns its sources file.

    Sitemap lists /documentation/, /documentation/alpha/ and the plugin docs page;
    beta and gamma are reachable only by links (gamma two links deep).
    """
    write_page(root, "/documentation/", "Tiny docs", (
        '<p>Start here.</p><ul>'
        '<li><a href="/documentation/alpha/">Alpha</a></li>'
        '<li><a href="/documentation/alpha/#second-step">Alpha, second step</a></li>'
        '<li><a href="beta/">Beta</a></li>'
        '<li><a href="/documentation/internal/secret/">Staff only</a></li>'
        f'<li><a href="{offsite_origin}/documentation/stolen/">Elsewhere</a></li>'
        '<li><a href="/elsewhere/">Not documentation</a></li>'
        '<li><a href="/documentation/manual.pdf">PDF manual</a></li>'
        '<li><a href="/documentation/?s=search">Search</a></li>'
        '<li><a href="mailto:docs@example.org">Mail us</a></li></ul>'))
    write_page(root, "/documentation/alpha/", "Water a fern", (
        '<h2>Water a fern</h2><ol><li>Fill a can with rain water.</li>'
        '<li>Pour slowly around the stem.</li></ol>'
        '<p>See also <a href="/documentation/gamma/">Gamma</a> and '
        '<a href="/documentation/beta">Beta</a> (no slash: a redirect).</p>'))
    write_page(root, "/documentation/beta/", "Repot a fern",
               '<h2>Repot a fern</h2><ol><li>Loosen the roots.</li><li>Add fresh soil.</li></ol>')
    write_page(root, "/documentation/gamma/", "Prune a fern",
               '<p>Cut brown fronds at the base. <a href="/documentation/">Back</a></p>')
    write_page(root, "/documentation/internal/secret/", "Internal notes",
               "<p>This page must never be fetched.</p>")
    write_page(root, "/elsewhere/", "Not docs", "<p>Outside every allowed prefix.</p>")
    write_page(root, "/plugins/acme-forms/docs/", "Acme Forms docs",
               '<h2>Add a form</h2><ol><li>Open Forms.</li><li>Click Add Form.</li></ol>')
    (root / "robots.txt").write_text(
        "User-agent: *\nDisallow: /documentation/internal/\n\nSitemap: {{origin}}/sitemap.xml\n",
        encoding="utf-8")
    api = root / "api/plugins/info/1.2"
    api.mkdir(parents=True)
    for slug, name in (("acme-forms", "Acme Forms"), ("fern-cache", "Fern Cache")):
        (api / f"{slug}.json").write_text(json.dumps({
            "name": name, "slug": slug, "version": "1.0",
            "sections": {"faq": "<h4>Does it work?</h4><p>Yes.</p>"}}), encoding="utf-8")
    (api / "index.json").write_text(json.dumps({"plugins": ["acme-forms", "fern-cache"]}),
                                    encoding="utf-8")
    (root / "sitemap.xml").write_text(render_sitemap(list_sitemap_paths(
        root, unlisted=frozenset({"/documentation/beta/", "/documentation/gamma/"}))),
        encoding="utf-8")
    sources = root.parent / "tiny-sources.yaml"
    sources.write_text(yaml.safe_dump(TINY_SOURCES), encoding="utf-8")
    return sources


def make_offsite_site(root: Path) -> None:
    write_page(root, "/documentation/stolen/", "Another site", "<p>Never crawled.</p>")


def fixture_json(name: str) -> dict:
    path = REAL_FIXTURES / "wp-rest" / name
    if not path.is_file():
        pytest.skip(f"shared fixture {path} is absent")
    return json.loads(path.read_text(encoding="utf-8"))


# --- pure functions: urls ------------------------------------------------------------

def test_extract_links_resolves_relative_links_and_drops_non_pages():
    html = ('<a href="/documentation/a/">a</a><a href="b/#x">b</a><a href="#top">top</a>'
            '<a href="mailto:x@example.org">m</a><a href="javascript:void(0)">j</a>'
            '<a href="https://other.example/c">c</a><a href="/documentation/a/#again">a2</a>')
    assert extract_links(html, "http://h:1/documentation/") == [
        "http://h:1/documentation/a/", "http://h:1/documentation/b/", "https://other.example/c"]


def test_extract_links_honours_base_href_and_survives_empty_input():
    html = '<html><head><base href="/docs/v2/"></head><body><a href="page/">p</a></body></html>'
    assert extract_links(html, "http://h/x/") == ["http://h/docs/v2/page/"]
    assert extract_links("", "http://h/") == []
    assert extract_links("<<<>>> \x00 not html <a href=", "http://h/") == []


def test_parse_sitemap_reads_urlset_index_and_gzip():
    urlset = (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
              b'<url><loc> http://h/a/ </loc></url><url><loc>http://h/b/</loc></url>'
              b'<url><loc>http://h/a/</loc></url></urlset>')
    assert parse_sitemap(urlset).kind == "urlset"
    assert parse_sitemap(urlset).locs == ("http://h/a/", "http://h/b/")
    index = (b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             b'<sitemap><loc>http://h/s1.xml</loc></sitemap></sitemapindex>')
    assert parse_sitemap(index).kind == "sitemapindex"
    assert parse_sitemap(gzip.compress(urlset)).locs == ("http://h/a/", "http://h/b/")
    assert parse_sitemap(b"<html><body>no</body></html>").kind == "invalid"
    assert parse_sitemap(b"").kind == "invalid"


def test_classify_url_names_the_source_or_the_skip_reason():
    sources = (DOCS, PLUGINS)
    assert classify_url("http://127.0.0.1:8000/documentation/x/", sources).source == DOCS
    assert classify_url("https://127.0.0.1:8000/documentation/x/", sources).source == DOCS
    assert classify_url("http://127.0.0.1:8000/plugins/p/docs/a/", sources).source == PLUGINS
    for url in ("http://127.0.0.1:9999/documentation/x/", "http://localhost:8000/documentation/",
                "http://example.org/documentation/"):
        assert classify_url(url, sources).skip_reason == "offsite", url
    for url in ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/documentation/old/x/",
                "http://127.0.0.1:8000/documentation/?s=a", "http://127.0.0.1:8000/documentation/a.pdf",
                "http://127.0.0.1:8000/plugins/p/", "http://127.0.0.1:8000/documentation/" + "x" * 2100):
        assert classify_url(url, sources).skip_reason == "filtered", url


def test_allowed_domains_take_subdomains_and_ports_into_account():
    assert is_allowed_domain("https://docs.example.org/a", ("example.org",))
    assert not is_allowed_domain("https://example.org.evil.test/a", ("example.org",))
    assert not is_allowed_domain("https://notexample.org/a", ("example.org",))
    assert is_allowed_domain("http://127.0.0.1:8000/a", ("127.0.0.1:8000",))
    assert not is_allowed_domain("http://127.0.0.1:8001/a", ("127.0.0.1:8000",))
    assert is_allowed_domain("https://h.test/a", ("h.test:443",))
    assert not is_allowed_domain("ftp://example.org/a", ("example.org",))


def test_same_host_allows_a_move_to_https_but_not_another_port():
    assert same_host("http://wordpress.org/a", "https://wordpress.org/b")
    assert same_host("http://127.0.0.1:8000/a", "http://127.0.0.1:8000/b")
    assert not same_host("http://127.0.0.1:8000/a", "http://127.0.0.1:8001/a")
    assert not same_host("https://wordpress.org/a", "https://make.wordpress.org/a")


def test_rewrite_origin_only_touches_the_loopback_origin():
    origin = "http://127.0.0.1:40123"
    assert rewrite_origin(origin + "/documentation/", origin, PUBLIC) == PUBLIC + "/documentation/"
    assert rewrite_origin(origin + "1/x", origin, PUBLIC) == origin + "1/x"  # another port
    assert rewrite_origin("https://wordpress.org/x", origin, PUBLIC) == "https://wordpress.org/x"
    assert rewrite_origin("https://wordpress.org/x", "", "") == "https://wordpress.org/x"


def test_api_urls_match_the_real_apis():
    assert plugin_info_url("https://api.wordpress.org/plugins/info/1.2", "contact-form-7") == (
        "https://api.wordpress.org/plugins/info/1.2/"
        "?action=plugin_information&request%5Bslug%5D=contact-form-7")
    assert query_plugins_url("https://api.wordpress.org/plugins/info/1.2/", 20) == (
        "https://api.wordpress.org/plugins/info/1.2/?action=query_plugins"
        "&request%5Bbrowse%5D=popular&request%5Bper_page%5D=20&request%5Bpage%5D=1")
    url = rest_page_url("https://wordpress.org/documentation/wp-json/wp/v2/articles", 100, 2)
    assert url.startswith("https://wordpress.org/documentation/wp-json/wp/v2/articles?per_page=100&page=2&")
    assert "_fields=id%2Clink%2Cmodified%2Cparent%2Cmenu_order%2Ctitle%2Ccontent" in url


def test_raw_markdown_url_resolves_manifest_paths_and_github_pages():
    manifest = "https://raw.githubusercontent.com/WordPress/gutenberg/trunk/docs/manifest.json"
    assert raw_markdown_url("../docs/how-to/a.md", manifest) == \
        "https://raw.githubusercontent.com/WordPress/gutenberg/trunk/docs/how-to/a.md"
    assert raw_markdown_url("https://github.com/wp-cli/handbook/blob/main/guides/x.md", manifest) == \
        "https://raw.githubusercontent.com/wp-cli/handbook/main/guides/x.md"


# --- pure functions: API replies -----------------------------------------------------

def test_parse_rest_page_reads_real_items_and_keeps_their_metadata():
    article = fixture_json("wporg-docs-rest__documentation__manage-plugins.json")
    handbook = fixture_json("devhub-rest__plugins__plugin-basics.json")
    collection = "https://wordpress.org/documentation/wp-json/wp/v2/articles"
    page = parse_rest_page(json.dumps([article, handbook]),
                           {"x-wp-total": "2", "x-wp-totalpages": "7"}, collection)
    assert page.problem is None and page.total_pages == 7 and not page.dropped
    first, second = page.items
    assert first.link == "https://wordpress.org/documentation/article/manage-plugins/"
    assert first.body == article["content"]["rendered"] and "<h2" in first.body
    assert first.meta == {"link": first.link, "modified": article["modified"], "parent": "",
                          "menu_order": "0", "title": "Manage Plugins", "collection": collection}
    assert second.meta["parent"] == str(handbook["parent"])
    assert second.meta["menu_order"] == str(handbook["menu_order"])


def test_parse_rest_page_counts_items_it_cannot_store_and_spots_error_replies():
    protected = {"link": "https://h/a/", "content": {"rendered": "", "protected": True}}
    broken = {"title": {"rendered": "No link"}, "content": {"rendered": "<p>x</p>"}}
    page = parse_rest_page(json.dumps([protected, broken, "nonsense"]), {}, "https://h/c")
    assert page.items == () and page.dropped == Counter({"invalid_item": 2, "protected": 1})
    assert page.total_pages is None
    assert parse_rest_page(b'{"code": "rest_no_route", "message": "No route"}', {}, "c").problem == "error_reply"
    assert parse_rest_page(b"<html>", {}, "c").problem == "invalid_json"
    assert parse_rest_page(b'{"a": 1}', {}, "c").problem == "not_a_collection"


def test_next_rest_pages_follow_the_header_or_full_pages():
    two = parse_rest_page(json.dumps([{"link": "https://h/a/", "content": {"rendered": "x"}}] * 2),
                          {"x-wp-totalpages": "3"}, "c")
    assert list(next_rest_pages(1, two, 2)) == [2, 3]
    assert list(next_rest_pages(2, two, 2)) == []  # page 1 already asked for all of them
    headless = parse_rest_page(json.dumps([{"link": "https://h/a/", "content": {"rendered": "x"}}] * 2),
                               {}, "c")
    assert list(next_rest_pages(4, headless, 2)) == [5]
    assert list(next_rest_pages(4, headless, 3)) == []


def test_parse_query_plugins_and_plugin_info_replies():
    listing = parse_query_plugins(json.dumps({
        "info": {"page": 1, "pages": 3, "results": 60},
        "plugins": [{"slug": "akismet", "name": "Akismet"}, {"slug": "akismet"}, {"name": "x"}]}))
    assert listing.slugs == ("akismet",) and listing.pages == 3 and listing.problem is None
    assert parse_query_plugins(b'{"error": "Invalid"}').problem == "error_reply"
    assert parse_query_plugins(b"[]").problem == "not_a_plugin_listing"
    assert plugin_info_problem('{"slug": "akismet", "name": "Akismet"}') is None
    assert plugin_info_problem('{"error": "Plugin not found."}') == "plugin_not_found"
    assert plugin_info_problem("null") == "invalid_json"
    assert plugin_info_problem("<html>") == "invalid_json"
    assert plugin_info_problem("{}") == "not_plugin_info"


def test_parse_manifest_reads_both_manifest_shapes():
    listed = parse_manifest(json.dumps([
        {"title": "Handbook", "slug": "handbook", "markdown_source": "../docs/readme.md", "parent": None},
        {"title": "Glossary", "slug": "glossary", "markdown_source": "../docs/glossary.md",
         "parent": "handbook"},
        {"title": "Broken"}]), "https://raw.githubusercontent.com/o/r/trunk/docs/manifest.json")
    assert [e.url for e in listed.entries] == [
        "https://raw.githubusercontent.com/o/r/trunk/docs/readme.md",
        "https://raw.githubusercontent.com/o/r/trunk/docs/glossary.md"]
    assert listed.entries[0].parent == "" and listed.entries[1].parent == "handbook"
    assert listed.invalid_entries == 1 and listed.problem is None
    keyed = parse_manifest(json.dumps({"config": {
        "title": "Config", "slug": "config", "parent": None,
        "markdown_source": "https://github.com/wp-cli/handbook/blob/main/config.md"}}),
        "https://raw.githubusercontent.com/wp-cli/handbook/main/bin/handbook-manifest.json")
    assert keyed.entries[0].url == "https://raw.githubusercontent.com/wp-cli/handbook/main/config.md"
    assert keyed.entries[0].title == "Config"
    assert parse_manifest(b"42", "https://h/m.json").problem == "not_a_manifest"


# --- pure functions: the books -------------------------------------------------------

def test_ledger_puts_every_url_in_one_state_and_the_summary_adds_up():
    ledger = UrlLedger()
    assert ledger.meet("u1", "docs", "page") and not ledger.meet("u1", "docs", "page")
    assert ledger.skip("u2", "docs", "page", "robots")
    assert not ledger.skip("u1", "docs", "page", "filtered")  # already met: unchanged
    ledger.meet("u3", "docs", "page")
    ledger.meet("u4", "docs", "sitemap")
    ledger.finish("u1", "fetched")
    ledger.finish("u3", "failed", "http_404")
    ledger.finish("u1", "failed", "timeout")  # settled twice: a conflict, not a change
    summary = ledger.summary()
    assert summary["urls_met"] == 4 and summary["urls_pending"] == 1
    assert summary["urls_failed_http_404"] == 1 and summary["urls_skipped_robots"] == 1
    assert summary["urls_state_conflicts"] == 1 and summary_adds_up(summary)
    assert ledger.fail_pending() == 1 and ledger.state_of("u4") == "failed"
    restored = UrlLedger.from_state(json.loads(json.dumps(ledger.to_state())))
    assert list(restored.rows()) == list(ledger.rows())
    assert [row["url"] for row in ledger.rows()] == ["u1", "u2", "u3", "u4"]


def test_page_budget_reserves_takes_and_releases():
    budget = PageBudget(3)
    assert budget.reserve() and budget.take(5) == 2 and not budget.reserve()
    budget.release()
    assert budget.remaining == 1 and budget.reserve()


def test_build_summary_adds_up_pages_documents_and_urls():
    ledger = UrlLedger()
    ledger.meet("a", "documentation", "page")
    ledger.finish("a", "fetched")
    pages = [Page("u1", 200, {}, "", "documentation", "html"),
             Page("u2", 200, {}, "", "plugin_api", "plugin_api")]
    summary = build_summary(pages, ledger, {"documents_found": 3, "documents_stored": 3}, {"duplicate_url": 1},
                            {"httpcache/revalidate": 4}, ["documentation", "developer", "plugin_api"])
    assert summary["pages_stored"] == 2 and summary["pages_html"] == 1 and summary["pages_rest_item"] == 0
    assert summary["pages_from_documentation"] == 1 and summary["pages_from_developer"] == 0
    assert summary["documents_stored"] == 2 and summary["documents_dropped_duplicate_url"] == 1
    assert documents_add_up(summary) and summary_adds_up(summary)
    assert summary["http_cache_revalidated"] == 4 and list(summary) == sorted(summary)


# --- pure functions: responses, failures, pipeline ----------------------------------

def test_response_text_decodes_declared_and_meta_charsets():
    request = Request("http://h/documentation/a/")
    latin = HtmlResponse(request.url, body="<p>caf\xe9</p>".encode("latin-1"), request=request,
                         headers={"Content-Type": "text/html; charset=iso-8859-1"})
    assert response_text(latin, html=True) == "<p>café</p>"
    meta = HtmlResponse(request.url, request=request, headers={"Content-Type": "text/html"},
                        body=b'<meta charset="windows-1252"><p>5 \x80</p>')
    assert "5 €" in response_text(meta, html=True)
    feed = TextResponse(request.url, body=b"<rss/>", request=request,
                        headers={"Content-Type": "application/rss+xml"})
    assert response_text(feed, html=True) is None and response_text(feed) == "<rss/>"


def test_failure_outcome_names_every_reason():
    request = Request("http://h/a/")
    response = HtmlResponse(request.url, status=503, request=request)
    cases = [
        (HttpError(response), ("failed", "http_503")),
        (SkippedRequest("robots"), ("skipped", "robots")),
        (RateLimitedRequest("wait"), ("failed", "rate_limited")),
        (IgnoreRequest("max redirections reached"), ("failed", "too_many_redirects")),
        (DownloadCancelledError("too big"), ("skipped", "over_size")),
        (DownloadTimeoutError("slow"), ("failed", "timeout")),
        (ResponseDataLossError(), ("failed", "data_loss")),
        (ConnectionRefusedError(), ("failed", "connection_refused")),
        (DownloadFailedError("gone"), ("failed", "connection_lost")),
        (ValueError("?"), ("failed", "download_error")),
    ]
    for error, expected in cases:
        failure = Failure(error)
        failure.request = request
        assert failure_outcome(failure) == expected, error


def test_fetch_state_tells_fresh_cache_hits_from_revalidations():
    request = Request("http://h/a/")
    assert fetch_state(HtmlResponse(request.url, request=request)) == ("fetched", "")
    fresh = HtmlResponse(request.url, request=request, flags=["cached"])
    assert fetch_state(fresh) == ("not_modified", "fresh")
    request.meta["wpqa_revalidated"] = True
    assert fetch_state(HtmlResponse(request.url, request=request, flags=["cached"])) == \
        ("not_modified", "revalidated")


def test_retry_after_reads_seconds_and_dates():
    assert retry_after_seconds(b"120") == 120.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:01:40 GMT", now=1767225600.0) == 100.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:00 GMT", now=1767225700.0) == 0.0
    assert retry_after_seconds(None) is None and retry_after_seconds(b"soon") is None


def test_page_from_document_keeps_stable_headers_and_public_urls():
    doc = FetchedDocument(
        url="http://127.0.0.1:5555/documentation/a/", status=200, body="<p>x</p>",
        headers={"content-type": "text/html", "date": "Mon, 01 Jan 2029 00:00:00 GMT",
                 "server": "x", "etag": '"e"', "last-modified": "Thu, 01 Jan 2026 00:00:00 GMT"},
        source="documentation", kind="rest_item",
        meta={"link": "http://127.0.0.1:5555/documentation/a/", "title": "A"})
    page = page_from_document(doc, "http://127.0.0.1:5555", PUBLIC)
    assert page == Page(url=PUBLIC + "/documentation/a/", status=200, body="<p>x</p>",
                        headers={"content-type": "text/html", "etag": '"e"',
                                 "last-modified": "Thu, 01 Jan 2026 00:00:00 GMT"},
                        source="documentation", kind="rest_item",
                        meta={"link": PUBLIC + "/documentation/a/", "title": "A"})


def test_pipeline_drops_a_second_document_for_the_same_url():
    from scrapy.exceptions import DropItem
    pipeline = PageRowsPipeline()
    doc = FetchedDocument(url="http://h/a/", status=200, headers={}, body="", source="s",
                          kind="html")
    assert isinstance(pipeline.process_item(doc), Page)
    with pytest.raises(DropItem, match="duplicate_url"):
        pipeline.process_item(doc)


# The three orders in which a redirect (/documentation/beta -> beta/) and a link to beta/
# can meet. "link_after_hop" lost the page: the link was met after the redirect hop got
# through the dupefilter, so the link's request was dropped as the duplicate, and then
# the redirect's reply saw beta/ in the ledger and skipped itself as a duplicate too.
REDIRECT_AND_LINK_ORDERS = {
    "link_first": ["parse_index", "parse_alpha", "redirect", "reply_beta"],
    "link_after_hop": ["parse_alpha", "redirect", "parse_index", "reply_beta"],
    "link_after_reply": ["parse_alpha", "redirect", "reply_beta", "parse_index"],
}


@pytest.mark.parametrize("order", REDIRECT_AND_LINK_ORDERS)
def test_a_page_reached_by_a_redirect_and_a_link_is_stored_once_in_any_order(order):
    """The spider's callbacks, Scrapy's RedirectMiddleware and its dupefilter, driven in
    each order a live crawl can take: beta/ is stored once, every URL ends in one state."""
    site = "http://127.0.0.1:8000/documentation/"
    index, alpha, slashless, beta = site, site + "alpha/", site + "beta", site + "beta/"
    spider = DocsSpider(profile=SourcesProfile("test", "", CrawlLimits(), (DOCS,)), max_pages=10)
    crawler = get_crawler()
    redirects = RedirectMiddleware.from_crawler(crawler)
    dupefilter = RFPDupeFilter.from_crawler(crawler)
    queued: dict[str, Request] = {}  # requests the dupefilter let through, by URL
    stored: list[str] = []

    def schedule(requests):
        for request in requests:
            if dupefilter.request_seen(request):
                spider.on_request_dropped(request)  # Scrapy's request_dropped signal
            else:
                queued[request.url] = request

    def reply(url: str, links: str = ""):
        request = queued.pop(url)
        response = HtmlResponse(url, request=request, body=page_html(url, links).encode(),
                                headers={"Content-Type": "text/html; charset=utf-8"})
        for output in spider.parse_page(response):
            if isinstance(output, FetchedDocument):
                stored.append(output.url)
            else:
                schedule([output])

    def redirect():
        request = queued.pop(slashless)
        hop = Response(slashless, status=301, request=request, headers={"Location": beta})
        schedule([redirects.process_response(request, hop)])

    events = {"parse_index": lambda: reply(index, '<a href="beta/">Beta</a>'),
              "parse_alpha": lambda: reply(alpha, '<a href="/documentation/beta">Beta</a>'),
              "redirect": redirect, "reply_beta": lambda: reply(beta)}
    schedule([*spider._consider_page(index, DOCS), *spider._consider_page(alpha, DOCS)])
    for event in REDIRECT_AND_LINK_ORDERS[order]:
        events[event]()

    assert sorted(stored) == [index, alpha, beta] and not queued
    states = {row["url"]: (row["state"], row["reason"]) for row in spider.ledger.rows()}
    assert sorted([states[slashless], states[beta]]) == [("fetched", ""), ("skipped", "duplicate")]
    summary = spider.ledger.summary()
    assert summary["urls_pending"] == 0 and summary["urls_state_conflicts"] == 0
    assert summary_adds_up(summary) and spider.budget.used == len(stored)


def test_crawl_settings_are_polite_by_default():
    live = load_sources(SOURCES_PATH, "live")
    settings = crawl_settings(live, CrawlOptions(user_agent="wpqa-test/1", download_delay=0.0,
                                                 cache_dir="/tmp/wpqa-cache"))
    assert settings["USER_AGENT"] == "wpqa-test/1"
    assert settings.getfloat("DOWNLOAD_DELAY") == 1.0  # the profile's floor beats params' 0
    assert settings.getfloat("DOWNLOAD_DELAY_JITTER") == 0.0  # never two requests in < 1 s
    assert settings.getbool("ROBOTSTXT_OBEY") and settings.getbool("AUTOTHROTTLE_ENABLED")
    assert settings.getint("DOWNLOAD_MAXSIZE") == live.limits.max_page_bytes
    assert settings.getbool("HTTPCACHE_ENABLED") and settings["HTTPCACHE_DIR"] == "/tmp/wpqa-cache"
    assert settings["HTTPCACHE_POLICY"].endswith("RFC2616Policy")
    assert not settings.getbool("TELNETCONSOLE_ENABLED")
    sample = load_sources(SOURCES_PATH, "sample", origin="http://127.0.0.1:1")
    assert crawl_settings(sample, CrawlOptions(cache_dir=None)).getfloat("DOWNLOAD_DELAY") == 0.0
    assert not crawl_settings(sample, CrawlOptions(cache_dir=None)).getbool("HTTPCACHE_ENABLED")


# --- sources config ------------------------------------------------------------------

def test_both_profiles_of_the_sources_file_load():
    sample = load_sources(SOURCES_PATH, "sample", origin="http://127.0.0.1:4000")
    kinds = {type(s).__name__ for s in sample.sources}
    assert kinds == {"HtmlSource", "RestSource", "PluginApiSource", "ReadmeSource", "MarkdownSource"}
    assert sample.public_origin == PUBLIC and sample.limits.min_download_delay == 0.0
    rest = sample.of_kind(RestSource)[0]
    assert rest.collection == "http://127.0.0.1:4000/documentation/wp-json/wp/v2/articles"
    assert sample.html[0].allowed_domains == ("127.0.0.1:4000",)
    live = load_sources(SOURCES_PATH, "live")
    assert live.limits.min_download_delay >= 1.0 and live.public_origin == ""
    assert {s.collection.rsplit("/", 1)[-1] for s in live.of_kind(RestSource)} == {
        "articles", "plugin-handbook", "theme-handbook", "apis-handbook", "blocks-handbook",
        "rest-api-handbook", "adv-admin-handbook"}
    assert all(s.per_page == 100 for s in live.of_kind(RestSource))
    assert live.of_kind(PluginApiSource)[0].slugs is None  # params.yaml's plugin_slugs
    assert all(s.body_selector for s in live.html)
    assert needs_origin(SOURCES_PATH, "sample") and not needs_origin(SOURCES_PATH, "live")


def test_a_single_profile_file_loads_without_a_profile_name():
    raw = {"sources": {"docs": {"kind": "html", "start_urls": ["https://docs.example.org/"],
                                "allow": ["^/(guide|faq)/"]}}}
    profile = parse_sources(raw, None)
    assert profile.html[0].allowed_domains == ("docs.example.org",)
    assert profile.limits.min_download_delay == 1.0  # polite unless the file says otherwise


@pytest.mark.parametrize("raw, profile, origin, message", [
    ({"live": {}}, "sample", None, "no profile 'sample'"),
    ({"sample": {}}, None, None, "no top-level `sources`"),
    ({"sample": {"sources": {"d": {"kind": "rss"}}}}, "sample", None,
     "kind: got 'rss'; allowed: html, rest, plugin_api, readme, markdown"),
    ({"sample": {"sources": {"d": {"kind": "html", "sitemaps": ["{origin}/s"],
                                   "allow": ["docs/"]}}}}, "sample", "http://127.0.0.1:1",
     "allow: got 'docs/'"),
    ({"sample": {"sources": {"d": {"kind": "html", "sitemaps": ["{origin}/s"], "alow": ["/d/"]}}}},
     "sample", "http://127.0.0.1:1", "d.alow: unknown key"),
    ({"sample": {"sources": {"d": {"kind": "plugin_api", "api": "{origin}/api/"}}}}, "sample",
     None, "only a loopback sample site provides"),
    ({"s": {"sources": {"d": {"kind": "rest", "collection": "https://h/wp-json/wp/v2/x",
                              "per_page": 500}}}}, "s", None, "per_page: got 500"),
    ({"s": {"sources": {"d": {"kind": "readme", "url": "https://h/readme.txt"}}}}, "s", None,
     "with {slug} in it"),
    ({"s": {"crawl": {"min_download_delay": "fast"}, "sources": {}}}, "s", None,
     "min_download_delay: expected a number"),
    ({"s": {"sources": {"d": {"kind": "html", "start_urls": ["https://h/"], "allow": ["^/(x"]}}}},
     "s", None, "not a valid regular expression"),
    ({"s": {"sources": {"d": {"kind": "html", "start_urls": ["https://h/"], "allow": ["/"],
                              "discover_sitemaps": "yes"}}}}, "s", None,
     "discover_sitemaps: expected true or false"),
    ({"s": {"sources": {"d": {"allow": ["/x"]}}}}, "s", None,
     "s.sources.d.kind: missing; allowed: html, rest, plugin_api, readme, markdown"),
    ({"s": {"sources": {"d": "html"}}}, "s", None, "s.sources.d: expected a mapping, got 'html'"),
    ({"s": {"sources": {"d": {"kind": "markdown", "manifest": "{origin}/m.json"}}}}, "s", None,
     "s.sources.d.manifest: '{origin}/m.json' uses {origin}"),
    ({"s": {"sources": {"d": {"kind": "plugin_api", "api": "https://h/a", "popular": 5000}}}},
     "s", None, "s.sources.d.popular: got 5000; allowed: 0 <= value <= 1000"),
    ({"s": {"crawl": {"max_page_bytes": 10}, "sources": {}}}, "s", None,
     "s.crawl.max_page_bytes: got 10; allowed: a number >= 1024"),
])
def test_bad_sources_fail_with_the_key(raw, profile, origin, message):
    with pytest.raises(SourcesError, match=re.escape(message)):
        parse_sources(raw, profile, origin=origin)


def test_main_reports_a_bad_param_before_crawling(tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml", profile="offline")
    assert main(["--params", str(params), "--out", str(tmp_path / "raw"),
                 "--metrics", str(tmp_path / "m.json")]) == 2
    assert "scrape.profile: got 'offline'; allowed: sample, snapshot, live" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_wpqa_crawl_reports_a_bad_sources_file_before_crawling(tmp_path, capsys):
    from commands.cli import main as wpqa_main
    assert wpqa_main(["crawl", "--sources", str(tmp_path / "none.yaml"), "--out",
                      str(tmp_path / "out")]) == 2
    assert "none.yaml: sources file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: {docs: {kind: html, start_urls: [https://h/]}}\n", encoding="utf-8")
    assert wpqa_main(["crawl", "--sources", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "sources.docs.allow: list at least one path prefix" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- the bundled sample site ---------------------------------------------------------

def test_sample_sitemap_is_up_to_date():
    """Rebuild with `python -m scraping.build_sitemap` when this fails."""
    committed = (SAMPLE_SITE_ROOT / "sitemap.xml").read_text(encoding="utf-8")
    assert committed == render_sitemap(list_sitemap_paths(SAMPLE_SITE_ROOT))


def test_sample_sitemap_leaves_out_robots_disallowed_and_unlisted_pages():
    listed = list_sitemap_paths(SAMPLE_SITE_ROOT)
    assert UNLISTED <= set(page_paths(SAMPLE_SITE_ROOT))
    assert not UNLISTED & set(listed)
    assert not [p for p in listed if p.startswith("/documentation/internal/")]
    assert "/documentation/internal/" in page_paths(SAMPLE_SITE_ROOT)  # the trap exists
    assert [p for p in listed if p.startswith("/developer/reference/")]  # for `deny`


def test_sample_rest_collection_pages_like_wordpress():
    route = "/documentation/wp-json/wp/v2/articles"
    articles = collection_articles(SAMPLE_SITE_ROOT, "documentation", "helphub_article")
    paths = {a.path for a in articles}
    assert "/documentation/manage-plugins/" in paths
    assert "/documentation/internal/" not in paths and "/documentation/" not in paths
    first = rest_collection_reply(SAMPLE_SITE_ROOT, route, "per_page=10&page=1", "http://o", 0)
    assert first.headers == {"X-WP-Total": str(len(articles)),
                             "X-WP-TotalPages": str(-(-len(articles) // 10))}
    items = json.loads(first.body)
    assert len(items) == 10 and [i["id"] for i in items] == sorted(i["id"] for i in items)
    assert items[0]["link"].startswith("http://o/documentation/")
    assert items[0]["content"]["rendered"].startswith("<") and items[0]["title"]["rendered"]
    only = json.loads(rest_collection_reply(SAMPLE_SITE_ROOT, route, "_fields=id,link", "o", 0).body)
    assert set(only[0]) == {"id", "link"}
    past = rest_collection_reply(SAMPLE_SITE_ROOT, route, "page=99", "o", 0)
    assert past.status == 400 and json.loads(past.body)["code"] == "rest_post_invalid_page_number"


def test_sample_plugin_directory_answers_both_actions():
    status, body = plugin_info_reply(SAMPLE_SITE_ROOT, "action=plugin_information&request%5Bslug%5D=nope")
    assert status == 404 and json.loads(body) == {"error": "Plugin not found."}
    reply = plugin_api_reply(SAMPLE_SITE_ROOT, "action=query_plugins&request[browse]=popular"
                                               "&request[per_page]=2&request[page]=1")
    listing = json.loads(reply.body)
    assert listing["info"]["results"] == 6 and listing["info"]["pages"] == 3
    assert [p["slug"] for p in listing["plugins"]] == ["woocommerce", "contact-form-7"]


# --- the loopback server -------------------------------------------------------------

def test_server_serves_the_site_like_a_static_host(tmp_path):
    site = tmp_path / "site"
    make_tiny_site(site, "http://127.0.0.1:1")
    (tmp_path / "secret.txt").write_text("outside the site", encoding="utf-8")
    with serve_sample_site(site) as server:
        status, headers, body = http_get(server.base_url, "/documentation/alpha/")
        assert status == 200 and b"Water a fern" in body
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert headers["last-modified"] == "Thu, 01 Jan 2026 00:00:00 GMT"
        assert headers["etag"].startswith('"') and int(headers["content-length"]) == len(body)
        assert headers["cache-control"] == "max-age=0"
        status, headers, _ = http_get(server.base_url, "/documentation/alpha")
        assert status == 301 and headers["location"] == "/documentation/alpha/"
        assert http_get(server.base_url, "/documentation/nope/")[0] == 404
        assert http_get(server.base_url, "/../secret.txt")[0] == 404
        assert http_get(server.base_url, "/%2e%2e/secret.txt")[0] == 404
        status, _, body = http_get(server.base_url, "/sitemap.xml")
        assert f"<loc>{server.base_url}/documentation/alpha/</loc>" in body.decode()
        assert "{{origin}}" not in http_get(server.base_url, "/robots.txt")[2].decode()
        assert server.requested_paths[:2] == ["/documentation/alpha/", "/documentation/alpha"]


def test_server_answers_conditional_requests_with_304(tmp_path):
    make_tiny_site(tmp_path / "site", "http://127.0.0.1:1")
    with serve_sample_site(tmp_path / "site") as server:
        _, headers, _ = http_get(server.base_url, "/documentation/alpha/")
        status, again, body = http_get(server.base_url, "/documentation/alpha/",
                                       {"If-None-Match": headers["etag"]})
        assert status == 304 and body == b"" and again["etag"] == headers["etag"]
        assert http_get(server.base_url, "/documentation/alpha/",
                        {"If-None-Match": '"other"'})[0] == 200
        assert http_get(server.base_url, "/documentation/alpha/",
                        {"If-Modified-Since": headers["last-modified"]})[0] == 304
        assert http_get(server.base_url, "/documentation/alpha/",
                        {"If-Modified-Since": "Mon, 01 Dec 2025 00:00:00 GMT"})[0] == 200



def test_server_latency_delays_each_reply(tmp_path):
    """The benchmarks' stand-in for a real host's response time."""
    import time

    make_tiny_site(tmp_path / "site", "http://127.0.0.1:1")
    with serve_sample_site(tmp_path / "site", latency=0.2) as server:
        started = time.perf_counter()
        assert http_get(server.base_url, "/documentation/alpha/")[0] == 200
        assert time.perf_counter() - started >= 0.2

# --- real crawls ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_crawl(tmp_path_factory):
    """One crawl of the tiny site (plus an off-site server its pages link to)."""
    tmp = tmp_path_factory.mktemp("tiny")
    make_offsite_site(tmp / "offsite")
    with serve_sample_site(tmp / "offsite") as offsite:
        sources = make_tiny_site(tmp / "site", offsite.base_url)
        with serve_sample_site(tmp / "site") as server:
            proc, pages, metrics = run_scrape(
                tmp / "run", "--site-url", server.base_url, "--sources", str(sources),
                plugin_slugs=["acme-forms", "fern-cache", "no-such-plugin"])
            log, offsite_log = server.requested_paths, offsite.requested_paths
    assert proc.returncode == 0, proc.stderr[-3000:]
    crawl_log = read_rows(metrics.parent / "crawl_log.jsonl")
    return {"rows": read_rows(pages), "metrics": json.loads(metrics.read_text()),
            "log": log, "offsite_log": offsite_log, "crawl_log": crawl_log}


@pytest.mark.integration
def test_crawl_never_requests_robots_disallowed_paths(tiny_crawl):
    assert "/robots.txt" in tiny_crawl["log"]
    assert not [p for p in tiny_crawl["log"] if p.startswith("/documentation/internal/")]
    assert tiny_crawl["metrics"]["urls_skipped_robots"] == 1


@pytest.mark.integration
def test_crawl_never_follows_offsite_or_filtered_links(tiny_crawl):
    assert tiny_crawl["offsite_log"] == []
    assert tiny_crawl["metrics"]["urls_skipped_offsite"] == 1
    assert not [p for p in tiny_crawl["log"]
                if p.startswith("/elsewhere") or p.endswith(".pdf") or "?s=" in p]
    assert tiny_crawl["metrics"]["urls_skipped_filtered"] == 3  # /elsewhere/, the pdf, the search


@pytest.mark.integration
def test_crawl_fetches_pages_found_only_by_links(tiny_crawl):
    urls = [row["url"] for row in tiny_crawl["rows"] if row["kind"] == "html"]
    assert urls == [PUBLIC + path for path in (
        "/documentation/", "/documentation/alpha/", "/documentation/beta/",
        "/documentation/gamma/", "/plugins/acme-forms/docs/")]
    assert tiny_crawl["log"].count("/documentation/alpha/") == 1
    states = {row["url"]: (row["state"], row["reason"]) for row in tiny_crawl["crawl_log"]}
    # /documentation/beta (no slash) redirects onto beta/, which a link also reaches
    assert states[PUBLIC + "/documentation/beta"] == ("skipped", "duplicate") or \
        states[PUBLIC + "/documentation/beta/"] == ("skipped", "duplicate")


@pytest.mark.integration
def test_crawl_stores_plugin_api_replies_and_counts_unknown_slugs(tiny_crawl):
    api_rows = [row for row in tiny_crawl["rows"] if row["kind"] == "plugin_api"]
    assert [json.loads(row["body"])["slug"] for row in api_rows] == ["acme-forms", "fern-cache"]
    assert [row["meta"] for row in api_rows] == [{"slug": "acme-forms"}, {"slug": "fern-cache"}]
    assert all(row["url"].startswith(PUBLIC + "/api/plugins/info/1.2/?action=plugin_information")
               for row in api_rows)
    metrics = tiny_crawl["metrics"]
    assert metrics["pages_plugin_api"] == 2 and metrics["pages_from_plugin_api"] == 2
    assert metrics["urls_failed_http_404"] == 1 and metrics["urls_failed"] == 1


@pytest.mark.integration
def test_crawl_rows_follow_the_page_contract_and_the_books_add_up(tiny_crawl):
    rows = tiny_crawl["rows"]
    assert [row["url"] for row in rows] == sorted(row["url"] for row in rows)
    for row in rows:
        assert set(row) == {"url", "status", "headers", "body", "source", "kind", "meta"}
        assert row["status"] == 200 and row["url"].startswith(PUBLIC + "/")
        assert set(row["headers"]) == {"content-type", "last-modified", "etag"}
    assert [row["meta"] for row in rows if row["source"] == "plugins"] == [
        {"body_selector": ".entry-content"}]
    metrics = tiny_crawl["metrics"]
    assert metrics["pages_stored"] == len(rows) == 7
    assert metrics["pages_from_documentation"] == 4 and metrics["pages_from_plugins"] == 1
    assert summary_adds_up(metrics) and documents_add_up(metrics)
    assert metrics["urls_pending"] == 0 and metrics["urls_state_conflicts"] == 0
    assert metrics["urls_met"] == len(tiny_crawl["crawl_log"])


@pytest.mark.integration
def test_crawl_respects_max_pages(tmp_path):
    sources = make_tiny_site(tmp_path / "site", "http://127.0.0.1:1")
    with serve_sample_site(tmp_path / "site") as server:
        proc, pages, metrics = run_scrape(tmp_path / "run", "--site-url", server.base_url,
                                          "--sources", str(sources),
                                          max_pages=3, plugin_slugs=["acme-forms"])
        log = server.requested_paths
    assert proc.returncode == 0, proc.stderr[-3000:]
    fetched = [p for p in log if p not in ("/robots.txt", "/sitemap.xml")]
    assert len(fetched) == 3, log
    metrics = json.loads(metrics.read_text())
    assert metrics["pages_stored"] == 3 and metrics["urls_skipped_page_limit"] >= 1
    assert summary_adds_up(metrics)


@pytest.fixture(scope="module")
def sample_crawls(tmp_path_factory):
    """The bundled site crawled twice by the stage's own server with one HTTP cache, and
    once by ours without a cache."""
    tmp = tmp_path_factory.mktemp("sample")
    cache = tmp / "cache"
    runs = [run_scrape(tmp / f"own{i}", cache=cache) for i in (1, 2)]
    with serve_sample_site() as server:
        runs.append(run_scrape(tmp / "ours", "--site-url", server.base_url, "--no-cache"))
        log = server.requested_paths
    for proc, _, _ in runs:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return {"runs": runs, "log": log,
            "metrics": [json.loads(m.read_text()) for _, _, m in runs]}


@pytest.mark.integration
def test_sample_crawl_is_byte_identical_across_runs_ports_and_the_cache(sample_crawls):
    (_, pages1, _), (_, pages2, _), (_, pages3, _) = sample_crawls["runs"]
    assert pages1.read_bytes() == pages2.read_bytes() == pages3.read_bytes()
    first, again, fresh = sample_crawls["metrics"]
    assert first["urls_met"] == again["urls_met"] == fresh["urls_met"]


@pytest.mark.integration
def test_sample_recrawl_is_answered_from_the_cache(sample_crawls):
    first, again, _ = sample_crawls["metrics"]
    assert first["urls_not_modified"] == 0
    assert again["urls_not_modified"] == again["urls_not_modified_revalidated"] > 0
    # Downloaded again: only the replies that embed the server's port, which changed.
    crawl_log = read_rows(sample_crawls["runs"][1][2].parent / "crawl_log.jsonl")
    fetched = [row["url"] for row in crawl_log if row["state"] == "fetched"]
    assert all(url.endswith(("/robots.txt", "/sitemap.xml")) or "/wp-json/" in url
               for url in fetched), fetched
    settled = again["urls_fetched"] + again["urls_not_modified"]
    assert again["urls_not_modified"] >= 0.9 * settled


@pytest.mark.integration
def test_sample_crawl_covers_every_source_type_and_nothing_disallowed(sample_crawls):
    log = sample_crawls["log"]
    assert not [p for p in log if p.startswith(("/documentation/internal/", "/developer/reference/"))]
    rows = read_rows(sample_crawls["runs"][0][1])
    kinds = Counter(row["kind"] for row in rows)
    articles = collection_articles(SAMPLE_SITE_ROOT, "documentation", "helphub_article")
    assert kinds["rest_item"] == len(articles)
    assert kinds["markdown"] == 2 and kinds["readme"] == 1
    html_urls = {row["url"] for row in rows if row["kind"] == "html"}
    expected = {PUBLIC + path for path in page_paths(SAMPLE_SITE_ROOT)
                if path.startswith("/plugins/")
                or (path.startswith("/developer/") and not path.startswith("/developer/reference/"))}
    assert html_urls == expected
    assert PUBLIC + "/plugins/woocommerce/docs/" in html_urls  # found only by links
    rest = [row for row in rows if row["kind"] == "rest_item"]
    assert all(row["url"] == row["meta"]["link"] and row["url"].startswith(PUBLIC + "/documentation/")
               for row in rest)
    assert {row["meta"]["collection"] for row in rest} == {
        PUBLIC + "/documentation/wp-json/wp/v2/articles"}
    slugs = load_params(REPO / "params.yaml").scrape.plugin_slugs
    served = [s for s in slugs if (SAMPLE_SITE_ROOT / f"api/plugins/info/1.2/{s}.json").is_file()]
    metrics = sample_crawls["metrics"][0]
    assert metrics["pages_plugin_api"] == len(served)
    assert metrics["urls_failed"] == len(slugs) - len(served)
    assert summary_adds_up(metrics) and documents_add_up(metrics)


# --- the real sites' markup, served from loopback ------------------------------------

class RealFixtureHandler(http.server.BaseHTTPRequestHandler):
    """WordPress REST collections and plugin readmes made of the saved real files."""

    protocol_version = "HTTP/1.1"
    collections: dict[str, list[dict]] = {}
    readmes: dict[str, bytes] = {}

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/robots.txt":
            return self.reply(200, b"User-agent: *\nDisallow: /wp-admin/\n", "text/plain")
        if parts.path in self.collections:
            items = self.collections[parts.path]
            per_page, page = int(query["per_page"][0]), int(query["page"][0])
            pages = -(-len(items) // per_page)
            if page > pages:
                return self.reply(400, b'{"code": "rest_post_invalid_page_number"}', "application/json")
            body = json.dumps(items[(page - 1) * per_page: page * per_page]).encode()
            return self.reply(200, body, "application/json; charset=UTF-8",
                              {"X-WP-Total": str(len(items)), "X-WP-TotalPages": str(pages)})
        slug = parts.path.split("/")[2] if parts.path.startswith("/svn/") else ""
        if slug in self.readmes and parts.path.endswith("/trunk/readme.txt"):
            return self.reply(200, self.readmes[slug], "text/plain; charset=utf-8")
        return self.reply(404, b"not found", "text/plain")

    def reply(self, status, body, content_type, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.integration
def test_real_rest_items_and_readmes_crawl_as_the_live_profile_would(tmp_path):
    if not (REAL_FIXTURES / "wp-rest").is_dir():
        pytest.skip("../shared/fixtures/real is absent")
    items = {path.name: json.loads(path.read_text(encoding="utf-8"))
             for path in sorted((REAL_FIXTURES / "wp-rest").glob("*.json"))}
    docs = [i for name, i in items.items() if name.startswith("wporg-docs-rest")]
    devhub = [i for name, i in items.items() if name.startswith("devhub-rest")]
    readmes = {path.name.split("__")[0]: path.read_bytes()
               for path in sorted((REAL_FIXTURES / "readmes").glob("*__readme.txt"))}
    RealFixtureHandler.collections = {"/documentation/wp-json/wp/v2/articles": docs,
                                      "/wp-json/wp/v2/plugin-handbook": devhub}
    RealFixtureHandler.readmes = readmes
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RealFixtureHandler)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sources = tmp_path / "real.yaml"
        sources.write_text(yaml.safe_dump({"crawl": {"min_download_delay": 0}, "sources": {
            "documentation": {"kind": "rest", "per_page": 2,
                              "collection": f"{origin}/documentation/wp-json/wp/v2/articles"},
            "plugin_handbook": {"kind": "rest", "per_page": 2,
                                "collection": f"{origin}/wp-json/wp/v2/plugin-handbook"},
            "plugin_readmes": {"kind": "readme", "url": origin + "/svn/{slug}/trunk/readme.txt",
                               "slugs": sorted(readmes)},
        }}), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "commands.crawl", "--sources", str(sources),
                               "--out", str(tmp_path / "out"), "--no-cache"],
                              cwd=REPO, capture_output=True, text=True, timeout=CRAWL_TIMEOUT_S)
    finally:
        server.shutdown()
        thread.join()
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {row["url"]: row for row in read_rows(tmp_path / "out" / "pages.jsonl")}
    for item in docs + devhub:
        row = rows[item["link"]]  # stored under the item's real link
        assert row["kind"] == "rest_item" and row["body"] == item["content"]["rendered"]
        assert row["meta"]["title"] == item["title"]["rendered"]
        assert row["meta"]["modified"] == item["modified"]
        assert row["meta"]["menu_order"] == str(item["menu_order"])
    for slug, text in readmes.items():
        row = rows[f"{origin}/svn/{slug}/trunk/readme.txt"]
        assert row["kind"] == "readme" and row["body"] == text.decode("utf-8")
        assert row["meta"] == {"slug": slug}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["pages_rest_item"] == len(docs) + len(devhub)
    assert summary["urls_met"] == summary["urls_fetched"] == 2 + 3 + len(readmes)
    assert summary_adds_up(summary) and documents_add_up(summary)
