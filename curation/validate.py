"""validate stage: the data gate.

Every candidate is checked against the pattern rules and for a repeated question; a row
that fails is quarantined with the rule ids and reasons. A Great Expectations suite
(schema, non-null, unique questions and ids, known kinds, pattern conformance, item-count
and item-length bounds) then runs twice: over all candidates, so the report shows what the
gate caught, and over the accepted set, which must pass or the pipeline stops.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, fields
from typing import Any

from wpqa.pattern import KINDS, check_answer, parse_answer, words
from wpqa.io import read_jsonl, write_json, write_jsonl
from wpqa.params import PatternParams, ValidateParams, load_params_or_exit
from wpqa.records import QAPair, from_row, reason_counts, to_row

SCHEMA = ("id", "question", "answer", "kind", "source_url", "source", "section_id",
          "content_hash", "generator")
FRAME_COLUMNS = SCHEMA + ("question_key", "conforms", "n_items", "max_item_words")


class GateError(RuntimeError):
    """The accepted set fails the suite: the message says which expectations and why."""


@dataclass(frozen=True)
class Checked:
    qa: QAPair
    failed_rules: list[str]
    reasons: list[str]


def row_problems(row: Any) -> list[str]:
    """Why a candidate row cannot be read as a QAPair: missing fields, wrong types."""
    if not isinstance(row, dict):
        return [f"not a JSON object: {str(row)[:80]}"]
    problems = []
    for f in fields(QAPair):
        required = f.default is MISSING and f.default_factory is MISSING
        if f.name not in row:
            if required:
                problems.append(f"{f.name}: missing")
            continue
        expected = list if f.name in ("heading_path", "evidence") else str
        if not isinstance(row[f.name], expected):
            problems.append(f"{f.name}: expected {expected.__name__}, got "
                            f"{type(row[f.name]).__name__}")
    spans = row.get("evidence")
    if isinstance(spans, list) and not all(
            span is None or (isinstance(span, list) and len(span) == 2
                             and all(isinstance(n, int) for n in span)) for span in spans):
        problems.append("evidence: expected [start, end] or null per step")
    return problems


def parse_candidates(rows: Iterable[Any]) -> tuple[list[QAPair], list[dict[str, Any]]]:
    """Readable candidates, and the unreadable rows as quarantine rows (`malformed_row`)."""
    candidates, malformed = [], []
    for row in rows:
        problems = row_problems(row)
        if problems:
            kept = row if isinstance(row, dict) else {"row": row}
            malformed.append({**kept, "failed_rules": ["malformed_row"], "reasons": problems})
        else:
            candidates.append(from_row(QAPair, row))
    return candidates, malformed


def question_key(question: str) -> str:
    """Normalised question text: case, punctuation and spacing do not make a new question."""
    return " ".join(re.findall(r"[\w.]+", question.lower())).strip(".")


def check_candidates(candidates: list[QAPair], bounds: PatternParams) -> list[Checked]:
    """Pattern failures per candidate, plus `duplicate_question` for all but the first by id."""
    seen: dict[str, str] = {}
    checked = []
    for qa in sorted(candidates, key=lambda q: q.id):
        failures = check_answer(qa.answer, qa.kind, bounds)
        rules = [f.rule for f in failures]
        reasons = [f"{f.rule}: {f.reason}" for f in failures]
        key = question_key(qa.question)
        if key in seen:
            rules.append("duplicate_question")
            reasons.append(f"duplicate_question: same question as {seen[key]}")
        else:
            seen[key] = qa.id
        checked.append(Checked(qa, rules, reasons))
    return checked


def to_frame(rows: list[Checked]):
    import pandas as pd

    records = []
    for row in rows:
        parsed = parse_answer(row.qa.answer)
        record: dict[str, Any] = {name: getattr(row.qa, name) for name in SCHEMA}
        record["question_key"] = question_key(row.qa.question)
        record["conforms"] = not any(r != "duplicate_question" for r in row.failed_rules)
        record["n_items"] = len(parsed.items)
        record["max_item_words"] = max((len(words(t)) for _, t in parsed.items), default=0)
        records.append(record)
    return pd.DataFrame.from_records(records, columns=list(FRAME_COLUMNS))


def build_suite(gx, bounds: PatternParams):
    suite = gx.ExpectationSuite(name="qa_candidates")
    expect = gx.expectations
    suite.add_expectation(expect.ExpectTableColumnsToMatchSet(column_set=list(FRAME_COLUMNS),
                                                              exact_match=True))
    for column in ("id", "question", "answer", "kind", "source_url", "content_hash"):
        suite.add_expectation(expect.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(expect.ExpectColumnValuesToBeUnique(column="id"))
    suite.add_expectation(expect.ExpectColumnValuesToBeUnique(column="question_key"))
    suite.add_expectation(expect.ExpectColumnValuesToBeInSet(column="kind", value_set=list(KINDS)))
    suite.add_expectation(expect.ExpectColumnValuesToBeInSet(column="conforms", value_set=[True]))
    suite.add_expectation(expect.ExpectColumnValuesToBeBetween(
        column="n_items", min_value=bounds.min_items, max_value=bounds.max_items))
    suite.add_expectation(expect.ExpectColumnValuesToBeBetween(
        column="max_item_words", min_value=bounds.min_item_words, max_value=bounds.max_item_words))
    suite.add_expectation(expect.ExpectColumnValueLengthsToBeBetween(
        column="question", min_value=8, max_value=300))
    return suite


def run_suite(frame, bounds: PatternParams) -> dict[str, Any]:
    """Run the suite with real Great Expectations; return a deterministic summary."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_pandas("wpqa").add_dataframe_asset("qa")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": frame})
    result = batch.validate(build_suite(gx, bounds), result_format={
        "result_format": "COMPLETE", "unexpected_index_column_names": ["id"]})
    expectations = []
    for item in result.results:
        config = item.expectation_config
        kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
        detail = item.result or {}
        expectations.append({
            "expectation": config.type,
            "column": kwargs.get("column", ""),
            "kwargs": {k: v for k, v in sorted(kwargs.items()) if k != "column"},
            "success": bool(item.success),
            "unexpected_count": int(detail.get("unexpected_count") or 0),
            "unexpected_examples": sorted({str(v) for v in detail.get("partial_unexpected_list") or []})[:5],
            "unexpected_ids": sorted({str(row["id"]) for row in detail.get("unexpected_index_list") or []
                                      if isinstance(row, dict) and "id" in row}),
        })
    expectations.sort(key=lambda e: (e["expectation"], e["column"]))
    return {"success": bool(result.success), "rows": int(len(frame)), "expectations": expectations}


