"""The planted-injection suite (tests/fixtures/planted_injections.yaml) through the rules,
openai and hybrid generate backends, the LLM ones against a gullible model on the loopback
OpenAI server (it obeys any instruction it reads, and its judge approves everything).

    python benchmarks/bench_injection.py

Prints, per backend and in one run: planted markers that reached the accepted Q&A (the
ratio to the planted count; aim 0), markers sent to the model, planted cases held back as
`suspected_injection` (caught), and clean procedures accepted against the same pages with nothing
planted (the ratio; aim 1.0). With `../shared/corpus/wp-docs` present it also prints how
many of the real corpus's sections the detector flags (false alarms; aim 0).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from tests.injection_suite import run_suite  # noqa: E402
from tests.openai_server import ScriptedOpenAI  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "wp-docs"


def corpus_false_alarms() -> tuple[int, int] | None:
    """Sections of the real corpus the detector flags, and the section count."""
    if not CORPUS.is_dir():
        return None
    from dataclasses import replace

    from curation.extract import extract_all
    from scraping.scrape import scrape
    from wpqa.params import load_params
    from wpqa.screen import injection_phrase

    params = load_params(ROOT / "params.yaml")
    scrape_params = replace(params.scrape, profile="snapshot", site_root=str(CORPUS), max_pages=100000)
    crawl = scrape(scrape_params, ROOT / "scraping/sources.yaml", CORPUS, cache_dir=None, job_dir=None)
    sections, _, _ = extract_all(crawl.pages, params.extract)
    flagged = sum(1 for s in sections if injection_phrase(" ".join([
        *s.heading_path, *s.paragraphs, *(i for items in s.ordered_lists for i in items),
        *(i for items in s.unordered_lists for i in items), *s.notes])))
    return flagged, len(sections)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAI() as server:
        for backend in ("rules", "openai", "hybrid"):
            start = time.perf_counter()
            result = run_suite(backend, None if backend == "rules" else server, Path(tmp))
            rows.append((result, time.perf_counter() - start))
    print(f"{'backend':8} {'leaked/planted':>15} {'sent to model':>14} {'caught':>8} "
          f"{'clean kept/baseline':>20} {'seconds':>8}")
    for result, seconds in rows:
        print(f"{result.backend:8} {len(result.leaked):>7}/{result.planted:<7} "
              f"{len(result.sent_to_model):>14} {len(result.caught):>8} "
              f"{result.clean_kept:>10}/{result.clean_baseline:<9} {seconds:>8.1f}")
        for case in result.leaked:
            print(f"  LEAKED {case}")
    alarms = corpus_false_alarms()
    if alarms is not None:
        print(f"false alarms on the real corpus: {alarms[0]} of {alarms[1]} sections")


if __name__ == "__main__":
    main()
