"""Fault injection: `wpqa crawl` against a loopback server that misbehaves on purpose.

Every fault a real documentation site can throw at a crawler is one path of
`FaultServer`: 5xx then success, a page that never stops failing, timeouts, 429 with
Retry-After (short, and too long to wait for), truncated and malformed HTML, pages in
Latin-1 and Windows-1252, over-size pages with and without Content-Length, a dropped
connection, redirect loops and endless chains, redirects off the domain and out of the
allowed paths, robots-disallowed paths, a non-HTML reply, a broken sitemap, and a REST
collection whose pages fail in turn. The test asserts, for each URL, the one state it
ends in; that the summary adds up; and, from the servers' request logs, that nothing was
fetched that must not be. A second test stops a crawl with Ctrl-C half-way and resumes it.

The crawls run in subprocesses (Twisted's reactor starts once per process).
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from scraping.crawl import documents_add_up
from scraping.ledger import summary_adds_up
from scraping.serve import serve_sample_site

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 1.0  # the crawl's download_timeout in this suite
MAX_PAGE_BYTES = 64 * 1024


def page(title: str, body: str = "", charset: str = "utf-8") -> str:
    return (f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{title}</title></head>'
            f'<body><article><h1>{title}</h1><div class="entry-content">{body}'
            "<ol><li>Open the dashboard.</li><li>Click Save.</li></ol></div></article></body></html>")


class FaultServer(ThreadingHTTPServer):
    """A documentation site with one fault per path; logs every request with its time."""

    daemon_threads = True

    def __init__(self, offsite_origin: str):
        self.offsite_origin = offsite_origin
        self.log: list[tuple[float, str]] = []
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), FaultHandler)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request, client_address):
        pass  # the crawler hanging up on a slow or over-size reply is part of the test

    def count(self, path: str) -> int:
        with self.lock:
            self.log.append((time.monotonic(), path))
            self.hits[path] = self.hits.get(path, 0) + 1
            return self.hits[path]

    def paths(self) -> list[str]:
        with self.lock:
            return [path for _, path in self.log]


LINKED = ["/docs/ok/", "/docs/flaky/", "/docs/broken/", "/docs/missing/", "/docs/slow/",
          "/docs/rate-limited/", "/docs/truncated/", "/docs/data-loss/", "/docs/empty-reply/",
          "/docs/malformed/", "/docs/latin1/", "/docs/cp1252/", "/docs/huge/",
          "/docs/huge-unannounced/", "/docs/loop-a/", "/docs/endless/0", "/docs/off-domain/",
          "/docs/out-of-bounds/", "/docs/moved/", "/docs/secret/", "/docs/image/",
          "/docs/ok/#section", "/elsewhere/", "mailto:docs@example.org"]


class FaultHandler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def do_GET(self):  # noqa: C901 - one branch per fault, read top to bottom
        path = self.path
        n = self.server.count(path)
        origin = self.server.origin
        try:
            if path == "/robots.txt":
                return self.send(200, "User-agent: *\nDisallow: /docs/secret/\n", "text/plain")
            if path == "/sitemap.xml":
                locs = "".join(f"<url><loc>{origin}{p}</loc></url>"
                               for p in ("/docs/ok/", "/docs/secret/", "/docs/from-sitemap/"))
                return self.send(200, '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/'
                                      f'schemas/sitemap/0.9">{locs}</urlset>', "application/xml")
            if path == "/broken-sitemap.xml":
                return self.send(200, "<html><body>Not a sitemap</body></html>", "text/html")
            if path.startswith("/wp-json/wp/v2/faulty"):
                return self.rest(path, n)
            if path == "/docs/":
                links = "".join(f'<a href="{href}">{href}</a> ' for href in LINKED)
                return self.send(200, page("Fault index", f"<p>{links}</p>"))
            if path in ("/docs/ok/", "/docs/from-sitemap/", "/docs/moved-here/"):
                return self.send(200, page(path))
            if path == "/docs/flaky/":  # two 503s, then the page
                return self.send(503, "busy") if n <= 2 else self.send(200, page("Flaky"))
            if path == "/docs/broken/":
                return self.send(500, "always broken")
            if path == "/docs/slow/":
                time.sleep(TIMEOUT_S * 2.5)
                return self.send(200, page("Too slow"))
            if path == "/docs/rate-limited/":
                if n == 1:
                    return self.send(429, "slow down", extra={"Retry-After": "1"})
                return self.send(200, page("Rate limited, then served"))
            if path == "/docs/truncated/":  # the document stops mid-tag, the HTTP reply is whole
                return self.send(200, page("Truncated", "<p>Cut here")[:-60])
            if path == "/docs/data-loss/":  # promises 5000 bytes, sends 100, hangs up
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", "5000")
                self.end_headers()
                self.wfile.write(page("Lost")[:100].encode())
                return self.hang_up()
            if path == "/docs/empty-reply/":
                return self.hang_up()
            if path == "/docs/malformed/":
                junk = (b"<html><body><div><p>Broken <b>markup <i>nested</b> wrong</i>"
                        b"<table><tr><td>cell<ol><li>First step<li>Second \xff\xfe step"
                        b"<a href='/docs/ok/' <<>> \x00 </div></div></div>")
                return self.send(200, junk)
            if path == "/docs/latin1/":
                return self.send(200, page("Caf\xe9", "<p>Cr\xe8me br\xfbl\xe9e</p>",
                                           charset="iso-8859-1").encode("latin-1"),
                                 "text/html; charset=iso-8859-1")
            if path == "/docs/cp1252/":  # the charset only in the page's <meta>
                return self.send(200, page("Price", "<p>It costs 5 \u20ac \u2013 today</p>",
                                           charset="windows-1252").encode("cp1252"), "text/html")
            if path == "/docs/huge/":
                return self.send(200, page("Huge", "<p>x</p>" * (MAX_PAGE_BYTES // 4)))
            if path == "/docs/huge-unannounced/":  # no Content-Length: the size shows late
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Connection", "close")
                self.end_headers()
                for _ in range(40):
                    self.wfile.write(b"<p>" + b"x" * 4096 + b"</p>")
                return self.hang_up()
            if path == "/docs/loop-a/":
                return self.redirect("/docs/loop-b/")
            if path == "/docs/loop-b/":
                return self.redirect("/docs/loop-a/")
            if path.startswith("/docs/endless/"):
                return self.redirect(f"/docs/endless/{int(path.rsplit('/', 1)[1]) + 1}")
            if path == "/docs/off-domain/":
                return self.redirect(self.server.offsite_origin + "/docs/stolen/")
            if path == "/docs/out-of-bounds/":
                return self.redirect("/private-area/page/")
            if path == "/docs/moved/":
                return self.redirect("/docs/moved-here/", status=301)
            if path == "/docs/image/":
                return self.send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
            return self.send(404, page("Not found"))
        except (BrokenPipeError, ConnectionResetError):
            return None

    def rest(self, path: str, n: int):
        page_number = int(parse_qs(urlsplit(path).query).get("page", ["1"])[0])
        headers = {"X-WP-Total": "5", "X-WP-TotalPages": "3"}
        if page_number == 2 and n == 1:  # fails once, then the retry gets it
            return self.send(500, '{"code": "internal_server_error"}', "application/json")
        if page_number == 3:
            return self.send(200, '[{"id": 5, "link": "', "application/json", extra=headers)
        items = [{"id": i, "link": f"{self.server.origin}/docs/item-{i}/",
                  "modified": "2026-01-01T00:00:00", "parent": 0, "menu_order": i,
                  "title": {"rendered": f"Item {i}"},
                  "content": {"rendered": f"<p>Item {i}</p>", "protected": False}}
                 for i in ((1, 2) if page_number == 1 else (3, 4))]
        return self.send(200, json.dumps(items), "application/json", extra=headers)

    def send(self, status: int, body, content_type: str = "text/html; charset=utf-8",
             extra: dict | None = None):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def redirect(self, location: str, status: int = 302):
        self.send(status, "", extra={"Location": location})

    def hang_up(self):
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)


def serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    return thread


def write_sources(path: Path, body: dict) -> Path:
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def run_crawl_command(tmp: Path, sources: Path, *args: str, timeout: float = 60
                      ) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "commands.crawl", "--sources", str(sources), "--out",
         str(tmp / "out"), "--cache-dir", str(tmp / "cache"), *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def fault_crawl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    (tmp / "offsite").mkdir()
    (tmp / "limited").mkdir()
    with serve_sample_site(tmp / "offsite") as offsite:
        server = FaultServer(offsite.base_url)
        thread = serve(server)
        limited = LimitedServer()
        limited_thread = serve(limited)
        robots_down = RobotsDownServer()
        robots_down_thread = serve(robots_down)
        try:
            origin = server.origin
            sources = write_sources(tmp / "faults.yaml", {
                "crawl": {"min_download_delay": 0, "max_page_bytes": MAX_PAGE_BYTES,
                          "download_timeout": TIMEOUT_S, "retry_times": 2, "retry_after_max": 5},
                "sources": {
                    "docs": {"kind": "html", "start_urls": [f"{origin}/docs/"],
                             "sitemaps": [f"{origin}/sitemap.xml", f"{origin}/broken-sitemap.xml"],
                             "allow": ["/docs/"]},
                    "collection": {"kind": "rest", "collection": f"{origin}/wp-json/wp/v2/faulty",
                                   "per_page": 2},
                    "limited": {"kind": "html", "allow": ["/docs/"],
                                "start_urls": [f"{limited.origin}/docs/", f"{limited.origin}/docs/more/"]},
                    "robots_down": {"kind": "html", "allow": ["/docs/"],
                                    "start_urls": [f"{robots_down.origin}/docs/"]},
                }})
            started = time.monotonic()
            proc = run_crawl_command(tmp, sources)
            seconds = time.monotonic() - started
        finally:
            for running, running_thread in ((server, thread), (limited, limited_thread),
                                            (robots_down, robots_down_thread)):
                running.shutdown()
                running_thread.join()
        offsite_log = offsite.requested_paths
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = tmp / "out"
    log = read_jsonl(out / "crawl_log.jsonl")
    return {"origin": origin, "limited": limited.origin, "server": server, "limited_server": limited,
            "robots_down": robots_down,
            "offsite_log": offsite_log, "summary": json.loads((out / "summary.json").read_text()),
            "states": {row["url"]: (row["state"], row["reason"]) for row in log}, "log": log,
            "pages": {row["url"]: row for row in read_jsonl(out / "pages.jsonl")},
            "seconds": seconds, "stderr": proc.stderr}


class LimitedServer(ThreadingHTTPServer):
    """A host that asks for an hour's pause on every page."""

    daemon_threads = True

    def __init__(self):
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), LimitedHandler)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class RobotsDownServer(ThreadingHTTPServer):
    """A host whose robots.txt fails with a server error: none of its pages may be fetched."""

    daemon_threads = True

    def __init__(self):
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), RobotsDownHandler)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class RobotsDownHandler(BaseHTTPRequestHandler):
    server: RobotsDownServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        self.server.paths.append(self.path)
        status = 503 if self.path == "/robots.txt" else 200
        body = page("Must not be fetched").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LimitedHandler(BaseHTTPRequestHandler):
    server: LimitedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        self.server.paths.append(self.path)
        status, body = (200, b"") if self.path == "/robots.txt" else (429, b"come back later")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if status == 429:
            self.send_header("Retry-After", "3600")
        self.end_headers()
        self.wfile.write(body)


