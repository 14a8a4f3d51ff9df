"""The lm-evaluation-harness task file: its structure, its scoring, and a real harness run
on the tiny model (when lm-eval is installed)."""
from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import ROOT
from tests.tiny_models import make_tiny_base, qa_rows

TASKS = ROOT / "eval" / "lm_eval_tasks"
TASK = TASKS / "wpqa_pattern"
THESIS = ("You can login to your webserver by using the following steps:\n"
          "1. Open a terminal on your computer.\n2. Connect with ssh and your password.")


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!function", lambda loader, node: f"!function {node.value}")


def test_task_file_structure():
    task = yaml.load((TASK / "wpqa_pattern.yaml").read_text(), Loader=_Loader)
    assert task["task"] == "wpqa_pattern" and task["output_type"] == "generate_until"
    assert task["dataset_path"] == "json" and task["test_split"] == "test"
    assert task["dataset_kwargs"]["data_files"]["test"] == "data/splits/test.jsonl"
    assert task["process_results"] == "!function utils.process_results"
    assert {m["metric"] for m in task["metric_list"]} == {"strict", "loose"}
    assert all(m["aggregation"] == "mean" and m["higher_is_better"] for m in task["metric_list"])
    assert task["generation_kwargs"]["do_sample"] is False
    plain = yaml.load((TASK / "wpqa_pattern_plain.yaml").read_text(), Loader=_Loader)
    assert plain["include"] == "wpqa_pattern.yaml" and plain["task"] == "wpqa_pattern_plain"
    assert plain["doc_to_text"] == "Question: {{question}}\nAnswer:\n"  # wpqa/prompt.py's


def test_process_results_scores_strict_and_loose(monkeypatch):
    monkeypatch.syspath_prepend(str(TASK))
    import utils  # the task's own module, as the harness imports it

    good = qa_rows(1)[0]
    assert utils.process_results(good, [good["answer"]]) == {"strict": 1.0, "loose": 1.0}
    assert utils.process_results({"kind": "steps"}, [THESIS]) == {"strict": 0.0, "loose": 1.0}
    assert utils.process_results({"kind": "steps"}, ["I don't know."]) == {"strict": 0.0, "loose": 0.0}


@pytest.mark.integration
def test_harness_runs_the_task_on_a_local_model(tmp_path, monkeypatch):
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    make_tiny_base(tmp_path / "base", steps=1)
    rows = qa_rows(3, offset=20)
    (tmp_path / "data" / "splits").mkdir(parents=True)
    (tmp_path / "data" / "splits" / "test.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.chdir(tmp_path)  # the task reads data/splits/test.jsonl from the cwd
    results = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={tmp_path / 'base'}", tasks=["wpqa_pattern_plain"],
        task_manager=TaskManager(include_path=str(TASKS)), device="cpu", batch_size=2,
        gen_kwargs="max_gen_toks=8", limit=3)
    scores = results["results"]["wpqa_pattern_plain"]
    assert results["n-samples"]["wpqa_pattern_plain"]["effective"] == 3
    # a 1-step random model writes no list: both rates are 0, but they were computed
    assert scores["strict,none"] == 0.0 and scores["loose,none"] == 0.0
