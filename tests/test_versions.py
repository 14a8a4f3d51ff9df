"""Dataset versions: two tagged versions in a temporary git + DVC repo, read back through
dvc.api from the local DVC remote alone, and `wpqa diff` between them."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from curation.versions import diff_splits, format_diff, previous_tag, read_splits
from wpqa.io import write_jsonl

pytestmark = pytest.mark.integration


def row(i, answer="A:\n1. One step.\n2. Two steps.", question=None):
    return {"id": f"q{i}", "question": question or f"Question {i}?", "answer": answer,
            "kind": "steps", "source_url": f"https://d.test/{i}/"}


def sh(cmd, cwd):
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, f"{cmd}: {result.stdout}\n{result.stderr}"
    return result.stdout


def save_version(repo, train, test, tag):
    write_jsonl(repo / "data/splits/train.jsonl", train)
    write_jsonl(repo / "data/splits/test.jsonl", test)
    sh(["dvc", "add", "-q", "data/splits"], repo)
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", tag], repo)
    sh(["git", "tag", tag], repo)
    sh(["dvc", "push", "-q"], repo)  # each version goes to the remote as it is tagged


def test_diff_between_two_tagged_versions_through_the_dvc_remote(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.email", "t@example.test"],
                ["git", "config", "user.name", "test"], ["dvc", "init", "-q"]):
        sh(cmd, repo)
    # The project's default remote: a folder, no account.
    shutil.copy(Path(__file__).resolve().parents[1] / ".dvc/config", repo / ".dvc/config")
    (repo / ".gitignore").write_text("/dvc-storage/\n")
    assert previous_tag(repo) is None

    save_version(repo, [row(1), row(2), row(3)], [row(4)], "data-v1")
    assert previous_tag(repo) is None  # the only tag points at HEAD
    save_version(repo, [row(1), row(2, answer="A:\n1. Edited step.\n2. Two steps."), row(5)],
                 [row(4), row(3)], "data-v2")
    assert previous_tag(repo) == "data-v1"
    # The report's section: the working splits against the previous tag.
    from curation.report import Para, Table, version_diff
    blocks = version_diff(repo / "data", repo, limit=30)
    assert isinstance(blocks[0], Para) and blocks[0].text.startswith(
        "data-v1 -> this version: train 3 -> 3, test 1 -> 2; added 1, removed 0, changed 1, moved 1")
    assert isinstance(blocks[1], Table) and ["+", "train q5  Question 5?"] in blocks[1].rows
    assert (repo / "dvc-storage").is_dir()
    # Only the remote holds the data now: dvc.api must fetch both versions from it.
    shutil.rmtree(repo / ".dvc/cache")
    shutil.rmtree(repo / "data/splits")

    result = subprocess.run([sys.executable, "-m", "commands.cli", "diff", "data-v1", "data-v2",
                             "--repo", str(repo), "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    diff = json.loads(result.stdout)
    assert [d["id"] for d in diff["added"]] == ["q5"]
    assert diff["removed"] == []
    assert [(d["id"], d["fields"]) for d in diff["changed"]] == [("q2", ["answer"])]
    assert [(d["id"], d["from"], d["to"]) for d in diff["moved"]] == [("q3", "train", "test")]
    assert (diff["old_train"], diff["new_train"], diff["old_test"], diff["new_test"]) == (3, 3, 1, 2)

    text = subprocess.run([sys.executable, "-m", "commands.cli", "diff", "data-v1", "data-v2",
                           "--repo", str(repo)], capture_output=True, text=True).stdout
    assert text.startswith("data-v1 -> data-v2: train 3 -> 3, test 1 -> 2; added 1, removed 0, "
                           "changed 1, moved 1")
    assert "+ train q5" in text and "~ train q2  answer" in text and "> train->test q3" in text
    bad = subprocess.run([sys.executable, "-m", "commands.cli", "diff", "data-v1", "no-such-tag",
                          "--repo", str(repo)], capture_output=True, text=True)
    assert bad.returncode == 2 and "cannot read data/splits" in bad.stderr


def test_diff_of_working_files(tmp_path):
    write_jsonl(tmp_path / "data/splits/train.jsonl", [row(1)])
    write_jsonl(tmp_path / "data/splits/test.jsonl", [row(2)])
    old = read_splits(None, tmp_path)
    new = {**old, "q9": {**row(9), "split": "test"}}
    del new["q1"]
    diff = diff_splits(old, new)
    assert [d["id"] for d in diff["added"]] == ["q9"] and [d["id"] for d in diff["removed"]] == ["q1"]
    assert "added 1, removed 1" in format_diff(diff, "a", "b")
    assert diff["added"][0]["page"] == row(9)["source_url"]
    # the same item from a re-crawled section: listed as made stale, with its page
    recrawled = {**new, "q2": {**new["q2"], "content_hash": "newer"}}
    diff = diff_splits(new, recrawled)
    assert [(d["id"], d["page"]) for d in diff["source_changed"]] == [("q2", row(2)["source_url"])]
    assert diff["changed"] == [] and "source changed 1" in format_diff(diff, "a", "b")
    assert f"! test  q2  source changed: {row(2)['source_url']}" in format_diff(diff, "a", "b")
