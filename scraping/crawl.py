"""Run the docs spider over a sources profile: the crawl of the scrape stage and of
`wpqa crawl` (`commands/crawl.py`).

`run_crawl()` is the one crawl both use: the same spider, settings and books. It writes
nothing itself; `write_outputs()` writes to a folder:

- `pages.jsonl`: one `wpqa.records.Page` per stored document, sorted by URL (only when
  the crawl ran to its end);
- `summary.json`: flat counts; every URL met is fetched, not_modified, failed or
  skipped (`urls_met` is their sum), every document found is stored or dropped;
- `crawl_log.jsonl`: one row per URL met: url, source, role, state, reason.

Politeness: robots.txt is obeyed, the user agent says who we are, AutoThrottle keeps at
least the profile's `crawl.min_download_delay` between requests to one host (1 s unless
the file says otherwise), Retry-After is honoured. Increments: the HTTP cache (RFC 2616
policy, conditional requests, `--cache-dir`, default `.cache/scrapy`) makes a re-crawl of
an unchanged site answer from the cache or with 304s; `--job-dir` keeps the request
queue and the books, so a crawl stopped with Ctrl-C (once) resumes where it stopped.
"""
from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from scraping.items import PAGE_KINDS
from scraping.ledger import UrlLedger, summary_adds_up
from scraping.pipelines import ORIGIN_SETTING, PUBLIC_ORIGIN_SETTING
from scraping.serve import serve_sample_site
from scraping.settings import USER_AGENT as DEFAULT_USER_AGENT
from scraping.sources import SourcesProfile, needs_origin
from scraping.spiders.docs import STATE_FILE, DocsSpider
from scraping.urls import rewrite_origin
from wpqa.io import dumps_row, write_json, write_jsonl
from wpqa.records import Page, content_hash, from_row, to_row

log = logging.getLogger("scraping.crawl")

DEFAULT_CACHE_DIR = ".cache/scrapy"
PAGES_FILE = "pages.jsonl"
SUMMARY_FILE = "summary.json"
CRAWL_LOG_FILE = "crawl_log.jsonl"
JOB_PAGES_FILE = "pages.jsonl"  # pages stored so far, inside the job folder
JOB_SOURCES_FILE = "wpqa_job_sources.txt"  # which sources the job folder belongs to
# Scrapy stats worth a line in the summary: how much the cache and the retries did.
STATS_IN_SUMMARY = {
    "httpcache/hit": "http_cache_fresh",
    "httpcache/revalidate": "http_cache_revalidated",
    "httpcache/miss": "http_cache_missed",
    "httpcache/invalidate": "http_cache_changed",
    "retry/count": "requests_retried",
    "wpqa/retry_after_waits": "retry_after_waits",
    "robotstxt/request_count": "robots_txt_requests",
}


@dataclass(frozen=True)
class CrawlOptions:
    """What a crawl needs beyond its sources."""

    user_agent: str = DEFAULT_USER_AGENT
    download_delay: float = 0.0  # never below the profile's crawl.min_download_delay
    max_pages: int = 100_000
    default_slugs: tuple[str, ...] = ()  # for plugin_api/readme sources without `slugs`
    cache_dir: str | None = DEFAULT_CACHE_DIR  # None: no HTTP cache
    job_dir: str | None = None  # None: no resume
    origin: str = ""  # loopback origin of a sample site, stored as the profile's public one
    log_level: str = "INFO"


