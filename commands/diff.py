"""`wpqa diff REV_A REV_B`: items added, removed, changed, moved and made stale between two
versions of the splits (see `curation.versions`)."""
from __future__ import annotations

import argparse
import json
import sys

from curation.versions import diff_splits, format_diff, read_splits


def diff_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wpqa diff", description="items added, removed, "
                                     "changed and moved between two revisions of the splits",
                                     epilog="exit status: 0 the diff is printed; 2 a revision or "
                                     "its data cannot be read, or wrong arguments.")
    parser.add_argument("rev_a", help="older git revision (a tag such as data-v1)")
    parser.add_argument("rev_b", help="newer git revision; 'workspace' for the working files")
    parser.add_argument("--repo", default=".")
    parser.add_argument("--path", default="data/splits")
    parser.add_argument("--json", action="store_true", help="print the diff as JSON")
    parser.add_argument("--limit", type=int, default=0, help="list at most this many items")
    args = parser.parse_args(argv)
    try:
        old = read_splits(None if args.rev_a == "workspace" else args.rev_a, args.repo, args.path)
        new = read_splits(None if args.rev_b == "workspace" else args.rev_b, args.repo, args.path)
    except Exception as err:  # dvc raises many kinds: unknown rev, missing cache and remote …
        print(f"wpqa diff: cannot read {args.path} at both revisions: {type(err).__name__}: {err}",
              file=sys.stderr)
        return 2
    diff = diff_splits(old, new)
    if args.json:
        print(json.dumps(diff, ensure_ascii=False, indent=2, sort_keys=True))
    else:
        print(format_diff(diff, args.rev_a, args.rev_b, args.limit))
    return 0
