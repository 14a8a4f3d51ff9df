"""Small real models and data for the train and eval tests, built in a temp folder.

Everything here is made locally in well under a second or two: a few hundred lines of
docs-like text, a byte-level BPE tokenizer trained on them, a Llama-style model a few
thousand parameters wide, list-format Q&A rows, and a params.yaml sized for them.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import yaml

from curation.pattern import format_answer

REPO = Path(__file__).resolve().parents[1]

OBJECTS = ["plugin", "theme", "widget", "menu", "page", "post", "user", "comment"]
VERBS = ["install", "update", "delete", "create", "rename", "export"]


def docs_lines() -> list[str]:
    """A few hundred lines of plain documentation prose (no Q&A, no numbered lists)."""
    lines = []
    for verb, obj in itertools.product(VERBS, OBJECTS):
        lines += [
            f"You can {verb} a {obj} from the dashboard at any time.",
            f"Go to the {obj} screen and click the {verb.title()} button.",
            f"When you {verb} a {obj}, WordPress keeps a record of the change.",
            f"Administrators can {verb} every {obj}; editors see only some of them.",
            f"Back up your site before you {verb} a {obj}.",
        ]
    return lines


def section_rows() -> list[dict]:
    """Rows shaped like data/interim/sections.jsonl."""
    lines = docs_lines()
    rows = []
    for i in range(0, len(lines), 5):
        rows.append({
            "section_id": f"s{i}", "heading": f"Section {i}", "heading_path": ["Doc"],
            "paragraphs": [" ".join(lines[i:i + 3])], "ordered_lists": [lines[i + 3:i + 5]],
            "unordered_lists": [], "notes": ["Keep a backup."], "has_code": False,
        })
    return rows


def qa_rows(n: int, offset: int = 0) -> list[dict]:
    """QAPair rows in the list pattern, alternating steps and solutions."""
    rows = []
    for i, (verb, obj) in enumerate(itertools.islice(
            itertools.cycle(itertools.product(VERBS, OBJECTS)), offset, offset + n)):
        if i % 3 == 2:
            question = f"The {obj} does not work after I {verb} it"
            answer = format_answer("solutions", [
                "Clear your browser cache and reload the page.",
                f"Deactivate the {obj} and activate it again.",
                "Restore your site from a recent backup."])
            kind = "solutions"
        else:
            question = f"How do I {verb} a {obj}?"
            answer = format_answer("steps", [
                f"Go to the {obj} screen in the dashboard.",
                f"Click the {verb.title()} button.",
                "Confirm the change when asked."], task=f"{verb} a {obj}")
            kind = "steps"
        rows.append({"id": f"qa{offset + i:04d}", "question": question, "answer": answer,
                     "kind": kind, "source_url": "http://127.0.0.1/doc/", "source": "test",
                     "section_id": f"s{i}", "heading_path": ["Doc"], "content_hash": "0" * 16,
                     "generator": "test"})
    return rows


TINY_BASE = {"model": "tiny", "revision": "", "vocab_size": 400, "hidden_size": 64,
             "layers": 2, "heads": 2, "intermediate_size": 128, "context_length": 256,
             "steps": 8, "batch_size": 4, "lr": 3.0e-3}


def write_params(path: Path, *, lr: float = 1e-2, base: dict | None = None,
                 train: dict | None = None, eval: dict | None = None) -> Path:
    """The repo's params.yaml with the model sections sized for tests."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    raw["lr"] = lr
    raw["base"] = {**raw["base"], **TINY_BASE, **(base or {})}
    raw["train"] = {**raw["train"], "epochs": 2, "batch_size": 4, "max_length": 256,
                    **(train or {})}
    raw["eval"] = {**raw["eval"], "max_new_tokens": 24, **(eval or {})}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def make_tiny_base(out: Path, steps: int = 1, seed: int = 0):
    """A tiny tokenizer + Llama model saved like the base stage saves one; returns BaseRef.

    A model that LoRA should visibly improve needs ~40 pretraining steps: with tied,
    untrained embeddings the logits cannot move far from uniform.
    """
    from train.base import build_tiny_base, resolve_base, save_tiny_base
    from wpqa.params import BaseParams

    params = BaseParams(**{**TINY_BASE, "steps": steps, "lr": 1e-2})
    model, tokenizer, record = build_tiny_base(section_rows(), params, seed, progress=False)
    save_tiny_base(out, model, tokenizer, record)
    return resolve_base(out)
