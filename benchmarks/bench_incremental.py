"""A re-run after 1% of a docs site changed, against the first full run (issue 16).

Builds a snapshot of N WordPress REST items (default 1,000 pages, two procedures each, in
this script's own words), serves it on loopback through the scrape stage's snapshot
profile, and runs the scrape, extract and generate stages (`generate.backend: openai`
against a loopback OpenAI-compatible model that takes `--latency` seconds a reply, like a
hosted model) twice in a temporary workspace: first with empty caches, then after
changing one step on `--changed` of the pages. Printed: the wall time of each stage in
each run, the LLM requests sent, and the ratios. What makes the re-run cheap: the HTTP
cache revalidates unchanged pages (304, no body) and the persistent LLM request cache
answers every request for an unchanged section, so only the changed sections' requests
reach the model.

    python benchmarks/bench_incremental.py [--pages 1000] [--changed 10] [--latency 0.3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.llm_responders import docs_model  # noqa: E402
from tests.openai_server import ScriptedOpenAI  # noqa: E402

STAGES = {
    "scrape": ["scraping.scrape", "--sources", str(ROOT / "scraping/sources.yaml"),
               "--site-root", "snapshot", "--out", "data/raw",
               "--metrics", "reports/scrape/metrics.json"],
    "extract": ["curation.extract", "--pages", "data/raw/pages.jsonl",
                "--out", "data/interim/sections.jsonl",
                "--rejected", "data/interim/extract_rejected.jsonl",
                "--metrics", "reports/extract/metrics.json"],
    "generate": ["curation.generate", "--sections", "data/interim/sections.jsonl",
                 "--out", "data/interim/candidates.jsonl",
                 "--rejected", "data/interim/generate_rejected.jsonl",
                 "--metrics", "reports/generate/metrics.json"],
}


def page_html(i: int, changed: bool = False) -> str:
    tail = "then wait for the green notice" if changed else "and check the notice"
    return (f"<h2>Rename checklist {i}</h2><ol><li>Open Tools &gt; Checklists and find list {i}."
            f"</li><li>Click Rename beside list {i}.</li><li>Type the new name for list {i}, "
            f"{tail}.</li></ol><h2>Archive checklist {i}</h2><ol><li>Open Tools &gt; Checklists."
            f"</li><li>Tick the box of list {i}.</li><li>Choose Archive in the Bulk actions menu "
            f"for list {i}.</li></ol>")


def write_snapshot(root: Path, pages: int, changed: set[int]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, pages + 1):
        item = {"id": i, "type": "helphub_article", "slug": f"checklist-{i}", "status": "publish",
                "link": f"https://docs.example.test/checklist-{i}/",
                "title": {"rendered": f"Checklist {i}"},
                "content": {"rendered": page_html(i, i in changed), "protected": False},
                "modified": "2026-01-02T03:04:05" if i not in changed else "2026-02-03T04:05:06",
                "parent": 0, "menu_order": 0}
        (root / f"helphub_article-{i}.json").write_text(json.dumps(item), encoding="utf-8")


def run_stages(work: Path, env: dict[str, str]) -> dict[str, float]:
    times = {}
    for name, args in STAGES.items():
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", args[0], "--params", "params.yaml", *args[1:]],
                              cwd=work, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed:\n{proc.stderr[-2000:]}")
        times[name] = time.perf_counter() - started
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--changed", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.3,
                        help="seconds the loopback model takes a reply")
    args = parser.parse_args()
    changed = set(range(1, args.pages + 1, max(1, args.pages // args.changed)))
    changed = set(sorted(changed)[:args.changed])
    with tempfile.TemporaryDirectory() as tmp, \
            ScriptedOpenAI(responder=docs_model, latency=args.latency) as server:
        work = Path(tmp)
        write_snapshot(work / "snapshot", args.pages, set())
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        raw["scrape"].update(profile="snapshot", site_root="snapshot", max_pages=args.pages + 10)
        raw["generate"].update(backend="openai", paraphrases=1)
        raw["generate"]["llm"].update(base_url=server.base_url, model="test-model",
                                      api_key_env="", max_usd=0.0, concurrency=8,
                                      prices={"test-model": [0.0, 0.0]})
        (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GX_ANALYTICS_ENABLED": "False",
               "HF_HUB_OFFLINE": "1", "WPQA_LLM_CACHE": str(work / "llm.sqlite")}
        first = run_stages(work, env)
        sent_first = len(server.chat_requests())
        sections = sum(1 for _ in open(work / "data/interim/sections.jsonl"))
        write_snapshot(work / "snapshot", args.pages, changed)
        second = run_stages(work, env)
        sent_second = len(server.chat_requests()) - sent_first
    total_a, total_b = sum(first.values()), sum(second.values())
    print(f"{args.pages} pages ({sections} sections), {len(changed)} changed, model latency "
          f"{args.latency:g} s, LLM concurrency 8")
    print("| stage | full run (s) | re-run (s) | ratio |\n|---|---|---|---|")
    for name in STAGES:
        print(f"| {name} | {first[name]:.1f} | {second[name]:.1f} | "
              f"{first[name] / max(second[name], 1e-9):.1f}x |")
    print(f"| **all** | {total_a:.1f} | {total_b:.1f} | **{total_a / total_b:.1f}x** |")
    print(f"LLM requests sent: full run {sent_first}, re-run {sent_second} "
          f"({sent_second / max(sent_first, 1):.3f} of the full run; changed pages "
          f"{len(changed) / args.pages:.3f})")


if __name__ == "__main__":
    main()