@dataclass
class CrawlResult:
    pages: list[Page]  # sorted by url
    ledger: UrlLedger
    summary: dict[str, int]
    seconds: float
    close_reason: str
    crawl_log: list[dict[str, str]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.close_reason == "finished"


class CrawlError(RuntimeError):
    """A crawl that cannot start or whose books do not add up."""


def crawl_settings(profile: SourcesProfile, options: CrawlOptions) -> Settings:
    """scraping/settings.py plus the values that come from the profile and the options."""
    limits = profile.limits
    delay = max(options.download_delay, limits.min_download_delay)
    settings = Settings()
    settings.setmodule("scraping.settings", priority="project")
    values = {
        "USER_AGENT": options.user_agent,
        "DOWNLOAD_DELAY": delay,
        "AUTOTHROTTLE_START_DELAY": delay,
        "DOWNLOAD_MAXSIZE": limits.max_page_bytes,
        "DOWNLOAD_WARNSIZE": limits.max_page_bytes,
        "DOWNLOAD_TIMEOUT": limits.download_timeout,
        "RETRY_TIMES": limits.retry_times,
        "WPQA_RETRY_AFTER_MAX": limits.retry_after_max,
        "HTTPCACHE_ENABLED": options.cache_dir is not None,
        ORIGIN_SETTING: options.origin.rstrip("/"),
        PUBLIC_ORIGIN_SETTING: profile.public_origin,
        "LOG_LEVEL": options.log_level,
    }
    if options.cache_dir is not None:
        values["HTTPCACHE_DIR"] = str(Path(options.cache_dir).resolve())
    if options.job_dir is not None:
        values["JOBDIR"] = str(Path(options.job_dir).resolve())
    settings.setdict(values, priority="cmdline")
    return settings


def run_crawl(profile: SourcesProfile, options: CrawlOptions) -> CrawlResult:
    """Crawl every source of `profile` in this process (once: Twisted's reactor cannot
    restart) and return the stored Pages with the books."""
    job_dir = Path(options.job_dir) if options.job_dir else None
    pages = check_job_dir(job_dir, sources_digest(profile))
    process = CrawlerProcess(crawl_settings(profile, options))
    crawler = process.create_crawler(DocsSpider)
    spool = open_spool(job_dir)
    dropped: Counter = Counter()

    def collect(item: Page) -> None:
        pages.append(item)
        if spool is not None:
            spool.write(dumps_row(to_row(item)) + "\n")
            spool.flush()

    def count_drop(item, response, exception, spider=None) -> None:
        dropped[str(exception).split(":")[0]] += 1

    crawler.signals.connect(collect, signal=signals.item_scraped)
    crawler.signals.connect(count_drop, signal=signals.item_dropped)
    process.crawl(crawler, profile=profile, max_pages=options.max_pages,
                  default_slugs=options.default_slugs,
                  job_dir=str(job_dir) if job_dir else None)
    started = time.monotonic()
    try:
        process.start()
    finally:
        if spool is not None:
            spool.close()
    seconds = time.monotonic() - started
    spider = crawler.spider
    if spider is None or not spider.close_reason:
        raise CrawlError("the crawl did not start or did not close; see the log above")
    if spider.close_reason == "finished":
        lost = spider.ledger.fail_pending()
        if lost:
            log.error("%d URLs were still pending when the crawl ended; counted as failed "
                      "(lost)", lost)
    pages = sorted(pages, key=lambda page: page.url)
    summary = build_summary(pages, spider.ledger, spider.documents, dropped,
                            crawler.stats.get_stats(), profile.names)
    crawl_log = sorted((dict(row, url=rewrite_origin(row["url"], options.origin,
                                                     profile.public_origin))
                        for row in spider.ledger.rows()), key=lambda row: row["url"])
    return CrawlResult(pages=pages, ledger=spider.ledger, summary=summary, seconds=seconds,
                       close_reason=spider.close_reason, crawl_log=crawl_log)


def sources_digest(profile: SourcesProfile) -> str:
    """A short hash of everything a job folder's queue depends on (sources, origins)."""
    return content_hash(repr(profile))


def check_job_dir(job_dir: Path | None, digest: str) -> list[Page]:
    """The pages a previous run of this job stored. Fails on a job folder made for other
    sources, or left by a crash (its queue and books no longer match)."""
    if job_dir is None:
        return []
    marker = job_dir / JOB_SOURCES_FILE
    if marker.exists() and marker.read_text(encoding="utf-8").strip() != digest:
        raise CrawlError(f"{job_dir}: this job folder belongs to a crawl of other sources (or "
                         "of a sample site on another port); use a new --job-dir, or delete it")
    job_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(digest + "\n", encoding="utf-8")
    has_queue = (job_dir / "requests.seen").exists() or (job_dir / "requests.queue").exists()
    if has_queue and not (job_dir / STATE_FILE).exists():
        raise CrawlError(f"{job_dir}: this job folder was not closed cleanly (killed rather "
                         "than stopped with one Ctrl-C), so it cannot resume; delete it and "
                         "crawl again (the HTTP cache keeps what was already fetched)")
    spooled = job_dir / JOB_PAGES_FILE
    if not spooled.exists():
        return []
    pages = []
    for line in spooled.read_text(encoding="utf-8").splitlines():
        if line.strip():
            pages.append(from_row(Page, json.loads(line)))
    return pages


def open_spool(job_dir: Path | None):
    if job_dir is None:
        return None
    job_dir.mkdir(parents=True, exist_ok=True)
    return open(job_dir / JOB_PAGES_FILE, "a", encoding="utf-8")


def build_summary(pages: Iterable[Page], ledger: UrlLedger, documents: Counter | dict,
                  pipeline_drops: Counter | dict, stats: dict,
                  source_names: Iterable[str]) -> dict[str, int]:
    """Flat snake_case counts: the URL books, the document books, pages per kind and
    source, and what the cache and the retries did."""
    pages = list(pages)
    summary = ledger.summary()
    summary.update({"documents_found": 0, "documents_stored": 0})
    summary.update({key: int(value) for key, value in documents.items()})
    for reason, count in pipeline_drops.items():
        summary[f"documents_dropped_{reason}"] = summary.get(f"documents_dropped_{reason}", 0) + count
        summary["documents_stored"] -= count
    summary["pages_stored"] = len(pages)
    summary.update({f"pages_{kind}": 0 for kind in PAGE_KINDS})
    summary.update({f"pages_from_{name}": 0 for name in source_names})
    for page in pages:
        summary[f"pages_{page.kind}"] += 1
        summary[f"pages_from_{page.source}"] += 1
    for stat, key in STATS_IN_SUMMARY.items():
        summary[key] = int(stats.get(stat, 0))
    return dict(sorted(summary.items()))


def documents_add_up(summary: dict[str, int]) -> bool:
    dropped = sum(v for k, v in summary.items() if k.startswith("documents_dropped_"))
    return summary["documents_found"] == summary["documents_stored"] + dropped


def check_books(result: CrawlResult) -> None:
    """Raise CrawlError when the summary does not add up (a bug, never a site's fault)."""
    summary = result.summary
    problems = []
    if not summary_adds_up(summary) or summary["urls_state_conflicts"]:
        problems.append("the URL states do not add up to urls_met")
    if not documents_add_up(summary):
        problems.append("stored and dropped documents do not add up to documents_found")
    if result.finished and summary["pages_stored"] != summary["documents_stored"]:
        problems.append("pages_stored differs from documents_stored")
    if problems:
        raise CrawlError("crawl summary: " + "; ".join(problems) + f": {summary}")


@contextlib.contextmanager
def sample_origin(path: str | Path, profile: str | None, site_url: str | None,
                  site_root: str | Path) -> Iterator[str | None]:
    """The loopback origin a profile's `{origin}` stands for: `site_url` when given, else a
    server for `site_root` started here for the crawl; None for real sites."""
    if not needs_origin(path, profile):
        yield None
    elif site_url:
        yield site_url.rstrip("/")
    else:
        with serve_sample_site(site_root) as server:
            log.info("serving %s at %s", server.root, server.base_url)
            yield server.base_url


def write_outputs(out: Path, result: CrawlResult, pages_file: Path | None = None,
                  summary_file: Path | None = None, log_file: Path | None = None) -> None:
    """Write the summary and the crawl log always, the pages when the crawl finished and
    stored some."""
    write_json(summary_file or out / SUMMARY_FILE, result.summary)
    write_jsonl(log_file or out / CRAWL_LOG_FILE, result.crawl_log)
    if result.finished and result.pages:
        write_jsonl(pages_file or out / PAGES_FILE, (to_row(page) for page in result.pages))


def report_line(result: CrawlResult) -> str:
    s = result.summary
    rate = s["urls_fetched"] / result.seconds if result.seconds else 0.0
    return (f"{s['pages_stored']} pages stored; {s['urls_met']} URLs met: {s['urls_fetched']} "
            f"fetched, {s['urls_not_modified']} not modified, {s['urls_failed']} failed, "
            f"{s['urls_skipped']} skipped, {s['urls_pending']} pending; "
            f"{result.seconds:.1f} s ({rate:.0f} fetched/s)")
