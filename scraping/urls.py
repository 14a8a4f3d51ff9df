"""Pure functions over URLs, links and sitemaps, shared by the spiders and their tests.

Nothing here touches the network: each function takes text or bytes and returns values,
so the spiders' callbacks stay thin and tests call these directly on saved pages.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from posixpath import splitext
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import lxml.etree
import lxml.html
from scrapy.linkextractors import IGNORED_EXTENSIONS

from scraping.sources import HtmlSource

SKIP_OFFSITE = "offsite"
SKIP_FILTERED = "filtered"
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one uncompressed file
_IGNORED_SUFFIXES = frozenset("." + ext for ext in IGNORED_EXTENSIONS)


def strip_fragment(url: str) -> str:
    """`url` without its `#fragment` (the same document)."""
    return urlsplit(url)._replace(fragment="").geturl()


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
    links: dict[str, None] = {}
    for href in root.xpath("//a/@href"):
        href = href.strip()
        if not href or href.startswith("#"):
            continue
        url = strip_fragment(urljoin(base, href))
        if urlsplit(url).scheme in ("http", "https"):
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
    """Whether a URL may be crawled: the source it belongs to, or why it is skipped."""

    source: str | None
    skip_reason: str | None = None  # SKIP_OFFSITE | SKIP_FILTERED


def classify_url(url: str, sources: tuple[HtmlSource, ...] | list[HtmlSource]) -> UrlDecision:
    """Which html source `url` belongs to, or why the docs spider must not request it.

    Off-site: no source has the URL's origin. Filtered: on a source's site but outside
    every source's `allow` prefixes, inside a `deny` prefix, carrying a query string
    (search, reply and calendar links are crawler traps), or naming a non-page file.
    The first matching source in config order wins.
    """
    parts = urlsplit(url)
    on_site = [s for s in sources if s.site.lower() == origin_of(url)]
    if not on_site:
        return UrlDecision(None, SKIP_OFFSITE)
    path = parts.path or "/"
    if parts.query or splitext(path)[1].lower() in _IGNORED_SUFFIXES:
        return UrlDecision(None, SKIP_FILTERED)
    for source in on_site:
        if (any(path.startswith(p) for p in source.allow)
                and not any(path.startswith(p) for p in source.deny)):
            return UrlDecision(source.name)
    return UrlDecision(None, SKIP_FILTERED)


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


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an http(s) URL in lower case; "" for other URLs."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_on_site(url: str, sources: tuple[HtmlSource, ...] | list[HtmlSource]) -> bool:
    """Whether `url` is on one of the sources' sites (any path)."""
    return any(s.site.lower() == origin_of(url) for s in sources)


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
