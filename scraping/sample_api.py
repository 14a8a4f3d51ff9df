"""The sample site's API replies, built from its own files the way the real APIs answer.

- WordPress REST collections (`/documentation/wp-json/wp/v2/articles`): the items are the
  site's published article pages (a page whose `<article>` carries the post type's
  class and that robots.txt does not hide); `content.rendered` is the page's
  `.entry-content`, `title.rendered` its `<h1>`, `link` its URL. Paged with `per_page`
  (1-100, default 10) and `page`, with X-WP-Total and X-WP-TotalPages, `_fields`
  honoured, and WordPress's 400 error for a page past the end.
- A docs snapshot (`/wp-json/wp/v2/<type>`): saved REST items anywhere under the
  served folder, one collection per post type (see `snapshot_collections`).
- The plugin directory (`/api/plugins/info/1.2/`): `plugin_information` answers from
  `SLUG.json`; `query_plugins` with `browse=popular` lists the plugins in `index.json`
  order, paged like api.wordpress.org.

Pure functions of the site folder, the origin and the query, so tests call them directly.
"""
from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs

import lxml.html
from protego import Protego

PLUGIN_API_PATH = "/api/plugins/info/1.2/"
# REST route -> (folder of the pages, post type whose pages are the items)
REST_COLLECTIONS = {
    "/documentation/wp-json/wp/v2/articles": ("documentation", "helphub_article"),
}
# A docs snapshot's collections, one per post type (`scraping/sources.yaml` profile snapshot).
SNAPSHOT_ROUTE = re.compile(r"^/wp-json/wp/v2/([a-z0-9_-]+)/?$")
REST_DEFAULT_PER_PAGE = 10
REST_MAX_PER_PAGE = 100
_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True)
class ApiReply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _json(data) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


# --- REST collections --------------------------------------------------------------

@dataclass(frozen=True)
class ArticlePage:
    path: str  # URL path, e.g. /documentation/manage-plugins/
    slug: str
    title_html: str
    content_html: str


def inner_html(element) -> str:
    parts = [element.text or ""]
    parts += [lxml.html.tostring(child, encoding="unicode") for child in element]
    return "".join(parts).strip()


def read_article(index: Path, url_path: str, post_type: str) -> ArticlePage | None:
    """The article a page holds, or None when it is not a page of `post_type`."""
    root = lxml.html.fromstring(index.read_bytes())
    article = root.xpath("//article")
    if not article or f"type-{post_type}" not in (article[0].get("class") or "").split():
        return None
    title = root.xpath("//h1")
    content = root.xpath('//div[contains(concat(" ", normalize-space(@class), " "), '
                         '" entry-content ")]')
    if not title or not content:
        return None
    return ArticlePage(path=url_path, slug=url_path.rstrip("/").rsplit("/", 1)[-1],
                       title_html=inner_html(title[0]), content_html=inner_html(content[0]))


@lru_cache(maxsize=8)
def collection_articles(root: Path, folder: str, post_type: str) -> tuple[ArticlePage, ...]:
    """The published articles under `root/folder`, one level deep, in id order."""
    robots_file = root / "robots.txt"
    robots = Protego.parse(robots_file.read_text(encoding="utf-8") if robots_file.exists() else "")
    articles = []
    for index in sorted((root / folder).glob("*/index.html")):
        url_path = f"/{folder}/{index.parent.name}/"
        if not robots.can_fetch(url_path, "*"):
            continue  # hidden from crawlers: a private page, not in the public API either
        article = read_article(index, url_path, post_type)
        if article is not None:
            articles.append(article)
    return tuple(sorted(articles, key=lambda a: article_id(a.path)))


def article_id(url_path: str) -> int:
    """A stable post id for a page (the same on every run and every machine)."""
    return 10_000 + zlib.crc32(url_path.encode("utf-8")) % 900_000


def rest_item(article: ArticlePage, origin: str, post_type: str, modified: str) -> dict:
    return {
        "id": article_id(article.path),
        "date": modified,
        "modified": modified,
        "slug": article.slug,
        "status": "publish",
        "type": post_type,
        "link": origin + article.path,
        "title": {"rendered": article.title_html},
        "content": {"rendered": article.content_html, "protected": False},
        "menu_order": 0,
    }


