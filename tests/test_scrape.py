"""Tests of the scrape stage: pure URL/sitemap/response functions, the loopback server,
and real crawls of real loopback servers.

Crawls run `python -m scraping.scrape` in a subprocess, because Twisted's reactor starts
only once per process. Most crawls use a server this test process owns (`--site-url`),
so its request log can prove what the crawler never fetched.
"""
from __future__ import annotations

import gzip
import http.client
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scrapy.http import HtmlResponse, Request, TextResponse

from scraping.build_sitemap import UNLISTED, list_sitemap_paths, page_paths, render_sitemap
from scraping.items import FetchedDocument
from scraping.pipelines import PageRowsPipeline, page_from_document
from scraping.responses import document_from_response, plugin_info_problem
from scraping.scrape import build_metrics, crawl_settings, main, split_page_budget
from scraping.serve import SAMPLE_SITE_ROOT, plugin_info_reply, serve_sample_site
from scraping.sources import SOURCES_PATH, HtmlSource, SourcesError, load_sources, parse_sources
from scraping.spiders.docs import CrawlFrontier
from scraping.spiders.plugin_api import plan_plugin_requests
from scraping.urls import (classify_url, extract_links, parse_sitemap, plugin_info_url,
                           rewrite_origin)
from wpqa.params import load_params
from wpqa.records import Page

REPO = Path(__file__).resolve().parents[1]
PUBLIC = "https://sample.wpqa.test"
CRAWL_TIMEOUT_S = 60
DOCS = HtmlSource(name="documentation", site="http://127.0.0.1:8000", sitemaps=(),
                  start_urls=(), allow=("/documentation/",), deny=("/documentation/old/",))
PLUGINS = HtmlSource(name="plugins", site="http://127.0.0.1:8000", sitemaps=(),
                     start_urls=(), allow=("/plugins/",), deny=())


# --- helpers -------------------------------------------------------------------------

def write_params(path: Path, **scrape) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    raw["scrape"].update(scrape)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def run_scrape(tmp: Path, *args: str, **scrape) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """Run the stage in a subprocess; return the process, pages.jsonl and metrics.json."""
    tmp.mkdir(parents=True, exist_ok=True)
    params = write_params(tmp / "params.yaml", **scrape)
    out, metrics = tmp / "raw", tmp / "metrics.json"
    proc = subprocess.run(
        [sys.executable, "-m", "scraping.scrape", "--params", str(params), "--out", str(out),
         "--metrics", str(metrics), *args],
        cwd=REPO, capture_output=True, text=True, timeout=CRAWL_TIMEOUT_S)
    return proc, out / "pages.jsonl", metrics


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def http_get(base_url: str, path: str) -> tuple[int, dict[str, str], bytes]:
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path)
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