EXPECTED = {
    "/docs/": ("fetched", ""),
    "/docs/ok/": ("fetched", ""),
    "/docs/from-sitemap/": ("fetched", ""),
    "/docs/flaky/": ("fetched", ""),
    "/docs/rate-limited/": ("fetched", ""),
    "/docs/truncated/": ("fetched", ""),
    "/docs/malformed/": ("fetched", ""),
    "/docs/latin1/": ("fetched", ""),
    "/docs/cp1252/": ("fetched", ""),
    "/docs/moved/": ("fetched", ""),
    "/docs/broken/": ("failed", "http_500"),
    "/docs/missing/": ("failed", "http_404"),
    "/docs/slow/": ("failed", "timeout"),
    "/docs/data-loss/": ("failed", "data_loss"),
    "/docs/loop-a/": ("failed", "redirect_loop"),
    "/docs/endless/0": ("failed", "too_many_redirects"),
    "/docs/huge/": ("skipped", "over_size"),
    "/docs/huge-unannounced/": ("skipped", "over_size"),
    "/docs/off-domain/": ("skipped", "offsite"),
    "/docs/out-of-bounds/": ("skipped", "filtered"),
    "/docs/secret/": ("skipped", "robots"),
    "/docs/image/": ("skipped", "wrong_type"),
    "/elsewhere/": ("skipped", "filtered"),
    "/sitemap.xml": ("fetched", ""),
    "/broken-sitemap.xml": ("failed", "invalid_sitemap"),
}


