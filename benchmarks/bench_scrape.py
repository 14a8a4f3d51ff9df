"""Crawl benchmarks: throughput against `scrapy bench`, and an unchanged re-crawl.

    python benchmarks/bench_scrape.py [--pages 2000] [--bench-seconds 10]

Builds a loopback documentation site of `--pages` pages (copies of the sample site's
developer handbook pages, listed in a sitemap) and serves it from its own process, so
server and crawler do not share a GIL. Then, each in a fresh process (Twisted's reactor
starts once per process):

1. `scrapy bench` on this machine: Scrapy's own loopback link-following benchmark, with
   Scrapy's defaults. Its pages/s is the baseline.
2. A first crawl with the scrape stage's spider and settings (robots.txt, sitemap,
   AutoThrottle, 4 requests per host, the HTTP cache being filled), empty cache.
3. The same crawl again, unchanged site, same cache: once with the server sending
   `Cache-Control: max-age=3600` (a docs host or CDN that lets caches reuse pages: fresh
   cache hits, no request), once with `max-age=0` (every page revalidated: a 304 each).
4. Steps 2-3 for `max-age=3600` once more with the server taking `--latency-ms` per reply
   (default 100 ms), as a real docs host does: on a zero-latency loopback the first crawl
   costs only CPU, which is not what a re-crawl saves in real use.

Prints the ratios: first-crawl pages/s over `scrapy bench` pages/s; first-crawl time over
re-crawl time; the share of re-crawled URLs answered from the cache or by a 304.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scraping.build_sitemap import build_sitemap  # noqa: E402
from scraping.serve import SAMPLE_SITE_ROOT  # noqa: E402


def make_site(target: Path, pages: int) -> int:
    """`pages` handbook pages: the sample's own under /developer/, copies under
    /developer/copy-K/ (their links lead to the originals); a sitemap and robots.txt."""
    source = sorted(p for p in (SAMPLE_SITE_ROOT / "developer").rglob("index.html")
                    if "reference" not in p.parts)
    (target / "developer").mkdir(parents=True)
    made = 0
    copy = 0
    while made < pages:
        copy += 1
        for index in source:
            if made >= pages:
                break
            relative = index.parent.relative_to(SAMPLE_SITE_ROOT / "developer")
            folder = target / "developer" / (f"copy-{copy}" if copy > 1 else "") / relative
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(index, folder / "index.html")
            made += 1
    shutil.copyfile(SAMPLE_SITE_ROOT / "robots.txt", target / "robots.txt")
    build_sitemap(target, unlisted=frozenset())
    return made


def start_server(root: Path, cache_control: str, latency_ms: float = 0.0
                 ) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "scraping.serve", "--root", str(root),
                             "--cache-control", cache_control, "--latency-ms", str(latency_ms)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"the site server did not start: {line!r}")
    return proc, match.group(1)


def crawl_once(site_url: str, cache_dir: Path) -> dict:
    """One crawl in a fresh process; returns its seconds and summary."""
    proc = subprocess.run([sys.executable, __file__, "--worker", site_url, str(cache_dir)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def worker(site_url: str, cache_dir: str) -> None:
    """Crawl the benchmark site with the stage's spider and settings; print JSON."""
    from scraping.crawl import CrawlOptions, run_crawl
    from scraping.sources import parse_sources

    profile = parse_sources({"public_origin": "https://bench.wpqa.test",
                             "crawl": {"min_download_delay": 0},
                             "sources": {"handbooks": {
                                 "kind": "html", "sitemaps": [f"{site_url}/sitemap.xml"],
                                 "allow": ["/developer/"]}}}, None)
    result = run_crawl(profile, CrawlOptions(cache_dir=cache_dir, origin=site_url,
                                             log_level="WARNING"))
    print(json.dumps({"seconds": result.seconds, "summary": result.summary}))


def scrapy_bench(seconds: int) -> tuple[int, float]:
    """(responses, seconds) of `scrapy bench`, run outside any Scrapy project."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "scrapy", "bench", "-s",
                               f"CLOSESPIDER_TIMEOUT={seconds}"],
                              cwd=tmp, capture_output=True, text=True, timeout=seconds + 120)
    out = proc.stderr + proc.stdout
    responses = re.search(r"'response_received_count': (\d+)", out)
    elapsed = re.search(r"'elapsed_time_seconds': ([\d.]+)", out)
    if not responses or not elapsed:
        raise RuntimeError(f"could not read scrapy bench's stats:\n{out[-2000:]}")
    return int(responses.group(1)), float(elapsed.group(1))


def recrawl(root: Path, cache_control: str, tmp: Path, latency_ms: float = 0.0
            ) -> tuple[dict, dict]:
    server, url = start_server(root, cache_control, latency_ms)
    try:
        cache = tmp / f"cache-{cache_control.replace('=', '')}-{latency_ms:g}ms"
        first = crawl_once(url, cache)
        again = crawl_once(url, cache)
    finally:
        server.terminate()
        server.wait()
    return first, again


def cached_share(summary: dict) -> float:
    settled = summary["urls_fetched"] + summary["urls_not_modified"]
    return summary["urls_not_modified"] / settled if settled else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000, help="pages in the benchmark site")
    parser.add_argument("--bench-seconds", type=int, default=10, help="scrapy bench duration")
    parser.add_argument("--latency-ms", type=float, default=100.0,
                        help="server response time for the realistic re-crawl run (0 skips it)")
    parser.add_argument("--worker", nargs=2, metavar=("SITE_URL", "CACHE_DIR"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    responses, bench_seconds = scrapy_bench(args.bench_seconds)
    bench_rate = responses / bench_seconds
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pages = make_site(tmp / "site", args.pages)
        fresh_first, fresh_again = recrawl(tmp / "site", "max-age=3600", tmp)
        reval_first, reval_again = recrawl(tmp / "site", "max-age=0", tmp)
        runs = [("max-age=3600, 0 ms", fresh_first, fresh_again),
                ("max-age=0, 0 ms", reval_first, reval_again)]
        if args.latency_ms:
            slow_first, slow_again = recrawl(tmp / "site", "max-age=3600", tmp, args.latency_ms)
            runs.append((f"max-age=3600, {args.latency_ms:g} ms", slow_first, slow_again))

    first_rate = fresh_first["summary"]["urls_fetched"] / fresh_first["seconds"]
    print(f"\nsite: {pages} pages (+ sitemap), served from another process on loopback")
    print(f"scrapy bench: {responses} responses in {bench_seconds:.1f} s -> {bench_rate:.0f} pages/s")
    for name, first, again in runs:
        s1, s2 = first["summary"], again["summary"]
        print(f"[{name}] first crawl: {s1['urls_fetched']} fetched in {first['seconds']:.2f} s "
              f"({s1['urls_fetched'] / first['seconds']:.0f} pages/s); re-crawl: "
              f"{again['seconds']:.2f} s, {s2['urls_not_modified']} not modified "
              f"({s2['http_cache_fresh']} fresh, {s2['http_cache_revalidated']} 304), "
              f"{s2['urls_fetched']} fetched")
        print(f"[{name}] re-crawl speed-up: {first['seconds'] / again['seconds']:.1f}x; "
              f"answered from the cache or by 304: {cached_share(s2):.1%}")
    print(f"ratio first crawl / scrapy bench (pages/s): {first_rate / bench_rate:.2f}")


if __name__ == "__main__":
    main()
