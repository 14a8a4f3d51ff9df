"""The sources config (scraping/sources.yaml, or any file given to `wpqa crawl`).

A sources file holds one profile, or several under their names (`sample`, `live`). A
profile says where to look and how politely to crawl:

    public_origin: https://sample.wpqa.test   # optional: stored urls use it for {origin}
    crawl:                                    # optional: politeness and limits
      min_download_delay: 1.0                 # seconds between requests to one host, at least
      max_page_bytes: 10485760                # larger responses are skipped as over_size
      download_timeout: 30                    # seconds before a request counts as timed out
      retry_times: 2                          # retries after a 5xx, 429, timeout or lost connection
      retry_after_max: 300                    # longest Retry-After waited for; longer ones fail
    sources:
      NAME: {kind: ..., ...}                  # one entry per source, see SOURCE_KEYS

`load_sources()` reads a profile into frozen dataclasses and checks it once, so a typo in
a key, a kind or a URL fails at start with the key's name and what is allowed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

SOURCES_PATH = Path(__file__).resolve().parent / "sources.yaml"
ORIGIN_FIELD = "{origin}"
SLUG_FIELD = "{slug}"
PROFILE_KEYS = ("public_origin", "crawl", "sources")
SOURCE_KEYS = {
    # Documentation sites without a REST API, and plugin doc sites: sitemaps and links.
    "html": ("kind", "start_urls", "sitemaps", "discover_sitemaps", "allowed_domains", "allow",
             "deny", "body_selector"),
    # A WordPress REST collection (wp-json/wp/v2/<type>), paged with per_page and page.
    "rest": ("kind", "collection", "per_page"),
    # The plugin directory API: plugin_information per slug, query_plugins for the popular.
    "plugin_api": ("kind", "api", "slugs", "popular"),
    # Plugin readme.txt files, one URL per slug.
    "readme": ("kind", "url", "slugs"),
    # A handbook that publishes a manifest of its Markdown files.
    "markdown": ("kind", "manifest"),
}
SOURCE_KINDS = tuple(SOURCE_KEYS)
REST_MAX_PER_PAGE = 100  # WordPress refuses per_page above 100


class SourcesError(ValueError):
    """A sources-file problem a user can fix: the message names the key."""


@dataclass(frozen=True)
class CrawlLimits:
    """How politely and how far to crawl; the `crawl` block of a profile."""

    min_download_delay: float = 1.0
    max_page_bytes: int = 10 * 1024 * 1024
    download_timeout: float = 30.0
    retry_times: int = 2
    retry_after_max: float = 300.0


@dataclass(frozen=True)
class HtmlSource:
    """A documentation site crawled from its sitemaps and start pages, following links.

    With `discover_sitemaps`, the sitemaps named in each start host's robots.txt
    (`Sitemap:` lines) are read too, or WordPress's /wp-sitemap.xml when it names none.
    A URL belongs to the source when its host is in `allowed_domains` (subdomains
    included; an entry with a port matches that port only) and its path matches one of
    `allow` and none of `deny`. A pattern starting with `^` is a regular expression on
    the path, any other pattern a path prefix.
    """

    name: str
    start_urls: tuple[str, ...]
    sitemaps: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    allow: tuple[str, ...]
    deny: tuple[str, ...] = ()
    body_selector: str = ""  # CSS selector of the article body, handed to extraction
    discover_sitemaps: bool = False


@dataclass(frozen=True)
class RestSource:
    """A WordPress REST API collection such as .../wp-json/wp/v2/articles."""

    name: str
    collection: str
    per_page: int = REST_MAX_PER_PAGE


@dataclass(frozen=True)
class PluginApiSource:
    """A plugin-directory API (api.wordpress.org/plugins/info/1.2/ or its sample copy).

    `slugs` None means "the caller's default slugs" (params.yaml scrape.plugin_slugs in
    the scrape stage); `popular` asks query_plugins for that many popular plugins too.
    """

    name: str
    api: str
    slugs: tuple[str, ...] | None = None
    popular: int = 0


@dataclass(frozen=True)
class ReadmeSource:
    """Plugin readme.txt files: `url` with `{slug}` in it, fetched for each slug."""

    name: str
    url: str
    slugs: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MarkdownSource:
    """A handbook's manifest of Markdown files (a list, or a mapping keyed by slug)."""

    name: str
    manifest: str


Source = HtmlSource | RestSource | PluginApiSource | ReadmeSource | MarkdownSource


@dataclass(frozen=True)
class SourcesProfile:
    name: str
    public_origin: str  # stored urls use this in place of the loopback origin ("" = keep)
    limits: CrawlLimits
    sources: tuple[Source, ...]

    def of_kind(self, cls: type) -> tuple:
        return tuple(s for s in self.sources if isinstance(s, cls))

    @property
    def html(self) -> tuple[HtmlSource, ...]:
        return self.of_kind(HtmlSource)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]


