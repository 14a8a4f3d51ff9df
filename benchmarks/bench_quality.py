"""Curation quality on real pages: the accepted Q&A scored against hand labels.

Crawls a docs snapshot (default ../shared/corpus/wp-docs, a folder of saved WordPress REST
items) through the loopback REST mirror with the scrape stage's own code, runs extract,
generate (rules backend) and validate with params.yaml, and scores the accepted items of
the labelled pages against benchmarks/labels/wp-docs-dev.jsonl (see wpqa/labels.py):

- recall: labelled procedures that became an accepted item;
- precision: accepted items (on labelled pages) that are a labelled procedure;
- completeness: share of a matched procedure's steps present, in order;
- kind accuracy: matched items of the labelled kind (steps / solutions);
- yield: accepted items per 100 pages over the whole snapshot, and the funnel.

Figures are printed for the development pages, for the held-out pages
(benchmarks/labels/holdout.txt: scored, never used to tune), and for all labelled pages,
each also without the procedures that need a code block. `--show dev` lists the misses,
false items and incomplete items of the development pages.

Run: `python benchmarks/bench_quality.py` from the project root (skips when the corpus
is absent).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.extract import extract_all  # noqa: E402
from curation.generate import generate_candidates  # noqa: E402
from curation.validate import validate_candidates  # noqa: E402
from scraping.scrape import scrape  # noqa: E402
from wpqa.labels import item_to_score, page_label, score_items  # noqa: E402
from wpqa.params import load_params  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "wp-docs"
LABELS = ROOT / "benchmarks" / "labels" / "wp-docs-dev.jsonl"
HOLDOUT = ROOT / "benchmarks" / "labels" / "holdout.txt"


def page_ids(corpus: Path) -> dict[str, str]:
    """Each saved item's link -> its page id (the file's stem)."""
    ids = {}
    for path in sorted(corpus.rglob("*.json")):
        item = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(item, dict) and isinstance(item.get("link"), str):
            ids[item["link"]] = path.stem
    return ids


def run_curation(corpus: Path, params_path: Path):
    """Pages crawled from the snapshot, then extract, generate (rules) and validate."""
    params = load_params(params_path)
    scrape_params = replace(params.scrape, profile="snapshot", site_root=str(corpus), max_pages=100_000)
    timings = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        crawl = scrape(scrape_params, ROOT / "scraping" / "sources.yaml", corpus, cache_dir=None,
                       job_dir=None)
        del cache
    timings["crawl_s"] = time.perf_counter() - started
    started = time.perf_counter()
    sections, _, extract_metrics = extract_all(crawl.pages, params.extract)
    timings["extract_s"] = time.perf_counter() - started
    started = time.perf_counter()
    rules = replace(params.generate, backend="rules")
    candidates, rejected, generate_metrics = generate_candidates(sections, rules,
                                                                  bounds=params.pattern)
    timings["generate_s"] = time.perf_counter() - started
    started = time.perf_counter()
    accepted, quarantine, _, validate_metrics = validate_candidates(candidates, params.pattern,
                                                                    params.validate)
    timings["validate_s"] = time.perf_counter() - started
    funnel = {"pages": len(crawl.pages), "sections": len(sections),
              "sections_ordered_list": extract_metrics["sections_ordered_list"],
              "candidates": len(candidates), "accepted": len(accepted),
              "quarantined": len(quarantine)}
    return accepted, rejected, quarantine, funnel, timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--show", choices=("dev", "all"), default=None,
                        help="list misses, false and incomplete items (dev: development pages only)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if not args.corpus.is_dir() or not args.labels.is_file():
        print(f"skipped: {args.corpus} or {args.labels} is absent")
        return 0
    labels = [page_label(json.loads(line)) for line in args.labels.read_text().splitlines() if line]
    holdout = set(HOLDOUT.read_text().split()) if HOLDOUT.is_file() else set()
    ids = page_ids(args.corpus)
    accepted, rejected, quarantine, funnel, timings = run_curation(args.corpus, args.params)
    items = [item_to_score(q.id, ids.get(q.source_url, q.source_url), q.kind, q.answer)
             for q in accepted]
    by_id = {q.id: q for q in accepted}
    groups = {"dev": [lab for lab in labels if lab.page not in holdout],
              "holdout": [lab for lab in labels if lab.page in holdout],
              "all": labels}
    figures: dict = {"funnel": funnel, "timings_s": {k: round(v, 2) for k, v in timings.items()},
                     "yield_per_100_pages": round(100 * funnel["accepted"] / max(funnel["pages"], 1), 1)}
    print(f"funnel: {funnel['pages']} pages -> {funnel['sections']} sections "
          f"({funnel['sections_ordered_list']} with an ordered list) -> {funnel['candidates']} "
          f"candidates -> {funnel['accepted']} accepted ({funnel['quarantined']} quarantined); "
          f"yield {figures['yield_per_100_pages']} accepted items per 100 pages")
    reasons = Counter(r.reason for r in rejected)
    print("generate rejected: " + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))
    print(f"{'pages':>9} {'labelled':>8} {'procs':>5} {'recall':>7} {'precision':>9} "
          f"{'complete':>8} {'kind acc':>8}")
    for name, group in groups.items():
        for skip_code in (False, True):
            score = score_items(items, group, skip_code=skip_code)
            key = f"{name}{'_nocode' if skip_code else ''}"
            figures[key] = score.as_dict()
            print(f"{key:>15} {len(group):>3} {score.procedures:>5} {score.recall:>7.3f} "
                  f"{score.precision:>9.3f} {score.completeness:>8.3f} {score.kind_accuracy:>8.3f}"
                  f"   ({score.procedures_found} found, {score.items_matched}/{score.items} items)")
        if args.show and (args.show == "all" or name == "dev"):
            score = score_items(items, group)
            for page, path in score.misses:
                print(f"  MISS  {page}  {' > '.join(path)}")
            for item_id in score.false_items:
                q = by_id[item_id]
                print(f"  FALSE {ids.get(q.source_url)}  {q.question}  [{q.kind}]  "
                      f"{' > '.join(q.heading_path)}")
            for page, path, done in score.incomplete:
                print(f"  PART  {page}  {' > '.join(path)}  {done}")
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
