"""The sources config (scraping/sources.yaml): which sites the spiders may visit.

`load_sources()` reads one profile into frozen dataclasses and checks it once, so a typo
in a key, a kind or a URL fails at start with the key's name and what is allowed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

SOURCES_PATH = Path(__file__).resolve().parent / "sources.yaml"
ORIGIN_FIELD = "{origin}"
SOURCE_KINDS = ("html", "plugin_api")
HTML_KEYS = ("kind", "site", "sitemaps", "start_urls", "allow", "deny")
PLUGIN_API_KEYS = ("kind", "api")
PROFILE_KEYS = ("public_origin", "sources")


class SourcesError(ValueError):
    """A sources.yaml problem a user can fix: the message names the key."""


@dataclass(frozen=True)
class HtmlSource:
    """A documentation site crawled by the docs spider."""

    name: str
    site: str  # origin, scheme://host[:port]; pages must be on it
    sitemaps: tuple[str, ...]
    start_urls: tuple[str, ...]
    allow: tuple[str, ...]  # URL path prefixes that may be crawled
    deny: tuple[str, ...]  # URL path prefixes that may not, even inside `allow`


@dataclass(frozen=True)
class PluginApiSource:
    """A plugin-directory API (api.wordpress.org/plugins/info/1.2/ or its sample copy)."""

    name: str
    api: str


@dataclass(frozen=True)
class SourcesProfile:
    name: str
    public_origin: str  # stored urls use this in place of the loopback origin ("" = keep)
    html: tuple[HtmlSource, ...]
    plugin_api: tuple[PluginApiSource, ...]


def load_sources(path: str | Path, profile: str, origin: str | None = None) -> SourcesProfile:
    """Read one profile of a sources file; `origin` fills its `{origin}` fields."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourcesError(f"{path}: sources file not found") from None
    except yaml.YAMLError as err:
        raise SourcesError(f"{path}: not valid YAML: {err}") from None
    return parse_sources(raw, profile, origin, where=str(path))


def parse_sources(raw: Any, profile: str, origin: str | None = None,
                  where: str = "sources") -> SourcesProfile:
    if not isinstance(raw, dict) or profile not in raw:
        known = ", ".join(sorted(raw)) if isinstance(raw, dict) else "none"
        raise SourcesError(f"{where}: no profile {profile!r}; profiles: {known}")
    key = f"{where}: {profile}"
    body = _mapping(raw[profile], key, PROFILE_KEYS)
    public_origin = body.get("public_origin") or ""
    if public_origin:
        public_origin = _origin(_text(public_origin, f"{key}.public_origin"),
                                f"{key}.public_origin")
    sources = _mapping(body.get("sources"), f"{key}.sources", None)
    if not sources:
        raise SourcesError(f"{key}.sources: list at least one source")
    html, api = [], []
    for name, entry in sources.items():
        entry_key = f"{key}.sources.{name}"
        if not isinstance(entry, dict):
            raise SourcesError(f"{entry_key}: expected a mapping, got {entry!r}")
        kind = entry.get("kind")
        if kind not in SOURCE_KINDS:
            raise SourcesError(f"{entry_key}.kind: got {kind!r}; allowed: {', '.join(SOURCE_KINDS)}")
        fill = _filler(origin, entry_key)
        if kind == "html":
            entry = _mapping(entry, entry_key, HTML_KEYS)
            site = _origin(fill(_text(entry.get("site"), f"{entry_key}.site")), f"{entry_key}.site")
            html.append(HtmlSource(
                name=str(name),
                site=site,
                sitemaps=tuple(_url(fill(u), f"{entry_key}.sitemaps")
                               for u in _texts(entry, "sitemaps", entry_key)),
                start_urls=tuple(_url(fill(u), f"{entry_key}.start_urls")
                                 for u in _texts(entry, "start_urls", entry_key)),
                allow=tuple(_prefix(p, f"{entry_key}.allow") for p in _texts(entry, "allow", entry_key)),
                deny=tuple(_prefix(p, f"{entry_key}.deny") for p in _texts(entry, "deny", entry_key)),
            ))
            if not html[-1].allow:
                raise SourcesError(f"{entry_key}.allow: list at least one path prefix, e.g. /docs/")
            if not html[-1].sitemaps and not html[-1].start_urls:
                raise SourcesError(f"{entry_key}: give sitemaps or start_urls to start from")
        else:
            entry = _mapping(entry, entry_key, PLUGIN_API_KEYS)
            api.append(PluginApiSource(
                name=str(name), api=_url(fill(_text(entry.get("api"), f"{entry_key}.api")),
                                         f"{entry_key}.api")))
    return SourcesProfile(name=profile, public_origin=public_origin,
                          html=tuple(html), plugin_api=tuple(api))


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


def _filler(origin: str | None, key: str):
    def fill(value: str) -> str:
        if ORIGIN_FIELD not in value:
            return value
        if origin is None:
            raise SourcesError(f"{key}: {value!r} uses {ORIGIN_FIELD}, which only the sample "
                               "profile's loopback server provides")
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


def _prefix(value: str, key: str) -> str:
    if not value.startswith("/"):
        raise SourcesError(f"{key}: got {value!r}; allowed: a URL path prefix starting with /")
    return value
