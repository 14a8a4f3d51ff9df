"""One end-to-end `dvc repro` on a micro config in a temporary git repository.

It proves the chain runs with real components at every link, that a second repro runs
nothing, and that `dvc exp run -S lr=2e-4` re-runs only train, eval and report.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

MICRO = {
    "split": {"test_size": 8},
    "base": {"hidden_size": 64, "layers": 2, "heads": 2, "intermediate_size": 128,
             "context_length": 256, "steps": 15, "batch_size": 8, "vocab_size": 400},
    "train": {"epochs": 1, "batch_size": 8, "max_length": 256, "lora_r": 4, "lora_alpha": 8},
    "eval": {"max_new_tokens": 24, "limit": 4},
    "report": {"sample_items": 3},
}
IGNORED = {".git", ".venv", "data", "models", "reports", ".pytest_cache", "__pycache__",
           "wpqa.egg-info", ".dvc"}


def copy_project(dest: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in tracked:
        if rel.split("/")[0] in IGNORED and not rel.startswith("data/review/"):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)


def run(cmd, cwd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w-]+)'", output))


def test_micro_repro_then_nothing_then_lr_experiment(tmp_path):
    repo = tmp_path / "repo"
    copy_project(repo)
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in MICRO.items():
        raw[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "GX_ANALYTICS_ENABLED": "False", "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1"}
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.email", "t@example.test"],
                ["git", "config", "user.name", "test"], ["dvc", "init", "-q"],
                ["git", "add", "-A"], ["git", "commit", "-qm", "micro"]):
        run(cmd, repo, env)

    first = run(["dvc", "repro"], repo, env)
    assert ran_stages(first) == {"scrape", "extract", "generate", "validate", "split", "base",
                                 "train", "eval", "report"}
    report = json.loads((repo / "reports/dataset/metrics.json").read_text())
    assert report["adds_up"] and report["test"] == 8 and report["train"] > 8
    split = json.loads((repo / "reports/split/metrics.json").read_text())
    assert split["leaks"] == 0 and split["gx_decontamination_success"]
    assert split["train"] + split["test"] + split["dropped"] == split["items"]
    assert "<html" in (repo / "reports/dataset/report.html").read_text()
    evaluation = json.loads((repo / "reports/eval/metrics.json").read_text())
    assert evaluation["n_questions"] == 4
    assert {"base_strict", "tuned_strict", "tuned_rule_numbering"} <= set(evaluation)
    assert (repo / "data/hf/README.md").read_text().startswith("---\n")
    from datasets import load_dataset
    loaded = load_dataset(str(repo / "data/hf"))
    assert loaded["test"].num_rows == 8

    second = run(["dvc", "repro"], repo, env)
    assert ran_stages(second) == set(), second

    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "first run"], repo, env)
    experiment = run(["dvc", "exp", "run", "-S", "lr=2e-4"], repo, env)
    assert ran_stages(experiment) == {"train", "eval", "report"}
    assert json.loads((repo / "reports/train/metrics.json").read_text())["lr"] == pytest.approx(2e-4)