def make_tiny_site(root: Path, offsite_origin: str) -> None:
    """A six-page site whose links exercise every crawl rule.

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
    (root / "sitemap.xml").write_text(render_sitemap(list_sitemap_paths(
        root, unlisted=frozenset({"/documentation/beta/", "/documentation/gamma/"}))),
        encoding="utf-8")


def make_offsite_site(root: Path) -> None:
    write_page(root, "/documentation/stolen/", "Another site", "<p>Never crawled.</p>")


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
    assert classify_url("http://127.0.0.1:8000/documentation/x/", sources).source == "documentation"
    assert classify_url("http://127.0.0.1:8000/plugins/p/docs/", sources).source == "plugins"
    for url in ("http://127.0.0.1:9999/documentation/x/", "https://127.0.0.1:8000/documentation/",
                "http://example.org/documentation/"):
        assert classify_url(url, sources).skip_reason == "offsite", url
    for url in ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/documentation/old/x/",
                "http://127.0.0.1:8000/documentation/?s=a", "http://127.0.0.1:8000/documentation/a.pdf"):
        assert classify_url(url, sources).skip_reason == "filtered", url


def test_rewrite_origin_only_touches_the_loopback_origin():
    origin = "http://127.0.0.1:40123"
    assert rewrite_origin(origin + "/documentation/", origin, PUBLIC) == PUBLIC + "/documentation/"
    assert rewrite_origin(origin + "1/x", origin, PUBLIC) == origin + "1/x"  # another port
    assert rewrite_origin("https://wordpress.org/x", origin, PUBLIC) == "https://wordpress.org/x"
    assert rewrite_origin("https://wordpress.org/x", "", "") == "https://wordpress.org/x"


def test_plugin_info_url_matches_the_1_2_api_and_the_sample_server():
    url = plugin_info_url("https://api.wordpress.org/plugins/info/1.2", "contact-form-7")
    assert url == ("https://api.wordpress.org/plugins/info/1.2/"
                   "?action=plugin_information&request%5Bslug%5D=contact-form-7")
    status, body = plugin_info_reply(SAMPLE_SITE_ROOT, url.split("?", 1)[1].replace(
        "contact-form-7", "no-such-plugin"))
    assert status == 404 and json.loads(body) == {"error": "Plugin not found."}


# --- pure functions: frontier, responses, pipeline, metrics -------------------------

def test_crawl_frontier_dedupes_counts_skips_once_and_keeps_the_budget():
    frontier = CrawlFrontier((DOCS,), max_pages=2)
    site = "http://127.0.0.1:8000"
    assert frontier.admit(site + "/documentation/a/") == "documentation"
    assert frontier.admit(site + "/documentation/a/#frag") is None  # same page
    for _ in range(2):
        assert frontier.admit("http://example.org/documentation/") is None
        assert frontier.admit(site + "/plugins/") is None
    assert frontier.admit(site + "/documentation/b/") == "documentation"
    assert frontier.admit(site + "/documentation/c/") is None  # budget spent
    frontier.release()  # e.g. b was forbidden by robots.txt
    assert frontier.admit(site + "/documentation/c/") == "documentation"
    assert frontier.skipped_counts() == {"filtered": 1, "offsite": 1, "page_limit": 1}


def test_split_page_budget_serves_plugin_replies_first():
    assert split_page_budget(400, 6) == (6, 394)
    assert split_page_budget(4, 6) == (4, 0)
    assert split_page_budget(5, 0) == (0, 5)


def test_plan_plugin_requests_dedupes_slugs_and_caps():
    sources = load_sources(SOURCES_PATH, "live").plugin_api
    plan = plan_plugin_requests(sources, ["akismet", "akismet", "classic-editor"], max_pages=5)
    assert [(s, slug) for s, slug, _ in plan] == [("plugin_api", "akismet"),
                                                  ("plugin_api", "classic-editor")]
    assert len(plan_plugin_requests(sources, ["a", "b", "c"], max_pages=2)) == 2


def test_document_from_response_keeps_html_and_rejects_other_types():
    request = Request("http://h/documentation/a/")
    html = HtmlResponse(request.url, body=b"<p>caf\xc3\xa9</p>", request=request,
                        headers={"Content-Type": "text/html; charset=utf-8", "ETag": '"1"'})
    doc = document_from_response(html, "documentation", "html")
    assert doc.body == "<p>café</p>" and doc.headers["etag"] == '"1"' and doc.status == 200
    feed = TextResponse(request.url, body=b"<rss/>", request=request,
                        headers={"Content-Type": "application/rss+xml"})
    assert document_from_response(feed, "documentation", "html") is None
    assert document_from_response(feed, "plugin_api", "plugin_api") is not None


def test_plugin_info_problem_spots_error_replies():
    assert plugin_info_problem('{"slug": "akismet", "name": "Akismet"}') is None
    assert plugin_info_problem('{"error": "Plugin not found."}') == "error_reply"
    assert plugin_info_problem("null") == "invalid_json"
    assert plugin_info_problem("<html>") == "invalid_json"
    assert plugin_info_problem("{}") == "not_plugin_info"


def test_page_from_document_keeps_stable_headers_and_the_public_url():
    doc = FetchedDocument(
        url="http://127.0.0.1:5555/documentation/a/", status=200, body="<p>x</p>",
        headers={"content-type": "text/html", "date": "Mon, 01 Jan 2029 00:00:00 GMT",
                 "server": "x", "etag": '"e"', "last-modified": "Thu, 01 Jan 2026 00:00:00 GMT"},
        source="documentation", kind="html")
    page = page_from_document(doc, "http://127.0.0.1:5555", PUBLIC)
    assert page == Page(url=PUBLIC + "/documentation/a/", status=200, body="<p>x</p>",
                        headers={"content-type": "text/html", "etag": '"e"',
                                 "last-modified": "Thu, 01 Jan 2026 00:00:00 GMT"},
                        source="documentation", kind="html")


def test_pipeline_drops_a_second_document_for_the_same_url():
    from scrapy.exceptions import DropItem
    pipeline = PageRowsPipeline()
    doc = FetchedDocument(url="http://h/a/", status=200, headers={}, body="", source="s",
                          kind="html")
    assert isinstance(pipeline.process_item(doc), Page)
    with pytest.raises(DropItem, match="duplicate_url"):
        pipeline.process_item(doc)


def test_build_metrics_adds_up_pages_and_failures():
    pages = [Page("u1", 200, {}, "", "documentation", "html"),
             Page("u2", 200, {}, "", "plugin_api", "plugin_api")]
    metrics = build_metrics(pages, {"responses_non_2xx": 2, "download_errors": 1,
                                    "responses_status_404": 2},
                            ["documentation", "developer", "plugin_api"])
    assert metrics["pages_fetched"] == 2 and metrics["pages_html"] == 1
    assert metrics["pages_from_documentation"] == 1 and metrics["pages_from_developer"] == 0
    assert metrics["requests_failed"] == 3 and metrics["page_limit_reached"] == 0
    assert list(metrics) == sorted(metrics)


def test_crawl_settings_take_params_values():
    params = load_params(REPO / "params.yaml").scrape
    settings = crawl_settings(params, "http://127.0.0.1:1", PUBLIC)
    assert settings["USER_AGENT"] == params.user_agent
    assert settings.getfloat("DOWNLOAD_DELAY") == params.download_delay
    assert settings.getbool("ROBOTSTXT_OBEY") and settings.getbool("AUTOTHROTTLE_ENABLED")
    assert not settings.getbool("TELNETCONSOLE_ENABLED")


# --- sources config ------------------------------------------------------------------

def test_both_profiles_of_the_sources_file_load():
    sample = load_sources(SOURCES_PATH, "sample", origin="http://127.0.0.1:4000")
    assert {s.name for s in sample.html} == {"documentation", "developer", "plugins"}
    assert sample.plugin_api[0].api == "http://127.0.0.1:4000/api/plugins/info/1.2/"
    assert sample.public_origin == PUBLIC
    live = load_sources(SOURCES_PATH, "live")
    assert all(s.site.startswith("https://") for s in live.html)
    assert live.public_origin == ""


@pytest.mark.parametrize("raw, origin, message", [
    ({"live": {}}, None, "no profile 'sample'"),
    ({"sample": {"sources": {"d": {"kind": "rss"}}}}, None, "kind: got 'rss'; allowed: html, plugin_api"),
    ({"sample": {"sources": {"d": {"kind": "html", "site": "{origin}", "sitemaps": ["{origin}/s"],
                                   "allow": ["docs/"]}}}}, "http://127.0.0.1:1",
     "allow: got 'docs/'"),
    ({"sample": {"sources": {"d": {"kind": "html", "site": "{origin}", "alow": ["/d/"]}}}},
     "http://127.0.0.1:1", "d.alow: unknown key"),
    ({"sample": {"sources": {"d": {"kind": "plugin_api", "api": "{origin}/api/"}}}}, None,
     "only the sample profile"),
])
def test_bad_sources_fail_with_the_key(raw, origin, message):
    with pytest.raises(SourcesError, match=re.escape(message)):
        parse_sources(raw, "sample", origin=origin)


def test_main_reports_a_bad_param_before_crawling(tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml", profile="offline")
    assert main(["--params", str(params), "--out", str(tmp_path / "raw"),
                 "--metrics", str(tmp_path / "m.json")]) == 2
    assert "scrape.profile: got 'offline'; allowed: sample, live" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


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
        status, headers, _ = http_get(server.base_url, "/documentation/alpha")
        assert status == 301 and headers["location"] == "/documentation/alpha/"
        assert http_get(server.base_url, "/documentation/nope/")[0] == 404
        assert http_get(server.base_url, "/../secret.txt")[0] == 404
        assert http_get(server.base_url, "/%2e%2e/secret.txt")[0] == 404
        status, _, body = http_get(server.base_url, "/sitemap.xml")
        assert f"<loc>{server.base_url}/documentation/alpha/</loc>" in body.decode()
        assert "{{origin}}" not in http_get(server.base_url, "/robots.txt")[2].decode()
        assert server.requested_paths[:2] == ["/documentation/alpha/", "/documentation/alpha"]


def test_server_answers_plugin_information_like_the_api(tmp_path):
    site = tmp_path / "site"
    make_tiny_site(site, "http://127.0.0.1:1")
    api = "/api/plugins/info/1.2/?action=plugin_information&request%5Bslug%5D="
    with serve_sample_site(site) as server:
        status, headers, body = http_get(server.base_url, api + "acme-forms")
        assert status == 200 and headers["content-type"] == "application/json"
        assert json.loads(body)["slug"] == "acme-forms"
        status, _, body = http_get(server.base_url, api + "no-such-plugin")
        assert status == 404 and json.loads(body) == {"error": "Plugin not found."}
        assert http_get(server.base_url, api + "..%2F..%2Frobots")[0] == 404
        assert http_get(server.base_url, "/api/plugins/info/1.2/?action=query_plugins")[0] == 400


# --- real crawls ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_crawl(tmp_path_factory):
    """One crawl of the tiny site (plus an off-site server its pages link to)."""
    tmp = tmp_path_factory.mktemp("tiny")
    make_offsite_site(tmp / "offsite")
    with serve_sample_site(tmp / "offsite") as offsite:
        make_tiny_site(tmp / "site", offsite.base_url)
        with serve_sample_site(tmp / "site") as server:
            proc, pages, metrics = run_scrape(
                tmp / "run", "--site-url", server.base_url,
                plugin_slugs=["acme-forms", "fern-cache", "no-such-plugin"])
            log, offsite_log = server.requested_paths, offsite.requested_paths
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"rows": read_rows(pages), "metrics": json.loads(metrics.read_text()),
            "log": log, "offsite_log": offsite_log, "stderr": proc.stderr}


@pytest.mark.integration
def test_crawl_never_requests_robots_disallowed_paths(tiny_crawl):
    assert "/robots.txt" in tiny_crawl["log"]
    assert not [p for p in tiny_crawl["log"] if p.startswith("/documentation/internal/")]
    assert tiny_crawl["metrics"]["skipped_robots"] == 1


@pytest.mark.integration
def test_crawl_never_follows_offsite_or_filtered_links(tiny_crawl):
    assert tiny_crawl["offsite_log"] == []
    assert tiny_crawl["metrics"]["skipped_offsite"] == 1
    assert not [p for p in tiny_crawl["log"]
                if p.startswith("/elsewhere") or p.endswith(".pdf") or "?s=" in p]
    assert tiny_crawl["metrics"]["skipped_filtered"] == 3  # /elsewhere/, the pdf, the search


@pytest.mark.integration
def test_crawl_fetches_pages_found_only_by_links(tiny_crawl):
    urls = [row["url"] for row in tiny_crawl["rows"] if row["kind"] == "html"]
    assert urls == [PUBLIC + path for path in (
        "/documentation/", "/documentation/alpha/", "/documentation/beta/",
        "/documentation/gamma/", "/plugins/acme-forms/docs/")]
    assert tiny_crawl["log"].count("/documentation/alpha/") == 1


@pytest.mark.integration
def test_crawl_stores_plugin_api_replies_and_counts_unknown_slugs(tiny_crawl):
    api_rows = [row for row in tiny_crawl["rows"] if row["kind"] == "plugin_api"]
    assert [json.loads(row["body"])["slug"] for row in api_rows] == ["acme-forms", "fern-cache"]
    assert {row["source"] for row in api_rows} == {"plugin_api"}
    assert all(row["url"].startswith(PUBLIC + "/api/plugins/info/1.2/?action=plugin_information")
               for row in api_rows)
    metrics = tiny_crawl["metrics"]
    assert metrics["pages_plugin_api"] == 2 and metrics["pages_from_plugin_api"] == 2
    assert metrics["responses_status_404"] == 1 and metrics["requests_failed"] == 1


@pytest.mark.integration
def test_crawl_rows_follow_the_page_contract(tiny_crawl):
    rows = tiny_crawl["rows"]
    assert [row["url"] for row in rows] == sorted(row["url"] for row in rows)
    for row in rows:
        assert set(row) == {"url", "status", "headers", "body", "source", "kind", "meta"}
        assert row["status"] == 200 and row["url"].startswith(PUBLIC + "/")
        assert set(row["headers"]) == {"content-type", "last-modified", "etag"}
    metrics = tiny_crawl["metrics"]
    assert metrics["pages_fetched"] == len(rows) == 7
    assert metrics["pages_from_documentation"] == 4 and metrics["pages_from_plugins"] == 1


@pytest.mark.integration
def test_crawl_respects_max_pages(tmp_path):
    make_tiny_site(tmp_path / "site", "http://127.0.0.1:1")
    with serve_sample_site(tmp_path / "site") as server:
        proc, pages, metrics = run_scrape(tmp_path / "run", "--site-url", server.base_url,
                                          max_pages=3, plugin_slugs=["acme-forms"])
        log = server.requested_paths
    assert proc.returncode == 0, proc.stderr[-3000:]
    fetched = [p for p in log if p not in ("/robots.txt", "/sitemap.xml")]
    assert len(fetched) == 3, log
    metrics = json.loads(metrics.read_text())
    assert metrics["pages_fetched"] == 3 and metrics["pages_plugin_api"] == 1
    assert metrics["page_limit_reached"] == 1 and metrics["skipped_page_limit"] >= 1


@pytest.fixture(scope="module")
def sample_crawls(tmp_path_factory):
    """The bundled site crawled twice by the stage's own server, once by ours."""
    tmp = tmp_path_factory.mktemp("sample")
    runs = [run_scrape(tmp / f"own{i}") for i in (1, 2)]
    with serve_sample_site() as server:
        runs.append(run_scrape(tmp / "ours", "--site-url", server.base_url))
        log = server.requested_paths
    for proc, _, _ in runs:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return {"runs": runs, "log": log}


