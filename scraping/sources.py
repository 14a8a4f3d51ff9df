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
      NAME: {kind: ..., ...}                  # one entry per source, see SOURCE_CLASSES

`load_sources()` reads a profile into frozen pydantic dataclasses, one per source kind (a
union told apart by `kind`), and checks it once, so a typo in a key, a kind or a URL fails
at start with the key's name and what is allowed. `{origin}` in a URL is filled from the
validation context: the loopback origin of a sample site being served.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

import yaml
from pydantic import Field, TypeAdapter, ValidationError, ValidationInfo, field_validator

from wpqa.params import BadValue, Bool, Float, Int, at_least, explain, validated

SOURCES_PATH = Path(__file__).resolve().parent / "sources.yaml"
ORIGIN_FIELD = "{origin}"
SLUG_FIELD = "{slug}"
PROFILE_KEYS = ("public_origin", "crawl", "sources")
REST_MAX_PER_PAGE = 100  # WordPress refuses per_page above 100


class SourcesError(ValueError):
    """A sources-file problem a user can fix: the message names the key."""


section = validated(SourcesError)()


@section
class CrawlLimits:
    """How politely and how far to crawl; the `crawl` block of a profile."""

    min_download_delay: Annotated[Float, at_least(0.0)] = 1.0
    max_page_bytes: Annotated[Int, at_least(1024)] = 10 * 1024 * 1024
    download_timeout: Annotated[Float, Field(gt=0)] = 30.0
    retry_times: Annotated[Int, at_least(0)] = 2
    retry_after_max: Annotated[Float, at_least(0.0)] = 300.0


