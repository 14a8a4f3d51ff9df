"""generate stage: sections to candidate list-format Q&A.

The rules backend (`curation.rules`) needs no LLM and is deterministic: every ordered list
whose items are actions becomes a `steps` item ("How do I <task>?" answered with "To
<task>, follow these steps:" and the steps), a stated problem over a list of fixes a
`solutions` item, and every list that yields nothing a rejected row with a reason.

`generate.backend: openai` sends every section to an OpenAI-compatible endpoint instead
(generate, judge, paraphrase; see `curation.llm_curate`), and `hybrid` keeps the rules
items and asks the LLM only about sections that rules made nothing of and did not find
to be something other than a procedure (a table of contents, an option list …). Both LLM backends add
`generate.paraphrases` question variants per item. Requests are cached outside DVC
(`.cache/llm/requests.sqlite`, or `--cache`), so a re-run on unchanged sections sends none.
"""
from __future__ import annotations

import argparse
import sys
from typing import Iterable

from tqdm import tqdm

from curation.rules import distinct_across_pages, generate_from_section, split_for_llm
from wpqa.io import read_jsonl, write_json, write_jsonl
from wpqa.params import GenerateParams, ParamsError, PatternParams, load_params
from wpqa.records import QAPair, RejectedRow, Section, from_row, reason_counts, to_row

def generate_candidates(sections: Iterable[Section], params: GenerateParams, progress: bool = False,
                        bounds: PatternParams | None = None
                        ) -> tuple[list[QAPair], list[RejectedRow], dict[str, int]]:
    """The rules backend: deterministic, offline."""
    if params.backend != "rules":
        raise ValueError(f"generate.backend: {params.backend!r} needs an LLM client; "
                         "call generate_with_backend")
    sections = list(sections)
    max_words = bounds.max_item_words if bounds is not None else 40
    candidates: list[QAPair] = []
    rejected: list[RejectedRow] = []
    for section in tqdm(sections, desc="generate", unit="section", disable=not progress):
        found, dropped = generate_from_section(section, max_words)
        candidates.extend(found)
        rejected.extend(dropped)
    candidates = sorted(distinct_across_pages(candidates), key=lambda q: q.id)
    rejected.sort(key=lambda r: (r.ref, r.reason, r.detail))
    with_candidates = {q.section_id for q in candidates}
    metrics = {
        "sections_in": len(sections),
        "sections_with_candidates": len(with_candidates),
        # A section with no candidate has at least one rejected row (one per list it holds).
        "sections_rejected": len({r.ref for r in rejected} - with_candidates),
        "rejected_rows": len(rejected),
        "candidates_out": len(candidates),
        "candidates_steps": sum(1 for q in candidates if q.kind == "steps"),
        "candidates_solutions": sum(1 for q in candidates if q.kind == "solutions"),
        **reason_counts(rejected, "rejected_"),
    }
    return candidates, rejected, metrics


def generate_with_backend(sections: Iterable[Section], params: GenerateParams,
                          bounds: PatternParams, client=None, progress: bool = False
                          ) -> tuple[list[QAPair], list[RejectedRow], dict[str, float]]:
    """Candidates, rejected rows and metrics for any backend; `client` (a wpqa.llm.LLMClient)
    is needed for openai and hybrid."""
    if params.backend == "rules":
        return generate_candidates(sections, params, progress, bounds)
    from curation.llm_curate import curate_with_llm

    sections = list(sections)
    rules_items: list[QAPair] = []
    to_llm = sections
    if params.backend == "hybrid":
        rules_items, to_llm = split_for_llm(sections, bounds.max_item_words)
    outcomes = curate_with_llm(to_llm, rules_items, params, bounds, client, progress)
    originals = sorted((o.item for o in outcomes if o.item), key=lambda q: q.id)
    variants = [v for o in outcomes for v in o.variants]
    candidates = sorted(originals + variants, key=lambda q: q.id)
    rejected = sorted((r for o in outcomes for r in o.rejected),
                      key=lambda r: (r.ref, r.reason, r.detail))
    section_rows = [r for r in rejected if not r.reason.startswith("paraphrase_")]
    item_rows = [r for r in rejected if r.reason.startswith("paraphrase_")]
    ok = [r for o in outcomes for r in o.replies if r.ok]
    metrics: dict[str, float] = {
        "sections_in": len(sections),
        "sections_with_candidates": len({q.section_id for q in originals}),
        "sections_rejected": len(section_rows),
        "sections_rules": len({q.section_id for q in rules_items}),
        "sections_llm": len(to_llm),
        "candidates_out": len(candidates),
        "candidates_steps": sum(1 for q in candidates if q.kind == "steps"),
        "candidates_solutions": sum(1 for q in candidates if q.kind == "solutions"),
        "paraphrases_wanted": params.paraphrases * len(originals),
        "paraphrases_out": len(variants),
        "paraphrases_rejected": len(item_rows),
        # What the LLM calls behind this dataset cost, whether paid now or in an earlier
        # run (cache hits); the same for the same data, so DVC sees no change on a re-run.
        "llm_calls": len(ok),
        "llm_prompt_tokens": sum(r.usage.prompt_tokens for r in ok),
        "llm_completion_tokens": sum(r.usage.completion_tokens for r in ok),
        "llm_cost_usd": round(sum(r.cost_usd for r in ok), 6),
    }
    metrics.update(reason_counts(rejected, "rejected_"))
    return candidates, rejected, metrics


