"""A loopback HTTP server for the bundled sample documentation site.

The scrape stage's `sample` profile crawls this server with the same spider that crawls
the real WordPress sites, so the server behaves like a plain static host plus the
dynamic routes of the real APIs (built by `scraping.sample_api`):

- `/some/dir/` serves `some/dir/index.html`; `/some/dir` redirects to `/some/dir/`.
- Responses carry Content-Type, Content-Length, Last-Modified, a content-hash ETag and
  `Cache-Control: max-age=0`; a conditional request (If-None-Match, If-Modified-Since)
  whose validator still matches gets `304 Not Modified`, as from a real host.
- `robots.txt` and `sitemap.xml` are served with `{{origin}}` replaced by the server's
  own origin (`http://127.0.0.1:PORT`), because a real sitemap lists absolute URLs and
  the port changes on every run.
- `/wp-json/wp/v2/<type>` serves saved REST items under the root (a docs snapshot such
  as a folder of WordPress REST items) as one collection per post type.
- `/documentation/wp-json/wp/v2/articles` is a WordPress REST collection of the
  documentation articles; `/api/plugins/info/1.2/` answers `plugin_information` and
  `query_plugins` like api.wordpress.org.

Every request's path (with its query) is logged in order, so tests can prove what the
crawler did not fetch. Last-Modified is one fixed snapshot date by default rather than
the file's mtime, which changes with every checkout, so scraped output stays identical
across clones.
"""
from __future__ import annotations

import hashlib
import threading
import time
from contextlib import contextmanager
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

from scraping.sample_api import (PLUGIN_API_PATH, REST_COLLECTIONS, plugin_api_reply,
                                 rest_collection_reply, snapshot_collection_reply,
                                 snapshot_type)

SAMPLE_SITE_ROOT = Path(__file__).resolve().parent / "sample_site"
# When the sample site snapshot was written; sent as every file's Last-Modified.
SAMPLE_SITE_SNAPSHOT = 1767225600.0  # 2026-01-01T00:00:00Z
ORIGIN_PLACEHOLDER = "{{origin}}"
# Files whose text is a template for the server's origin.
ORIGIN_TEMPLATED = frozenset({"robots.txt", "sitemap.xml"})
# Every reply may be stored but must be revalidated: the sample files change with the
# code, and robots.txt, the sitemap and REST replies change with the port.
CACHE_CONTROL = "max-age=0"  # not no-cache: Scrapy's RFC2616Policy never revalidates those
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}


def content_type_for(path: Path) -> str:
    """The Content-Type a static host would send for `path` (fixed table, not the OS's)."""
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


def render_templated(body: bytes, origin: str) -> bytes:
    """Replace the origin placeholder in a templated file's bytes."""
    return body.replace(ORIGIN_PLACEHOLDER.encode(), origin.encode())