@pytest.mark.integration
def test_every_fault_ends_in_its_state(fault_crawl):
    states, origin = fault_crawl["states"], fault_crawl["origin"]
    wrong = {path: (states.get(origin + path), want) for path, want in EXPECTED.items()
             if states.get(origin + path) != want}
    assert not wrong, wrong
    assert states[origin + "/docs/empty-reply/"] == ("failed", "connection_lost")
    rest = {parse_qs(urlsplit(url).query)["page"][0]: state for url, state in states.items()
            if "/wp-json/" in url}
    assert rest == {"1": ("fetched", ""), "2": ("fetched", ""), "3": ("failed", "invalid_json")}


@pytest.mark.integration
def test_the_fault_summary_adds_up(fault_crawl):
    summary, log = fault_crawl["summary"], fault_crawl["log"]
    assert summary_adds_up(summary) and documents_add_up(summary)
    assert summary["urls_met"] == len(log) == len({row["url"] for row in log})
    assert summary["urls_pending"] == 0 and summary["urls_state_conflicts"] == 0
    for state in ("fetched", "failed", "skipped"):
        reasons = sum(v for k, v in summary.items() if k.startswith(f"urls_{state}_"))
        assert reasons == (summary[f"urls_{state}"] if state != "fetched" else reasons)
    assert summary["pages_stored"] == len(fault_crawl["pages"])
    assert summary["requests_retried"] >= 5 and summary["retry_after_waits"] >= 1