def rest_collection_reply(root: Path, route: str, query: str, origin: str,
                          modified_at: float) -> ApiReply:
    """A REST collection page for `route`, as WordPress would send it."""
    folder, post_type = REST_COLLECTIONS[route]
    modified = datetime.fromtimestamp(modified_at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    items = [rest_item(a, origin, post_type, modified)
             for a in collection_articles(root, folder, post_type)]
    return paged_reply(items, query)


def paged_reply(items: list[dict], query: str) -> ApiReply:
    """One page of a collection's items, with WordPress's paging headers and errors."""
    args = parse_qs(query)
    try:
        per_page = int(args.get("per_page", [REST_DEFAULT_PER_PAGE])[0])
        page = int(args.get("page", ["1"])[0])
    except ValueError:
        return _rest_error("rest_invalid_param", "Invalid parameter(s): per_page, page")
    if not 1 <= per_page <= REST_MAX_PER_PAGE or page < 1:
        return _rest_error("rest_invalid_param", "Invalid parameter(s): per_page, page")
    total = len(items)
    pages = -(-total // per_page)
    if page > max(pages, 1):
        return _rest_error("rest_post_invalid_page_number",
                           "The page number requested is larger than the number of pages "
                           "available.")
    items = items[(page - 1) * per_page: page * per_page]
    fields = [f for f in ",".join(args.get("_fields", [])).split(",") if f]
    if fields:
        items = [{k: v for k, v in item.items() if k in fields} for item in items]
    return ApiReply(HTTPStatus.OK, _json(items),
                    {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)})


# --- a docs snapshot: saved REST items served as collections -------------------------

def snapshot_type(route: str) -> str | None:
    """The post type a snapshot route names (`/wp-json/wp/v2/<type>`), or None."""
    match = SNAPSHOT_ROUTE.match(route)
    return match.group(1) if match else None


@lru_cache(maxsize=4)
def snapshot_collections(root: Path) -> dict[str, tuple[dict, ...]]:
    """The saved REST items anywhere under `root`, by their `type`, in id order.

    A folder of items as the REST API returned them (one JSON object per file, such as a
    docs snapshot) becomes the collections a live site serves, so the `rest` source
    crawls it over loopback with the code that crawls the real sites. Items keep their
    own `link`, so the stored pages carry the real URLs. Files that are not REST items
    (no `type`, `link` and `content`) are not served.
    """
    by_type: dict[str, list[dict]] = {}
    for path in sorted(root.rglob("*.json")):
        try:
            item = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if (isinstance(item, dict) and isinstance(item.get("type"), str)
                and isinstance(item.get("link"), str) and isinstance(item.get("content"), dict)):
            by_type.setdefault(item["type"], []).append(item)
    return {kind: tuple(sorted(items, key=lambda i: (str(i.get("id", "")).zfill(12), i["link"])))
            for kind, items in sorted(by_type.items())}


def snapshot_collection_reply(root: Path, post_type: str, query: str) -> ApiReply | None:
    """A page of the snapshot collection of `post_type`; None when the snapshot has none."""
    items = snapshot_collections(root).get(post_type)
    if items is None:
        return None
    return paged_reply(list(items), query)


def _rest_error(code: str, message: str) -> ApiReply:
    return ApiReply(HTTPStatus.BAD_REQUEST,
                    _json({"code": code, "message": message, "data": {"status": 400}}))


# --- the plugin directory ----------------------------------------------------------

def plugin_api_reply(root: Path, query: str) -> ApiReply:
    """plugin_information or query_plugins, like api.wordpress.org/plugins/info/1.2/."""
    args = parse_qs(query)
    action = args.get("action", [""])[0]
    if action == "plugin_information":
        status, body = plugin_info_reply(root, query)
        return ApiReply(status, body)
    if action == "query_plugins":
        return query_plugins_reply(root, args)
    return ApiReply(HTTPStatus.BAD_REQUEST, _json({"error": "Action not implemented."}))


def plugin_info_reply(root: Path, query: str) -> tuple[int, bytes]:
    """Status and JSON body for a plugin_information query string; an unknown slug gets
    a 404 with an error object, as the real API answers."""
    args = parse_qs(query)
    if args.get("action", [""])[0] != "plugin_information":
        return HTTPStatus.BAD_REQUEST, _json({"error": "Action not implemented."})
    slug = args.get("request[slug]", [""])[0]
    info = root / PLUGIN_API_PATH.strip("/") / f"{slug}.json"
    if not _is_slug(slug) or not info.is_file():
        return HTTPStatus.NOT_FOUND, _json({"error": "Plugin not found."})
    return HTTPStatus.OK, info.read_bytes()


def query_plugins_reply(root: Path, args: dict[str, list[str]]) -> ApiReply:
    """The popular plugins, in the order index.json lists them."""
    if args.get("request[browse]", ["popular"])[0] != "popular":
        return ApiReply(HTTPStatus.OK, _json({"info": {"page": 1, "pages": 0, "results": 0},
                                              "plugins": []}))
    try:
        per_page = max(1, int(args.get("request[per_page]", ["24"])[0]))
        page = max(1, int(args.get("request[page]", ["1"])[0]))
    except ValueError:
        return ApiReply(HTTPStatus.BAD_REQUEST, _json({"error": "Invalid request."}))
    api = root / PLUGIN_API_PATH.strip("/")
    slugs = json.loads((api / "index.json").read_text(encoding="utf-8"))["plugins"]
    listed = []
    for slug in slugs[(page - 1) * per_page: page * per_page]:
        info = json.loads((api / f"{slug}.json").read_text(encoding="utf-8"))
        listed.append({key: info.get(key) for key in
                       ("name", "slug", "version", "requires", "tested", "rating",
                        "active_installs", "short_description")})
    return ApiReply(HTTPStatus.OK, _json({
        "info": {"page": page, "pages": -(-len(slugs) // per_page), "results": len(slugs)},
        "plugins": listed}))


def _is_slug(slug: str) -> bool:
    return 0 < len(slug) <= 100 and slug[0] != "-" and set(slug) <= _SLUG_CHARS
