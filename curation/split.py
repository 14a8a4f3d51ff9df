"""split stage: reviewed, de-duplicated, leakage-checked train/test splits and the HF folder.

In order:
1. Review decisions (`data/review/decisions.jsonl`, see curation/review.py): vetoed items
   are dropped (`review_veto`), edits applied when they still follow the pattern.
2. Dedup (curation/dedup.py): exact and near duplicates dropped with the id they repeat.
3. Split: items are grouped by source page, paraphrase family, near pair and shared long
   word run; groups are ordered by a seeded hash (deterministic, independent of file
   order) and whole groups go to test until it holds `split.test_size` items.
4. Decontamination: test is compared with train (MinHash and long n-grams) in a Great
   Expectations suite that expects zero leaks; a leak stops the stage with the pairs.
`data/hf/` gets one parquet file per split and a dataset card built from these facts.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from curation.dedup import (DedupResult, Fingerprints, Leak, NearParams, clusters, dedup, find_leaks,
                            split_groups, stable_order)
from curation.review import Decision, ReviewError, ReviewResult, apply_decisions, load_decisions
from wpqa.hub import card_metadata_problems, size_category
from wpqa.io import atomic_path, read_jsonl, write_json, write_jsonl, write_text
from wpqa.params import PatternParams, SplitParams, load_params_or_exit
from wpqa.records import QAPair, RejectedRow, from_row, reason_counts, to_row

FEATURES = [("id", "string"), ("question", "string"), ("answer", "string"), ("kind", "string"),
            ("source_url", "string"), ("source", "string"), ("section_id", "string"),
            ("heading_path", "list"), ("content_hash", "string"), ("generator", "string"),
            ("prompt_version", "string"), ("origin_id", "string"), ("evidence", "spans")]


CARD_TYPES = {"string": {"dtype": "string"}, "list": {"sequence": "string"},
              "spans": {"sequence": {"sequence": "int64"}}}


class SplitError(ValueError):
    pass


class LeakError(SplitError):
    """Test items overlap train; carries the outcome so its check results can be written."""

    def __init__(self, message: str, outcome: "SplitOutcome"):
        super().__init__(message)
        self.outcome = outcome


def near_params(params: SplitParams) -> NearParams:
    return NearParams(threshold=params.near_dup_threshold, num_perm=params.num_perm,
                      shingle_words=params.shingle_words, ngram_words=params.leak_ngram_words)


def split_by_group(items: list[QAPair], groups: dict[str, str], params: SplitParams, seed: int
                   ) -> tuple[list[QAPair], list[QAPair]]:
    """(train, test): whole groups go to test until it holds the target count."""
    if not items:
        raise SplitError("no Q&A left to split; check the validate stage's quarantine and the "
                         "review vetoes")
    target = params.test_count(len(items))
    if target >= len(items):
        raise SplitError(f"split.test_size {params.test_size} asks for {target} test items but "
                         f"only {len(items)} are left; use a smaller count or a fraction")
    members: dict[str, list[QAPair]] = defaultdict(list)
    for qa in items:
        members[groups[qa.id]].append(qa)
    test_groups: set[str] = set()
    size = 0
    for key in stable_order(members, seed):
        if size + len(members[key]) <= target:
            test_groups.add(key)
            size += len(members[key])
        if size == target:
            break
    if not test_groups:
        raise SplitError(f"no group of items fits in a test split of {target}: the smallest has "
                         f"{min(len(m) for m in members.values())} items (groups join items by page, "
                         "paraphrase, near duplicate and shared long runs); raise split.test_size")
    train = [qa for qa in items if groups[qa.id] not in test_groups]
    test = [qa for qa in items if groups[qa.id] in test_groups]
    return sorted(train, key=lambda q: q.id), sorted(test, key=lambda q: q.id)


def split_by_page(items: list[QAPair], params: SplitParams, seed: int
                  ) -> tuple[list[QAPair], list[QAPair]]:
    """Split with source pages as the only groups."""
    return split_by_group(items, {qa.id: qa.source_url for qa in items}, params, seed)


def leak_frame(train: list[QAPair], test: list[QAPair], leaks: list[Leak]):
    import pandas as pd

    train_pages = {qa.source_url for qa in train}
    counts = Counter((leak.test_id, leak.method) for leak in leaks)
    return pd.DataFrame.from_records([{
        "id": qa.id, "source_url": qa.source_url,
        "minhash_train_matches": counts[(qa.id, "minhash")],
        "ngram_train_matches": counts[(qa.id, "ngram")],
        "page_in_train": qa.source_url in train_pages,
    } for qa in test], columns=["id", "source_url", "minhash_train_matches",
                                "ngram_train_matches", "page_in_train"])


def run_leak_suite(train: list[QAPair], test: list[QAPair], leaks: list[Leak]) -> dict[str, Any]:
    """The decontamination check as a Great Expectations suite over the test rows."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    frame = leak_frame(train, test, leaks)
    context = gx.get_context(mode="ephemeral")
    suite = gx.ExpectationSuite(name="decontamination")
    expect = gx.expectations
    suite.add_expectation(expect.ExpectColumnValuesToBeUnique(column="id"))
    for column in ("minhash_train_matches", "ngram_train_matches"):
        suite.add_expectation(expect.ExpectColumnValuesToBeBetween(column=column, min_value=0,
                                                                   max_value=0))
    suite.add_expectation(expect.ExpectColumnValuesToBeInSet(column="page_in_train",
                                                             value_set=[False]))
    asset = context.data_sources.add_pandas("wpqa").add_dataframe_asset("test_vs_train")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={
        "result_format": "COMPLETE", "unexpected_index_column_names": ["id"]})
    expectations = []
    for item in result.results:
        config = item.expectation_config
        detail = item.result or {}
        expectations.append({
            "expectation": config.type, "column": config.kwargs.get("column", ""),
            "success": bool(item.success),
            "unexpected_count": int(detail.get("unexpected_count") or 0),
            "unexpected_ids": sorted({str(row["id"]) for row in detail.get("unexpected_index_list") or []
                                      if isinstance(row, dict) and "id" in row}),
        })
    expectations.sort(key=lambda e: (e["expectation"], e["column"]))
    return {"success": bool(result.success), "rows": int(len(frame)), "expectations": expectations}