@pytest.mark.integration
def test_faults_never_fetch_what_they_must_not(fault_crawl):
    paths = fault_crawl["server"].paths()
    assert "/docs/secret/" not in paths  # robots.txt
    assert "/private-area/page/" not in paths  # a redirect out of the allowed paths
    assert not [p for p in paths if p.startswith("/elsewhere")]
    assert fault_crawl["offsite_log"] == []  # not even its robots.txt
    robots_down = fault_crawl["robots_down"]  # robots.txt fails with 503: nothing else
    assert set(robots_down.paths) == {"/robots.txt"}
    assert fault_crawl["states"][robots_down.origin + "/docs/"] == ("skipped", "robots")
    assert paths.count("/docs/broken/") == 3 and paths.count("/docs/flaky/") == 3  # 2 retries
    assert paths.count("/docs/ok/") == 1  # linked three ways, fetched once
    assert max(int(p.rsplit("/", 1)[1]) for p in paths if p.startswith("/docs/endless/")) <= 21


@pytest.mark.integration
def test_retry_after_is_honoured(fault_crawl):
    times = [t for t, p in fault_crawl["server"].log if p == "/docs/rate-limited/"]
    assert len(times) == 2 and times[1] - times[0] >= 1.0
    limited = fault_crawl["states"]
    for path in ("/docs/", "/docs/more/"):
        state = limited[fault_crawl["limited"] + path]
        assert state in (("failed", "http_429"), ("failed", "rate_limited")), state
    # An hour's Retry-After is not waited for, and not hammered either: no retries.
    pages = [p for p in fault_crawl["limited_server"].paths if p != "/robots.txt"]
    assert sorted(pages) == sorted(set(pages))


