"""Tests for the eval stage: scoring, metrics, generation, and base -> train -> eval end to end."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from wpqa import models
import yaml

from wpqa.pattern import RULE_IDS, format_answer
from eval import evaluate
from tests.browser import find_chromium, rendered_dom, screenshot
from tests.conftest import ROOT
from tests.llm_responders import eval_judge, pattern_answerer
from tests.openai_server import ScriptedOpenAI, ServerReply
from tests.tiny_models import make_tiny_base, qa_rows, section_rows, write_params
from train import base as base_stage
from train import qlora
from wpqa.prompt import format_prompt
from wpqa.io import read_jsonl, write_jsonl
from wpqa.params import Decoding, load_params, parse_params
from wpqa.records import Prediction, QAPair, from_row


def _prediction(model: str, id: str, failed: list[str]) -> Prediction:
    return Prediction(id=id, model=model, question="q", kind="steps", reference="r",
                      answer="a", conforms=not failed, failed_rules=failed,
                      scores={"rougeL": 0.5 if failed else 0.9, "step_recall": 0.5,
                              "step_count_error": 1.0})


# ----------------------------------------------------------------------- scoring

def test_score_answers_uses_the_pattern_rules_and_scores_against_the_reference(bounds):
    pair = from_row(QAPair, qa_rows(1)[0])
    good = format_answer("steps", ["Go to Plugins in the dashboard.", "Click Add New."],
                         task="install a plugin")
    prose = "You can install a plugin from the dashboard."
    sources = {pair.section_id: "Go to Plugins in the dashboard. Click Add New."}
    base, tuned = (evaluate.score_answers([pair], [evaluate.Generated(answer, stopped)], model,
                                          bounds, sources=sources)
                   for answer, model, stopped in ((prose, "base", False), (good, "tuned", True)))
    assert tuned[0].conforms and tuned[0].failed_rules == []
    assert not base[0].conforms
    assert {"intro", "list", "kind"} <= set(base[0].failed_rules)
    assert base[0].failed_rules == sorted(base[0].failed_rules)
    assert (base[0].reference, base[0].question) == (pair.answer, pair.question)
    assert (base[0].stopped, tuned[0].stopped) == (False, True)
    assert tuned[0].scores["grounding"] > base[0].scores["grounding"]
    assert tuned[0].scores["rougeL"] > base[0].scores["rougeL"]
    assert tuned[0].scores["step_count_error"] == 1.0  # 2 steps vs the reference's 3
    assert base[0].scores["step_recall"] == 0.0
    assert (tuned[0].section_id, tuned[0].source_url) == (pair.section_id, pair.source_url)
    # "Add New" is on the page: every UI string the tuned answer names is found; the prose
    # answer names none, so it has no UI score at all rather than a perfect one.
    assert tuned[0].scores["ui_faithfulness"] == 1.0 and "ui_faithfulness" not in base[0].scores
    invented = format_answer("steps", ["Go to Settings > Permalinks.", "Click Add New."],
                             task="install a plugin")
    [wrong] = evaluate.score_answers([pair], [invented], "tuned", bounds, sources=sources)
    assert wrong.scores["ui_faithfulness"] == 0.5
    # Per-step evidence: both steps of the good answer are said by the source; the invented
    # menu path is not; prose has no steps, so no step score.
    assert tuned[0].scores["step_support"] == 1.0 and "step_support" not in base[0].scores
    assert wrong.scores["step_support"] == 0.5


def test_grounding_source_holds_heading_paragraphs_lists_and_notes():
    from wpqa.records import Section, from_row, grounding_source

    row = section_rows()[0]
    text = grounding_source(from_row(Section, row))
    assert row["heading"] in text and row["ordered_lists"][0][0] in text
    assert row["notes"][0] in text and row["paragraphs"][0] in text
    # One definition: the generate gate scores against exactly this text.
    from curation import llm_curate
    assert llm_curate.grounding_source is grounding_source


def test_summarize_gives_flat_rates_intervals_and_paired_tests():
    predictions = [
        _prediction("base", "a", ["intro", "list"]), _prediction("base", "b", ["intro"]),
        _prediction("base", "c", []), _prediction("base", "d", ["kind"]),
        _prediction("tuned", "a", []), _prediction("tuned", "b", []),
        _prediction("tuned", "c", ["no_repeat"]), _prediction("tuned", "d", []),
    ]
    metrics, comparisons = evaluate.summarize(predictions, ["base", "tuned"], resamples=500)
    assert metrics["n_questions"] == 4
    assert metrics["base_strict"] == 0.25 and metrics["tuned_strict"] == 0.75
    assert metrics["base_rule_intro"] == 0.5 and metrics["base_rule_list"] == 0.75
    assert metrics["tuned_rule_no_repeat"] == 0.75 and metrics["tuned_rule_intro"] == 1.0
    for model in ("base", "tuned"):
        for name in ("strict", "stopped", "rougeL", "step_recall", "step_count_error"):
            low, mid, high = (metrics[f"{model}_{name}{s}"] for s in ("_ci_low", "", "_ci_high"))
            assert low <= mid <= high
        assert {f"{model}_rule_{rule}" for rule in RULE_IDS} <= set(metrics)
    # tuned passes where base fails on a, b, d; base passes where tuned fails on c:
    # exact McNemar p = 2 * (C(4,0) + C(4,1)) / 2^4 = 0.625
    assert metrics["tuned_vs_base_strict_diff"] == 0.5
    assert metrics["tuned_vs_base_strict_p"] == 0.625
    strict = next(c for c in comparisons if c["metric"] == "strict")
    assert (strict["a"], strict["b"], strict["test"], strict["n"]) == ("tuned", "base",
                                                                        "mcnemar_exact", 4)
    assert strict["ci_low"] <= 0.5 <= strict["ci_high"]
    assert "base_grounding" not in metrics  # no source sections given: no grounding numbers


def test_summarize_averages_samples_per_question_before_the_interval():
    rows = [_prediction("tuned", "a", []), _prediction("tuned", "b", ["intro"])]
    rows += [replace(_prediction("tuned", "a", ["list"]), sample=1),
             replace(_prediction("tuned", "b", ["intro"]), sample=1)]
    rows += [_prediction("base", "a", ["intro"]), _prediction("base", "b", ["intro"]),
             replace(_prediction("base", "a", ["intro"]), sample=1),
             replace(_prediction("base", "b", ["intro"]), sample=1)]
    metrics, comparisons = evaluate.summarize(rows, ["base", "tuned"], resamples=500)
    assert metrics["n_questions"] == 2 and metrics["tuned_strict"] == 0.25
    strict = next(c for c in comparisons if c["metric"] == "strict")
    assert strict["test"] == "paired_permutation"  # per-question rates are not pass/fail


def test_summarize_refuses_unequal_question_sets():
    with pytest.raises(ValueError, match="different questions"):
        evaluate.summarize([_prediction("base", "a", []), _prediction("base", "b", []),
                            _prediction("tuned", "a", [])])


def test_predictions_sort_by_model_then_id():
    shuffled = [_prediction("tuned", "b", []), _prediction("base", "b", []),
                _prediction("tuned", "a", []), _prediction("base", "a", [])]
    assert [(p.model, p.id) for p in evaluate.sort_predictions(shuffled)] == [
        ("base", "a"), ("base", "b"), ("tuned", "a"), ("tuned", "b")]


def test_load_tuned_without_an_adapter_says_to_train_first(tmp_path):
    with pytest.raises(base_stage.BaseModelError, match="run the train stage first"):
        models.load_tuned(object(), tmp_path)


# -------------------------------------------------------------------- generation

@pytest.fixture(scope="module")
def tiny_lora(tmp_path_factory):
    """A tiny 4-bit base with a fresh LoRA adapter, and its tokenizer."""
    from peft import get_peft_model

    tmp = tmp_path_factory.mktemp("tiny")
    ref = make_tiny_base(tmp / "base", steps=40)
    tokenizer = models.load_tokenizer(ref)
    params = load_params(write_params(tmp / "p.yaml"))
    with models.quiet_peft_deprecation():
        model = get_peft_model(qlora.load_base_4bit(ref),
                               qlora.build_lora_config(params.train, qlora.LLAMA_LIKE))
    model.eval()
    return model, tokenizer


QUESTIONS = ["How do I delete a page?", "The menu is broken",
             "How do I export every comment from my site?"]
GREEDY = Decoding("greedy", 0.0, 1.0, 0, 12, 1)
SAMPLING = Decoding("thesis", 1.0, 0.9, 50, 12, 2)


@pytest.mark.integration
def test_batched_greedy_generation_matches_one_at_a_time(tiny_lora):
    model, tokenizer = tiny_lora
    batched = evaluate.generate_answers(model, tokenizer, QUESTIONS, decoding=GREEDY,
                                        batch_size=16, progress=False)
    single = [evaluate.generate_answers(model, tokenizer, [q], decoding=GREEDY, batch_size=1,
                                        progress=False)[0] for q in QUESTIONS]
    assert len(batched) == 3 and all(a.text.strip() for a in batched)
    assert batched == single  # left padding and the attention mask leave answers unchanged
    assert not any(tokenizer.eos_token in a.text or tokenizer.pad_token in a.text for a in batched)
    assert all(a.seed is None for a in batched)
    # a barely trained model runs into the 12-token limit rather than stopping on its own
    assert all(isinstance(a.stopped, bool) for a in batched)


@pytest.mark.integration
def test_sampling_records_seeds_and_reproduces_from_them(tiny_lora):
    model, tokenizer = tiny_lora
    samples = evaluate.answer_locally(model, tokenizer, "tuned", QUESTIONS, SAMPLING,
                                      batch_size=2, seed=5, progress=False)
    assert len(samples) == 2 and all(len(s) == 3 for s in samples)
    seeds = [[a.seed for a in s] for s in samples]
    stride = evaluate.SAMPLE_SEED_STRIDE
    assert seeds == [[5, 5, 7], [5 + stride, 5 + stride, 7 + stride]]
    again = evaluate.answer_locally(model, tokenizer, "tuned", QUESTIONS, SAMPLING,
                                    batch_size=2, seed=5, progress=False)
    assert again == samples
    assert [a.text for a in samples[0]] != [a.text for a in samples[1]]
    # one batch drawn again from its recorded seed gives the same answers
    redo = evaluate.generate_answers(model, tokenizer, QUESTIONS[2:], decoding=SAMPLING,
                                     batch_size=2, seed=samples[1][2].seed, progress=False)
    assert redo[0].text == samples[1][2].text


@pytest.mark.integration
def test_thesis_preset_gives_k_seeded_samples_per_question_and_model(tiny_lora, bounds, tmp_path):
    model, tokenizer = tiny_lora
    pairs = [from_row(QAPair, row) for row in qa_rows(3)]
    params = load_params(write_params(tmp_path / "p.yaml", eval={
        "decoding": "thesis", "samples": 2, "max_new_tokens": 8, "batch_size": 2}))
    predictions = evaluate.evaluate(pairs, params.eval, bounds, seed=11, local_model=model,
                                    tokenizer=tokenizer, progress=False)
    assert len(predictions) == 2 * 3 * 2
    assert {(p.model, p.id, p.sample) for p in predictions} == {
        (m, pair.id, s) for m in ("base", "tuned") for pair in pairs for s in (0, 1)}
    assert all(p.seed is not None for p in predictions)
    assert {p.seed for p in predictions if p.sample == 1} == {
        11 + evaluate.SAMPLE_SEED_STRIDE, 13 + evaluate.SAMPLE_SEED_STRIDE}
    metrics, _ = evaluate.summarize(predictions, ["base", "tuned"], resamples=200)
    assert metrics["n_questions"] == 3


@pytest.mark.integration
def test_endpoint_model_answers_the_same_prompts_through_the_request_cache(
        tiny_lora, bounds, tmp_path, monkeypatch):
    monkeypatch.setenv("WPQA_LLM_CACHE", str(tmp_path / "llm.sqlite"))
    model, tokenizer = tiny_lora
    pairs = [from_row(QAPair, row) for row in qa_rows(3)]
    with ScriptedOpenAI(responder=pattern_answerer) as server:
        server.script(ServerReply(content="To cut short, follow these steps:\n1. One step",
                                  finish_reason="length"))
        raw = yaml.safe_load(Path(write_params(tmp_path / "p.yaml", eval={
            "max_new_tokens": 12, "models": ["base", "tuned", {
                "name": "large_ref", "model": "ref-7b", "base_url": server.base_url}]})).read_text())
        params = parse_params(raw)
        run = lambda: evaluate.evaluate(pairs, params.eval, bounds, seed=1, local_model=model,  # noqa: E731
                                        tokenizer=tokenizer, progress=False)
        predictions = run()
        sent = server.chat_requests()
        assert len(sent) == 3
        for request in sent:
            body = request.body
            assert body["model"] == "ref-7b" and body["max_tokens"] == 12
            assert body["temperature"] == 0.0 and "seed" not in body
        prompts = sorted(r.body["messages"][-1]["content"] for r in sent)
        assert prompts == sorted(format_prompt(p.question) for p in pairs)  # same prompt as local
        again = run()
        assert len(server.chat_requests()) == 3  # the re-run is answered by the cache
    assert again == predictions
    ref = [p for p in predictions if p.model == "large_ref"]
    assert [p.id for p in ref] == [p.id for p in pairs]
    assert sum(not p.stopped for p in ref) == 1  # the finish_reason "length" reply
    assert sum(p.conforms for p in ref) == 2
    assert {p.model for p in predictions} == {"base", "tuned", "large_ref"}


def test_a_failing_endpoint_stops_the_stage_with_its_reason(bounds, tmp_path, monkeypatch):
    monkeypatch.setenv("WPQA_LLM_CACHE", str(tmp_path / "llm.sqlite"))
    pairs = [from_row(QAPair, row) for row in qa_rows(2)]
    with ScriptedOpenAI(responder=lambda body: ServerReply.error(400, "model not found")) as server:
        raw = yaml.safe_load(Path(write_params(tmp_path / "p.yaml", eval={"models": [{
            "name": "gone", "model": "nope", "base_url": server.base_url}]})).read_text())
        params = parse_params(raw)
        with pytest.raises(evaluate.EndpointError, match="2 of 2 requests failed"):
            evaluate.evaluate(pairs, params.eval, bounds, seed=1, progress=False)


def test_llm_judge_grades_answers_with_its_versioned_prompt(bounds, tmp_path, monkeypatch):
    monkeypatch.setenv("WPQA_LLM_CACHE", str(tmp_path / "llm.sqlite"))
    pairs = [from_row(QAPair, row) for row in qa_rows(3)]

    def respond(body):
        if body["messages"][0]["content"].startswith("You grade answers"):
            return eval_judge(body)
        return pattern_answerer(body)

    with ScriptedOpenAI(responder=respond) as server:
        raw = yaml.safe_load(Path(write_params(tmp_path / "p.yaml", eval={
            "models": [{"name": "large_ref", "model": "ref-7b", "base_url": server.base_url}],
        })).read_text())
        raw["eval"]["judge"] = {"enabled": True, "model": "judge-70b",
                                "base_url": server.base_url, "api_key_env": "",
                                "price": [0, 0]}
        params = parse_params(raw)
        predictions = evaluate.evaluate(pairs, params.eval, bounds, seed=1, progress=False)
        judge_bodies = [r.body for r in server.chat_requests() if r.body["model"] == "judge-70b"]
    assert len(judge_bodies) == 3
    for body in judge_bodies:
        assert body["temperature"] == 0.0 and body["response_format"]["type"] == "json_schema"
        assert "<<<REFERENCE" in body["messages"][1]["content"]
    assert [p.scores["judge"] for p in predictions] == [5.0, 5.0, 5.0]
    assert all(p.judge_reason == "Same steps as the reference." for p in predictions)
    metrics, _ = evaluate.summarize(predictions, ["large_ref"], resamples=200)
    assert (metrics["large_ref_judge"], metrics["large_ref_judge_ci_low"]) == (5.0, 5.0)


def test_judge_counts_replies_it_cannot_use_and_the_report_escapes_reasons(bounds, tmp_path,
                                                                            monkeypatch):
    from eval import report
    from wpqa.llm import LLMClient, LLMConfig

    monkeypatch.setenv("WPQA_LLM_CACHE", str(tmp_path / "llm.sqlite"))
    pairs = [from_row(QAPair, row) for row in qa_rows(3)]
    predictions = evaluate.score_answers(pairs, [pairs[0].answer, pairs[1].answer, "prose"],
                                         "tuned", bounds)
    with ScriptedOpenAI(responder=eval_judge) as server:
        server.script(ServerReply(content='{"score": 9, "reason": "too high"}'))
        client = LLMClient(LLMConfig(base_url=server.base_url, model="judge", concurrency=1))
        judged, counts = evaluate.judge_predictions(predictions, client, progress=False)
    assert counts == {"judged": 2, "judge_schema_violation": 1}
    assert [p.scores.get("judge") for p in judged] == [None, 5.0, 1.0]
    page = report.render_html(judged, {}, [], ["tuned"])
    assert "judge 1/5: No steps &lt;script&gt;at all" in page and "<script>" not in page


# -------------------------------------------------------------------- end to end

@pytest.mark.integration
def test_base_train_eval_end_to_end_with_an_endpoint_model(tmp_path, monkeypatch):
    """The three stage mains, as dvc runs them, on a tiny corpus and a dozen Q&A; the eval
    stage judges base, tuned and a model behind the loopback OpenAI-compatible server."""
    monkeypatch.setenv("WPQA_LLM_CACHE", str(tmp_path / "llm.sqlite"))
    sections, train, test = (tmp_path / name for name in
                             ("sections.jsonl", "train.jsonl", "test.jsonl"))
    write_jsonl(sections, section_rows())
    write_jsonl(train, qa_rows(12))
    section_ids = [row["section_id"] for row in section_rows()]
    write_jsonl(test, [{**row, "section_id": section_ids[i]}
                       for i, row in enumerate(qa_rows(5, offset=20))])
    base, adapter, metrics_dir, out = (str(tmp_path / name) for name in
                                       ("base", "adapter", "reports_train", "reports_eval"))
    server = ScriptedOpenAI(responder=pattern_answerer).start()
    try:
        params = str(write_params(tmp_path / "params.yaml", lr=1e-2, train={"epochs": 2}, eval={
            "limit": 4, "max_new_tokens": 16, "models": ["base", "tuned", {
                "name": "large_ref", "model": "ref-7b", "base_url": server.base_url}]}))
        assert base_stage.main(["--params", params, "--sections", str(sections),
                                "--out", base]) == 0
        assert qlora.main(["--params", params, "--train", str(train), "--base", base,
                           "--out", adapter, "--metrics", metrics_dir]) == 0
        train_metrics = json.loads((tmp_path / "reports_train" / "metrics.json").read_text())
        assert train_metrics["lr"] == 0.01 and train_metrics["steps"] == 6
        assert train_metrics["trainable_params"] < train_metrics["total_params"]
        assert (tmp_path / "reports_train" / "plots" / "metrics" / "loss.tsv").is_file()
        assert (tmp_path / "adapter" / "adapter_config.json").is_file()

        assert evaluate.main(["--params", params, "--test", str(test), "--sections",
                              str(sections), "--base", base, "--adapter", adapter,
                              "--out", out, "--non-procedural",
                              str(ROOT / "eval" / "non_procedural.yaml")]) == 0
        assert len(server.chat_requests()) == 4 + 4  # test questions + non-procedural ones
    finally:
        server.stop()
    metrics = json.loads((tmp_path / "reports_eval" / "metrics.json").read_text())
    assert metrics["n_questions"] == 4
    for model in ("base", "tuned", "large_ref"):
        assert 0.0 <= metrics[f"{model}_strict"] <= 1.0
        for name in ("strict", "loose", "rougeL", "grounding", "step_recall", "stopped",
                     "forced_list"):
            assert (metrics[f"{model}_{name}_ci_low"] <= metrics[f"{model}_{name}"]
                    <= metrics[f"{model}_{name}_ci_high"])
        for rule in RULE_IDS:
            assert f"{model}_rule_{rule}" in metrics
    assert metrics["large_ref_strict"] == 1.0  # the scripted model answers in the pattern
    assert metrics["large_ref_loose"] == 1.0 and metrics["large_ref_forced_list"] == 1.0
    assert metrics["tuned_loose"] >= metrics["tuned_strict"]
    overapply = read_jsonl(tmp_path / "reports_eval" / "non_procedural.jsonl")
    assert len(overapply) == 3 * 4 and {r["id"] for r in overapply} == {"np01", "np02", "np03", "np04"}
    for pair in ("tuned_vs_base", "large_ref_vs_base", "large_ref_vs_tuned"):
        assert f"{pair}_strict_p" in metrics and f"{pair}_rougeL_diff" in metrics
    plot = json.loads((tmp_path / "reports_eval" / "plots" / "rules.json").read_text())
    assert len(plot) == 3 * len(RULE_IDS)
    predictions = read_jsonl(tmp_path / "reports_eval" / "predictions.jsonl")
    assert len(predictions) == 12
    assert [(p["model"], p["id"]) for p in predictions] == sorted(
        (p["model"], p["id"]) for p in predictions)
    assert all(from_row(Prediction, p) for p in predictions)

    report = tmp_path / "reports_eval" / "report.html"
    page = report.read_text()
    assert "Content-Security-Policy" in page
    for pair in ("tuned vs base", "large_ref vs base", "large_ref vs tuned"):
        assert pair in page
    # its summary row, its rules column and its answer column for each of the 4 questions
    # and its row and column in the over-application tables
    assert page.count("<th>large_ref</th>") == 8 and "Over-application" in page
    assert (tmp_path / "reports_eval" / "report.md").read_text().startswith("# wpqa evaluation")
    if find_chromium():
        dom = rendered_dom(report)
        assert dom.count('class="question"') == 4 and "large_ref" in dom
        screenshot(report, tmp_path / "eval-report.png")


def test_eval_main_fails_cleanly_without_a_base(tmp_path, capsys):
    test = tmp_path / "test.jsonl"
    write_jsonl(test, qa_rows(2))
    code = evaluate.main(["--params", str(write_params(tmp_path / "p.yaml")), "--test", str(test),
                          "--base", str(tmp_path / "none"), "--adapter", str(tmp_path / "a"),
                          "--out", str(tmp_path / "out")])
    assert code == 2
    assert "run the base stage first" in capsys.readouterr().err


def test_eval_main_names_a_missing_api_key_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WPQA_LLM_CACHE", str(tmp_path / "llm.sqlite"))
    monkeypatch.delenv("WPQA_EVAL_TEST_KEY", raising=False)
    test = tmp_path / "test.jsonl"
    write_jsonl(test, qa_rows(2))
    with ScriptedOpenAI(responder=pattern_answerer) as server:
        params = write_params(tmp_path / "p.yaml", eval={"models": [{
            "name": "remote", "model": "m", "base_url": server.base_url,
            "api_key_env": "WPQA_EVAL_TEST_KEY"}]})
        code = evaluate.main(["--params", str(params), "--test", str(test),
                              "--base", str(tmp_path / "none"), "--adapter", str(tmp_path / "a"),
                              "--out", str(tmp_path / "out")])
        assert server.chat_requests() == []
    assert code == 2
    assert "WPQA_EVAL_TEST_KEY is not set" in capsys.readouterr().err


# ------------------------------------------------------------- over-application

def test_has_numbered_list_counts_two_numbered_items():
    assert evaluate.has_numbered_list("A child theme:\n1. Inherits styles.\n2. Is safe.")
    assert evaluate.has_numbered_list("**1.** First\n**2.** Second")
    assert evaluate.has_numbered_list("1) one\n2) two")
    assert not evaluate.has_numbered_list("A child theme inherits the look of its parent.")
    assert not evaluate.has_numbered_list("WordPress 6.4 needs PHP 7.4.\n1. Only one item.")


def test_over_application_metrics_share_interval_and_paired_test():
    rows = [{"id": f"np{i}", "model": m, "numbered_list": m == "tuned" or i < 2}
            for i in range(12) for m in ("base", "tuned")]
    metrics = evaluate.over_application_metrics(rows, ["base", "tuned"], resamples=200, seed=0)
    assert metrics["base_forced_list"] == pytest.approx(2 / 12, abs=1e-4)
    assert metrics["tuned_forced_list"] == 1.0
    assert metrics["tuned_vs_base_forced_list_diff"] == pytest.approx(10 / 12, abs=1e-4)
    assert metrics["tuned_vs_base_forced_list_p"] < 0.01


def test_non_procedural_questions_file_loads():
    questions = evaluate.load_non_procedural(ROOT / "eval" / "non_procedural.yaml")
    assert len(questions) >= 10 and len({q["id"] for q in questions}) == len(questions)
    assert all(not q["question"].lower().startswith("how do i") for q in questions)
