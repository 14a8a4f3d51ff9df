"""One schema per record kind, used by every stage.

Rows travel between stages as JSON lines; these dataclasses say which fields a row of
each kind has, and `to_row`/`from_row` convert with a clear error on a missing field.
"""
from __future__ import annotations

import hashlib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, TypeVar

T = TypeVar("T")


def content_hash(*parts: str) -> str:
    """Short stable hash of text parts (provenance and ids)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class Page:
    """A fetched document: an HTML page or a plugin-directory API reply."""

    url: str
    status: int
    headers: dict[str, str]
    body: str
    source: str  # the sources-config entry that found it, e.g. "documentation"
    kind: str  # "html" | "plugin_api" | "rest_item" | "readme" | "markdown"
    # Source metadata worth keeping (REST: link, modified, parent, menu_order, title).
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Section:
    """One heading's worth of a page, with its structure kept."""

    section_id: str
    url: str
    source: str
    page_title: str
    heading_path: list[str]
    heading: str
    paragraphs: list[str]
    ordered_lists: list[list[str]]
    unordered_lists: list[list[str]]
    notes: list[str]
    has_code: bool
    troubleshooting: bool  # the page or section is about problems, not tasks
    content_hash: str
    # One entry per ordered list, in order: `intro` (the paragraph just before it), `links`
    # (items that are nearly all link text), `code` (an item held a code block),
    # `numbered_text` (typed as numbered paragraphs or step headings, not an <ol>) and
    # `code_after` (a code block follows the list).
    list_meta: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class QAPair:
    """A list-format question and answer with its provenance."""

    id: str
    question: str
    answer: str
    kind: str  # "steps" | "solutions"
    source_url: str
    source: str
    section_id: str
    heading_path: list[str]
    content_hash: str
    generator: str
    prompt_version: str = ""  # versioned prompt file used (LLM backend); "" for rules
    origin_id: str = ""  # id of the item this one paraphrases; "" for originals
    # Per step, [start, end) of the passage of grounding_source(section) that supports it
    # (wpqa.evidence); empty for rows written before evidence was recorded.
    evidence: list = field(default_factory=list)


@dataclass(frozen=True)
class RejectedRow:
    """Something a stage dropped, with a short snake_case reason that gets counted."""

    stage: str
    ref: str  # url, section_id or QA id of what was dropped
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Prediction:
    """One model's answer to one test question (one sample of it), with its scores."""

    id: str
    model: str  # a name from eval.models: "base", "tuned" or an endpoint model's name
    question: str
    kind: str
    reference: str
    answer: str
    conforms: bool
    failed_rules: list[str] = field(default_factory=list)
    sample: int = 0  # 0..eval.samples-1
    seed: int | None = None  # the sampling seed this answer was drawn with; None when greedy
    stopped: bool = True  # ended on its own (EOS / finish_reason "stop"), not at the token limit
    scores: dict[str, float] = field(default_factory=dict)  # rougeL, step_recall, ...
    section_id: str = ""
    source_url: str = ""
    judge_reason: str = ""  # the LLM judge's one-sentence reason (scores["judge"] holds 1-5)
    loose: bool | None = None  # passes loose scoring (eval/loose.py); None where not scored
    loose_failed_rules: list[str] = field(default_factory=list)


def to_row(record: Any) -> dict[str, Any]:
    return asdict(record)


def from_row(cls: type[T], row: dict[str, Any]) -> T:
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    required = [f.name for f in fields(cls)  # type: ignore[arg-type]
                if f.default is MISSING and f.default_factory is MISSING]
    missing = [n for n in required if n not in row]
    if missing:
        raise ValueError(f"{cls.__name__} row lacks {', '.join(missing)}: {str(row)[:200]}")
    return cls(**{n: row[n] for n in names if n in row})


def section_text(section: Section) -> str:
    """The section as plain text: what the LLM prompt shows and grounding compares with."""
    parts = list(section.paragraphs)
    for items in section.ordered_lists:
        parts.append("\n".join(f"{n}. {item}" for n, item in enumerate(items, 1)))
    for items in section.unordered_lists:
        parts.append("\n".join(f"- {item}" for item in items))
    parts += [f"Note: {note}" for note in section.notes]
    return "\n\n".join(p for p in parts if p.strip())


def grounding_source(section: Section) -> str:
    """What an answer may draw on: the page title, the heading path and the section text.
    The one grounding source of the generate gate and of the eval stage."""
    return "\n".join([section.page_title, *section.heading_path, section_text(section)])


class TrainDataError(ValueError):
    """A Q&A file (a split) is missing, empty or malformed; the message says which."""


def load_pairs(path: str | Path) -> list[QAPair]:
    """QAPair records from a split file, with clear errors for a missing or empty split."""
    from wpqa.io import read_jsonl

    path = Path(path)
    if not path.is_file():
        raise TrainDataError(f"{path}: split not found; run the split stage first")
    try:
        pairs = [from_row(QAPair, row) for row in read_jsonl(path)]
    except ValueError as err:
        raise TrainDataError(str(err)) from None
    if not pairs:
        raise TrainDataError(f"{path}: the split is empty; the curation stages accepted no "
                             "Q&A (see the validate stage's quarantine and the report)")
    return pairs


def reason_counts(rows: Iterable[Any], prefix: str = "") -> dict[str, int]:
    """How many rows each reason has, sorted by reason: the one count of rejected rows.

    A row is a `RejectedRow` (its `reason`), a dict with a `reason`, or a quarantine dict
    with `failed_rules` (each rule counts). `prefix` names the metric keys
    (`rejected_no_list`)."""
    counts: dict[str, int] = {}
    for row in rows:
        if isinstance(row, dict):
            reasons = row["failed_rules"] if "failed_rules" in row else [row["reason"]]
        else:
            reasons = [row.reason]
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    return {f"{prefix}{reason}": counts[reason] for reason in sorted(counts)}
