"""Downloader middlewares and the request fingerprinter that make the crawl polite and
its books exact.

- `SourceRulesMiddleware` checks every redirect hop against the rules of the source that
  asked for the URL, before robots.txt or the network see it: a redirect off the
  source's domains or outside its allowed paths is skipped, never fetched.
- `ObeyRobotsMiddleware` is Scrapy's robots.txt middleware with a reason the crawl can
  count (`robots`) instead of a bare IgnoreRequest, and RFC 9309's rule for a robots.txt
  that fails with a server error: the whole host is disallowed (Scrapy would allow it).
- `RetryAfterMiddleware` is Scrapy's retry middleware that also honours `Retry-After` on
  429 and 503: no request goes to that host until the time is up. A host that asks for
  longer than `crawl.retry_after_max` is given up for this crawl; its URLs fail as
  `rate_limited` (a resumed crawl tries again).
- `CacheRevalidationMiddleware` notes when the HTTP cache's copy was confirmed by a 304,
  so the crawl can tell `revalidated` from `fresh`; `RevalidationAutoThrottle` lets a
  304 lower the delay as a 200 does (Scrapy's AutoThrottle only ever raises it on a
  non-200, so a re-crawl answered with 304s crawled ten times slower than the first).
- `PublicUrlFingerprinter` fingerprints requests by their public URL, and
  `PublicUrlCacheStorage` stores response URLs under the public origin, so the HTTP
  cache and the job folder of a loopback sample crawl survive the port changing between
  runs.
"""
from __future__ import annotations

import logging
import time
from weakref import WeakKeyDictionary

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.extensions.httpcache import FilesystemCacheStorage
from scrapy.extensions.throttle import AutoThrottle
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.request import RequestFingerprinter
from twisted.internet import task

from scraping.pipelines import ORIGIN_SETTING, PUBLIC_ORIGIN_SETTING
from scraping.urls import rewrite_origin
from wpqa.retry_after import retry_after_seconds

log = logging.getLogger(__name__)

RETRY_AFTER_MAX_SETTING = "WPQA_RETRY_AFTER_MAX"
REVALIDATED_FLAG = "wpqa_revalidated"  # request.meta key set on a 304 revalidation
RETRY_AFTER_CODES = (429, 503)


class SkippedRequest(IgnoreRequest):
    """A request the crawl decided not to send, with the counted reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"skipped ({reason}){': ' + detail if detail else ''}")
        self.reason = reason


class RateLimitedRequest(IgnoreRequest):
    """A request to a host that asked the crawl to wait longer than it is willing to."""


class SourceRulesMiddleware:
    """Skips redirect hops that leave the rules of the request's source.

    The spider decides (`redirect_skip_reason(url, meta)`); this middleware only runs it
    on every redirected request, which the spider's callbacks never see.
    """

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        if not request.meta.get("redirect_urls"):
            return None
        decide = getattr(self.crawler.spider, "redirect_skip_reason", None)
        reason = decide(request.url, request.meta) if decide else None
        if reason:
            raise SkippedRequest(reason, f"redirected to {request.url}")
        return None


DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"


class ObeyRobotsMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, raising a SkippedRequest the crawl can count."""

    async def _parse_robots(self, response, netloc, request) -> None:
        if response.status >= 500:  # RFC 9309 2.3.1.4: unreachable means complete disallow
            log.warning("%s/robots.txt answered %d: no page of %s is requested",
                        netloc, response.status, netloc)
            response = response.replace(body=DISALLOW_ALL)
        await super()._parse_robots(response, netloc, request)

    def process_request_2(self, rp, request) -> None:
        try:
            super().process_request_2(rp, request)
        except SkippedRequest:
            raise
        except IgnoreRequest:
            raise SkippedRequest("robots") from None


