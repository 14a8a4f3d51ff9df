"""One end-to-end `dvc repro` on a micro config in a temporary git repository.

It proves the chain runs with real components at every link (the eval stage also judges a
model behind the loopback OpenAI-compatible server), that a second repro runs nothing,
that `dvc exp run -S lr=2e-4` re-runs only train, eval and report, and that after two
such experiments `dvc exp show` lists the flat eval keys of both side by side.
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
from tests.llm_responders import pattern_answerer
from tests.openai_server import ScriptedOpenAI

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

MICRO = {
    "split": {"test_size": 8},
    "base": {"model": "tiny", "hidden_size": 64, "layers": 2, "heads": 2, "intermediate_size": 128,
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
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w-]+)'", output))


def eval_metrics_by_lr(exp_show_json: str) -> dict[float, dict]:
    """lr -> the eval metrics of each row of `dvc exp show --json` (workspace, commit, exps)."""
    found: dict[float, dict] = {}

    def walk(node):
        if isinstance(node, dict):
            data = node.get("data")
            if isinstance(data, dict) and "metrics" in data and "params" in data:
                lr = (data["params"].get("params.yaml", {}).get("data", {}) or {}).get("lr")
                evaluation = (data["metrics"] or {}).get("reports/eval/metrics.json", {})
                if lr is not None and evaluation.get("data"):
                    found[float(lr)] = evaluation["data"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(exp_show_json))
    return found


@pytest.fixture
def endpoint():
    with ScriptedOpenAI(responder=pattern_answerer) as server:
        yield server


@pytest.mark.timeout(3600)  # a whole repro and two experiments: ~5 min idle, 10-25 on a loaded machine
def test_micro_repro_then_nothing_then_lr_experiments(tmp_path, endpoint):
    repo = tmp_path / "repo"
    copy_project(repo)
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in MICRO.items():
        raw[section].update(values)
    raw["eval"]["models"] = ["base", "tuned", {"name": "large_ref", "model": "ref-7b",
                                               "base_url": endpoint.base_url}]
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "GX_ANALYTICS_ENABLED": "False", "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1",
           "WPQA_LLM_CACHE": str(tmp_path / "llm.sqlite")}
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.email", "t@example.test"],
                ["git", "config", "user.name", "test"], ["dvc", "init", "-q"],
                ["git", "add", "-A"], ["git", "commit", "-qm", "micro"]):
        run(cmd, repo, env)

    first = run(["dvc", "repro"], repo, env)
    assert ran_stages(first) == {"params", "scrape", "extract", "generate", "validate", "split",
                                 "base", "train", "eval", "report"}
    report = json.loads((repo / "reports/dataset/metrics.json").read_text())
    assert report["adds_up"] and report["train"] > 8
    split = json.loads((repo / "reports/split/metrics.json").read_text())
    # Whole page and paraphrase groups go to one side, so the test split may fall short
    # of its target by less than a group.
    assert split["test_target"] == 8 and 5 <= report["test"] <= 8 and split["test"] == report["test"]
    assert split["leaks"] == 0 and split["gx_decontamination_success"]
    assert split["train"] + split["test"] + split["dropped"] == split["items"]
    assert "<html" in (repo / "reports/dataset/report.html").read_text()
    evaluation = json.loads((repo / "reports/eval/metrics.json").read_text())
    assert evaluation["n_questions"] == 4
    assert {"base_strict", "tuned_strict", "tuned_rule_numbering", "tuned_strict_ci_low",
            "tuned_rougeL", "tuned_grounding", "large_ref_strict",
            "tuned_vs_base_strict_p"} <= set(evaluation)
    assert evaluation["large_ref_strict"] == 1.0
    eval_report = (repo / "reports/eval/report.html").read_text()
    assert "large_ref vs tuned" in eval_report and "Content-Security-Policy" in eval_report
    assert {"tuned_loose", "base_forced_list", "tuned_forced_list",
            "large_ref_forced_list"} <= set(evaluation)
    assert len(endpoint.chat_requests()) == 4 + 4  # test + non-procedural questions (limit 4)
    assert (repo / "data/hf/README.md").read_text().startswith("---\n")
    from datasets import load_dataset
    loaded = load_dataset(str(repo / "data/hf"))
    assert loaded["test"].num_rows == report["test"]

    second = run(["dvc", "repro"], repo, env)
    assert ran_stages(second) == set(), second

    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "first run"], repo, env)
    experiment = run(["dvc", "exp", "run", "-S", "lr=2e-4"], repo, env)
    # params re-checks the edited file; its output is unchanged, so scrape does not re-run.
    assert ran_stages(experiment) == {"params", "train", "eval", "report"}
    assert json.loads((repo / "reports/train/metrics.json").read_text())["lr"] == pytest.approx(2e-4)
    run(["dvc", "exp", "run", "-S", "lr=1e-2"], repo, env)
    assert len(endpoint.chat_requests()) == 8  # the endpoint's answers came from the cache

    shown_json = subprocess.run(["dvc", "exp", "show", "--json"], cwd=repo, env=env,
                                capture_output=True, text=True, check=True, timeout=300).stdout
    shown = eval_metrics_by_lr(shown_json)
    assert {2e-4, 1e-2} <= set(shown), shown.keys()
    for lr in (2e-4, 1e-2):
        assert {"tuned_strict", "base_strict", "tuned_rougeL", "tuned_strict_ci_low",
                "large_ref_strict"} <= set(shown[lr])
    csv = subprocess.run(["dvc", "exp", "show", "--csv"], cwd=repo, env=env,
                         capture_output=True, text=True, check=True, timeout=300).stdout
    header = csv.splitlines()[0].split(",")
    assert {"tuned_strict", "base_strict", "tuned_rougeL", "large_ref_strict"} <= set(header)
    plots = json.loads(subprocess.run(["dvc", "plots", "show", "--json"], cwd=repo, env=env,
                                      capture_output=True, text=True, check=True,
                                      timeout=300).stdout)["data"]
    bars = plots["reports/eval/plots/rules.json"][0]["content"]
    assert bars["mark"]["type"] == "bar"
    rows = bars["data"]["values"]
    assert {"intro (tuned)", "kind (large_ref)"} <= {row["rule"] for row in rows}

    # Back from the experiments to the committed run: nothing looks changed (training
    # checkpoints are scratch, not an output), so the next repro runs nothing.
    run(["git", "checkout", "--", "."], repo, env)
    run(["dvc", "checkout"], repo, env)
    status = run(["dvc", "status"], repo, env)
    assert "up to date" in status, status
    assert ran_stages(run(["dvc", "repro"], repo, env)) == set()
