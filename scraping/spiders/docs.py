"""The docs spider: crawls HTML documentation sites from their sitemaps and links.

It starts from each html source's sitemaps (sitemap indexes are followed) and
start_urls, requests every listed page, and follows links found on pages while they stay
on a source's site and inside its allowed path prefixes. robots.txt is obeyed by Scrapy's
middleware. `CrawlFrontier` holds the decisions (which source a URL belongs to, what was
seen, the page budget) as plain state so tests can drive it without a crawl.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Iterator

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from scraping.items import KIND_HTML
from scraping.responses import (REQUEST_IGNORED, document_from_response, failure_reason,
                                failure_status)
from scraping.sources import HtmlSource
from scraping.urls import (classify_url, extract_links, host_of, is_on_site, parse_sitemap,
                           strip_fragment)

SKIP_PAGE_LIMIT = "page_limit"


class CrawlFrontier:
    """Which URLs the docs spider requests: new, on a source, within the page budget.

    Skipped URLs are counted once each by reason, so the counts do not depend on how
    many pages link to them.
    """

    def __init__(self, sources: Iterable[HtmlSource], max_pages: int):
        self.sources = tuple(sources)
        self.max_pages = max_pages
        self.issued = 0
        self.seen: set[str] = set()
        self.skipped: dict[str, set[str]] = {}

    def admit(self, url: str) -> str | None:
        """The source `url` is requested for, or None when it is skipped or seen."""
        url = strip_fragment(url)
        if url in self.seen:
            return None
        decision = classify_url(url, self.sources)
        if decision.source is None:
            self.seen.add(url)
            self._skip(decision.skip_reason, url)
            return None
        if self.issued >= self.max_pages:
            self._skip(SKIP_PAGE_LIMIT, url)  # not marked seen: a freed slot may take it
            return None
        self.seen.add(url)
        self.issued += 1
        return decision.source

    def release(self) -> None:
        """Give back the budget of a page request that was never fetched (robots.txt)."""
        self.issued = max(0, self.issued - 1)

    def skipped_counts(self) -> dict[str, int]:
        return {reason: len(urls) for reason, urls in sorted(self.skipped.items())}

    def _skip(self, reason: str, url: str) -> None:
        self.skipped.setdefault(reason, set()).add(url)


class DocsSpider(scrapy.Spider):
    """Fetches the pages of the html sources; yields a FetchedDocument per page."""

    name = "docs"

    def __init__(self, sources: Iterable[HtmlSource] = (), max_pages: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.sources = tuple(sources)
        if not self.sources:
            raise ValueError("DocsSpider needs at least one html source")
        self.allowed_domains = sorted({host_of(s.site) for s in self.sources})
        self.frontier = CrawlFrontier(self.sources, max_pages)
        self.sitemaps_seen: set[str] = set()
        self.tally: Counter[str] = Counter()

    async def start(self):
        for source in self.sources:
            for url in source.sitemaps:
                for request in self._sitemap_request(url):
                    yield request
        for source in self.sources:
            for url in source.start_urls:
                for request in self._page_request(url):
                    yield request

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        self.tally["sitemaps_fetched"] += 1
        sitemap = parse_sitemap(response.body)
        if sitemap.kind == "invalid":
            self.tally["sitemaps_invalid"] += 1
            self.logger.warning("not a sitemap: %s", response.url)
        elif sitemap.kind == "sitemapindex":
            for url in sitemap.locs:
                yield from self._sitemap_request(url)
        else:
            self.tally["sitemap_urls"] += len(sitemap.locs)
            for url in sitemap.locs:
                yield from self._page_request(url)

    def parse_page(self, response: Response):
        # Classify the final URL: a redirect may have left the allowed paths.
        source = classify_url(response.url, self.sources).source
        if source is None:
            self.tally["skipped_redirected_out"] += 1
            return
        document = document_from_response(response, source, KIND_HTML)
        if document is None:
            self.tally["skipped_not_html"] += 1
            return
        yield document
        for url in extract_links(document.body, response.url):
            yield from self._page_request(url)

    def on_error(self, failure: Failure) -> None:
        reason = failure_reason(failure)
        self.tally[reason] += 1
        status = failure_status(failure)
        if status is not None:
            self.tally[f"responses_status_{status}"] += 1
        if reason == REQUEST_IGNORED and failure.request.callback == self.parse_page:
            self.frontier.release()
        elif reason != REQUEST_IGNORED:
            self.logger.warning("no document from %s: %s", failure.request.url,
                                f"HTTP {status}" if status else failure.getErrorMessage())

    def _sitemap_request(self, url: str) -> Iterator[scrapy.Request]:
        if url in self.sitemaps_seen or not is_on_site(url, self.sources):
            return
        self.sitemaps_seen.add(url)
        # Sitemaps first: they list the pages, so the page budget goes to listed pages.
        yield scrapy.Request(url, callback=self.parse_sitemap, errback=self.on_error,
                             priority=10)

    def _page_request(self, url: str) -> Iterator[scrapy.Request]:
        if self.frontier.admit(url) is not None:
            yield scrapy.Request(url, callback=self.parse_page, errback=self.on_error)