def _text(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise BadValue("", f"expected text, got {value!r}")
    return value.strip()


def _fill(value: Any, info: ValidationInfo) -> Any:
    """`{origin}` replaced by the origin of the sample site being served."""
    value = _text(value)
    if ORIGIN_FIELD not in value:
        return value
    origin = (info.context or {}).get("origin")
    if origin is None:
        raise BadValue("", f"{value!r} uses {ORIGIN_FIELD}, which only a loopback sample site "
                           "provides")
    return value.replace(ORIGIN_FIELD, origin.rstrip("/"))


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadValue("", f"got {value!r}; allowed: an absolute http(s) URL")
    return value


def _domain(value: str) -> str:
    """A host, host:port, or an origin URL, as the lower-case `host[:port]` it names."""
    netloc = urlsplit(value).netloc if "://" in value else value
    netloc = netloc.lower().strip()
    if not re.fullmatch(r"[a-z0-9.-]+(:\d+)?", netloc) or netloc.startswith("."):
        raise BadValue("", f"got {value!r}; allowed: a host name such as docs.example.org "
                           "(optionally with :port)")
    return netloc


def _pattern(value: str) -> str:
    if value.startswith("^"):
        try:
            re.compile(value)
        except re.error as err:
            raise BadValue("", f"{value!r} is not a valid regular expression ({err})") from None
        return value
    if not value.startswith("/"):
        raise BadValue("", f"got {value!r}; allowed: a URL path prefix starting with / or a "
                           "regular expression starting with ^")
    return value


_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


def _slugs(values: Any) -> Any:
    if not isinstance(values, (list, tuple)):
        return values
    for slug in values:
        if not isinstance(slug, str) or not _SLUG.match(slug):
            raise BadValue("", f"got {slug!r}; allowed: a plugin slug such as contact-form-7 "
                               "(lower case, digits, hyphens)")
    return tuple(dict.fromkeys(values))


def _each(values: Any, check) -> Any:
    return tuple(check(v) for v in values) if isinstance(values, (list, tuple)) else values


@section
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
    start_urls: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    body_selector: str = ""  # CSS selector of the article body, handed to extraction
    discover_sitemaps: Bool = False
    kind: Literal["html"] = "html"

    @field_validator("start_urls", "sitemaps", mode="before")
    @classmethod
    def _urls(cls, values: Any, info: ValidationInfo) -> Any:
        return _each(values or (), lambda v: _url(_fill(v, info)))

    @field_validator("allowed_domains", mode="before")
    @classmethod
    def _domains(cls, values: Any, info: ValidationInfo) -> Any:
        return _each(values or (), lambda v: _domain(_fill(v, info)))

    @field_validator("allow", "deny", mode="before")
    @classmethod
    def _patterns(cls, values: Any) -> Any:
        return _each(values or (), lambda v: _pattern(_text(v)))

    @field_validator("body_selector", mode="before")
    @classmethod
    def _selector(cls, value: Any) -> Any:
        return _text(value) if value else ""

    def __post_init__(self):
        if not self.allowed_domains:  # the hosts the crawl starts on
            object.__setattr__(self, "allowed_domains", tuple(dict.fromkeys(
                urlsplit(u).netloc.lower() for u in self.sitemaps + self.start_urls)))


@section
class RestSource:
    """A WordPress REST API collection such as .../wp-json/wp/v2/articles."""

    name: str
    collection: str
    per_page: Annotated[Int, Field(ge=1, le=REST_MAX_PER_PAGE)] = REST_MAX_PER_PAGE
    kind: Literal["rest"] = "rest"

    @field_validator("collection", mode="before")
    @classmethod
    def _collection(cls, value: Any, info: ValidationInfo) -> Any:
        collection = _url(_fill(value, info))
        if urlsplit(collection).query:
            raise BadValue("", f"got {collection!r}; allowed: the collection URL without a "
                               "query (per_page and page are added)")
        return collection


@section
class PluginApiSource:
    """A plugin-directory API (api.wordpress.org/plugins/info/1.2/ or its sample copy).

    `slugs` None means "the caller's default slugs" (params.yaml scrape.plugin_slugs in
    the scrape stage); `popular` asks query_plugins for that many popular plugins too.
    """

    name: str
    api: str
    slugs: tuple[str, ...] | None = None
    popular: Annotated[Int, Field(ge=0, le=1000)] = 0
    kind: Literal["plugin_api"] = "plugin_api"

    @field_validator("api", mode="before")
    @classmethod
    def _api(cls, value: Any, info: ValidationInfo) -> Any:
        return _url(_fill(value, info))

    @field_validator("slugs", mode="before")
    @classmethod
    def _plugin_slugs(cls, values: Any) -> Any:
        return _slugs(values)


@section
class ReadmeSource:
    """Plugin readme.txt files: `url` with `{slug}` in it, fetched for each slug."""

    name: str
    url: str
    slugs: tuple[str, ...] | None = None
    kind: Literal["readme"] = "readme"

    @field_validator("url", mode="before")
    @classmethod
    def _url_with_slug(cls, value: Any, info: ValidationInfo) -> Any:
        url = _fill(value, info)
        if SLUG_FIELD not in url:
            raise BadValue("", f"got {url!r}; allowed: a URL with {SLUG_FIELD} in it, e.g. "
                               "https://plugins.svn.wordpress.org/{slug}/trunk/readme.txt")
        _url(url.replace(SLUG_FIELD, "x"))
        return url

    @field_validator("slugs", mode="before")
    @classmethod
    def _plugin_slugs(cls, values: Any) -> Any:
        return _slugs(values)


@section
class MarkdownSource:
    """A handbook's manifest of Markdown files (a list, or a mapping keyed by slug)."""

    name: str
    manifest: str
    kind: Literal["markdown"] = "markdown"

    @field_validator("manifest", mode="before")
    @classmethod
    def _manifest(cls, value: Any, info: ValidationInfo) -> Any:
        return _url(_fill(value, info))


# One class per `kind`; an entry's keys are its class's fields (its name is its key in `sources`).
SOURCE_CLASSES = (HtmlSource, RestSource, PluginApiSource, ReadmeSource, MarkdownSource)


def _public_origin(value: Any) -> Any:
    if not value:
        return ""
    parts = urlsplit(_text(value))
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise BadValue("", f"got {value!r}; allowed: an origin like https://example.org")
    return f"{parts.scheme}://{parts.netloc}"


def _named_entries(entries: Any) -> Any:
    """`sources` is a mapping NAME -> entry; each entry gets its name as a field."""
    if not isinstance(entries, dict):
        raise BadValue("", f"expected a mapping, got {entries!r}")
    named = []
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise BadValue(str(name), f"expected a mapping, got {entry!r}")
        if "name" in entry:
            raise BadValue(f"{name}.name", "unknown key; the entry's key is its name")
        named.append({**entry, "name": str(name)})
    return named


@section
class SourcesProfile:
    name: str
    public_origin: str  # stored urls use this in place of the loopback origin ("" = keep)
    limits: CrawlLimits
    sources: tuple[Annotated[Union[SOURCE_CLASSES], Field(discriminator="kind")], ...]

    def __post_init__(self):
        if not self.sources:
            raise BadValue("sources", "list at least one source")

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


_PROFILE = TypeAdapter(SourcesProfile)


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
    if not isinstance(body, dict):
        raise SourcesError(f"{key}: expected a mapping, got {body!r}")
    for unknown in sorted(set(body) - set(PROFILE_KEYS), key=str):
        raise SourcesError(f"{key}.{unknown}: unknown key; allowed: {', '.join(PROFILE_KEYS)}")
    try:
        public_origin = _public_origin(body.get("public_origin"))
    except BadValue as err:
        raise SourcesError(f"{key}.public_origin: {err.text}") from None
    try:
        entries = _named_entries(body.get("sources"))
    except BadValue as err:
        raise SourcesError(f"{key}.sources{'.' + err.field if err.field else ''}: {err.text}") from None
    profile_raw = {"name": name, "public_origin": public_origin,
                   "limits": body.get("crawl") or {}, "sources": entries}
    try:
        loaded = _PROFILE.validate_python(profile_raw, context={"origin": origin})
    except ValidationError as err:
        raise explain(err, SourcesProfile, key, profile_raw, SourcesError,
                      rename={"limits": "crawl"}) from None
    # Checked for a file, not on HtmlSource, so a source built in code (a test's) may leave
    # them empty.
    for source in loaded.html:
        if not source.start_urls and not source.sitemaps:
            raise SourcesError(f"{key}.sources.{source.name}: give sitemaps or start_urls to "
                               "start from")
        if not source.allow:
            raise SourcesError(f"{key}.sources.{source.name}.allow: list at least one path "
                               "prefix, e.g. /docs/")
    return loaded