def etag_for(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


class SampleSiteServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer over one site folder that logs every requested path."""

    daemon_threads = True

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0,
                 last_modified: float | None = SAMPLE_SITE_SNAPSHOT,
                 cache_control: str = CACHE_CONTROL, latency: float = 0.0):
        self.root = Path(root).resolve()
        self.cache_control = cache_control
        # Seconds each reply waits before it is sent: a real docs host answers in tens to
        # hundreds of milliseconds, loopback in microseconds (benchmarks set this).
        self.latency = latency
        if not self.root.is_dir():
            raise FileNotFoundError(f"sample site folder not found: {self.root}")
        self.last_modified = last_modified  # None: each file's mtime
        self.started = time.time()
        self._log: list[str] = []
        self._log_lock = threading.Lock()
        super().__init__((host, port), SampleSiteHandler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def log_request_path(self, path: str) -> None:
        with self._log_lock:
            self._log.append(path)

    @property
    def requested_paths(self) -> list[str]:
        """Every request's path and query so far, in arrival order."""
        with self._log_lock:
            return list(self._log)


class SampleSiteHandler(BaseHTTPRequestHandler):
    """Serves static files, the templated robots/sitemap, and the plugin-info route."""

    server: SampleSiteServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the crawler's connection pool expects
    # Buffer each response so headers and body leave in one write, and turn Nagle off:
    # on a keep-alive connection a second small write waits for the client's delayed
    # ACK, about 40 ms per response (it made crawls of this server 3-4x slower).
    wbufsize = -1
    disable_nagle_algorithm = True
    server_version = "wpqa-sample-site/1.0"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # the request log replaces stderr chatter

    def _respond(self, send_body: bool) -> None:
        self.server.log_request_path(self.path)
        if self.server.latency:
            time.sleep(self.server.latency)
        parts = urlsplit(self.path)
        if parts.path == PLUGIN_API_PATH:
            reply = plugin_api_reply(self.server.root, parts.query)
            self._send_document(reply.status, reply.body, "application/json", send_body,
                                reply.headers)
            return
        if parts.path in REST_COLLECTIONS:
            reply = rest_collection_reply(self.server.root, parts.path, parts.query,
                                          self.server.base_url, self._stamp(None))
            self._send_document(reply.status, reply.body, "application/json; charset=UTF-8",
                                send_body, reply.headers)
            return
        post_type = snapshot_type(parts.path)
        if post_type is not None:
            reply = snapshot_collection_reply(self.server.root, post_type, parts.query)
            if reply is not None:
                self._send_document(reply.status, reply.body, "application/json; charset=UTF-8",
                                    send_body, reply.headers)
                return
        target = resolve_static_path(self.server.root, parts.path)
        if target is None:
            self._send_not_found(send_body)
        elif target.is_dir():
            # A real static host redirects a folder without its slash.
            location = parts.path + "/" + (f"?{parts.query}" if parts.query else "")
            self._send(HTTPStatus.MOVED_PERMANENTLY, b"", "text/html; charset=utf-8",
                       send_body=send_body, extra={"Location": location})
        else:
            body = target.read_bytes()
            if target.name in ORIGIN_TEMPLATED and target.parent == self.server.root:
                body = render_templated(body, self.server.base_url)
            self._send_document(HTTPStatus.OK, body, content_type_for(target), send_body,
                                source=target)

    def _send_document(self, status: int, body: bytes, content_type: str, send_body: bool,
                       extra: dict[str, str] | None = None, source: Path | None = None) -> None:
        """A reply with validators; 304 when the request's validators still match."""
        extra = dict(extra or {})
        if status == HTTPStatus.OK:
            validators = self._validators(body, source)
            extra.update(validators)
            extra["Cache-Control"] = self.server.cache_control
            if not_modified(self.headers, validators):
                self._send(HTTPStatus.NOT_MODIFIED, b"", content_type, send_body=False,
                           extra=extra, length=False)
                return
        self._send(status, body, content_type, send_body=send_body, extra=extra)

    def _stamp(self, source: Path | None) -> float:
        stamp = self.server.last_modified
        if stamp is None:
            stamp = source.stat().st_mtime if source is not None else self.server.started
        return stamp

    def _validators(self, body: bytes, source: Path | None = None) -> dict[str, str]:
        """Last-Modified (the snapshot date, or the file's mtime) and a content ETag."""
        return {"Last-Modified": formatdate(self._stamp(source), usegmt=True),
                "ETag": etag_for(body)}

    def _send_not_found(self, send_body: bool) -> None:
        body = b"<!DOCTYPE html><title>Not found</title><p>Not found.</p>\n"
        self._send(HTTPStatus.NOT_FOUND, body, "text/html; charset=utf-8", send_body=send_body)

    def _send(self, status: int, body: bytes, content_type: str, send_body: bool,
              extra: dict[str, str] | None = None, length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)


def not_modified(request_headers, validators: dict[str, str]) -> bool:
    """Whether a conditional GET may be answered 304 (RFC 9110: If-None-Match wins)."""
    if_none_match = request_headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip() for tag in if_none_match.split(",")}
        return "*" in tags or validators["ETag"] in tags
    if_modified_since = request_headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
            last = parsedate_to_datetime(validators["Last-Modified"])
        except (TypeError, ValueError):
            return False
        return last <= since
    return False


def resolve_static_path(root: Path, url_path: str) -> Path | None:
    """The file (or folder) a URL path names under `root`; None if absent or outside it.

    A folder with an index.html resolves to that index.html when the URL ends in `/`.
    """
    relative = unquote(url_path).lstrip("/")
    candidate = (root / relative).resolve()
    if candidate != root and root not in candidate.parents:
        return None  # "../" tricks
    if candidate.is_dir():
        if not url_path.endswith("/"):
            return candidate if (candidate / "index.html").is_file() else None
        index = candidate / "index.html"
        return index if index.is_file() else None
    return candidate if candidate.is_file() else None


@contextmanager
def serve_sample_site(root: str | Path = SAMPLE_SITE_ROOT, host: str = "127.0.0.1",
                      port: int = 0,
                      last_modified: float | None = SAMPLE_SITE_SNAPSHOT,
                      cache_control: str = CACHE_CONTROL,
                      latency: float = 0.0) -> Iterator[SampleSiteServer]:
    """Serve `root` on a loopback port in a background thread; stop it on exit.

    Yields the running server: `.base_url` is its origin (`http://127.0.0.1:PORT`),
    `.requested_paths` the log of every path requested so far.
    """
    server = SampleSiteServer(Path(root), host=host, port=port, last_modified=last_modified,
                              cache_control=cache_control, latency=latency)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="sample-site", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def main() -> None:
    """Serve the sample site until interrupted (to browse it or crawl it by hand)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--root", default=str(SAMPLE_SITE_ROOT), help="site folder")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--cache-control", default=CACHE_CONTROL,
                        help=f"Cache-Control of every reply (default {CACHE_CONTROL!r}; "
                             "e.g. 'max-age=3600' to let caches reuse replies for an hour)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="wait this long before each reply (a real host's response time)")
    args = parser.parse_args()
    with serve_sample_site(args.root, port=args.port, cache_control=args.cache_control,
                           latency=args.latency_ms / 1000) as server:
        print(f"serving {server.root} at {server.base_url}/ (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
