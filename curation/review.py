"""Human review: a spreadsheet out, decisions in git, applied by the split stage.

`wpqa review export --out review.csv` writes one row per accepted item (id, question,
answer, source link, verdict, edited answer, note) that a reviewer fills in a spreadsheet;
`wpqa review import review.csv` merges the rows with a verdict into
`data/review/decisions.jsonl`, the file tracked in git that the split stage applies:

- `veto`: the item is removed (dropped with reason `review_veto`);
- `edit`: the answer is replaced by the edited one, re-checked against the pattern
  (wpqa/pattern.py); an edit that breaks a rule is rejected with that rule and the
  item keeps its original answer;
- `keep`: reviewed and approved as it is.

A decision records a hash of the answer the reviewer saw; when the pipeline later
produces a different answer under the same id, the decision is stale and not applied. It
also records the hash of the source section the item came from: when the page changed
since the review (a re-crawl gave the section new text), the decision is flagged
(`review_source_changed`, listed in reports/split/review.json and the review report) and
not applied, even where the answer came out the same: the reviewer judged it against a
page that no longer says what it said.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

from wpqa.pattern import check_answer
from wpqa.io import read_jsonl, write_jsonl, write_text
from wpqa.params import PatternParams
from wpqa.records import QAPair, content_hash

VERDICTS = ("keep", "veto", "edit")
CSV_COLUMNS = ("id", "question", "answer", "kind", "source_url", "verdict", "edited_answer",
               "note", "answer_hash", "source_hash")


class ReviewError(ValueError):
    pass


@dataclass(frozen=True)
class Decision:
    id: str
    verdict: str  # keep | veto | edit
    edited_answer: str = ""
    note: str = ""
    answer_hash: str = ""  # hash of the answer the reviewer saw; "" applies to any answer
    source_hash: str = ""  # content_hash of the section then; "" applies to any source

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ReviewError(f"decision for {self.id}: verdict {self.verdict!r}; allowed: "
                              f"{', '.join(VERDICTS)}")
        if self.verdict == "edit" and not self.edited_answer.strip():
            raise ReviewError(f"decision for {self.id}: verdict edit needs an edited_answer")

    def to_row(self) -> dict:
        return {"id": self.id, "verdict": self.verdict, "edited_answer": self.edited_answer,
                "note": self.note, "answer_hash": self.answer_hash,
                "source_hash": self.source_hash}


def answer_hash(answer: str) -> str:
    return content_hash(answer)


def load_decisions(path: str | Path) -> dict[str, Decision]:
    """Decisions by id; a missing file means no decisions. Bad rows fail with their line."""
    path = Path(path)
    if not path.exists():
        return {}
    decisions: dict[str, Decision] = {}
    for lineno, row in enumerate(read_jsonl(path), 1):
        try:
            decision = Decision(id=str(row["id"]), verdict=str(row.get("verdict", "")),
                                edited_answer=str(row.get("edited_answer") or ""),
                                note=str(row.get("note") or ""),
                                answer_hash=str(row.get("answer_hash") or ""),
                                source_hash=str(row.get("source_hash") or ""))
        except (KeyError, ReviewError) as err:
            raise ReviewError(f"{path}: row {lineno}: {err}") from None
        decisions[decision.id] = decision  # a later row for the same id wins
    return decisions


def write_decisions(path: str | Path, decisions: Iterable[Decision]) -> int:
    return write_jsonl(path, (d.to_row() for d in sorted(decisions, key=lambda d: d.id)))


def sheet_text(text: str) -> str:
    """Scraped text made inert for a spreadsheet: a cell starting with = + - @ (or a tab or
    carriage return) would be read as a formula, so it gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_rows(items: Iterable[QAPair], decisions: dict[str, Decision]) -> list[dict]:
    """One spreadsheet row per item, pre-filled with any decision already made. Only the
    verdict, edited_answer and note columns are read back."""
    rows = []
    for qa in sorted(items, key=lambda q: q.id):
        d = decisions.get(qa.id)
        rows.append({"id": qa.id, "question": sheet_text(qa.question), "answer": sheet_text(qa.answer),
                     "kind": qa.kind, "source_url": sheet_text(qa.source_url),
                     "verdict": d.verdict if d else "",
                     "edited_answer": d.edited_answer if d else "", "note": d.note if d else "",
                     "answer_hash": answer_hash(qa.answer), "source_hash": qa.content_hash})
    return rows


