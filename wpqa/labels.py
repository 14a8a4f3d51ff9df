"""Hand labels of the procedures on documentation pages, and scoring Q&A against them.

A label file (JSON Lines, one row per labelled page) stores facts, never the page's text:

    {"page": "articles-10450778", "site": "wordpress.org",
     "procedures": [{"heading_path": ["Title", "Heading"], "kind": "steps",
                     "step_count": 5, "steps": ["3f9a0c1e", ...], "code": false}]}

`steps` holds a short fingerprint of each step: a hash of the first words of its
normalised text (`step_fingerprint`). A step's text is its own words: a nested
sub-list folded into it, a repaired link or a trailing period do not change its
fingerprint, because only the opening words count. A page labelled with no procedures
is a fact too: every item accepted from it is a false positive.

`score_items` matches accepted Q&A items to the labelled procedures of their page by
shared step fingerprints and returns recall, precision, step completeness and kind
accuracy (see its docstring).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Mapping

FINGERPRINT_WORDS = 8
# "Step 3:", "Step 3 -", "3.", "3)" at the start of a step say where it is, not what it says.
_STEP_MARKER = re.compile(r"^\s*(?:step\s*\d+\s*[:.)\-–—]?|\d+\s*[.):\-–—])\s*", re.IGNORECASE)
_NON_WORD = re.compile(r"[^a-z0-9]+")
_ANSWER_ITEM = re.compile(r"^\s*\d+\.\s+(.*)$")


def normalise_step(text: str) -> str:
    """Lower-case words of a step, markup, numbering and punctuation gone."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("'", "")
    text = _STEP_MARKER.sub("", text)
    return " ".join(_NON_WORD.sub(" ", text).split())


def step_fingerprint(text: str) -> str:
    """A short hash of a step's opening words (see the module docstring)."""
    words = normalise_step(text).split()[:FINGERPRINT_WORDS]
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()[:10]


def answer_items(answer: str) -> list[str]:
    """The numbered items of a list-format answer, in order."""
    return [m.group(1) for m in map(_ANSWER_ITEM.match, answer.splitlines()) if m]


