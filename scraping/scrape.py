"""The scrape stage: crawl the configured sources and store every fetched document.

    python -m scraping.scrape --params params.yaml --sources scraping/sources.yaml \\
        --out data/raw --metrics reports/scrape/metrics.json

Reads params.yaml `scrape` and the `scrape.profile` entry of the sources file. For the
`sample` profile it serves scraping/sample_site on a loopback port and crawls it over
HTTP; `live` crawls the real sites. The crawl is `scraping.crawl.run_crawl`, the same one
`wpqa crawl` runs. Writes:

- `<out>/pages.jsonl`: one `wpqa.records.Page` row per stored document, sorted by url.
  Loopback urls are stored under the profile's public origin and only stable headers
  are kept, so two runs over the same site give identical bytes.
- the metrics file: the crawl summary, flat snake_case counts. Every URL met ends
  fetched, not_modified, failed or skipped (`urls_met` adds them up); every document
  found is stored or dropped with a reason.
- the crawl log (default: `crawl_log.jsonl` beside the metrics): one row per URL.

The HTTP cache (`--cache-dir`, default .cache/scrapy, outside every DVC output) makes a
re-run against an unchanged site fetch almost nothing; `--job-dir` lets an interrupted
live crawl resume. Exits 2 on bad params or sources, 1 when nothing was stored or the
crawl was interrupted (nothing is written to `--out` then).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from scraping.crawl import (CRAWL_LOG_FILE, DEFAULT_CACHE_DIR, PAGES_FILE, CrawlError,
                            CrawlOptions, CrawlResult, check_books, report_line, run_crawl,
                            sample_origin, write_outputs)
from scraping.serve import SAMPLE_SITE_ROOT
from scraping.sources import SourcesError, load_sources
from wpqa.params import ParamsError, ScrapeParams, load_params

log = logging.getLogger("scraping.scrape")


def scrape(params: ScrapeParams, sources_path: str | Path, site_root: str | Path,
           site_url: str | None = None, cache_dir: str | None = DEFAULT_CACHE_DIR,
           job_dir: str | None = None) -> CrawlResult:
    """Crawl the profile's sources; a profile with `{origin}` crawls `site_url`, or
    `site_root` served on a loopback port for the crawl."""
    with sample_origin(sources_path, params.profile, site_url, site_root) as origin:
        profile = load_sources(sources_path, params.profile, origin=origin)
        options = CrawlOptions(
            user_agent=params.user_agent, download_delay=params.download_delay,
            max_pages=params.max_pages, default_slugs=params.plugin_slugs,
            cache_dir=cache_dir, job_dir=job_dir, origin=origin or "")
        return run_crawl(profile, options)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scraping.scrape",
                                     description="The scrape stage: fetch documentation pages.")
    parser.add_argument("--params", default="params.yaml", help="params file (reads `scrape`)")
    parser.add_argument("--out", default="data/raw", help=f"folder for {PAGES_FILE}")
    parser.add_argument("--metrics", default="reports/scrape/metrics.json",
                        help="metrics JSON file (the crawl summary)")
    parser.add_argument("--crawl-log", default=None,
                        help=f"one row per URL met (default: {CRAWL_LOG_FILE} beside --metrics)")
    parser.add_argument("--sources", default="scraping/sources.yaml", help="sources config")
    parser.add_argument("--site-root", default=str(SAMPLE_SITE_ROOT),
                        help="sample site folder served for the sample profile")
    parser.add_argument("--site-url", default=None,
                        help="origin of an already running sample site to crawl instead of "
                             "serving --site-root (e.g. http://127.0.0.1:8000)")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR,
                        help=f"HTTP cache folder (default {DEFAULT_CACHE_DIR})")
    parser.add_argument("--no-cache", action="store_true", help="crawl without the HTTP cache")
    parser.add_argument("--job-dir", default=None,
                        help="job folder to resume an interrupted crawl from")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        params = load_params(args.params).scrape
        result = scrape(params, args.sources, args.site_root, args.site_url,
                        cache_dir=None if args.no_cache else args.cache_dir,
                        job_dir=args.job_dir)
    except (ParamsError, SourcesError, CrawlError, FileNotFoundError) as err:
        print(f"scrape: {err}", file=sys.stderr)
        return 2
    check_books(result)
    metrics = Path(args.metrics)
    crawl_log = Path(args.crawl_log) if args.crawl_log else metrics.parent / CRAWL_LOG_FILE
    write_outputs(Path(args.out), result, summary_file=metrics, log_file=crawl_log)
    log.info("scrape: %s", report_line(result))
    if not result.finished:
        print(f"scrape: interrupted ({result.close_reason}); {args.out} is unchanged; run again"
              f"{' with the same --job-dir to resume' if args.job_dir else ''}",
              file=sys.stderr)
        return 1
    if not result.pages:
        print(f"scrape: no pages stored (profile {params.profile!r}); {crawl_log} says why for "
              "each URL: check the sources, robots.txt and the network", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