def validate_candidates(candidates: list[QAPair], bounds: PatternParams, params: ValidateParams,
                        malformed: Iterable[dict[str, Any]] = ()
                        ) -> tuple[list[QAPair], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Accepted items, quarantine rows, GX results (all, accepted) and metrics.

    `malformed`: rows parse_candidates could not read; they join the quarantine and count
    among the candidates, so nothing is lost and the funnel adds up.

    Raises GateError when the accepted set still fails the suite or is too small.
    """
    checked = check_candidates(candidates, bounds)
    on_candidates = run_suite(to_frame(checked), bounds)
    # Rows a row-level expectation flags are quarantined under its name. Uniqueness is left
    # to check_candidates, which keeps the first of each repeated question; a row that
    # already broke a pattern rule keeps that rule as its root cause.
    flagged: dict[str, list[str]] = {}
    for expectation in on_candidates["expectations"]:
        if expectation["success"] or "unique" in expectation["expectation"]:
            continue
        name = f"gx:{expectation['expectation']}:{expectation['column']}"
        for qa_id in expectation["unexpected_ids"]:
            flagged.setdefault(qa_id, []).append(name)
    checked = [c if c.failed_rules or c.qa.id not in flagged
               else Checked(c.qa, flagged[c.qa.id], flagged[c.qa.id]) for c in checked]
    accepted = [c for c in checked if not c.failed_rules]
    quarantined = [c for c in checked if c.failed_rules]
    results = {"candidates": on_candidates, "accepted": run_suite(to_frame(accepted), bounds)}
    malformed = list(malformed)
    metrics = {
        "candidates_in": len(candidates) + len(malformed),
        "accepted": len(accepted),
        "quarantined": len(quarantined) + len(malformed),
        "gx_candidates_success": results["candidates"]["success"],
        "gx_accepted_success": results["accepted"]["success"],
        "gx_expectations": len(results["accepted"]["expectations"]),
        **reason_counts([{"failed_rules": c.failed_rules} for c in quarantined] + malformed,
                        "quarantined_"),
    }
    quarantine = [{**to_row(c.qa), "failed_rules": c.failed_rules, "reasons": c.reasons}
                  for c in quarantined] + malformed
    if not results["accepted"]["success"]:
        failed = [f"{e['expectation']}({e['column']}): {e['unexpected_count']} rows, e.g. "
                  f"{e['unexpected_examples'][:2]}"
                  for e in results["accepted"]["expectations"] if not e["success"]]
        raise GateError("accepted Q&A fail the Great Expectations suite:\n  " + "\n  ".join(failed))
    if len(accepted) < params.min_accepted:
        raise GateError(f"only {len(accepted)} of {len(candidates)} candidates passed the gate; "
                        f"validate.min_accepted is {params.min_accepted}. See the quarantine "
                        "file for the failing rules.")
    return [c.qa for c in accepted], quarantine, results, metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--candidates", default="data/interim/candidates.jsonl")
    parser.add_argument("--out", default="data/curated/qa.jsonl")
    parser.add_argument("--quarantine", default="data/curated/quarantine.jsonl")
    parser.add_argument("--reports", default="reports/validate")
    args = parser.parse_args(argv)
    params = load_params_or_exit(args.params, "validate")
    candidates, malformed = parse_candidates(read_jsonl(args.candidates))
    try:
        accepted, quarantine, results, metrics = validate_candidates(
            candidates, params.pattern, params.validate, malformed)
    except GateError as err:
        sys.exit(f"validate: stopped: {err}")
    write_jsonl(args.out, (to_row(q) for q in accepted))
    write_jsonl(args.quarantine, quarantine)
    write_json(f"{args.reports}/gx_results.json", results)
    write_json(f"{args.reports}/metrics.json", metrics)
    print(f"validate: {metrics['candidates_in']} candidates -> {len(accepted)} accepted, "
          f"{len(quarantine)} quarantined")


if __name__ == "__main__":
    main()