def leak_message(leaks: list[Leak], n_test: int, ngram_words: int) -> str:
    leaking = sorted({leak.test_id for leak in leaks})
    lines = [f"decontamination failed: {len(leaking)} of {n_test} test items overlap train "
             "(expected 0):"]
    for leak in leaks[:20]:
        if leak.method == "minhash":
            lines.append(f"  test {leak.test_id} ~ train {leak.train_id}: MinHash Jaccard "
                         f"{leak.score:.2f}: {leak.evidence}")
        else:
            lines.append(f"  test {leak.test_id} shares a {ngram_words}-word run with train "
                         f"{leak.train_id}: \"{leak.evidence}\"")
    if len(leaks) > 20:
        lines.append(f"  … and {len(leaks) - 20} more")
    lines.append("Veto one item of each pair in data/review/decisions.jsonl, or fix the "
                 "grouping params (split.near_dup_threshold, split.leak_ngram_words).")
    return "\n".join(lines)


@dataclass
class SplitOutcome:
    train: list[QAPair]
    test: list[QAPair]
    dropped: list[RejectedRow]
    review: ReviewResult
    dedup: DedupResult
    groups: dict[str, str]
    leaks: list[Leak]
    gx: dict[str, Any]
    metrics: dict[str, Any]


def make_splits(items: list[QAPair], decisions: dict[str, Decision], params: SplitParams,
                bounds: PatternParams, seed: int) -> SplitOutcome:
    """Review, dedup, split and check. Raises LeakError (with the pairs) on any leak."""
    review = apply_decisions(items, decisions, bounds)
    near = near_params(params)
    fingerprints = Fingerprints(review.items, near)  # computed once, read by all three
    deduped = dedup(review.items, near, fingerprints)
    groups = split_groups(deduped.kept, deduped.kept_pairs, near, fingerprints)
    train, test = split_by_group(deduped.kept, groups, params, seed)
    leaks = find_leaks(train, test, near, fingerprints)
    gx_result = run_leak_suite(train, test, leaks)
    dropped = [RejectedRow("split", qa.id, "review_veto", "vetoed in data/review/decisions.jsonl")
               for qa in review.vetoed]
    dropped += [RejectedRow("split", d.qa.id, d.reason,
                            f"duplicate of {d.duplicate_of} (similarity {d.similarity:.2f})")
                for d in deduped.dropped]
    dropped.sort(key=lambda r: r.ref)
    reasons = reason_counts(dropped)
    group_sizes = Counter(groups.values())
    metrics = {
        "items": len(items), "train": len(train), "test": len(test), "dropped": len(dropped),
        # Whole groups only: the test split can end below the target; this shows by how much.
        "test_target": params.test_count(len(deduped.kept)),
        **{f"dropped_{reason}": reasons.get(reason, 0)
           for reason in ("review_veto", "exact_duplicate", "near_duplicate")},
        "near_misses_kept": len(deduped.near_misses),
        "dedup_clusters": len({d.duplicate_of for d in deduped.dropped}),
        "groups": len(group_sizes), "largest_group": max(group_sizes.values(), default=0),
        "train_pages": len({q.source_url for q in train}),
        "test_pages": len({q.source_url for q in test}),
        "leaks": len({leak.test_id for leak in leaks}),
        "leaks_minhash": sum(1 for leak in leaks if leak.method == "minhash"),
        "leaks_ngram": sum(1 for leak in leaks if leak.method == "ngram"),
        "gx_decontamination_success": gx_result["success"],
        **review.summary(),
    }
    outcome = SplitOutcome(train, test, dropped, review, deduped, groups, leaks, gx_result, metrics)
    if leaks or not gx_result["success"]:
        raise LeakError(leak_message(leaks, len(test), params.leak_ngram_words), outcome)
    return outcome


