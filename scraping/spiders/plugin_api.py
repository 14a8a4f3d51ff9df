"""The plugin_api spider: asks a plugin-directory API about each configured plugin.

For every plugin_api source and every slug in params.yaml `scrape.plugin_slugs` it
requests `<api>/?action=plugin_information&request[slug]=SLUG` and yields the JSON reply
as a document of kind "plugin_api". Unknown slugs (404, or 200 with an error object) are
counted, not stored.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from scraping.items import KIND_PLUGIN_API
from scraping.responses import (document_from_response, failure_reason, failure_status,
                                plugin_info_problem)
from scraping.sources import PluginApiSource
from scraping.urls import host_of, plugin_info_url


def plan_plugin_requests(sources: Iterable[PluginApiSource], slugs: Iterable[str],
                         max_pages: int) -> list[tuple[str, str, str]]:
    """(source name, slug, url) for each request, in config order, at most `max_pages`."""
    planned = [(source.name, slug, plugin_info_url(source.api, slug))
               for source in sources for slug in dict.fromkeys(slugs)]
    return planned[:max_pages]


class PluginApiSpider(scrapy.Spider):
    """Fetches plugin_information replies; yields a FetchedDocument per known plugin."""

    name = "plugin_api"

    def __init__(self, sources: Iterable[PluginApiSource] = (), slugs: Iterable[str] = (),
                 max_pages: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.sources = tuple(sources)
        self.slugs = tuple(slugs)
        self.planned = plan_plugin_requests(self.sources, self.slugs, max_pages)
        self.allowed_domains = sorted({host_of(s.api) for s in self.sources})
        self.tally: Counter[str] = Counter()
        skipped = len(self.sources) * len(dict.fromkeys(self.slugs)) - len(self.planned)
        if skipped:
            self.tally["skipped_page_limit"] += skipped

    async def start(self):
        for source, slug, url in self.planned:
            yield scrapy.Request(url, callback=self.parse_plugin_info, errback=self.on_error,
                                 cb_kwargs={"source": source, "slug": slug})

    def parse_plugin_info(self, response: Response, source: str, slug: str):
        document = document_from_response(response, source, KIND_PLUGIN_API)
        problem = "not_text" if document is None else plugin_info_problem(document.body)
        if problem:
            self.tally[f"plugin_api_{problem}"] += 1
            self.logger.warning("no plugin info for %r from %s: %s", slug, response.url, problem)
            return
        yield document

    def on_error(self, failure: Failure) -> None:
        self.tally[failure_reason(failure)] += 1
        status = failure_status(failure)
        if status is not None:
            self.tally[f"responses_status_{status}"] += 1
        self.logger.warning("no plugin info for %r: %s", failure.request.cb_kwargs.get("slug"),
                            f"HTTP {status}" if status else failure.getErrorMessage())