@pytest.mark.integration
def test_sample_crawl_is_byte_identical_across_runs_and_ports(sample_crawls):
    (_, pages1, metrics1), (_, pages2, metrics2), (_, pages3, metrics3) = sample_crawls["runs"]
    assert pages1.read_bytes() == pages2.read_bytes() == pages3.read_bytes()
    assert metrics1.read_bytes() == metrics2.read_bytes() == metrics3.read_bytes()


@pytest.mark.integration
def test_sample_crawl_fetches_every_allowed_page_and_nothing_disallowed(sample_crawls):
    assert not [p for p in sample_crawls["log"] if p.startswith("/documentation/internal/")]
    rows = read_rows(sample_crawls["runs"][0][1])
    html_urls = {row["url"] for row in rows if row["kind"] == "html"}
    expected = {PUBLIC + path for path in page_paths(SAMPLE_SITE_ROOT)
                if not path.startswith("/documentation/internal/")
                and any(path.startswith(p) for p in ("/documentation/", "/developer/", "/plugins/"))}
    assert html_urls == expected
    assert {PUBLIC + path for path in UNLISTED} <= html_urls  # found only by links
    slugs = load_params(REPO / "params.yaml").scrape.plugin_slugs
    served = [s for s in slugs if (SAMPLE_SITE_ROOT / f"api/plugins/info/1.2/{s}.json").is_file()]
    metrics = json.loads(sample_crawls["runs"][0][2].read_text())
    assert metrics["pages_plugin_api"] == len(served)
    assert metrics["requests_failed"] == len(slugs) - len(served)