def write_csv(path: str | Path, rows: list[dict]) -> None:
    import io

    buffer = io.StringIO()
    # A byte-order mark makes spreadsheet programs read the file as UTF-8.
    buffer.write("\ufeff")
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def read_csv(path: str | Path) -> list[Decision]:
    """Decisions from a filled review sheet: rows with an empty verdict are skipped."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"id", "verdict"} - set(reader.fieldnames or [])
        if missing:
            raise ReviewError(f"{path}: no column {', '.join(sorted(missing))}; export a sheet "
                              "with `wpqa review export`")
        out = []
        for lineno, row in enumerate(reader, 2):
            verdict = (row.get("verdict") or "").strip().lower()
            if not verdict:
                continue
            try:
                edited = (row.get("edited_answer") or "").replace("\r\n", "\n").strip()
                out.append(Decision(id=row["id"].strip(), verdict=verdict,
                                    edited_answer=edited[1:] if edited[:2] in ("'=", "'+", "'-", "'@") else edited,
                                    note=(row.get("note") or "").strip(),
                                    answer_hash=(row.get("answer_hash") or "").strip(),
                                    source_hash=(row.get("source_hash") or "").strip()))
            except ReviewError as err:
                raise ReviewError(f"{path}: line {lineno}: {err}") from None
    return out


@dataclass(frozen=True)
class RejectedEdit:
    id: str
    failed_rules: list[str]
    reasons: list[str]


@dataclass
class ReviewResult:
    items: list[QAPair]  # after vetoes and accepted edits
    vetoed: list[QAPair] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    rejected_edits: list[RejectedEdit] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # the answer changed since review
    source_changed: list[str] = field(default_factory=list)  # the page changed since review
    unknown: list[str] = field(default_factory=list)  # no such item in this data

    def summary(self) -> dict:
        return {"review_decisions": len(self.kept) + len(self.vetoed) + len(self.edited)
                + len(self.rejected_edits) + len(self.stale) + len(self.source_changed)
                + len(self.unknown),
                "review_reviewed": len(self.kept) + len(self.vetoed) + len(self.edited)
                + len(self.rejected_edits),
                "review_kept": len(self.kept), "review_vetoed": len(self.vetoed),
                "review_edited": len(self.edited), "review_edits_rejected": len(self.rejected_edits),
                "review_stale": len(self.stale), "review_source_changed": len(self.source_changed),
                "review_unknown": len(self.unknown)}

    def to_json(self) -> dict:
        return {**self.summary(), "vetoed": sorted(q.id for q in self.vetoed),
                "edited": sorted(self.edited), "kept": sorted(self.kept),
                "rejected_edits": [{"id": r.id, "failed_rules": r.failed_rules, "reasons": r.reasons}
                                   for r in self.rejected_edits],
                "stale": sorted(self.stale), "source_changed": sorted(self.source_changed),
                "unknown": sorted(self.unknown)}


def apply_decisions(items: Iterable[QAPair], decisions: dict[str, Decision],
                    bounds: PatternParams) -> ReviewResult:
    """Vetoes removed, edits applied when the edited answer still follows the pattern."""
    items = sorted(items, key=lambda q: q.id)
    result = ReviewResult(items=[])
    present = {qa.id for qa in items}
    result.unknown = sorted(set(decisions) - present)
    for qa in items:
        d = decisions.get(qa.id)
        if d is None:
            result.items.append(qa)
            continue
        if d.source_hash and d.source_hash != qa.content_hash:
            result.source_changed.append(qa.id)
            result.items.append(qa)
        elif d.answer_hash and d.answer_hash != answer_hash(qa.answer):
            result.stale.append(qa.id)
            result.items.append(qa)
        elif d.verdict == "veto":
            result.vetoed.append(qa)
        elif d.verdict == "edit":
            failures = check_answer(d.edited_answer, qa.kind, bounds)
            if failures:
                result.rejected_edits.append(RejectedEdit(
                    qa.id, [f.rule for f in failures], [f"{f.rule}: {f.reason}" for f in failures]))
                result.items.append(qa)
            else:
                result.edited.append(qa.id)
                # The reviewer's words are their own evidence: no spans into the page.
                result.items.append(replace(qa, answer=d.edited_answer, evidence=[]))
        else:
            result.kept.append(qa.id)
            result.items.append(qa)
    return result
