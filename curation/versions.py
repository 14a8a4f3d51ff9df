"""Dataset versions: git tags plus DVC, and what changed between two of them.

A version is a git tag on a commit whose `dvc.lock` records the splits; the data itself
sits in the DVC cache and the DVC remote (`dvc push`). `wpqa diff REV_A REV_B` reads
`data/splits/{train,test}.jsonl` at both revisions through `dvc.api` (local cache first,
then the remote) and lists the items added, removed, changed and moved between splits,
matched by id. The report stage shows the diff of the working splits against the
previous tag.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

SPLITS = ("train", "test")
COMPARED = ("question", "answer", "kind", "source_url")


def _rows(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_splits(rev: str | None, repo: str | Path = ".", path: str = "data/splits"
                ) -> dict[str, dict[str, Any]]:
    """id -> row (with its split) at `rev`; `rev=None` reads the working files."""
    items: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        rel = f"{path}/{split}.jsonl"
        if rev is None:
            text = (Path(repo) / rel).read_text(encoding="utf-8")
        else:
            import dvc.api

            text = dvc.api.read(rel, repo=str(repo), rev=rev, encoding="utf-8")
        for row in _rows(text):
            items[row["id"]] = {**row, "split": split}
    return items


def diff_splits(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Items added, removed, changed (which fields) and moved (train <-> test), by id, each
    with its page; `source_changed`: items whose section text changed (a new
    `content_hash` under the same id), the ones a re-crawl made stale."""
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed, moved, source_changed = [], [], []
    for item_id in sorted(set(old) & set(new)):
        a, b = old[item_id], new[item_id]
        fields = [f for f in COMPARED if a.get(f) != b.get(f)]
        if fields:
            changed.append({"id": item_id, "split": b["split"], "fields": fields,
                            "question": b.get("question", ""), "page": b.get("source_url", "")})
        if a.get("content_hash") != b.get("content_hash"):
            source_changed.append({"id": item_id, "split": b["split"],
                                   "page": b.get("source_url", ""),
                                   "question": b.get("question", "")})
        if a["split"] != b["split"]:
            moved.append({"id": item_id, "from": a["split"], "to": b["split"],
                          "question": b.get("question", "")})
    sizes = {f"{name}_{split}": sum(1 for r in rows.values() if r["split"] == split)
             for name, rows in (("old", old), ("new", new)) for split in SPLITS}
    return {**sizes,
            "added": [{"id": i, "split": new[i]["split"], "question": new[i].get("question", ""),
                       "page": new[i].get("source_url", "")} for i in added],
            "removed": [{"id": i, "split": old[i]["split"], "question": old[i].get("question", ""),
                         "page": old[i].get("source_url", "")} for i in removed],
            "changed": changed, "moved": moved, "source_changed": source_changed}


def format_diff(diff: dict[str, Any], rev_a: str, rev_b: str, limit: int = 0) -> str:
    lines = [f"{rev_a} -> {rev_b}: train {diff['old_train']} -> {diff['new_train']}, "
             f"test {diff['old_test']} -> {diff['new_test']}; added {len(diff['added'])}, "
             f"removed {len(diff['removed'])}, changed {len(diff['changed'])}, "
             f"moved {len(diff['moved'])}; source changed {len(diff['source_changed'])}"]
    entries = ([f"+ {d['split']:<5} {d['id']}  {d['question']}" for d in diff["added"]]
               + [f"- {d['split']:<5} {d['id']}  {d['question']}" for d in diff["removed"]]
               + [f"~ {d['split']:<5} {d['id']}  {','.join(d['fields'])}: {d['question']}"
                  for d in diff["changed"]]
               + [f"> {d['from']}->{d['to']} {d['id']}  {d['question']}" for d in diff["moved"]]
               + [f"! {d['split']:<5} {d['id']}  source changed: {d['page']}  {d['question']}"
                  for d in diff["source_changed"]])
    if limit and len(entries) > limit:
        entries = entries[:limit] + [f"… and {len(entries) - limit} more"]
    return "\n".join(lines + entries)


def _git(repo: str | Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


def previous_tag(repo: str | Path = ".") -> str | None:
    """The newest tag reachable from HEAD that does not point at HEAD itself (the version
    before the one being built); None outside git or without tags."""
    try:
        here = set(_git(repo, "tag", "--points-at", "HEAD").split())
        tags = _git(repo, "tag", "--merged", "HEAD", "--sort=-creatordate").split()
    except (OSError, subprocess.CalledProcessError):
        return None
    for tag in tags:
        if tag not in here:
            return tag
    return None
