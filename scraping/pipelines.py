"""The item pipeline: turns each FetchedDocument into the stored Page record.

One `process_item`, as in Scrapy's template. It keeps only the headers the Page contract
names (no Date or Server: they change on every run), rewrites the loopback origin to the
profile's public origin, and drops a second document for a URL already seen (a redirect
can land two requests on one page). The stage collects the returned Pages through
Scrapy's `item_scraped` signal.
"""
from __future__ import annotations

from scrapy.exceptions import DropItem

from scraping.items import FetchedDocument
from scraping.urls import rewrite_origin
from wpqa.records import Page

KEPT_HEADERS = ("content-type", "last-modified", "etag")
# Settings the stage sets so stored URLs do not depend on the loopback port.
ORIGIN_SETTING = "WPQA_CRAWL_ORIGIN"
PUBLIC_ORIGIN_SETTING = "WPQA_PUBLIC_ORIGIN"


def page_from_document(doc: FetchedDocument, origin: str = "", public_origin: str = "") -> Page:
    """The Page stored for a fetched document."""
    headers = {name: doc.headers[name] for name in KEPT_HEADERS if name in doc.headers}
    return Page(url=rewrite_origin(doc.url, origin, public_origin), status=doc.status,
                headers=headers, body=doc.body, source=doc.source, kind=doc.kind)


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
            raise DropItem(f"duplicate_url: {page.url}")
        self.seen_urls.add(page.url)
        return page
