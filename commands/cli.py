"""The `wpqa` command line.

`wpqa check FILE.jsonl` checks rows with `question`, `answer` and an optional `kind`
against the list-format pattern: one JSON line per row with its failed rule ids, then a
summary line. Exit status 0 when every row conforms, 1 when any row fails, 2 when the
input cannot be read, a line is not a row, or the file holds no rows.

`wpqa inspect FILE` prints, as JSON lines, the sections extraction finds in one saved
HTML page, REST API item, plugin_information reply, readme.txt or handbook Markdown file
(see `commands.inspect`).

`wpqa crawl --sources FILE.yaml --out DIR [--max-pages N]` runs the scrape stage's
spider on any sources file (see `commands.crawl`).

`wpqa export-data` writes the splits for other trainers (ShareGPT, Alpaca, messages,
prompt/completion, an axolotl config, a `trl sft` command; see `commands.trainer_exports`).

`wpqa export --merged DIR`, `wpqa ask "..." [--compare]`, `wpqa publish-model --repo-id
ORG/NAME [--dry-run]` work on the trained adapter (see `commands.export`, `commands.ask`,
`commands.publish_model`); `wpqa openai-ft export|submit` is the OpenAI fine-tuning path
(`commands.openai_ft`).

`wpqa curate [--dry-run]` runs the generate stage with params.yaml's `generate.backend`;
`--dry-run` prints the LLM requests, tokens and cost a run would need, and sends nothing.
`wpqa review export|import` writes a review sheet and merges a filled one into
`data/review/decisions.jsonl` (see `commands.review`); `wpqa diff REV_A REV_B` lists the
items that changed between two versions of the splits (see `commands.diff`);
`wpqa publish --repo-id ORG/NAME [--dry-run]` pushes `data/hf/` to the Hub
(see `commands.publish`).
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from wpqa.params import ParamsError, PatternParams, load_params

DEFAULT_PARAMS = "params.yaml"


def pattern_bounds(params_path: str | None) -> PatternParams:
    """Bounds from params.yaml; the project defaults when none is given or found."""
    if params_path is None:
        if not Path(DEFAULT_PARAMS).exists():
            from wpqa.pattern import DEFAULT_BOUNDS
            return DEFAULT_BOUNDS
        params_path = DEFAULT_PARAMS
    return load_params(params_path).pattern


def check_file(path: str, bounds: PatternParams, out=sys.stdout) -> int:
    from wpqa.pattern import check_answer, conformance_rates

    failures_per_row = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        print(f"wpqa check: cannot read {path}: {err}", file=sys.stderr)
        return 2
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            print(f"wpqa check: {path}:{lineno}: not a JSON line ({err.msg})", file=sys.stderr)
            return 2
        if not isinstance(row, dict) or not isinstance(row.get("answer"), str) \
                or not isinstance(row.get("question"), str):
            print(f"wpqa check: {path}:{lineno}: a row needs string fields 'question' and 'answer'",
                  file=sys.stderr)
            return 2
        kind = row.get("kind")
        failures = check_answer(row["answer"], kind, bounds)
        failures_per_row.append(failures)
        print(json.dumps({"line": lineno, "id": row.get("id"), "question": row["question"],
                          "conforms": not failures, "failed_rules": [f.rule for f in failures],
                          "reasons": [f.reason for f in failures]}, ensure_ascii=False), file=out)
    if not failures_per_row:
        # An empty file scored as `strict: 0.0` with exit 0 would pass a CI gate unseen.
        print(f"wpqa check: {path}: no rows to check (the file is empty or blank)",
              file=sys.stderr)
        return 2
    rates = conformance_rates(failures_per_row)
    failing = sum(1 for f in failures_per_row if f)
    print(json.dumps({"summary": True, "rows": len(failures_per_row), "failing": failing,
                      **{k: round(v, 4) for k, v in rates.items()}}), file=out)
    return 1 if failing else 0


def curate_command(args: argparse.Namespace, out=sys.stdout) -> int:
    """`wpqa curate [--dry-run]`: the generate stage, or its estimate before spending."""
    try:
        params = load_params(args.params)
    except ParamsError as err:
        print(f"wpqa curate: {err}", file=sys.stderr)
        return 2
    if not args.dry_run:
        from curation.generate import main as generate_main

        generate_main(["--params", args.params, "--sections", args.sections]
                      + (["--cache", args.cache] if args.cache else []))
        return 0
    gen = params.generate
    if gen.backend == "rules":
        print("wpqa curate --dry-run: generate.backend is rules: no LLM requests, cost $0", file=out)
        return 0
    from curation.llm_curate import estimate_run
    from wpqa.io import read_jsonl
    from wpqa.llm import RequestCache
    from wpqa.records import Section, from_row

    try:
        sections = [from_row(Section, row) for row in read_jsonl(args.sections)]
    except (OSError, ValueError) as err:
        print(f"wpqa curate: cannot read {args.sections}: {err}", file=sys.stderr)
        return 2
    cache = RequestCache(args.cache)
    est = estimate_run(sections, gen, params.pattern, cache)
    llm = gen.llm
    cap = f"${llm.max_usd:.2f}" if llm.max_usd else "none"
    mode = (f"batch (the Batch API at {llm.batch_price_share:g} of the online price)"
            if llm.mode == "batch" else "online")
    print(f"wpqa curate --dry-run: backend {gen.backend}, model {llm.model} at {llm.base_url}, "
          f"mode {mode}\n"
          f"  sections: {est['sections_in']} in, {est['sections_llm']} to the LLM "
          f"({est['sections_rules']} by rules), {est['suspected_injection']} skipped as "
          f"suspected_injection\n"
          f"  requests: {est['generate_requests']} generate ({est['generate_cached']} already "
          f"cached), up to {est['judge_requests']} judge, up to {est['paraphrase_requests']} "
          f"paraphrase\n"
          f"  tokens to send: ~{est['input_tokens']:,} input (estimated high, 3 characters a "
          f"token), at most {est['output_tokens_max']:,} output\n"
          f"  cost: between ${est['cost_usd_input_only']:.4f} (input only) and "
          f"${est['cost_usd_max']:.4f} (every reply at its max_tokens); "
          f"cap generate.llm.max_usd: {cap}", file=out)
    if llm.max_usd and est["cost_usd_max"] > llm.max_usd:
        print("  the cap may stop the run before every section is done; rows past it are "
              "rejected as budget_exhausted (re-run with a higher cap to finish them)", file=out)
    return 0


# Commands with their own parser (so `wpqa NAME --help` reaches it): module, function, help.
DELEGATED = {
    "inspect": ("commands.inspect", "inspect_command", "print the sections extraction finds in one "
                "saved file (HTML, REST item .json, readme.txt, Markdown); see `wpqa inspect --help`"),
    "crawl": ("commands.crawl", "crawl_command", "crawl the sources of a sources YAML file with the "
              "scrape stage's spider; see `wpqa crawl --help`"),
    "export": ("commands.export", "export_command", "merge the adapter into a copy of the base "
               "(--merged DIR, fp32 for an fp32 base) and check the greedy answers agree; see "
               "`wpqa export --help`"),
    "export-data": ("commands.trainer_exports", "export_data_command", "the splits as messages, "
                    "ShareGPT, Alpaca and prompt/completion JSONL, with an axolotl config and a "
                    "`trl sft` command for the same QLoRA run; see `wpqa export-data --help`"),
    "ask": ("commands.ask", "ask_command", "answer a question with base + adapter, streamed, with "
            "the pattern rules it passes (--compare: base vs tuned)"),
    "publish-model": ("commands.publish_model", "publish_command", "push the adapter and a model "
                      "card to the Hub (--repo-id ORG/NAME, --dry-run)"),
    "openai-ft": ("commands.openai_ft", "openai_ft_command", "OpenAI fine-tuning: `export` "
                  "validated chat JSONL, `submit` the job and record its losses"),
    "review": ("commands.review", "review_command", "export a review sheet or import a filled "
               "one; see `wpqa review --help`"),
    "diff": ("commands.diff", "diff_command", "items added, removed, changed and moved between two "
             "revisions of the splits; see `wpqa diff --help`"),
    "publish": ("commands.publish", "publish_command", "push data/hf to a Hugging Face dataset "
                "repo; see `wpqa publish --help`"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wpqa", description="wpqa: WordPress docs to list-format Q&A",
        epilog="Every command documents its exit status in its own --help; 2 always means bad "
        "input or arguments.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check Q&A rows against the list-format pattern",
                                epilog="exit status: 0 every row conforms; 1 a row fails a rule; 2 "
                                "the file cannot be read, a line is not a row, or it holds no rows.")
    check.add_argument("file", help="JSON lines with question, answer and optional kind")
    check.add_argument("--params", default=None, help="params.yaml with the pattern bounds")
    curate = commands.add_parser("curate", help="run the generate stage with params.yaml's "
                                 "generate.backend, or estimate its LLM tokens and cost first",
                                 epilog="exit status: 0 done (or estimated, with --dry-run); 1 the "
                                 "generate stage stopped (interrupted, no key, the endpoint "
                                 "failing), with its message; 2 bad params or an unreadable "
                                 "sections file.")
    curate.add_argument("--params", default=DEFAULT_PARAMS)
    curate.add_argument("--sections", default="data/interim/sections.jsonl")
    curate.add_argument("--cache", default=None, help="LLM request cache "
                        "(default .cache/llm/requests.sqlite, or $WPQA_LLM_CACHE)")
    curate.add_argument("--dry-run", action="store_true",
                        help="print the requests, tokens and cost a run would need; send nothing")
    for name, (_, _, help_text) in DELEGATED.items():
        commands.add_parser(name, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in DELEGATED:
        module, function, _ = DELEGATED[argv[0]]
        return getattr(importlib.import_module(module), function)(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "curate":
        return curate_command(args)
    try:
        bounds = pattern_bounds(args.params)
    except ParamsError as err:
        print(f"wpqa check: {err}", file=sys.stderr)
        return 2
    return check_file(args.file, bounds)


if __name__ == "__main__":
    sys.exit(main())