def read_sources_file(path: str | Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourcesError(f"{path}: sources file not found") from None
    except yaml.YAMLError as err:
        raise SourcesError(f"{path}: not valid YAML: {err}") from None


def needs_origin(path: str | Path, profile: str | None = None) -> bool:
    """Whether a profile names a loopback sample site (`{origin}`) that must be served."""
    raw = read_sources_file(path)
    body = raw.get(profile) if isinstance(raw, dict) and profile is not None else raw
    return ORIGIN_FIELD in repr(body)


def load_sources(path: str | Path, profile: str | None = None,
                 origin: str | None = None) -> SourcesProfile:
    """Read one profile of a sources file; `origin` fills its `{origin}` fields.

    `profile` None reads a single-profile file (one with `sources` at the top level).
    """
    return parse_sources(read_sources_file(path), profile, origin, where=str(path))


def parse_sources(raw: Any, profile: str | None, origin: str | None = None,
                  where: str = "sources") -> SourcesProfile:
    if not isinstance(raw, dict):
        raise SourcesError(f"{where}: expected a mapping with `sources` or named profiles")
    if profile is None:
        if "sources" not in raw:
            raise SourcesError(f"{where}: no top-level `sources`; this file has profiles "
                               f"({', '.join(sorted(raw))}): choose one")
        body, key, name = raw, where, "default"
    else:
        if profile not in raw:
            raise SourcesError(f"{where}: no profile {profile!r}; profiles: "
                               f"{', '.join(sorted(k for k in raw if k not in PROFILE_KEYS)) or 'none'}")
        body, key, name = raw[profile], f"{where}: {profile}", profile
    body = _mapping(body, key, PROFILE_KEYS)
    public_origin = body.get("public_origin") or ""
    if public_origin:
        public_origin = _origin(_text(public_origin, f"{key}.public_origin"),
                                f"{key}.public_origin")
    limits = parse_limits(body.get("crawl"), f"{key}.crawl")
    entries = _mapping(body.get("sources"), f"{key}.sources", None)
    if not entries:
        raise SourcesError(f"{key}.sources: list at least one source")
    sources = []
    for source_name, entry in entries.items():
        entry_key = f"{key}.sources.{source_name}"
        if not isinstance(entry, dict):
            raise SourcesError(f"{entry_key}: expected a mapping, got {entry!r}")
        kind = entry.get("kind")
        if kind not in SOURCE_KINDS:
            raise SourcesError(f"{entry_key}.kind: got {kind!r}; allowed: {', '.join(SOURCE_KINDS)}")
        entry = _mapping(entry, entry_key, SOURCE_KEYS[kind])
        sources.append(PARSERS[kind](str(source_name), entry, entry_key, _filler(origin, entry_key)))
    return SourcesProfile(name=name, public_origin=public_origin, limits=limits,
                          sources=tuple(sources))


def parse_limits(raw: Any, key: str) -> CrawlLimits:
    if raw is None:
        return CrawlLimits()
    raw = _mapping(raw, key, tuple(CrawlLimits.__dataclass_fields__))
    defaults = CrawlLimits()
    values = {}
    for name, value in raw.items():
        default = getattr(defaults, name)
        try:
            number = type(default)(value)
        except (TypeError, ValueError):
            raise SourcesError(f"{key}.{name}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or number < 0:
            raise SourcesError(f"{key}.{name}: got {value!r}; allowed: a number >= 0")
        values[name] = number
    limits = CrawlLimits(**values)
    if limits.max_page_bytes < 1024:
        raise SourcesError(f"{key}.max_page_bytes: got {limits.max_page_bytes}; allowed: >= 1024")
    if limits.download_timeout <= 0:
        raise SourcesError(f"{key}.download_timeout: got {limits.download_timeout}; allowed: > 0")
    return limits


def _parse_html(name: str, entry: dict, key: str, fill) -> HtmlSource:
    start_urls = tuple(_url(fill(u), f"{key}.start_urls") for u in _texts(entry, "start_urls", key))
    sitemaps = tuple(_url(fill(u), f"{key}.sitemaps") for u in _texts(entry, "sitemaps", key))
    if not start_urls and not sitemaps:
        raise SourcesError(f"{key}: give sitemaps or start_urls to start from")
    discover = entry.get("discover_sitemaps", False)
    if not isinstance(discover, bool):
        raise SourcesError(f"{key}.discover_sitemaps: expected true or false, got {discover!r}")
    domains = tuple(_domain(fill(d), f"{key}.allowed_domains")
                    for d in _texts(entry, "allowed_domains", key))
    if not domains:  # the hosts the crawl starts on
        domains = tuple(dict.fromkeys(urlsplit(u).netloc.lower() for u in sitemaps + start_urls))
    allow = tuple(_pattern(p, f"{key}.allow") for p in _texts(entry, "allow", key))
    if not allow:
        raise SourcesError(f"{key}.allow: list at least one path prefix, e.g. /docs/")
    deny = tuple(_pattern(p, f"{key}.deny") for p in _texts(entry, "deny", key))
    selector = entry.get("body_selector") or ""
    if selector:
        selector = _text(selector, f"{key}.body_selector")
    return HtmlSource(name=name, start_urls=start_urls, sitemaps=sitemaps,
                      allowed_domains=domains, allow=allow, deny=deny, body_selector=selector,
                      discover_sitemaps=discover)


def _parse_rest(name: str, entry: dict, key: str, fill) -> RestSource:
    collection = _url(fill(_text(entry.get("collection"), f"{key}.collection")), f"{key}.collection")
    if urlsplit(collection).query:
        raise SourcesError(f"{key}.collection: got {collection!r}; allowed: the collection URL "
                           "without a query (per_page and page are added)")
    per_page = _whole(entry.get("per_page", REST_MAX_PER_PAGE), f"{key}.per_page", 1, REST_MAX_PER_PAGE)
    return RestSource(name=name, collection=collection, per_page=per_page)


def _parse_plugin_api(name: str, entry: dict, key: str, fill) -> PluginApiSource:
    api = _url(fill(_text(entry.get("api"), f"{key}.api")), f"{key}.api")
    slugs = _slugs(entry, key)
    popular = _whole(entry.get("popular", 0), f"{key}.popular", 0, 1000)
    return PluginApiSource(name=name, api=api, slugs=slugs, popular=popular)


def _parse_readme(name: str, entry: dict, key: str, fill) -> ReadmeSource:
    url = fill(_text(entry.get("url"), f"{key}.url"))
    if SLUG_FIELD not in url:
        raise SourcesError(f"{key}.url: got {url!r}; allowed: a URL with {SLUG_FIELD} in it, e.g. "
                           "https://plugins.svn.wordpress.org/{slug}/trunk/readme.txt")
    _url(url.replace(SLUG_FIELD, "x"), f"{key}.url")
    return ReadmeSource(name=name, url=url, slugs=_slugs(entry, key))


def _parse_markdown(name: str, entry: dict, key: str, fill) -> MarkdownSource:
    manifest = _url(fill(_text(entry.get("manifest"), f"{key}.manifest")), f"{key}.manifest")
    return MarkdownSource(name=name, manifest=manifest)


PARSERS = {"html": _parse_html, "rest": _parse_rest, "plugin_api": _parse_plugin_api,
           "readme": _parse_readme, "markdown": _parse_markdown}

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


def _slugs(entry: dict, key: str) -> tuple[str, ...] | None:
    if "slugs" not in entry:
        return None
    slugs = _texts(entry, "slugs", key)
    for slug in slugs:
        if not _SLUG.match(slug):
            raise SourcesError(f"{key}.slugs: got {slug!r}; allowed: a plugin slug such as "
                               "contact-form-7 (lower case, digits, hyphens)")
    return tuple(dict.fromkeys(slugs))


def _mapping(value: Any, key: str, allowed: tuple[str, ...] | None) -> dict:
    if not isinstance(value, dict):
        raise SourcesError(f"{key}: expected a mapping, got {value!r}")
    if allowed is not None:
        for name in value:
            if name not in allowed:
                raise SourcesError(f"{key}.{name}: unknown key; allowed: {', '.join(allowed)}")
    return value


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SourcesError(f"{key}: expected text, got {value!r}")
    return value.strip()


def _texts(entry: dict, name: str, key: str) -> list[str]:
    value = entry.get(name, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise SourcesError(f"{key}.{name}: expected a list, got {value!r}")
    return [_text(v, f"{key}.{name}") for v in value]


def _whole(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SourcesError(f"{key}: got {value!r}; allowed: a whole number from {low} to {high}")
    return value


def _filler(origin: str | None, key: str):
    def fill(value: str) -> str:
        if ORIGIN_FIELD not in value:
            return value
        if origin is None:
            raise SourcesError(f"{key}: {value!r} uses {ORIGIN_FIELD}, which only a loopback "
                               "sample site provides")
        return value.replace(ORIGIN_FIELD, origin.rstrip("/"))
    return fill


def _origin(value: str, key: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise SourcesError(f"{key}: got {value!r}; allowed: an origin like https://example.org")
    return f"{parts.scheme}://{parts.netloc}"


def _url(value: str, key: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SourcesError(f"{key}: got {value!r}; allowed: an absolute http(s) URL")
    return value


def _domain(value: str, key: str) -> str:
    """A host, host:port, or an origin URL, as the lower-case `host[:port]` it names."""
    netloc = urlsplit(value).netloc if "://" in value else value
    netloc = netloc.lower().strip()
    if not re.fullmatch(r"[a-z0-9.-]+(:\d+)?", netloc) or netloc.startswith("."):
        raise SourcesError(f"{key}: got {value!r}; allowed: a host name such as "
                           "docs.example.org (optionally with :port)")
    return netloc


def _pattern(value: str, key: str) -> str:
    if value.startswith("^"):
        try:
            re.compile(value)
        except re.error as err:
            raise SourcesError(f"{key}: {value!r} is not a valid regular expression ({err})") from None
        return value
    if not value.startswith("/"):
        raise SourcesError(f"{key}: got {value!r}; allowed: a URL path prefix starting with / "
                           "or a regular expression starting with ^")
    return value
