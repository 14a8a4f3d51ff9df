"""Crawl throughput: our spiders vs a plain threaded fetch of the same URLs.

    python benchmarks/bench_scrape.py [--copies N] [--rounds R]

Serves the bundled sample site on loopback, runs the scrape stage's crawl (both spiders,
the real settings: robots.txt, AutoThrottle, 4 requests per host, download_delay 0) once
in this process, then fetches the very URLs it stored with urllib from a thread pool of
the same width, and prints pages/s for both and their ratio. `--copies N` serves a
larger site (the documentation area repeated N times) to see steady-state rates rather
than start-up cost. Twisted's reactor starts once per process, so the crawl runs once;
the plain fetch is repeated `--rounds` times and its median taken.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scraping import settings as crawl_defaults  # noqa: E402
from scraping.build_sitemap import UNLISTED, build_sitemap  # noqa: E402
from scraping.scrape import run_crawl  # noqa: E402
from scraping.serve import SAMPLE_SITE_ROOT, serve_sample_site  # noqa: E402
from scraping.sources import SOURCES_PATH, load_sources  # noqa: E402
from scraping.urls import rewrite_origin  # noqa: E402
from wpqa.params import load_params  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def make_copied_site(target: Path, copies: int) -> Path:
    """The sample site with its documentation pages repeated under /documentation/copy-K/."""
    shutil.copytree(SAMPLE_SITE_ROOT, target)
    docs = SAMPLE_SITE_ROOT / "documentation"
    for k in range(2, copies + 1):
        for index in docs.rglob("index.html"):
            relative = index.parent.relative_to(docs)
            if relative.parts[:1] == ("internal",):
                continue
            folder = target / "documentation" / f"copy-{k}" / relative
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(index, folder / "index.html")
    build_sitemap(target, UNLISTED)
    return target


def fetch_all(urls: list[str], workers: int) -> float:
    """Seconds to GET every URL with urllib from `workers` threads."""
    def fetch(url: str) -> int:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                resp.read()
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fetch, urls))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1, help="documentation area copies")
    parser.add_argument("--rounds", type=int, default=5, help="plain-fetch repetitions")
    args = parser.parse_args()

    params = replace(load_params(REPO / "params.yaml").scrape, download_delay=0.0)
    workers = crawl_defaults.CONCURRENT_REQUESTS_PER_DOMAIN
    with tempfile.TemporaryDirectory() as tmp:
        root = SAMPLE_SITE_ROOT if args.copies <= 1 else make_copied_site(Path(tmp) / "site",
                                                                          args.copies)
        with serve_sample_site(root) as server:
            sources = load_sources(SOURCES_PATH, "sample", origin=server.base_url)
            params = replace(params, max_pages=100_000)
            result = run_crawl(sources, params, origin=server.base_url)
            urls = [rewrite_origin(page.url, sources.public_origin, server.base_url)
                    for page in result.pages]
            fetch_all(urls, workers)  # warm-up
            plain = statistics.median(fetch_all(urls, workers) for _ in range(args.rounds))

    pages = len(result.pages)
    spider_rate, plain_rate = pages / result.seconds, pages / plain
    print(f"\nsite: {pages} documents ({args.copies} cop{'y' if args.copies == 1 else 'ies'} "
          f"of the documentation area)")
    print(f"scrapy spiders (robots.txt, sitemap, AutoThrottle, {workers}/host): "
          f"{result.seconds:.2f} s -> {spider_rate:.0f} pages/s")
    print(f"plain urllib, {workers} threads, same URLs (median of {args.rounds}): "
          f"{plain:.3f} s -> {plain_rate:.0f} pages/s")
    print(f"ratio spiders / plain fetch: {spider_rate / plain_rate:.2f}")


if __name__ == "__main__":
    main()