def to_table(items: list[QAPair]):
    import pyarrow as pa

    columns = {name: [getattr(qa, name) for qa in items] for name, _ in FEATURES}
    types = {"string": pa.string(), "list": pa.list_(pa.string()),
             "spans": pa.list_(pa.list_(pa.int64()))}
    schema = pa.schema([(name, types[kind]) for name, kind in FEATURES])
    return pa.table(columns, schema=schema)


def write_parquet(path: Path, items: list[QAPair]) -> None:
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(to_table(items), tmp)


def license_for(url: str, licenses: dict[str, str]) -> str:
    """The license of a source URL: its host, or the nearest parent domain, else "*"."""
    host = (urlsplit(url).hostname or "").lower()
    parts = host.split(".")
    for k in range(len(parts)):
        if ".".join(parts[k:]) in licenses:
            return licenses[".".join(parts[k:])]
    return licenses.get("*", "unknown")


def card_metadata(train: list[QAPair], test: list[QAPair], licenses: dict[str, str]) -> dict[str, Any]:
    used = sorted({license_for(qa.source_url, licenses) for qa in train + test})
    return {
        "license": used[0] if len(used) == 1 else used,
        "language": ["en"],
        "pretty_name": "wpqa: WordPress list-format Q&A",
        "task_categories": ["question-answering", "text-generation"],
        "size_categories": [size_category(len(train) + len(test))],
        "tags": ["wordpress", "instruction-tuning", "documentation"],
        "configs": [{"config_name": "default", "data_files": [
            {"split": "train", "path": "data/train.parquet"},
            {"split": "test", "path": "data/test.parquet"}]}],
        "dataset_info": {
            "features": [{"name": name, **CARD_TYPES[kind]} for name, kind in FEATURES],
            # num_bytes: the in-memory Arrow size, as the Hub's own cards record it.
            "splits": [{"name": "train", "num_bytes": to_table(train).nbytes, "num_examples": len(train)},
                       {"name": "test", "num_bytes": to_table(test).nbytes, "num_examples": len(test)}],
        },
    }


def generation_cost(generate_metrics: dict[str, Any]) -> tuple[float, str]:
    """(USD, note) from the generate stage's metrics; the rules backend costs nothing."""
    for key in sorted(generate_metrics):
        if key.startswith("cost") and isinstance(generate_metrics[key], (int, float)):
            return float(generate_metrics[key]), f"from `{key}` in reports/generate/metrics.json"
    return 0.0, "the generate stage recorded no cost; the rules backend calls no model"


# The card is Markdown, not HTML, so the template does not escape: what it prints are
# counts, ids and names from our own records.
_CARD = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                    undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                    lstrip_blocks=True, autoescape=False).get_template("dataset_card.md.j2")


def card_context(outcome: SplitOutcome, validation: dict[str, Any], generate_metrics: dict[str, Any],
                 params: SplitParams) -> dict[str, Any]:
    """What the dataset card says, as values; the template lays them out."""
    train, test = outcome.train, outcome.test
    items = train + test
    kinds = Counter(qa.kind for qa in items)
    example = min(items, key=lambda q: q.id)
    meta = card_metadata(train, test, params.licenses)
    cost, cost_note = generation_cost(generate_metrics)
    model = generate_metrics.get("model")
    return {
        "meta_yaml": yaml.safe_dump(meta, sort_keys=False, allow_unicode=True),
        "train_count": len(train), "test_count": len(test),
        "kinds": {"steps": kinds.get("steps", 0), "solutions": kinds.get("solutions", 0)},
        "fields": [name for name, _ in FEATURES],
        "example_json": json.dumps({"question": example.question, "answer": example.answer,
                                    "kind": example.kind, "source_url": example.source_url},
                                   ensure_ascii=False, indent=2),
        "hosts": sorted({urlsplit(qa.source_url).hostname or "" for qa in items}),
        "sources": sorted(Counter((qa.source, license_for(qa.source_url, params.licenses))
                                  for qa in items).items()),
        "generators": sorted(Counter((qa.generator, qa.prompt_version) for qa in items).items()),
        "paraphrases": sum(1 for qa in items if qa.origin_id),
        "model": model if isinstance(model, str) else "",
        "cost": cost, "cost_note": cost_note,
        "validation": validation, "m": outcome.metrics, "params": params,
        "expectations": outcome.gx["expectations"],
        "licenses": meta["license"] if isinstance(meta["license"], list) else [meta["license"]],
    }


