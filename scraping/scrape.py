"""The scrape stage: crawl the configured sources and store every fetched document.

    python -m scraping.scrape --params params.yaml --out data/raw \\
        --metrics reports/scrape/metrics.json

Reads params.yaml `scrape` and the `scrape.profile` entry of scraping/sources.yaml. For
the `sample` profile it serves scraping/sample_site on a loopback port and crawls it
over HTTP; `live` crawls the real sites. Both spiders run in one Scrapy process. Writes:

- `<out>/pages.jsonl`: one `wpqa.records.Page` row per fetched document, sorted by url.
  Loopback urls are stored under the profile's public origin and only stable headers
  are kept, so two runs over the same site give identical bytes.
- the metrics file: flat snake_case counts (pages per kind and source, failed requests,
  skipped links by reason).

Exits non-zero with a message when params or sources are bad, or nothing was fetched.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from scraping.items import KIND_HTML, KIND_PLUGIN_API
from scraping.pipelines import ORIGIN_SETTING, PUBLIC_ORIGIN_SETTING
from scraping.serve import serve_sample_site
from scraping.sources import SourcesError, SourcesProfile, load_sources
from scraping.spiders.docs import DocsSpider
from scraping.spiders.plugin_api import PluginApiSpider
from wpqa.io import write_json, write_jsonl
from wpqa.params import ParamsError, ScrapeParams, load_params
from wpqa.records import Page, to_row

log = logging.getLogger("scraping.scrape")

PAGES_FILE = "pages.jsonl"
# Always present in the metrics, so a zero is visible rather than missing.
BASE_METRICS = (
    "pages_fetched", "pages_html", "pages_plugin_api",
    "requests_failed", "responses_non_2xx", "download_errors", "requests_ignored",
    "skipped_robots", "skipped_offsite", "skipped_filtered", "skipped_page_limit",
    "skipped_not_html", "skipped_redirected_out", "duplicates_dropped", "page_limit_reached",
    "sitemaps_fetched", "sitemaps_invalid", "sitemap_urls",
)


@dataclass
class CrawlResult:
    pages: list[Page]
    counts: Counter  # tallies of both spiders plus the crawl stats the metrics use
    seconds: float


def crawl_settings(params: ScrapeParams, origin: str = "", public_origin: str = "") -> Settings:
    """scraping/settings.py with the values that come from params and the profile."""
    settings = Settings()
    settings.setmodule("scraping.settings", priority="project")
    settings.setdict({
        "USER_AGENT": params.user_agent,
        "DOWNLOAD_DELAY": params.download_delay,
        "AUTOTHROTTLE_START_DELAY": params.download_delay,
        ORIGIN_SETTING: origin,
        PUBLIC_ORIGIN_SETTING: public_origin,
    }, priority="cmdline")
    return settings


def split_page_budget(max_pages: int, plugin_requests: int) -> tuple[int, int]:
    """(plugin_api budget, docs budget): plugin replies are few and planned up front, so
    they are served first and the docs crawl gets the rest of `max_pages`."""
    api = min(plugin_requests, max_pages)
    return api, max_pages - api


def run_crawl(sources: SourcesProfile, params: ScrapeParams, origin: str = "") -> CrawlResult:
    """Run both spiders over `sources` in this process (once: Twisted's reactor cannot
    restart) and return the Pages they produced with the counts for the metrics."""
    settings = crawl_settings(params, origin, sources.public_origin)
    process = CrawlerProcess(settings)
    pages: list[Page] = []

    def collect_page(item: Any) -> None:
        pages.append(item)

    plugin_requests = len(sources.plugin_api) * len(dict.fromkeys(params.plugin_slugs))
    api_budget, docs_budget = split_page_budget(params.max_pages, plugin_requests)
    crawlers = []
    if sources.html:
        crawler = process.create_crawler(DocsSpider)
        crawler.signals.connect(collect_page, signal=signals.item_scraped)
        process.crawl(crawler, sources=sources.html, max_pages=docs_budget)
        crawlers.append(crawler)
    if sources.plugin_api and params.plugin_slugs:
        crawler = process.create_crawler(PluginApiSpider)
        crawler.signals.connect(collect_page, signal=signals.item_scraped)
        process.crawl(crawler, sources=sources.plugin_api, slugs=params.plugin_slugs,
                      max_pages=api_budget)
        crawlers.append(crawler)
    started = time.monotonic()
    process.start()
    seconds = time.monotonic() - started

    counts: Counter = Counter()
    for crawler in crawlers:
        spider = crawler.spider
        if spider is None:
            raise RuntimeError(f"the {crawler.spidercls.name} spider did not start; see the log above")
        counts.update(spider.tally)
        if isinstance(spider, DocsSpider):
            counts.update({f"skipped_{reason}": n
                           for reason, n in spider.frontier.skipped_counts().items()})
        stats = crawler.stats.get_stats()
        counts["skipped_robots"] += stats.get("robotstxt/forbidden", 0)
        counts["duplicates_dropped"] += stats.get("item_dropped_count", 0)
    return CrawlResult(pages=pages, counts=counts, seconds=seconds)


def build_metrics(pages: Iterable[Page], counts: Counter | dict,
                  source_names: Iterable[str]) -> dict[str, int]:
    """Flat snake_case counts for reports/scrape/metrics.json."""
    pages = list(pages)
    metrics = {key: 0 for key in BASE_METRICS}
    metrics.update({f"pages_from_{name}": 0 for name in source_names})
    metrics.update({key: int(value) for key, value in counts.items()})
    metrics["pages_fetched"] = len(pages)
    metrics["pages_html"] = sum(p.kind == KIND_HTML for p in pages)
    metrics["pages_plugin_api"] = sum(p.kind == KIND_PLUGIN_API for p in pages)
    for page in pages:
        metrics[f"pages_from_{page.source}"] += 1
    metrics["requests_failed"] = metrics["responses_non_2xx"] + metrics["download_errors"]
    metrics["page_limit_reached"] = int(metrics["skipped_page_limit"] > 0)
    return dict(sorted(metrics.items()))


def scrape(params: ScrapeParams, sources_path: str | Path, site_root: str | Path,
           site_url: str | None = None) -> tuple[list[Page], dict[str, int]]:
    """Crawl the profile's sources; return pages sorted by url and the metrics.

    For the sample profile, `site_url` crawls an already running copy of the sample site
    (tests, benchmarks); otherwise `site_root` is served on a loopback port for the crawl.
    """
    if params.profile == "sample" and site_url is None:
        with serve_sample_site(site_root) as server:
            log.info("serving %s at %s", server.root, server.base_url)
            return crawl_sources(params, sources_path, origin=server.base_url)
    return crawl_sources(params, sources_path,
                         origin=site_url if params.profile == "sample" else None)


def crawl_sources(params: ScrapeParams, sources_path: str | Path,
                  origin: str | None) -> tuple[list[Page], dict[str, int]]:
    """Load the profile's sources (filling `{origin}`), crawl them, and measure."""
    origin = origin.rstrip("/") if origin else None
    sources = load_sources(sources_path, params.profile, origin=origin)
    result = run_crawl(sources, params, origin=origin or "")
    pages = sorted(result.pages, key=lambda page: page.url)
    names = [s.name for s in sources.html] + [s.name for s in sources.plugin_api]
    metrics = build_metrics(pages, result.counts, names)
    rate = len(pages) / result.seconds if result.seconds else 0.0
    log.info("scrape: %d pages (%d html, %d plugin_api) in %.1f s (%.0f pages/s); "
             "%d requests failed, %d skipped by robots.txt", len(pages), metrics["pages_html"],
             metrics["pages_plugin_api"], result.seconds, rate, metrics["requests_failed"],
             metrics["skipped_robots"])
    return pages, metrics


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scraping.scrape",
                                     description="The scrape stage: fetch documentation pages.")
    parser.add_argument("--params", default="params.yaml", help="params file (reads `scrape`)")
    parser.add_argument("--out", default="data/raw", help=f"folder for {PAGES_FILE}")
    parser.add_argument("--metrics", default="reports/scrape/metrics.json",
                        help="metrics JSON file")
    parser.add_argument("--sources", default="scraping/sources.yaml", help="sources config")
    parser.add_argument("--site-root", default="scraping/sample_site",
                        help="sample site folder served for the sample profile")
    parser.add_argument("--site-url", default=None,
                        help="origin of an already running sample site to crawl instead of "
                             "serving --site-root (e.g. http://127.0.0.1:8000)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        params = load_params(args.params).scrape
        pages, metrics = scrape(params, args.sources, args.site_root, args.site_url)
    except (ParamsError, SourcesError, FileNotFoundError) as err:
        print(f"scrape: {err}", file=sys.stderr)
        return 2
    write_json(args.metrics, metrics)
    if not pages:
        print(f"scrape: no pages fetched (profile {params.profile!r}); {args.metrics} says "
              "why: check the sources' sitemaps and start_urls, robots.txt and the network",
              file=sys.stderr)
        return 1
    written = write_jsonl(Path(args.out) / PAGES_FILE, (to_row(page) for page in pages))
    log.info("wrote %d pages to %s and metrics to %s", written, Path(args.out) / PAGES_FILE,
             args.metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
