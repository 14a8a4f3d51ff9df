"""Pure functions over URLs, links and sitemaps, shared by the spiders and their tests.

Nothing here touches the network: each function takes text or bytes and returns values,
so the spiders' callbacks stay thin and tests call these directly on saved pages.
"""
from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from functools import lru_cache
from posixpath import splitext
from typing import Iterable
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import lxml.etree
import lxml.html
from scrapy.linkextractors import IGNORED_EXTENSIONS

from scraping.ledger import SKIP_FILTERED, SKIP_OFFSITE
from scraping.sources import HtmlSource

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one uncompressed file
MAX_URL_LENGTH = 2083  # Scrapy's URLLENGTH_LIMIT would drop longer ones without a word
DEFAULT_PORTS = {"http": 80, "https": 443}
_IGNORED_SUFFIXES = frozenset("." + ext for ext in IGNORED_EXTENSIONS)


def strip_fragment(url: str) -> str:
    """`url` without its `#fragment` (the same document)."""
    return url.split("#", 1)[0]


def extract_links(html: str, page_url: str) -> list[str]:
    """Absolute http(s) URLs of a page's `<a href>` links, without fragments.

    In document order, each once. A `<base href>` is honoured; mailto:, javascript:,
    tel: and in-page `#` links are dropped.
    """
    try:
        root = lxml.html.fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return []  # empty or not HTML at all
    base_href = root.xpath("string(//base/@href)").strip()
    base = urljoin(page_url, base_href) if base_href else page_url
    origin = origin_of(base)
    links: dict[str, None] = {}
    for href in root.xpath("//a/@href"):
        href = href.strip()
        if not href or href.startswith("#"):
            continue
        # Most documentation links are absolute or root-relative: no urljoin needed.
        if href.startswith(("http://", "https://")):
            url = href
        elif href.startswith("/") and not href.startswith("//") and origin:
            url = origin + href
        else:
            url = urljoin(base, href)
        url = strip_fragment(url)
        if url.startswith(("http://", "https://")):
            links.setdefault(url, None)
    return list(links)


@dataclass(frozen=True)
class SitemapUrls:
    """What a sitemap file lists: pages (`urlset`) or further sitemaps (`sitemapindex`)."""

    kind: str  # "urlset" | "sitemapindex" | "invalid"
    locs: tuple[str, ...]


def parse_sitemap(body: bytes) -> SitemapUrls:
    """The `<loc>` URLs of a sitemap or sitemap index (gzip allowed), in file order."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            return SitemapUrls("invalid", ())
    if len(body) > MAX_SITEMAP_BYTES:
        return SitemapUrls("invalid", ())
    parser = lxml.etree.XMLParser(resolve_entities=False, no_network=True, recover=True,
                                  remove_comments=True, huge_tree=False)
    try:
        root = lxml.etree.fromstring(body, parser=parser)
    except lxml.etree.XMLSyntaxError:
        return SitemapUrls("invalid", ())
    if root is None:
        return SitemapUrls("invalid", ())
    kind = lxml.etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        return SitemapUrls("invalid", ())
    locs = [el.text.strip() for el in root.iter("{*}loc") if el.text and el.text.strip()]
    return SitemapUrls(kind, tuple(dict.fromkeys(locs)))


@dataclass(frozen=True)
class UrlDecision:
    """Whether a page URL may be crawled: the source it belongs to, or why it is skipped."""

    source: HtmlSource | None
    skip_reason: str | None = None  # SKIP_OFFSITE | SKIP_FILTERED


def classify_url(url: str, sources: Iterable[HtmlSource]) -> UrlDecision:
    """Which html source `url` belongs to, or why the crawl must not request it.

    Off-site: on no source's allowed domains. Filtered: on a source's domains but outside
    every such source's `allow` patterns, inside a `deny` pattern, carrying a query string
    (search, reply and calendar links are crawler traps), naming a non-page file, or
    longer than browsers accept. The first matching source in config order wins.
    """
    on_site = [s for s in sources if is_allowed_domain(url, s.allowed_domains)]
    if not on_site:
        return UrlDecision(None, SKIP_OFFSITE)
    parts = urlsplit(url)
    path = parts.path or "/"
    if (parts.query or splitext(path)[1].lower() in _IGNORED_SUFFIXES
            or len(url) > MAX_URL_LENGTH):
        return UrlDecision(None, SKIP_FILTERED)
    for source in on_site:
        if matches_any(path, source.allow) and not matches_any(path, source.deny):
            return UrlDecision(source)
    return UrlDecision(None, SKIP_FILTERED)


def matches_any(path: str, patterns: Iterable[str]) -> bool:
    """Whether `path` starts with one of the prefixes or matches one of the `^` regexes."""
    for pattern in patterns:
        if pattern.startswith("^"):
            if _compiled(pattern).search(path):
                return True
        elif path.startswith(pattern):
            return True
    return False


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def is_allowed_domain(url: str, domains: Iterable[str]) -> bool:
    """Whether `url`'s host is one of `domains` or a subdomain of one.

    An entry with a port (`127.0.0.1:8000`) matches that port only, so two loopback
    servers on one host are two sites.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return False
    for domain in domains:
        name, _, wanted_port = domain.partition(":")
        if wanted_port:
            if host == name and port == int(wanted_port):
                return True
        elif host == name or host.endswith("." + name):
            return True
    return False


