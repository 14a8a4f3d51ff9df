"""Pure functions over WordPress API replies: REST collections, the plugin directory's
query_plugins listing, and handbook Markdown manifests.

Each takes the bytes (and headers) of one reply and returns what it holds plus, when it
holds nothing usable, a short snake_case problem that the crawl counts as the URL's
failure reason. Nothing here touches the network.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from scraping.urls import raw_markdown_url

# Why a REST item is not stored (counted, never silent).
ITEM_PROTECTED = "protected"  # password-protected content: the API sends no body
ITEM_INVALID = "invalid_item"  # no link or no content.rendered


def load_json(body: bytes | str) -> tuple[Any, str | None]:
    """The decoded JSON value, or (None, "invalid_json")."""
    try:
        return json.loads(body), None
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
        return None, "invalid_json"


@dataclass(frozen=True)
class RestItem:
    """One item of a REST collection, as the Page it becomes: url, HTML body, metadata."""

    link: str
    body: str
    meta: dict[str, str]


@dataclass(frozen=True)
class RestPage:
    """One page of a REST collection."""

    items: tuple[RestItem, ...] = ()
    dropped: Counter = field(default_factory=Counter)  # reason -> items not stored
    total_pages: int | None = None  # from X-WP-TotalPages; None when the header is missing
    problem: str | None = None  # why the reply is not a collection page at all


def parse_rest_page(body: bytes | str, headers: dict[str, str], collection: str) -> RestPage:
    """The items of one REST collection page and how many pages the collection has.

    `headers` are lower-case names (X-WP-TotalPages arrives as `x-wp-totalpages`). Each
    item keeps `link`, `modified`, `parent`, `menu_order` and the rendered `title` (all as
    text; an absent field is "") plus the `collection` it came from.
    """
    data, problem = load_json(body)
    if problem:
        return RestPage(problem=problem)
    if isinstance(data, dict) and "code" in data:
        return RestPage(problem="error_reply")  # e.g. rest_no_route, rest_forbidden
    if not isinstance(data, list):
        return RestPage(problem="not_a_collection")
    items, dropped = [], Counter()
    for raw in data:
        item, reason = rest_item(raw, collection)
        if item is None:
            dropped[reason] += 1
        else:
            items.append(item)
    return RestPage(items=tuple(items), dropped=dropped,
                    total_pages=_header_int(headers, "x-wp-totalpages"))


def rest_item(raw: Any, collection: str) -> tuple[RestItem | None, str | None]:
    """The stored form of one REST item, or (None, why it is not stored)."""
    if not isinstance(raw, dict):
        return None, ITEM_INVALID
    link = raw.get("link")
    content = raw.get("content")
    if not isinstance(link, str) or not link.startswith(("http://", "https://")) \
            or not isinstance(content, dict):
        return None, ITEM_INVALID
    if content.get("protected") is True:
        return None, ITEM_PROTECTED
    rendered = content.get("rendered")
    if not isinstance(rendered, str):
        return None, ITEM_INVALID
    title = raw.get("title")
    title = title.get("rendered", "") if isinstance(title, dict) else title
    meta = {
        "link": link,
        "modified": _text(raw.get("modified")),
        "parent": _text(raw.get("parent")),
        "menu_order": _text(raw.get("menu_order")),
        "title": _text(title),
        "collection": collection,
    }
    return RestItem(link=link, body=rendered, meta=meta), None


def next_rest_pages(page_number: int, page: RestPage, per_page: int) -> range:
    """Which further pages to request after page 1 (or after a page without the header).

    With X-WP-TotalPages: every page after the first. Without it: the next page while
    this one came back full, one at a time.
    """
    if page.total_pages is not None:
        return range(page_number + 1, page.total_pages + 1) if page_number == 1 else range(0)
    full = len(page.items) + sum(page.dropped.values()) >= per_page
    return range(page_number + 1, page_number + 2) if full else range(0)


@dataclass(frozen=True)
class PluginListing:
    slugs: tuple[str, ...] = ()
    pages: int | None = None
    problem: str | None = None


def parse_query_plugins(body: bytes | str) -> PluginListing:
    """The plugin slugs of a query_plugins reply, in the directory's order."""
    data, problem = load_json(body)
    if problem:
        return PluginListing(problem=problem)
    if not isinstance(data, dict) or "plugins" not in data:
        return PluginListing(problem="error_reply" if isinstance(data, dict) and "error" in data
                             else "not_a_plugin_listing")
    plugins = data["plugins"]
    entries = plugins.values() if isinstance(plugins, dict) else plugins
    slugs = [p.get("slug") for p in entries if isinstance(p, dict)]
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    pages = info.get("pages")
    return PluginListing(slugs=tuple(dict.fromkeys(s for s in slugs if isinstance(s, str) and s)),
                         pages=pages if isinstance(pages, int) else None)


@dataclass(frozen=True)
class ManifestEntry:
    """One Markdown file a handbook manifest lists."""

    url: str
    title: str
    slug: str
    parent: str


@dataclass(frozen=True)
class Manifest:
    entries: tuple[ManifestEntry, ...] = ()
    invalid_entries: int = 0
    problem: str | None = None


def parse_manifest(body: bytes | str, manifest_url: str) -> Manifest:
    """The Markdown files of a handbook manifest.

    Two shapes exist: a list of entries (the block editor handbook's docs/manifest.json)
    and a mapping keyed by slug (the handbooks imported by WordPress.org's Markdown
    importer, e.g. WP-CLI's bin/handbook-manifest.json). Each entry has `markdown_source`,
    and usually `title`, `slug` and `parent`.
    """
    data, problem = load_json(body)
    if problem:
        return Manifest(problem=problem)
    if isinstance(data, dict):
        raw_entries = list(data.values())
    elif isinstance(data, list):
        raw_entries = data
    else:
        return Manifest(problem="not_a_manifest")
    entries: dict[str, ManifestEntry] = {}
    invalid = 0
    for raw in raw_entries:
        source = raw.get("markdown_source") if isinstance(raw, dict) else None
        if not isinstance(source, str) or not source.strip():
            invalid += 1
            continue
        url = raw_markdown_url(source, manifest_url)
        entries.setdefault(url, ManifestEntry(url=url, title=_text(raw.get("title")),
                                              slug=_text(raw.get("slug")),
                                              parent=_text(raw.get("parent"))))
    if not entries and invalid:
        return Manifest(invalid_entries=invalid, problem="not_a_manifest")
    return Manifest(entries=tuple(entries.values()), invalid_entries=invalid)


def plugin_info_problem(body: str) -> str | None:
    """Why a plugin_information reply is not plugin info; None when it is.

    The API answers some unknown slugs with 200 and `{"error": ...}`, others with 404.
    """
    data, problem = load_json(body)
    if problem or not isinstance(data, dict):
        return "invalid_json"
    if "error" in data:
        return "plugin_not_found"
    if not data.get("slug") and not data.get("name"):
        return "not_plugin_info"
    return None


def _text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _header_int(headers: dict[str, str], name: str) -> int | None:
    try:
        value = int(headers.get(name, "").strip())
    except ValueError:
        return None
    return value if value >= 0 else None