@dataclass(frozen=True)
class LabelledProcedure:
    heading_path: tuple[str, ...]
    kind: str  # "steps" | "solutions"
    steps: tuple[str, ...]  # fingerprints, in order
    code: bool = False  # a step cannot be followed without a code block of the page

    @property
    def step_count(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class PageLabel:
    page: str  # the corpus file's stem, e.g. "plugin-handbook-11159"
    site: str  # the corpus folder, e.g. "developer.wordpress.org"
    procedures: tuple[LabelledProcedure, ...] = field(default_factory=tuple)


def label_row(page: str, site: str, procedures: Iterable[dict]) -> dict:
    """A label file row from procedures given with their step texts (the labelling tool)."""
    rows = []
    for proc in procedures:
        kind = proc["kind"]
        if kind not in ("steps", "solutions"):
            raise ValueError(f"{page}: kind {kind!r} is not steps or solutions")
        steps = [step_fingerprint(s) for s in proc["steps"]]
        if len(steps) < 2:
            raise ValueError(f"{page}: {proc['heading_path']} has fewer than 2 steps")
        rows.append({"heading_path": list(proc["heading_path"]), "kind": kind,
                     "step_count": len(steps), "steps": steps, "code": bool(proc.get("code", False))})
    return {"page": page, "site": site, "procedures": rows}


def page_label(row: Mapping) -> PageLabel:
    procedures = []
    for proc in row["procedures"]:
        if proc["step_count"] != len(proc["steps"]):
            raise ValueError(f"{row['page']}: step_count {proc['step_count']} != {len(proc['steps'])} steps")
        procedures.append(LabelledProcedure(tuple(proc["heading_path"]), proc["kind"],
                                            tuple(proc["steps"]), bool(proc.get("code", False))))
    return PageLabel(row["page"], row["site"], tuple(procedures))


def ordered_overlap(found: list[tuple[str, ...]], wanted: tuple[str, ...]) -> int:
    """Length of the longest common subsequence: steps present and in order. Each found
    step may be matched by any of its fingerprints."""
    previous = [0] * (len(wanted) + 1)
    for f in found:
        current = [0]
        for j, w in enumerate(wanted):
            current.append(previous[j] + 1 if w in f else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def item_fingerprints(text: str) -> tuple[str, ...]:
    """The fingerprints an answer step may match: its own, that of its words before a
    colon or semicolon (a step with its sub-steps folded in: "Configure options: add …"),
    and the same without a link target kept in brackets."""
    prints = [step_fingerprint(text)]
    # A link target kept beside vague link text ("here (https://…)") is not in the page's words.
    bare = re.sub(r"\s*\(https?://[^)\s]*\)", "", text)
    for variant in (text, bare):
        prints.append(step_fingerprint(variant))
        for mark in (":", ";"):
            head = variant.split(mark, 1)[0]
            if head != variant and head.strip():
                prints.append(step_fingerprint(head))
    return tuple(dict.fromkeys(prints))


@dataclass(frozen=True)
class ItemToScore:
    """An accepted item reduced to what scoring needs."""

    item_id: str
    page: str
    kind: str
    steps: tuple[tuple[str, ...], ...]  # each answer item's fingerprints, in order


def item_to_score(item_id: str, page: str, kind: str, answer: str) -> ItemToScore:
    return ItemToScore(item_id, page, kind, tuple(item_fingerprints(s) for s in answer_items(answer)))


@dataclass
class QualityScore:
    procedures: int = 0
    procedures_found: int = 0
    items: int = 0
    items_matched: int = 0
    kind_correct: int = 0
    completeness_sum: float = 0.0
    misses: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    false_items: list[str] = field(default_factory=list)
    incomplete: list[tuple[str, tuple[str, ...], float]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.procedures_found / self.procedures if self.procedures else 0.0

    @property
    def precision(self) -> float:
        return self.items_matched / self.items if self.items else 0.0

    @property
    def completeness(self) -> float:
        return self.completeness_sum / self.procedures_found if self.procedures_found else 0.0

    @property
    def kind_accuracy(self) -> float:
        return self.kind_correct / self.items_matched if self.items_matched else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"procedures": self.procedures, "procedures_found": self.procedures_found,
                "items": self.items, "items_matched": self.items_matched,
                "recall": round(self.recall, 4), "precision": round(self.precision, 4),
                "completeness": round(self.completeness, 4),
                "kind_accuracy": round(self.kind_accuracy, 4)}


def match_share(item: ItemToScore, proc: LabelledProcedure) -> float:
    """How much an item and a procedure share: in-order steps over the shorter of the two."""
    shorter = min(len(item.steps), len(proc.steps))
    return ordered_overlap(list(item.steps), proc.steps) / shorter if shorter else 0.0


def score_items(items: Iterable[ItemToScore], labels: Iterable[PageLabel],
                skip_code: bool = False) -> QualityScore:
    """Score accepted items on labelled pages against those pages' procedures.

    - An item matches a procedure of its page when at least half the steps of the
      shorter of the two are shared, in order (ties go to the procedure closest in
      length, then the first). Each procedure is matched by its best item; every
      further item matching the same procedure is a duplicate, not a hit.
    - recall: labelled procedures matched by an item;
    - precision: items (on labelled pages) that match a labelled procedure;
    - completeness: over matched procedures, the share of the procedure's steps that the
      best item holds in order;
    - kind accuracy: matched items whose kind is the procedure's kind.

    `skip_code` leaves out procedures that need a code block (and items that match
    them), for the figure on procedures the pattern can express.
    """
    score = QualityScore()
    by_page: dict[str, list[ItemToScore]] = {}
    for item in items:
        by_page.setdefault(item.page, []).append(item)
    for label in labels:
        page_items = sorted(by_page.get(label.page, []), key=lambda i: i.item_id)
        claimed: dict[str, int] = {}  # item id -> index of the procedure it matched best
        for item in page_items:
            # Among procedures sharing as much, the one closest in length: six steps a
            # page repeats inside a longer procedure are still the six-step procedure.
            fits = [((share, ordered_overlap(list(item.steps), proc.steps)
                      / max(len(item.steps), len(proc.steps))), index)
                    for index, proc in enumerate(label.procedures)
                    if (share := match_share(item, proc)) >= 0.5]
            if fits:
                claimed[item.item_id] = max(fits, key=lambda fit: (fit[0], -fit[1]))[1]
        for index, proc in enumerate(label.procedures):
            if skip_code and proc.code:
                continue
            score.procedures += 1
            matches = [i for i in page_items if claimed.get(i.item_id) == index]
            if not matches:
                score.misses.append((label.page, proc.heading_path))
                continue
            best_item = max(matches, key=lambda i: (ordered_overlap(list(i.steps), proc.steps), i.item_id))
            score.procedures_found += 1
            done = ordered_overlap(list(best_item.steps), proc.steps) / len(proc.steps)
            score.completeness_sum += done
            if done < 1.0:
                score.incomplete.append((label.page, proc.heading_path, round(done, 3)))
        for item in page_items:
            index = claimed.get(item.item_id)
            if index is not None and skip_code and label.procedures[index].code:
                continue
            score.items += 1
            if index is None:
                score.false_items.append(item.item_id)
                continue
            score.items_matched += 1
            score.kind_correct += item.kind == label.procedures[index].kind
    return score
