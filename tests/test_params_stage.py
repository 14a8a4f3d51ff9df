"""A bad params file stops `dvc repro` at the params stage, before any outputs are deleted.

Real DVC in a temporary git repo: the project's params stage, and a downstream stage that
stands for the pipeline (it reads `split` and writes an output DVC would delete first).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT


def run(args, cwd):
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)


def test_bad_params_stop_the_run_with_outputs_kept(tmp_path):
    dvc = [sys.executable, "-m", "dvc"]
    assert run(["git", "init", "-q"], tmp_path).returncode == 0
    assert run(dvc + ["init", "-q"], tmp_path).returncode == 0
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    check = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["params"]
    # The kernel package is installed, not copied: keep the stage's other deps.
    check["deps"] = [d for d in check["deps"] if d != "wpqa"]
    work = {"cmd": f"{sys.executable} -c \"open('result.txt', 'w').write('done')\"",
            "deps": ["reports/params/check.json"], "params": ["split"],
            "outs": ["result.txt"]}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"params": check, "work": work}}))

    done = run(dvc + ["repro"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "result.txt").read_text() == "done"

    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["split"]["test_size"] = 1.5
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    failed = run(dvc + ["repro"], tmp_path)
    assert failed.returncode != 0
    assert "params: split.test_size: got 1.5" in failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr
    assert (tmp_path / "result.txt").read_text() == "done"  # the previous output is still there

    # An unknown top-level key is refused the same way.
    params["split"]["test_size"] = 30
    params["learning_rate"] = 2e-4
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    failed = run(dvc + ["repro"], tmp_path)
    assert failed.returncode != 0 and "params: learning_rate: unknown key" in failed.stderr
    assert Path(tmp_path / "result.txt").exists()
