"""`wpqa review export|import`: the review sheet out, filled decisions in (see
`curation.review`, which the split stage uses to apply them)."""
from __future__ import annotations

import sys
from pathlib import Path

from curation.review import (VERDICTS, ReviewError, export_rows, load_decisions, read_csv,
                             write_csv, write_decisions)
from wpqa.pattern import check_answer
from wpqa.records import QAPair


def review_command(argv: list[str]) -> int:
    """`wpqa review export|import`."""
    import argparse

    from wpqa.io import read_jsonl as read
    from wpqa.params import ParamsError, load_params
    from wpqa.records import from_row

    parser = argparse.ArgumentParser(
        prog="wpqa review", description="Human review: a spreadsheet out, decisions in git, "
        "applied by the split stage.",
        epilog="exit status: 0 written or merged; 2 a file cannot be read, a sheet names ids "
        "that are not in the Q&A or holds a bad verdict (nothing is imported), or wrong "
        "arguments.")
    sub = parser.add_subparsers(dest="action", required=True)
    export = sub.add_parser("export", help="write a review sheet (CSV) of the accepted Q&A")
    export.add_argument("--qa", default="data/curated/qa.jsonl")
    export.add_argument("--decisions", default="data/review/decisions.jsonl")
    export.add_argument("--out", default="review.csv")
    imp = sub.add_parser("import", help="merge a filled review sheet into the decisions file")
    imp.add_argument("sheet")
    imp.add_argument("--decisions", default="data/review/decisions.jsonl")
    imp.add_argument("--params", default="params.yaml", help="pattern bounds to pre-check edits")
    imp.add_argument("--qa", default="data/curated/qa.jsonl",
                     help="the accepted Q&A the sheet's ids must name")
    args = parser.parse_args(argv)
    try:
        decisions = load_decisions(args.decisions)
        if args.action == "export":
            items = [from_row(QAPair, row) for row in read(args.qa)]
            rows = export_rows(items, decisions)
            write_csv(args.out, rows)
            print(f"wpqa review: {len(rows)} items to {args.out} ({len(decisions)} already decided); "
                  f"fill 'verdict' ({'/'.join(VERDICTS)}) and 'edited_answer', then "
                  f"`wpqa review import {args.out}`")
            return 0
        new = read_csv(args.sheet)
        if Path(args.qa).exists():
            present = {row.get("id") for row in read(args.qa)}
            unknown = sorted(d.id for d in new if d.id not in present)
            if unknown:
                raise ReviewError(f"{args.sheet}: {len(unknown)} ids name no item in {args.qa}: "
                                  f"{', '.join(unknown[:10])}; nothing imported")
        else:
            print(f"wpqa review: warning: {args.qa} not found; the sheet's ids are not checked",
                  file=sys.stderr)
        bounds = load_params(args.params).pattern if Path(args.params).exists() else None
        for d in new:
            if d.verdict == "edit" and bounds is not None:
                failures = check_answer(d.edited_answer, None, bounds)
                if failures:
                    print(f"wpqa review: warning: edit of {d.id} breaks "
                          f"{', '.join(f.rule for f in failures)}; the split stage will reject it",
                          file=sys.stderr)
        merged = {**decisions, **{d.id: d for d in new}}
        write_decisions(args.decisions, merged.values())
        print(f"wpqa review: {len(new)} decisions from {args.sheet}; {args.decisions} now holds "
              f"{len(merged)} (commit it to git)")
        return 0
    except (OSError, ReviewError, ParamsError, ValueError) as err:
        print(f"wpqa review: {err}", file=sys.stderr)
        return 2