def same_host(url: str, other: str) -> bool:
    """Whether two URLs are on one host: same name and port, or an http/https switch
    between the default ports (a site moving to HTTPS)."""
    a, b = urlsplit(url), urlsplit(other)
    if (a.hostname or "").lower() != (b.hostname or "").lower():
        return False
    try:
        port_a = a.port or DEFAULT_PORTS.get(a.scheme)
        port_b = b.port or DEFAULT_PORTS.get(b.scheme)
    except ValueError:
        return False
    return port_a == port_b or {port_a, port_b} <= set(DEFAULT_PORTS.values())


def rewrite_origin(url: str, origin: str, public_origin: str) -> str:
    """`url` with the loopback `origin` replaced by `public_origin` (other URLs unchanged)."""
    if not origin or not public_origin:
        return url
    origin = origin.rstrip("/")
    if url == origin or url.startswith(origin + "/") or url.startswith(origin + "?"):
        return public_origin.rstrip("/") + url[len(origin):]
    return url


def plugin_info_url(api: str, slug: str) -> str:
    """The plugin_information request for `slug` on a plugins/info/1.2 endpoint."""
    parts = urlsplit(api)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    query = urlencode({"action": "plugin_information", "request[slug]": slug})
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def query_plugins_url(api: str, per_page: int, page: int = 1) -> str:
    """A query_plugins request for the directory's most popular plugins."""
    parts = urlsplit(api)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    query = urlencode({"action": "query_plugins", "request[browse]": "popular",
                       "request[per_page]": per_page, "request[page]": page})
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


# Only the fields a Page keeps: the reply shrinks to a fraction (no _links, excerpt, guid).
REST_FIELDS = "id,link,modified,parent,menu_order,title,content"


def rest_page_url(collection: str, per_page: int, page: int) -> str:
    """One page of a WordPress REST collection, in a stable order (oldest id first)."""
    query = urlencode({"per_page": per_page, "page": page, "orderby": "id", "order": "asc",
                       "_fields": REST_FIELDS})
    return f"{collection}?{query}"


def readme_url(template: str, slug: str) -> str:
    return template.replace("{slug}", slug)


def raw_markdown_url(source: str, manifest_url: str) -> str:
    """Where to fetch a manifest entry's `markdown_source`.

    Relative paths resolve against the manifest's URL; a github.com `blob` page becomes
    the raw file it shows (raw.githubusercontent.com), as WordPress's own importer does.
    """
    url = urljoin(manifest_url, source.strip())
    parts = urlsplit(url)
    if parts.netloc.lower() in ("github.com", "www.github.com"):
        segments = parts.path.split("/")
        # /OWNER/REPO/blob/BRANCH/path...
        if len(segments) > 4 and segments[3] == "blob":
            path = "/".join(segments[:3] + segments[4:])
            return urlunsplit(("https", "raw.githubusercontent.com", path, "", ""))
    return strip_fragment(url)


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an http(s) URL in lower case; "" for other URLs."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
