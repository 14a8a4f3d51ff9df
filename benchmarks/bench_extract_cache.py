"""Extraction after 1% of a real docs snapshot changed: the page cache against a full run.

Crawls the real WordPress REST items of ../shared/corpus/wp-docs through the snapshot
profile (skips when absent), then times the extract stage's `extract_all` three ways in
one run: without the cache (what every run did before), with an empty cache (the first
run: extraction plus writing the cache), and with that cache after changing the body of
1% of the pages (a re-crawl where a few pages changed). The rows of the last run are
checked equal to a fresh extraction of the same pages.

    python benchmarks/bench_extract_cache.py [--changed-share 0.01]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.extract import PageCache, extract_all  # noqa: E402
from scraping.scrape import scrape  # noqa: E402
from wpqa.params import load_params  # noqa: E402
from wpqa.records import to_row  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "wp-docs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--changed-share", type=float, default=0.01)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"skipped: {args.corpus} is absent")
        return 0
    params = load_params(ROOT / "params.yaml")
    crawl = scrape(replace(params.scrape, profile="snapshot", site_root=str(args.corpus), max_pages=100_000),
                   ROOT / "scraping" / "sources.yaml", args.corpus, cache_dir=None, job_dir=None)
    pages = crawl.pages
    step = max(1, round(1 / args.changed_share))
    changed = [replace(p, body=p.body + "<p>Updated on review.</p>") if i % step == 0 else p
               for i, p in enumerate(pages)]
    rows = lambda result: [to_row(s) for s in result[0]]  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        extract_all(pages, params.extract)
        plain = time.perf_counter() - started
        started = time.perf_counter()
        extract_all(pages, params.extract, cache=PageCache(Path(tmp) / "pages.sqlite"))
        first = time.perf_counter() - started
        cache = PageCache(Path(tmp) / "pages.sqlite")
        started = time.perf_counter()
        again = extract_all(changed, params.extract, cache=cache)
        rerun = time.perf_counter() - started
    assert rows(again) == rows(extract_all(changed, params.extract)), "cached rows differ"
    print(f"pages {len(pages)}, changed {len(pages) - cache.hits}; extract without the cache "
          f"{plain:.1f} s, first run with it {first:.1f} s ({first / plain:.2f}x), re-run "
          f"{rerun:.2f} s: {plain / rerun:.1f}x faster than a full extraction; rows equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