@pytest.mark.integration
def test_fault_pages_are_stored_decoded_and_whole(fault_crawl):
    pages, origin = fault_crawl["pages"], fault_crawl["origin"]
    assert "Crème brûlée" in pages[origin + "/docs/latin1/"]["body"]
    assert "5 € – today" in pages[origin + "/docs/cp1252/"]["body"]
    assert "Cut here" in pages[origin + "/docs/truncated/"]["body"]
    assert "Second" in pages[origin + "/docs/malformed/"]["body"]
    assert origin + "/docs/moved-here/" in pages and origin + "/docs/moved/" not in pages
    items = sorted(url for url, row in pages.items() if row["kind"] == "rest_item")
    assert items == [f"{origin}/docs/item-{i}/" for i in (1, 2, 3, 4)]
    assert fault_crawl["summary"]["pages_rest_item"] == 4


# --- interrupted and resumed ---------------------------------------------------------

def make_big_site(root: Path, pages: int) -> None:
    """An index linking to `pages` pages, served slowly enough to interrupt."""
    docs = root / "docs"
    links = "".join(f'<a href="/docs/p{i:03d}/">p{i}</a> ' for i in range(pages))
    docs.mkdir(parents=True)
    (docs / "index.html").write_text(page("Index", links), encoding="utf-8")
    for i in range(pages):
        folder = docs / f"p{i:03d}"
        folder.mkdir()
        (folder / "index.html").write_text(page(f"Page {i}"), encoding="utf-8")
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")


@pytest.mark.integration
def test_an_interrupted_crawl_resumes_without_refetching(tmp_path):
    total = 120
    make_big_site(tmp_path / "site", total)
    with serve_sample_site(tmp_path / "site") as server:
        handler = server.RequestHandlerClass
        original = handler._respond

        def slow_respond(self, send_body):
            if self.path.startswith("/docs/p"):
                time.sleep(0.03)
            return original(self, send_body)

        handler._respond = slow_respond
        try:
            sources = write_sources(tmp_path / "big.yaml", {
                "crawl": {"min_download_delay": 0},
                "sources": {"docs": {"kind": "html", "start_urls": [server.base_url + "/docs/"],
                                     "allow": ["/docs/"]}}})
            args = [sys.executable, "-m", "commands.crawl", "--sources", str(sources),
                    "--out", str(tmp_path / "out"), "--job-dir", str(tmp_path / "job"),
                    "--no-cache"]
            first = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 30
            while sum(p.startswith("/docs/p") for p in server.requested_paths) < 30:
                assert time.monotonic() < deadline and first.poll() is None
                time.sleep(0.02)
            first.send_signal(signal.SIGINT)
            _, err = first.communicate(timeout=30)
            assert first.returncode == 1, err[-3000:]
            interrupted = json.loads((tmp_path / "out" / "summary.json").read_text())
            assert interrupted["urls_pending"] > 0 and summary_adds_up(interrupted)
            assert not (tmp_path / "out" / "pages.jsonl").exists()
            before = len(server.requested_paths)

            second = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=60)
            assert second.returncode == 0, second.stderr[-3000:]
        finally:
            handler._respond = original
        log = server.requested_paths
    pages = [p for p in log if p.startswith("/docs/")]
    assert len(pages) == len(set(pages)) == total + 1  # every page once, across both runs
    assert len(log) - before < total + 1  # the resumed run fetched only what was left
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["urls_met"] == summary["urls_fetched"] == total + 1
    assert summary["urls_pending"] == 0 and summary["pages_stored"] == total + 1
    rows = read_jsonl(tmp_path / "out" / "pages.jsonl")
    assert len({row["url"] for row in rows}) == len(rows) == total + 1
    # The job folder belongs to these sources: another sources file is refused.
    other = write_sources(tmp_path / "other.yaml", {"sources": {"docs": {
        "kind": "html", "start_urls": ["http://127.0.0.1:9/docs/"], "allow": ["/docs/"]}}})
    args[args.index(str(sources))] = str(other)
    refused = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "belongs to a crawl of other sources" in refused.stderr
