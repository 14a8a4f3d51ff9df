"""Tests for the eval stage: scoring, metrics, generation, and base -> train -> eval end to end."""
from __future__ import annotations

import json

import pytest

from curation.pattern import RULE_IDS, format_answer
from eval import evaluate
from tests.tiny_models import make_tiny_base, qa_rows, section_rows, write_params
from train import base as base_stage
from train import qlora
from wpqa.io import read_jsonl, write_jsonl
from wpqa.params import load_params
from wpqa.records import Prediction, QAPair, from_row


def _prediction(model: str, id: str, failed: list[str]) -> Prediction:
    return Prediction(id=id, model=model, question="q", kind="steps", reference="r",
                      answer="a", conforms=not failed, failed_rules=failed)


# ----------------------------------------------------------------------- scoring

def test_score_answers_uses_the_pattern_rules(bounds):
    pair = from_row(QAPair, qa_rows(1)[0])
    good = format_answer("steps", ["Go to Plugins in the dashboard.", "Click Add New."],
                         task="install a plugin")
    prose = "You can install a plugin from the dashboard."
    base, tuned = (evaluate.score_answers([pair], [answer], model, bounds)
                   for answer, model in ((prose, "base"), (good, "tuned")))
    assert tuned[0].conforms and tuned[0].failed_rules == []
    assert not base[0].conforms
    assert {"intro", "list", "kind"} <= set(base[0].failed_rules)
    assert base[0].failed_rules == sorted(base[0].failed_rules)
    assert (base[0].reference, base[0].question) == (pair.answer, pair.question)


def test_summarize_gives_flat_rates_for_every_rule_and_both_models():
    predictions = [
        _prediction("base", "a", ["intro", "list"]), _prediction("base", "b", ["intro"]),
        _prediction("base", "c", []), _prediction("base", "d", ["kind"]),
        _prediction("tuned", "a", []), _prediction("tuned", "b", []),
        _prediction("tuned", "c", ["no_repeat"]), _prediction("tuned", "d", []),
    ]
    metrics = evaluate.summarize(predictions)
    assert metrics["n_questions"] == 4
    assert metrics["base_strict"] == 0.25 and metrics["tuned_strict"] == 0.75
    assert metrics["tuned_minus_base"] == 0.5
    assert metrics["base_rule_intro"] == 0.5 and metrics["base_rule_list"] == 0.75
    assert metrics["tuned_rule_no_repeat"] == 0.75 and metrics["tuned_rule_intro"] == 1.0
    expected = {"base_strict", "tuned_strict", "tuned_minus_base", "n_questions"}
    expected |= {f"{m}_rule_{rule}" for m in ("base", "tuned") for rule in RULE_IDS}
    assert set(metrics) == expected


def test_summarize_refuses_unequal_question_counts():
    with pytest.raises(ValueError, match="different numbers"):
        evaluate.summarize([_prediction("base", "a", []), _prediction("base", "b", []),
                            _prediction("tuned", "a", [])])


def test_predictions_sort_by_model_then_id():
    shuffled = [_prediction("tuned", "b", []), _prediction("base", "b", []),
                _prediction("tuned", "a", []), _prediction("base", "a", [])]
    assert [(p.model, p.id) for p in evaluate.sort_predictions(shuffled)] == [
        ("base", "a"), ("base", "b"), ("tuned", "a"), ("tuned", "b")]


def test_load_tuned_without_an_adapter_says_to_train_first(tmp_path):
    with pytest.raises(base_stage.BaseModelError, match="run the train stage first"):
        evaluate.load_tuned(object(), tmp_path)


# -------------------------------------------------------------------- generation

@pytest.mark.integration
def test_batched_greedy_generation_matches_one_at_a_time(tmp_path):
    from peft import get_peft_model

    ref = make_tiny_base(tmp_path / "base", steps=40)
    tokenizer = qlora.load_tokenizer(ref)
    params = load_params(write_params(tmp_path / "p.yaml"))
    with qlora.quiet_peft_deprecation():
        model = get_peft_model(qlora.load_base_4bit(ref),
                               qlora.build_lora_config(params.train, qlora.LLAMA_LIKE))
    model.eval()
    questions = ["How do I delete a page?", "The menu is broken",
                 "How do I export every comment from my site?"]
    batched = evaluate.generate_answers(model, tokenizer, questions, max_new_tokens=12,
                                        progress=False)
    single = [evaluate.generate_answers(model, tokenizer, [q], max_new_tokens=12,
                                        progress=False)[0] for q in questions]
    assert len(batched) == 3 and all(a.strip() for a in batched)
    assert batched == single  # left padding and the attention mask leave answers unchanged
    assert not any(tokenizer.eos_token in a or tokenizer.pad_token in a for a in batched)


# -------------------------------------------------------------------- end to end

@pytest.mark.integration
def test_base_train_eval_end_to_end_writes_predictions_and_metrics(tmp_path):
    """The three stage mains, as dvc runs them, on a tiny corpus and a dozen Q&A."""
    sections, train, test = (tmp_path / name for name in
                             ("sections.jsonl", "train.jsonl", "test.jsonl"))
    write_jsonl(sections, section_rows())
    write_jsonl(train, qa_rows(12))
    write_jsonl(test, qa_rows(5, offset=20))
    params = str(write_params(tmp_path / "params.yaml", lr=1e-2, train={"epochs": 2},
                              eval={"limit": 4, "max_new_tokens": 16}))
    base, adapter, metrics_dir, out = (str(tmp_path / name) for name in
                                       ("base", "adapter", "reports_train", "reports_eval"))

    assert base_stage.main(["--params", params, "--sections", str(sections), "--out", base]) == 0
    assert qlora.main(["--params", params, "--train", str(train), "--base", base,
                       "--out", adapter, "--metrics", metrics_dir]) == 0
    train_metrics = json.loads((tmp_path / "reports_train" / "metrics.json").read_text())
    assert train_metrics["lr"] == 0.01 and train_metrics["steps"] == 6
    assert train_metrics["trainable_params"] < train_metrics["total_params"]
    assert (tmp_path / "reports_train" / "plots" / "metrics" / "loss.tsv").is_file()
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()

    assert evaluate.main(["--params", params, "--test", str(test), "--base", base,
                          "--adapter", adapter, "--out", out]) == 0
    metrics = json.loads((tmp_path / "reports_eval" / "metrics.json").read_text())
    assert metrics["n_questions"] == 4
    for model in ("base", "tuned"):
        assert 0.0 <= metrics[f"{model}_strict"] <= 1.0
        for rule in RULE_IDS:
            assert f"{model}_rule_{rule}" in metrics
    predictions = read_jsonl(tmp_path / "reports_eval" / "predictions.jsonl")
    assert len(predictions) == 8
    assert [(p["model"], p["id"]) for p in predictions] == sorted(
        (p["model"], p["id"]) for p in predictions)
    assert all(from_row(Prediction, p) for p in predictions)


def test_eval_main_fails_cleanly_without_a_base(tmp_path, capsys):
    test = tmp_path / "test.jsonl"
    write_jsonl(test, qa_rows(2))
    code = evaluate.main(["--params", str(write_params(tmp_path / "p.yaml")), "--test", str(test),
                          "--base", str(tmp_path / "none"), "--adapter", str(tmp_path / "a"),
                          "--out", str(tmp_path / "out")])
    assert code == 2
    assert "run the base stage first" in capsys.readouterr().err
