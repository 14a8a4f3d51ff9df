"""The item pipeline: turns each FetchedDocument into the stored Page record.

One `process_item`, as in Scrapy's template. It keeps only the headers the Page contract
names (no Date or Server: they change on every run), rewrites the loopback origin to the
profile's public origin (in the URL and in URL-valued metadata), and drops a second
document for a URL already stored (two REST items with one link, a redirect onto a page
met by another route). The crawl collects the Pages through Scrapy's `item_scraped`
signal and counts the drops through `item_dropped`.
"""
from __future__ import annotations

from scrapy.exceptions import DropItem

from scraping.items import FetchedDocument
from scraping.urls import rewrite_origin
from wpqa.records import Page

KEPT_HEADERS = ("content-type", "last-modified", "etag")
URL_META_KEYS = ("link", "collection", "manifest")
DUPLICATE_URL = "duplicate_url"
# Settings the crawl sets so stored URLs do not depend on the loopback port.
ORIGIN_SETTING = "WPQA_CRAWL_ORIGIN"
PUBLIC_ORIGIN_SETTING = "WPQA_PUBLIC_ORIGIN"


def page_from_document(doc: FetchedDocument, origin: str = "", public_origin: str = "") -> Page:
    """The Page stored for a fetched document."""
    headers = {name: doc.headers[name] for name in KEPT_HEADERS if name in doc.headers}
    meta = {key: rewrite_origin(value, origin, public_origin) if key in URL_META_KEYS else value
            for key, value in doc.meta.items()}
    return Page(url=rewrite_origin(doc.url, origin, public_origin), status=doc.status,
                headers=headers, body=doc.body, source=doc.source, kind=doc.kind, meta=meta)


class PageRowsPipeline:
    """Makes Pages from FetchedDocuments, one per URL."""

    def __init__(self, origin: str = "", public_origin: str = ""):
        self.origin = origin
        self.public_origin = public_origin
        self.seen_urls: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler):
        return cls(origin=crawler.settings.get(ORIGIN_SETTING, ""),
                   public_origin=crawler.settings.get(PUBLIC_ORIGIN_SETTING, ""))

    def process_item(self, item):
        if not isinstance(item, FetchedDocument):
            raise DropItem(f"not a FetchedDocument: {type(item).__name__}")
        page = page_from_document(item, self.origin, self.public_origin)
        if page.url in self.seen_urls:
            raise DropItem(f"{DUPLICATE_URL}: {page.url}")
        self.seen_urls.add(page.url)
        return page
