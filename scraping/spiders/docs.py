"""The docs spider: one crawl over every source of a profile, one code path per source type.

- `html`: sitemaps (named, or discovered in robots.txt; indexes followed) and start pages
  seed the crawl; links on fetched pages are followed while they stay inside an html
  source's rules (`classify_url`).
- `rest`: a WordPress REST collection, page 1 first, then every page X-WP-TotalPages
  announces; each item becomes a `rest_item` page stored under its `link`.
- `plugin_api`: plugin_information for each slug, and query_plugins for the popular ones.
- `readme`: one readme.txt per slug.
- `markdown`: a handbook manifest, then every Markdown file it lists.

Every URL met goes into the `UrlLedger` and ends in one state; every document found is
stored or counted as dropped with a reason. Callbacks stay thin: parsing is in
`scraping.urls`, `scraping.wpapi` and `scraping.responses`. With a job folder the books
are saved when the spider closes and restored when it starts, so an interrupted crawl
resumes where it stopped.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator

import scrapy
from scrapy import signals
from protego import Protego
from scrapy.http import Response
from twisted.python.failure import Failure

from scraping.items import (KIND_HTML, KIND_MARKDOWN, KIND_PLUGIN_API, KIND_README,
                            KIND_REST_ITEM, FetchedDocument)
from scraping.ledger import (FAILED, PENDING, SKIP_DUPLICATE, SKIP_OFFSITE, SKIP_PAGE_LIMIT,
                             SKIP_WRONG_TYPE, SKIPPED, PageBudget, UrlLedger)
from scraping.responses import (failure_outcome, fetch_state, is_html, response_headers,
                                response_text)
from scraping.sources import (HtmlSource, MarkdownSource, PluginApiSource, ReadmeSource,
                              RestSource, SourcesProfile)
from scraping.urls import (classify_url, extract_links, is_allowed_domain, origin_of,
                           parse_sitemap, plugin_info_url, query_plugins_url, readme_url,
                           rest_page_url, same_host, strip_fragment)
from scraping.wpapi import (next_rest_pages, parse_manifest, parse_query_plugins,
                            parse_rest_page, plugin_info_problem)

STATE_FILE = "wpqa_crawl_state.json"
LISTING_PRIORITY = 10  # sitemaps, REST pages, manifests first: they say what else exists
QUERY_PLUGINS_MAX_PER_PAGE = 100


class DocsSpider(scrapy.Spider):
    """Fetches every source of a profile; yields a FetchedDocument per document."""

    name = "docs"

    def __init__(self, profile: SourcesProfile | None = None, max_pages: int = 0,
                 default_slugs: Iterable[str] = (), job_dir: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if profile is None or not profile.sources:
            raise ValueError("DocsSpider needs a sources profile with at least one source")
        self.profile = profile
        self.sources = {source.name: source for source in profile.sources}
        self.html_sources = profile.html
        self.default_slugs = tuple(dict.fromkeys(default_slugs))
        self.job_dir = Path(job_dir) if job_dir else None
        self.ledger = UrlLedger()
        self.budget = PageBudget(max_pages)
        self.documents: Counter[str] = Counter()  # documents_found / _stored / _dropped_*
        self.stored_urls: set[str] = set()
        self.landed_urls: set[str] = set()  # where redirects ended
        self.close_reason = ""

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider.on_spider_error, signal=signals.spider_error)
        return spider

    # --- seeds -----------------------------------------------------------------------

    async def start(self):
        self.restore_state()
        for request in self.seed_requests():
            yield request

    def seed_requests(self) -> Iterator[scrapy.Request]:
        """The first requests of every source, in config order (known URLs are left out,
        so a resumed crawl only adds what it had not met)."""
        for source in self.sources.values():
            if isinstance(source, HtmlSource):
                if source.discover_sitemaps:
                    hosts = dict.fromkeys(origin_of(u) for u in source.start_urls + source.sitemaps)
                    for origin in hosts:
                        yield from self._listing_request(f"{origin}/robots.txt", source,
                                                         "robots_txt", self.parse_robots_txt)
                for url in source.sitemaps:
                    yield from self._sitemap_request(url, source)
                for url in source.start_urls:
                    yield from self._consider_page(url, source)
            elif isinstance(source, RestSource):
                yield from self._listing_request(
                    rest_page_url(source.collection, source.per_page, 1), source, "rest_page",
                    self.parse_rest_page, page_number=1)
            elif isinstance(source, PluginApiSource):
                for slug in self._slugs(source):
                    yield from self._plugin_info_request(slug, source)
                pages = -(-source.popular // QUERY_PLUGINS_MAX_PER_PAGE)
                per_page = min(source.popular, QUERY_PLUGINS_MAX_PER_PAGE)
                for number in range(1, pages + 1):
                    wanted = min(per_page, source.popular - (number - 1) * per_page)
                    yield from self._listing_request(
                        query_plugins_url(source.api, per_page, number), source, "plugin_query",
                        self.parse_plugin_query, wanted=wanted)
            elif isinstance(source, ReadmeSource):
                for slug in self._slugs(source):
                    yield from self._document_request(readme_url(source.url, slug), source,
                                                      "readme", self.parse_readme, slug=slug)
            elif isinstance(source, MarkdownSource):
                yield from self._listing_request(source.manifest, source, "manifest",
                                                 self.parse_manifest)

    def _slugs(self, source: PluginApiSource | ReadmeSource) -> tuple[str, ...]:
        return source.slugs if source.slugs is not None else self.default_slugs

    # --- html ------------------------------------------------------------------------

    def parse_sitemap(self, response: Response):
        source = self._source(response)
        sitemap = parse_sitemap(response.body)
        if sitemap.kind == "invalid":
            self._settle(response.meta, FAILED, "invalid_sitemap")
            self.logger.warning("not a sitemap: %s", response.url)
            return
        self._settle(response.meta, *fetch_state(response))
        for url in sitemap.locs:
            if sitemap.kind == "sitemapindex":
                yield from self._sitemap_request(url, source)
            else:
                yield from self._consider_page(url, source)

    def parse_robots_txt(self, response: Response):
        """Sitemap discovery: the sitemaps a host's robots.txt names, else WordPress's
        /wp-sitemap.xml."""
        source = self._source(response)
        self._settle(response.meta, *fetch_state(response))
        text = response_text(response) or ""
        sitemaps = list(Protego.parse(text).sitemaps) or [f"{origin_of(response.url)}/wp-sitemap.xml"]
        for url in sitemaps:
            yield from self._sitemap_request(url, source)

    def parse_page(self, response: Response):
        source = self._source(response)
        landed = strip_fragment(response.url)
        if landed != response.meta["wpqa_url"]:
            # A redirect landed on `landed`. Do not ask the ledger whether `landed` is met:
            # the dupefilter lets one request per URL through, and this redirected one got
            # through, so a request met for `landed` by a link was (or will be) dropped
            # and settled as the duplicate; its ledger entry does not mean that request
            # stores the page. Skipping here too lost the page when the link was met
            # between the redirect hop and its reply. A page already stored from
            # elsewhere is dropped by `_emit`.
            if landed in self.landed_urls:
                self._settle(response.meta, SKIPPED, SKIP_DUPLICATE)
                return
            self.landed_urls.add(landed)
        text = response_text(response, html=True)
        if text is None:
            self._settle(response.meta, SKIPPED, SKIP_WRONG_TYPE)
            return
        meta = {"body_selector": source.body_selector} if source.body_selector else {}
        yield from self._emit(response, landed, text, KIND_HTML, meta)
        for url in extract_links(text, response.url):
            if url not in self.ledger:  # most links lead to pages met already
                yield from self._consider_page(url, source)

    def _sitemap_request(self, url: str, source: HtmlSource) -> Iterator[scrapy.Request]:
        if not is_allowed_domain(url, source.allowed_domains):
            self.ledger.skip(url, source.name, "sitemap", SKIP_OFFSITE)
            return
        yield from self._listing_request(url, source, "sitemap", self.parse_sitemap)

    def _consider_page(self, url: str, found_by: HtmlSource) -> Iterator[scrapy.Request]:
        """Request a page URL if it is new and inside an html source's rules."""
        url = strip_fragment(url)
        if url in self.ledger:
            return
        decision = classify_url(url, self.html_sources)
        if decision.source is None:
            self.ledger.skip(url, found_by.name, "page", decision.skip_reason)
            return
        yield from self._document_request(url, decision.source, "page", self.parse_page)

    def redirect_skip_reason(self, url: str, meta: dict[str, Any]) -> str | None:
        """Why a redirect hop to `url` must not be followed (SourceRulesMiddleware asks)."""
        if meta.get("wpqa_role") == "page":
            return classify_url(strip_fragment(url), self.html_sources).skip_reason
        # Anything else (sitemaps, API replies, files) must stay on the host it was on.
        return None if same_host(meta["wpqa_url"], url) else SKIP_OFFSITE

    # --- rest ------------------------------------------------------------------------

    def parse_rest_page(self, response: Response, page_number: int):
        source = self._source(response)
        page = parse_rest_page(response.body, response_headers(response), source.collection)
        if page.problem:
            self._settle(response.meta, FAILED, page.problem)
            return
        self._settle(response.meta, *fetch_state(response))
        self.documents["documents_found"] += len(page.items) + sum(page.dropped.values())
        for reason, count in page.dropped.items():
            self.documents[f"documents_dropped_{reason}"] += count
        for item in page.items:
            if item.link in self.stored_urls:
                self.documents["documents_dropped_duplicate_url"] += 1
            elif not self.budget.reserve():
                self.documents[f"documents_dropped_{SKIP_PAGE_LIMIT}"] += 1
            else:
                yield self._keep(FetchedDocument(
                    url=item.link, status=response.status, headers={}, body=item.body,
                    source=source.name, kind=KIND_REST_ITEM, meta=item.meta))
        for number in next_rest_pages(page_number, page, source.per_page):
            url = rest_page_url(source.collection, source.per_page, number)
            if self.budget.remaining == 0:
                self.ledger.skip(url, source.name, "rest_page", SKIP_PAGE_LIMIT)
            else:
                yield from self._listing_request(url, source, "rest_page", self.parse_rest_page,
                                                 page_number=number)

    # --- plugin directory ------------------------------------------------------------

    def parse_plugin_query(self, response: Response, wanted: int):
        source = self._source(response)
        listing = parse_query_plugins(response.body)
        if listing.problem:
            self._settle(response.meta, FAILED, listing.problem)
            return
        self._settle(response.meta, *fetch_state(response))
        for slug in listing.slugs[:wanted]:
            yield from self._plugin_info_request(slug, source)

    def _plugin_info_request(self, slug: str, source: PluginApiSource):
        yield from self._document_request(plugin_info_url(source.api, slug), source,
                                          "plugin_info", self.parse_plugin_info, slug=slug)

    def parse_plugin_info(self, response: Response, slug: str):
        text = response_text(response)
        problem = "invalid_json" if text is None else plugin_info_problem(text)
        if problem:
            self._settle(response.meta, FAILED, problem)
            self.logger.warning("no plugin info for %r from %s: %s", slug, response.url, problem)
            return
        yield from self._emit(response, response.url, text, KIND_PLUGIN_API, {"slug": slug})

    def parse_readme(self, response: Response, slug: str):
        text = response_text(response)
        if text is None or is_html(response_headers(response).get("content-type", "")):
            self._settle(response.meta, SKIPPED, SKIP_WRONG_TYPE)
            return
        yield from self._emit(response, response.url, text, KIND_README, {"slug": slug})

    # --- markdown handbooks ----------------------------------------------------------

    def parse_manifest(self, response: Response):
        source = self._source(response)
        manifest = parse_manifest(response.body, response.url)
        if manifest.problem:
            self._settle(response.meta, FAILED, manifest.problem)
            return
        self._settle(response.meta, *fetch_state(response))
        if manifest.invalid_entries:
            self.documents["documents_found"] += manifest.invalid_entries
            self.documents["documents_dropped_invalid_item"] += manifest.invalid_entries
        for entry in manifest.entries:
            yield from self._document_request(
                entry.url, source, "markdown", self.parse_markdown, title=entry.title,
                slug=entry.slug, parent=entry.parent, manifest=source.manifest)

    def parse_markdown(self, response: Response, title: str, slug: str, parent: str,
                       manifest: str):
        text = response_text(response)
        if text is None or is_html(response_headers(response).get("content-type", "")):
            self._settle(response.meta, SKIPPED, SKIP_WRONG_TYPE)
            return
        meta = {"title": title, "slug": slug, "parent": parent, "manifest": manifest}
        yield from self._emit(response, response.url, text, KIND_MARKDOWN, meta)

    # --- failures --------------------------------------------------------------------

    def on_error(self, failure: Failure) -> None:
        state, reason = failure_outcome(failure)
        self._settle(failure.request.meta, state, reason)
        if state == FAILED:
            self.logger.warning("failed %s: %s (%s)", failure.request.meta.get("wpqa_url"),
                                reason, failure.getErrorMessage())

    def on_request_dropped(self, request: scrapy.Request, spider=None) -> None:
        """The scheduler refused a request: a redirect back into its own chain (a loop) or
        onto a URL already requested (a duplicate)."""
        url = request.meta.get("wpqa_url")
        if url is None or self.ledger.state_of(url) != PENDING:
            return
        if request.url in request.meta.get("redirect_urls", ()):
            self._settle(request.meta, FAILED, "redirect_loop")
        else:
            self._settle(request.meta, SKIPPED, SKIP_DUPLICATE)

    def on_spider_error(self, failure: Failure, response: Response, spider=None) -> None:
        """A callback raised: the URL fails as parse_error instead of staying pending."""
        url = response.meta.get("wpqa_url") if response.request is not None else None
        if url is not None and self.ledger.state_of(url) == PENDING:
            self._settle(response.meta, FAILED, "parse_error")

    # --- books -----------------------------------------------------------------------

    def _source(self, response: Response):
        return self.sources[response.meta["wpqa_source"]]

    def _listing_request(self, url: str, source, role: str, callback, **cb_kwargs):
        if self.ledger.meet(url, source.name, role):
            yield self._request(url, source, role, callback, cb_kwargs, LISTING_PRIORITY,
                                reserved=False)

    def _document_request(self, url: str, source, role: str, callback, **cb_kwargs):
        if url in self.ledger:
            return
        if not self.budget.reserve():
            self.ledger.skip(url, source.name, role, SKIP_PAGE_LIMIT)
            return
        self.ledger.meet(url, source.name, role)
        yield self._request(url, source, role, callback, cb_kwargs, 0, reserved=True)

    def _request(self, url, source, role, callback, cb_kwargs, priority, reserved):
        meta = {"wpqa_url": url, "wpqa_source": source.name, "wpqa_role": role,
                "wpqa_reserved": reserved}
        if role == "robots_txt":
            meta["dont_obey_robotstxt"] = True  # robots.txt itself is always allowed
        return scrapy.Request(url, callback=callback, errback=self.on_error, priority=priority,
                              cb_kwargs=cb_kwargs, meta=meta)

    def _settle(self, meta: dict[str, Any], state: str, reason: str = "") -> None:
        """Put a request's URL in its final state; give back the page slot it held when
        it stores no page."""
        self.ledger.finish(meta["wpqa_url"], state, reason)
        if meta.get("wpqa_reserved") and not meta.get("wpqa_stored"):
            meta["wpqa_reserved"] = False
            self.budget.release()

    def _emit(self, response: Response, url: str, text: str, kind: str, meta: dict[str, str]):
        """Store the document of a single-document response and settle its URL."""
        self.documents["documents_found"] += 1
        if url in self.stored_urls:  # e.g. a redirect onto a page stored from a REST item
            self.documents["documents_dropped_duplicate_url"] += 1
            self._settle(response.meta, SKIPPED, SKIP_DUPLICATE)
            return
        document = FetchedDocument(url=url, status=response.status,
                                   headers=response_headers(response), body=text,
                                   source=response.meta["wpqa_source"], kind=kind, meta=meta)
        response.meta["wpqa_stored"] = True
        self._settle(response.meta, *fetch_state(response))
        yield self._keep(document)

    def _keep(self, document: FetchedDocument) -> FetchedDocument:
        self.stored_urls.add(document.url)
        self.documents["documents_stored"] += 1
        return document

    # --- job folder ------------------------------------------------------------------

    def closed(self, reason: str) -> None:
        self.close_reason = reason
        if self.job_dir is not None:
            self.job_dir.mkdir(parents=True, exist_ok=True)
            state = {"close_reason": reason, "ledger": self.ledger.to_state(),
                     "budget_used": self.budget.used, "documents": dict(self.documents),
                     "stored_urls": sorted(self.stored_urls),
                     "landed_urls": sorted(self.landed_urls)}
            tmp = self.job_dir / (STATE_FILE + ".tmp")
            tmp.write_text(json.dumps(state), encoding="utf-8")
            tmp.replace(self.job_dir / STATE_FILE)

    def restore_state(self) -> None:
        if self.job_dir is None or not (self.job_dir / STATE_FILE).is_file():
            return
        state_file = self.job_dir / STATE_FILE
        state = json.loads(state_file.read_text(encoding="utf-8"))
        # Written again when this run closes cleanly; a run killed before that leaves no
        # state file, and the next run refuses a queue that no longer matches its books.
        state_file.unlink()
        self.ledger = UrlLedger.from_state(state["ledger"])
        self.budget.used = int(state["budget_used"])
        self.documents = Counter(state["documents"])
        self.stored_urls = set(state["stored_urls"])
        self.landed_urls = set(state["landed_urls"])
        self.logger.info("resuming: %d URLs met before, %d still pending", len(self.ledger),
                         len(self.ledger.pending()))

