"""`wpqa crawl`: the scrape stage's spider over any sources file.

    wpqa crawl --sources FILE.yaml --out DIR [--max-pages N] [--profile NAME]
               [--job-dir DIR] [--cache-dir DIR | --no-cache] [--delay SECONDS]

Writes `pages.jsonl`, `summary.json` and `crawl_log.jsonl` to DIR (see `scraping.crawl`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scraping.crawl import (CRAWL_LOG_FILE, DEFAULT_CACHE_DIR, PAGES_FILE, SUMMARY_FILE,
                            CrawlError, CrawlOptions, check_books, report_line, run_crawl,
                            sample_origin, write_outputs)
from scraping.serve import SAMPLE_SITE_ROOT
from scraping.settings import USER_AGENT as DEFAULT_USER_AGENT
from scraping.sources import SourcesError, load_sources


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="wpqa crawl",
        description="Crawl the sources of a sources file with the scrape stage's spider.",
        epilog="exit status: 0 pages stored; 1 interrupted (resume with the same command) or no "
        "page stored; 2 a bad sources file, profile or arguments.")
    parser.add_argument("--sources", required=True, help="sources YAML file (see README)")
    parser.add_argument("--out", required=True,
                        help=f"folder for {PAGES_FILE}, {SUMMARY_FILE} and {CRAWL_LOG_FILE}")
    parser.add_argument("--profile", default=None,
                        help="profile to crawl when the file holds several (e.g. live)")
    parser.add_argument("--max-pages", type=int, default=100_000,
                        help="store at most this many pages (default 100000)")
    parser.add_argument("--delay", type=float, default=0.0,
                        help="seconds between requests to one host; never below the "
                             "file's crawl.min_download_delay (default 1.0)")
    parser.add_argument("--user-agent", default=DEFAULT_USER_AGENT, help="User-Agent to send")
    parser.add_argument("--slugs", default="",
                        help="comma-separated plugin slugs for plugin_api/readme sources "
                             "that list none")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR,
                        help=f"HTTP cache folder (default {DEFAULT_CACHE_DIR})")
    parser.add_argument("--no-cache", action="store_true", help="crawl without the HTTP cache")
    parser.add_argument("--job-dir", default=None,
                        help="job folder: stop with one Ctrl-C, run again to resume")
    parser.add_argument("--site-url", default=None,
                        help="origin of a running sample site for a profile with {origin}")
    parser.add_argument("--site-root", default=str(SAMPLE_SITE_ROOT),
                        help="sample site folder to serve for a profile with {origin}")
    args = parser.parse_args(argv)
    if args.max_pages < 1:
        parser.error(f"--max-pages: got {args.max_pages}; allowed: a whole number >= 1")
    if args.delay < 0:
        parser.error(f"--delay: got {args.delay}; allowed: a number >= 0")
    return args


def crawl_command(argv: list[str] | None = None) -> int:
    """`wpqa crawl`: exit 0 when the crawl finished, 1 when it stored nothing or was
    interrupted (the job folder resumes it), 2 when the sources or options are bad."""
    args = parse_args(argv)
    out = Path(args.out)
    slugs = tuple(s.strip() for s in args.slugs.split(",") if s.strip())
    try:
        with sample_origin(args.sources, args.profile, args.site_url, args.site_root) as origin:
            profile = load_sources(args.sources, args.profile, origin=origin)
            options = CrawlOptions(
                user_agent=args.user_agent, download_delay=args.delay,
                max_pages=args.max_pages, default_slugs=slugs,
                cache_dir=None if args.no_cache else args.cache_dir, job_dir=args.job_dir,
                origin=origin or "")
            result = run_crawl(profile, options)
    except (SourcesError, CrawlError, FileNotFoundError) as err:
        print(f"wpqa crawl: {err}", file=sys.stderr)
        return 2
    check_books(result)
    write_outputs(out, result)
    print(f"wpqa crawl: {report_line(result)}", file=sys.stderr)
    if not result.finished:
        print(f"wpqa crawl: interrupted ({result.close_reason}); {out / SUMMARY_FILE} has the "
              f"counts so far; run the same command again"
              f"{' (same --job-dir)' if args.job_dir else ' with --job-dir to resume next time'}",
              file=sys.stderr)
        return 1
    if not result.pages:
        print(f"wpqa crawl: no pages stored; {out / CRAWL_LOG_FILE} says why for each URL",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(crawl_command())