def render_card(outcome: SplitOutcome, validation: dict[str, Any], generate_metrics: dict[str, Any],
                params: SplitParams) -> str:
    """The dataset card: YAML metadata, then what a reader needs to trust the data."""
    return _CARD.render(card_context(outcome, validation, generate_metrics, params))


def _json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--qa", default="data/curated/qa.jsonl")
    parser.add_argument("--decisions", default="data/review/decisions.jsonl")
    parser.add_argument("--validation", default="reports/validate/metrics.json")
    parser.add_argument("--generate-metrics", default="reports/generate/metrics.json")
    parser.add_argument("--splits", default="data/splits")
    parser.add_argument("--hf", default="data/hf")
    parser.add_argument("--reports", default="reports/split")
    return parser.parse_args(argv)


def print_review_notes(review) -> None:
    """Review decisions that were not applied, and why (on stderr)."""
    for rejected in review.rejected_edits:
        print(f"split: review edit of {rejected.id} rejected: {'; '.join(rejected.reasons)}",
              file=sys.stderr)
    if review.unknown:
        print(f"split: {len(review.unknown)} review decisions name no item in this data "
              f"(not applied): {', '.join(review.unknown[:5])}", file=sys.stderr)
    if review.stale:
        print(f"split: {len(review.stale)} review decisions not applied: the answer changed "
              f"since review ({', '.join(review.stale[:5])})", file=sys.stderr)


def write_outputs(outcome: SplitOutcome, card: str, splits: Path, hf: Path, reports: Path) -> None:
    write_jsonl(splits / "train.jsonl", (to_row(q) for q in outcome.train))
    write_jsonl(splits / "test.jsonl", (to_row(q) for q in outcome.test))
    write_jsonl(splits / "dropped.jsonl", (to_row(r) for r in outcome.dropped))
    write_parquet(hf / "data" / "train.parquet", outcome.train)
    write_parquet(hf / "data" / "test.parquet", outcome.test)
    write_text(hf / "README.md", card)
    write_json(reports / "gx_results.json", outcome.gx)
    write_json(reports / "review.json", outcome.review.to_json())
    write_json(reports / "dedup.json", {
        "clusters": clusters(outcome.dedup),
        "near_misses": [{"a": n.a, "b": n.b, "similarity": round(n.similarity, 3), "why": n.why}
                        for n in outcome.dedup.near_misses],
        "leaks": [to_row(leak) for leak in outcome.leaks],
    })
    write_json(reports / "metrics.json", outcome.metrics)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    params = load_params_or_exit(args.params, "split")
    items = [from_row(QAPair, row) for row in read_jsonl(args.qa)]
    reports = Path(args.reports)
    try:
        outcome = make_splits(items, load_decisions(args.decisions), params.split, params.pattern,
                              params.seed)
    except LeakError as err:
        write_json(reports / "gx_results.json", err.outcome.gx)
        sys.exit(f"split: stopped: {err}")
    except (SplitError, ReviewError) as err:
        sys.exit(f"split: {err}")
    print_review_notes(outcome.review)
    card = render_card(outcome, _json(args.validation), _json(args.generate_metrics), params.split)
    problems = card_metadata_problems(yaml.safe_load(card.split("---\n")[1]))
    if problems:
        sys.exit("split: the dataset card's metadata would not pass the Hub: " + "; ".join(problems))
    write_outputs(outcome, card, Path(args.splits), Path(args.hf), reports)
    m = outcome.metrics
    print(f"split: {m['items']} items -> train {m['train']}, test {m['test']}, dropped {m['dropped']} "
          f"(veto {m['dropped_review_veto']}, exact {m['dropped_exact_duplicate']}, "
          f"near {m['dropped_near_duplicate']}); leaks {m['leaks']}")


if __name__ == "__main__":
    main()