def make_client(params: GenerateParams, cache_path: str | None = None):
    from wpqa.llm import LLMClient, LLMConfig, RequestCache

    return LLMClient(LLMConfig.for_endpoint(params.llm), RequestCache(cache_path))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sections", default="data/interim/sections.jsonl")
    parser.add_argument("--out", default="data/interim/candidates.jsonl")
    parser.add_argument("--rejected", default="data/interim/generate_rejected.jsonl")
    parser.add_argument("--metrics", default="reports/generate/metrics.json")
    parser.add_argument("--cache", default=None,
                        help="LLM request cache (default .cache/llm/requests.sqlite, or $WPQA_LLM_CACHE)")
    return parser.parse_args(argv)


def generate_or_exit(sections: list[Section], params: GenerateParams, bounds: PatternParams,
                     client) -> tuple[list[QAPair], list[RejectedRow], dict]:
    """The stage's work; a settings error or Ctrl-C ends it with what to do next."""
    from wpqa.llm import LLMConfigError

    try:
        return generate_with_backend(sections, params, bounds, client, progress=True)
    except KeyboardInterrupt:
        if client is None:
            raise
        raise SystemExit(f"generate: interrupted; {len(client.cache)} finished calls are in "
                         f"{client.cache.path}; run again to resume without paying for them") from None
    except LLMConfigError as err:
        raise SystemExit(f"generate: {err}") from None


def print_llm_use(client, metrics: dict) -> None:
    s = client.stats
    batches = f" in {s.batches} batches" if s.batches else ""
    print(f"generate: {s.requests} LLM requests, {s.cached} from the cache, {s.sent} sent{batches} "
          f"({s.retries} retries), ${s.spent_usd:.4f} spent this run, "
          f"${metrics['llm_cost_usd']:.4f} for the whole dataset", file=sys.stderr)
    if client.budget_exhausted:
        print(f"generate: STOPPED AT THE BUDGET: {client.budget_message}; "
              f"{metrics.get('rejected_budget_exhausted', 0)} sections and "
              f"{metrics.get('rejected_paraphrase_budget_exhausted', 0)} paraphrases are "
              f"rejected as budget_exhausted", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        all_params = load_params(args.params)
    except ParamsError as err:
        raise SystemExit(f"generate: {err}") from None
    params = all_params.generate
    sections = [from_row(Section, row) for row in read_jsonl(args.sections)]
    client = None
    if params.backend != "rules":
        client = make_client(params, args.cache)
        print(f"generate: backend {params.backend}, model {params.llm.model} at "
              f"{params.llm.base_url} ({params.llm.mode}), cache {client.cache.path}", file=sys.stderr)
    candidates, rejected, metrics = generate_or_exit(sections, params, all_params.pattern, client)
    write_jsonl(args.out, (to_row(q) for q in candidates))
    write_jsonl(args.rejected, (to_row(r) for r in rejected))
    write_json(args.metrics, metrics)
    print(f"generate: {len(sections)} sections -> {len(candidates)} candidates, "
          f"{len(rejected)} rejected")
    if client is not None:
        print_llm_use(client, metrics)


if __name__ == "__main__":
    main()