class RetryAfterMiddleware(RetryMiddleware):
    """RetryMiddleware that waits out Retry-After (429, 503) for the whole host."""

    def __init__(self, settings):
        super().__init__(settings)
        self.max_wait = settings.getfloat(RETRY_AFTER_MAX_SETTING, 300.0)
        self.blocked_until: dict[str, float] = {}  # host -> monotonic time
        self.given_up: set[str] = set()

    async def process_request(self, request):
        host = urlparse_cached(request).netloc
        if host in self.given_up:
            raise RateLimitedRequest(f"{host} asked to wait longer than {self.max_wait:.0f} s")
        wait = self.blocked_until.get(host, 0.0) - time.monotonic()
        if wait > 0:
            from twisted.internet import reactor  # the one Scrapy installed, not a default
            await maybe_deferred_to_future(task.deferLater(reactor, wait, lambda: None))
        return None

    def process_response(self, request, response):
        if response.status in RETRY_AFTER_CODES and not request.meta.get("dont_retry"):
            wait = retry_after_seconds(response.headers.get(b"Retry-After"))
            if wait is not None:
                host = urlparse_cached(request).netloc
                if wait > self.max_wait:
                    self.given_up.add(host)
                    log.warning("%s asks to wait %.0f s (Retry-After), longer than "
                                "crawl.retry_after_max (%.0f s): its remaining URLs fail as "
                                "rate_limited; resume the crawl later", host, wait, self.max_wait)
                    self.crawler.stats.inc_value("wpqa/retry_after_given_up")
                    return response
                until = time.monotonic() + wait
                self.blocked_until[host] = max(self.blocked_until.get(host, 0.0), until)
                self.crawler.stats.inc_value("wpqa/retry_after_waits")
                log.info("%s asks to wait %.1f s (HTTP %d, Retry-After): pausing that host",
                         host, wait, response.status)
        return super().process_response(request, response)


class CacheRevalidationMiddleware:
    """Sits between the HTTP cache and the network; marks 304 replies to cache checks."""

    def process_response(self, request, response):
        if response.status == 304 and "cached_response" in request.meta:
            request.meta[REVALIDATED_FLAG] = True
        return response


class RevalidationAutoThrottle(AutoThrottle):
    """AutoThrottle that takes a 304 Not Modified for the success it is."""

    def _adjust_delay(self, slot, latency: float, response) -> None:
        if response.status == 304:
            response = response.replace(status=200)
        super()._adjust_delay(slot, latency, response)


class PublicUrlFingerprinter:
    """Scrapy's fingerprint of the request as if it went to the public origin."""

    def __init__(self, crawler):
        self.origin = crawler.settings.get(ORIGIN_SETTING, "")
        self.public_origin = crawler.settings.get(PUBLIC_ORIGIN_SETTING, "")
        self.inner = RequestFingerprinter(crawler)
        self.cache: WeakKeyDictionary = WeakKeyDictionary()  # the dupefilter and the cache both ask

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def fingerprint(self, request) -> bytes:
        if not self.origin:
            return self.inner.fingerprint(request)
        if request not in self.cache:
            public_url = rewrite_origin(request.url, self.origin, self.public_origin)
            public = request.replace(url=public_url) if public_url != request.url else request
            self.cache[request] = self.inner.fingerprint(public)
        return self.cache[request]


class PublicUrlCacheStorage(FilesystemCacheStorage):
    """Scrapy's filesystem cache, keeping response URLs under the public origin.

    A cached reply is handed back under this run's loopback origin, so links and
    redirects in it resolve against the server that is running now.
    """

    def open_spider(self, spider) -> None:
        super().open_spider(spider)
        settings = spider.crawler.settings
        self.origin = settings.get(ORIGIN_SETTING, "")
        self.public_origin = settings.get(PUBLIC_ORIGIN_SETTING, "")

    def retrieve_response(self, spider, request):
        response = super().retrieve_response(spider, request)
        if response is None or not self.origin:
            return response
        url = rewrite_origin(response.url, self.public_origin, self.origin)
        return response if url == response.url else response.replace(url=url)

    def store_response(self, spider, request, response) -> None:
        if self.origin:
            url = rewrite_origin(response.url, self.origin, self.public_origin)
            if url != response.url:
                response = response.replace(url=url)
        super().store_response(spider, request, response)
