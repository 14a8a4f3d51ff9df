"""Curation benchmarks, each a ratio measured in one run on this machine.

- extract: our section extraction against parsing the same pages with BeautifulSoup+lxml
  and nothing else (the bound: extraction cannot beat the parse it starts with). Measured
  for the sample HTML pages, for WordPress REST items (content.rendered) and for plugin
  readme.txt files, whose bound is parsing the HTML their Markdown renders to. REST items
  and readmes are the real files in ../shared/fixtures/real when present, else our own
  small ones in tests/fixtures.
- pattern: `check_answer` (nine rules) against splitting each answer into lines and
  matching the item regex once (the least any checker must do).
- validate: the Great Expectations suite against the same checks written as plain pandas
  expressions, over the same frame (what the real library costs us).

Run: `python benchmarks/bench_curation.py` from the project root.
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bs4 import BeautifulSoup  # noqa: E402

from curation.extract import README_SKIPPED, extract_sections  # noqa: E402
from commands.inspect import pages_from_file  # noqa: E402
from curation.readme import parse_readme, section_html  # noqa: E402
from curation.generate import generate_candidates  # noqa: E402
from wpqa.pattern import check_answer  # noqa: E402
from curation.validate import check_candidates, run_suite, to_frame  # noqa: E402
from wpqa.params import load_params  # noqa: E402
from wpqa.records import Page  # noqa: E402


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def best_of_both(bound, ours, repeat=7):
    """Best times of two functions timed in turn, so both see the same load on a shared machine."""
    times = ([], [])
    for _ in range(repeat):
        for fn, seen in zip((bound, ours), times):
            start = time.perf_counter()
            fn()
            seen.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def bench_kinds(params) -> None:
    """REST items and readmes: extraction against the bare parse of the HTML it walks."""
    real = ROOT.parent / "shared/fixtures/real"
    if real.is_dir():
        rest_files, readme_files, where = sorted((real / "wp-rest").glob("*.json")), \
            sorted((real / "readmes").glob("*.txt")), "real fixtures"
    else:
        rest_files, readme_files, where = [ROOT / "tests/fixtures/tiny_rest_item.json"], \
            [ROOT / "tests/fixtures/tiny_plugin_readme.txt"], "own tiny fixtures"
    rest = [page for f in rest_files for page in pages_from_file(f)] * 10
    parse, extract = best_of_both(lambda: [BeautifulSoup(p.body, "lxml") for p in rest],
                                  lambda: [extract_sections(p, params.extract) for p in rest])
    print(f"extract rest_item: {len(rest)} items ({where}), parse-only {len(rest) / parse:.0f} items/s, "
          f"extract {len(rest) / extract:.0f} items/s, ratio {parse / extract:.2f} of the parse bound")

    readmes = [page for f in readme_files for page in pages_from_file(f)] * 10

    def walked_markdown(text: str) -> list[str]:
        """The Markdown fragments extraction renders and walks (no changelog; FAQ per entry)."""
        readme = parse_readme(text)
        return [a for s in readme.sections if s.key == "faq" and readme.faq for _, a in readme.faq] + \
            [s.text for s in readme.sections if s.key not in README_SKIPPED and not (s.key == "faq" and readme.faq)]

    rendered = [section_html(m) for p in readmes for m in walked_markdown(p.body)]
    parse, extract = best_of_both(lambda: [BeautifulSoup(h, "lxml") for h in rendered],
                                  lambda: [extract_sections(p, params.extract) for p in readmes])
    split = best_of(lambda: [parse_readme(p.body) for p in readmes])
    render = best_of(lambda: [section_html(m) for p in readmes for m in walked_markdown(p.body)])
    print(f"extract readme: {len(readmes)} readmes ({where}), extract {len(readmes) / extract:.0f} readmes/s, "
          f"ratio {parse / extract:.2f} of the bound (lxml parse of the HTML their Markdown renders to); "
          f"of the extract time: readme parse {split / extract:.0%}, readme parse + Markdown render "
          f"{render / extract:.0%}")


def main() -> None:
    params = load_params(ROOT / "params.yaml")
    files = sorted((ROOT / "scraping/sample_site").rglob("index.html"))
    pages = [Page(url=str(f), status=200, headers={}, body=f.read_text(), source="bench", kind="html")
             for f in files]
    parse, extract = best_of_both(lambda: [BeautifulSoup(p.body, "lxml") for p in pages],
                                  lambda: [extract_sections(p, params.extract) for p in pages])
    print(f"extract: {len(pages)} pages, parse-only {len(pages) / parse:.0f} pages/s, "
          f"extract {len(pages) / extract:.0f} pages/s, ratio {parse / extract:.2f} of the parse bound")

    bench_kinds(params)

    sections = [s for p in pages for s in extract_sections(p, params.extract)[0]]
    candidates, _, _ = generate_candidates(sections, params.generate)
    answers = [c.answer for c in candidates] * 20
    item = re.compile(r"^(\d+)\.\s+(.*)$")
    bare = best_of(lambda: [[item.match(line) for line in a.splitlines()] for a in answers])
    full = best_of(lambda: [check_answer(a, "steps", params.pattern) for a in answers])
    print(f"pattern: {len(answers)} answers, {len(answers) / full:.0f} answers/s, "
          f"ratio {bare / full:.2f} of the bare line-parse bound")

    frame = to_frame(check_candidates(candidates, params.pattern))
    run_suite(frame, params.pattern)  # warm the import and context

    def pandas_checks():
        ok = (frame["id"].notna().all() and frame["question"].notna().all()
              and frame["id"].is_unique and frame["question_key"].is_unique
              and frame["kind"].isin(["steps", "solutions"]).all() and frame["conforms"].all()
              and frame["n_items"].between(params.pattern.min_items, params.pattern.max_items).all())
        return ok

    plain = best_of(pandas_checks)
    gx = best_of(lambda: run_suite(frame, params.pattern))
    print(f"validate: {len(frame)} rows, GX suite {gx * 1000:.0f} ms, plain pandas "
          f"{plain * 1000:.1f} ms, GX costs {gx / plain:.0f}x the bare checks")


if __name__ == "__main__":
    main()
