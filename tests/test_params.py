"""Params are checked once at start; a bad one names its key and what is allowed."""
import copy
import re

import pytest
import yaml

from tests.conftest import ROOT
from wpqa.params import ParamsError, load_params, parse_params

RAW = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_change(path, value):
    raw = copy.deepcopy(RAW)
    node = raw
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    return raw


def test_shipped_params_load():
    params = load_params(ROOT / "params.yaml")
    assert params.lr == pytest.approx(2e-3)
    assert params.base.model == "smollm2-135m-instruct"
    assert params.generate.backend == "rules"


def test_float_from_yaml_string():
    # YAML 1.1 loads 2e-4 as a string: it must still become a float.
    assert yaml.safe_load("lr: 2e-4")["lr"] == "2e-4"
    assert parse_params(with_change("lr", "2e-4")).lr == pytest.approx(2e-4)


@pytest.mark.parametrize("path, value, message", [
    ("lr", -1e-4, "lr: got -0.0001; allowed: a number > 0"),
    ("lr", "fast", "lr: expected a number"),
    ("split.test_size", 1.5, "split.test_size: got 1.5; allowed: a whole count >= 1"),
    ("split.test_size", 0, "split.test_size"),
    ("generate.backend", "gpt", "generate.backend: got 'gpt'; allowed: rules, openai, hybrid"),
    ("generate.min_grounding", 1.5, "generate.min_grounding: got 1.5; allowed: 0 <= value <= 1"),
    ("generate.llm.base_url", "localhost:8000", "generate.llm.base_url: got 'localhost:8000'"),
    ("generate.llm.api_key_env", "sk-abc123 key", "generate.llm.api_key_env: got"),
    ("generate.llm.prices", {"gpt-4o-mini": [0.1]}, "generate.llm.prices.gpt-4o-mini: got"),
    ("scrape.profile", "web", "scrape.profile: got 'web'; allowed: sample, snapshot, live"),
    ("pattern.max_items", 1, "pattern.max_items"),
    ("train.epochs", 2.5, "train.epochs: expected a whole number"),
])
def test_bad_values_name_key_and_allowed(path, value, message):
    with pytest.raises(ParamsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_params(with_change(path, value))


def test_train_length_cannot_exceed_tiny_context():
    with pytest.raises(ParamsError, match=r"train.max_length: got 999; allowed: at most base.context_length"):
        parse_params(with_change("base.model", "tiny") | {"train": {**RAW["train"], "max_length": 999}})
    assert parse_params(with_change("train.max_length", 999)).train.max_length == 999  # SmolLM2: 8k


def test_unknown_key_lists_allowed_keys():
    raw = with_change("train.epoch", 3)
    with pytest.raises(ParamsError, match=r"train.epoch: unknown key; allowed in train: .*epochs"):
        parse_params(raw)
    with pytest.raises(ParamsError, match=r"learning_rate: unknown key"):
        parse_params({**RAW, "learning_rate": 1})


def test_llm_backend_needs_a_price_for_its_model():
    raw = with_change("generate.backend", "openai")
    raw["generate"]["llm"]["model"] = "my-local-model"
    with pytest.raises(ParamsError, match=r"generate.llm.prices: no price for model 'my-local-model'"):
        parse_params(raw)
    raw["generate"]["llm"]["prices"] = {"my-local-model": [0, 0]}
    assert parse_params(raw).generate.llm.price() == (0.0, 0.0)
    # The rules backend never calls the endpoint, so it needs no price.
    assert parse_params(with_change("generate.llm.model", "unpriced")).generate.backend == "rules"


def test_missing_key_is_named():
    raw = copy.deepcopy(RAW)
    del raw["split"]["test_size"]
    with pytest.raises(ParamsError, match="split.test_size: missing"):
        parse_params(raw)


def test_test_size_count_or_fraction():
    assert parse_params(with_change("split.test_size", 30)).split.test_count(500) == 30
    assert parse_params(with_change("split.test_size", 0.06)).split.test_count(500) == 30


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")


# --------------------------------------------------------------------- eval models

def test_eval_models_default_to_base_and_tuned_with_greedy_decoding():
    params = load_params(ROOT / "params.yaml")
    assert [m.name for m in params.eval.models] == ["base", "tuned"]
    assert not any(m.is_endpoint for m in params.eval.models)
    decoding = params.eval.resolved_decoding()
    assert (decoding.preset, decoding.sampling, decoding.max_new_tokens) == ("greedy", False, 200)


def test_thesis_preset_and_an_endpoint_model():
    raw = with_change("eval.models", ["base", "tuned", {
        "name": "qwen_vllm", "model": "Qwen/Qwen2.5-7B-Instruct",
        "base_url": "http://localhost:8000/v1"}])
    raw["eval"].update(decoding="thesis", samples=3)
    params = parse_params(raw)
    endpoint = params.eval.models[2]
    assert endpoint.is_endpoint and endpoint.model == "Qwen/Qwen2.5-7B-Instruct"
    decoding = params.eval.resolved_decoding()
    assert (decoding.temperature, decoding.top_p, decoding.top_k, decoding.max_new_tokens,
            decoding.samples) == (1.0, 0.9, 50, 500, 3)
    raw["eval"]["max_new_tokens"] = 64
    assert parse_params(raw).eval.resolved_decoding().max_new_tokens == 64


def test_repetition_settings_reach_the_decoding_and_generation_config():
    from eval.evaluate import generation_config
    from eval.report import decoding_text

    raw = with_change("eval.repetition_penalty", "1.2")  # a string from `-S` reads as a float
    decoding = parse_params(raw).eval.resolved_decoding()
    assert decoding.repetition_penalty == 1.2

    class Tok:
        eos_token_id, pad_token_id = 2, 0

    assert generation_config(Tok(), decoding).repetition_penalty == 1.2
    assert "repetition penalty 1.2" in decoding_text(decoding)
    off = parse_params(with_change("eval.repetition_penalty", 1.0)).eval.resolved_decoding()
    assert "repetition" not in decoding_text(off)
    for bad in (0.9, 2.5):
        with pytest.raises(ParamsError, match=r"eval.repetition_penalty: got .*allowed: 1.0"):
            parse_params(with_change("eval.repetition_penalty", bad))
    ngram = parse_params(with_change("eval.no_repeat_ngram", 10)).eval.resolved_decoding()
    assert generation_config(Tok(), ngram).no_repeat_ngram_size == 10
    assert "no repeated run of 10 tokens" in decoding_text(ngram)
    with pytest.raises(ParamsError, match=r"eval.no_repeat_ngram: got 2; allowed: 0"):
        parse_params(with_change("eval.no_repeat_ngram", 2))


@pytest.mark.parametrize("models, samples, message", [
    ([], 1, "eval.models: empty"),
    (["base", "base"], 1, "eval.models: duplicate names"),
    (["Tuned"], 1, "allowed: a snake_case identifier"),
    (["gpt4"], 1, "needs `model` (the served model id) and `base_url`"),
    ([{"name": "tuned", "model": "x", "base_url": "http://h/v1"}], 1, "an endpoint model needs another name"),
    ([{"name": "gpt", "model": "x", "base_url": "http://h/v1", "key": "sk"}], 1, "eval.models.gpt.key: unknown key; allowed in eval.models.gpt: api_key_env, "),
    (["base", "tuned"], 3, "eval.samples: got 3; greedy decoding gives one answer"),
])
def test_bad_eval_models_name_the_key(models, samples, message):
    raw = with_change("eval.models", models)
    raw["eval"]["samples"] = samples
    with pytest.raises(ParamsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_params(raw)


def test_one_endpoint_type_for_generate_judge_and_eval_models():
    """generate.llm, eval.judge and an eval.models endpoint are one settings type, with the
    same checks and limits, and one converter makes each a client config."""
    from wpqa.llm import LLMConfig, Price
    from wpqa.params import Endpoint

    raw = with_change("eval.judge", {**RAW["eval"]["judge"], "concurrency": 2, "mode": "batch",
                                     "timeout_s": 30})
    raw["eval"]["models"] = ["base", {"name": "local_qwen", "model": "qwen2.5:7b",
                                      "base_url": "http://localhost:11434/v1", "api_key_env": "",
                                      "concurrency": 3, "structured_output": "json_object"}]
    params = parse_params(raw)
    judge, qwen, gen = params.eval.judge, params.eval.models[1], params.generate.llm
    assert all(isinstance(e, Endpoint) for e in (judge, qwen, gen))
    assert LLMConfig.for_endpoint(judge) == LLMConfig(
        base_url="https://api.openai.com/v1", model="gpt-4o-mini", api_key_env="OPENAI_API_KEY",
        concurrency=2, timeout_s=30.0, max_usd=1.0, price=Price(0.075, 0.30), mode="batch")
    qwen_config = LLMConfig.for_endpoint(qwen)
    assert (qwen_config.concurrency, qwen_config.structured_output, qwen_config.price) == (
        3, "json_object", Price(0.0, 0.0))
    assert LLMConfig.for_endpoint(gen).price == Price(0.15, 0.60)  # from the table, by model
    # the same checks, each naming its own key
    for path, message in (("eval.judge.concurrency", "eval.judge.concurrency: got 0"),
                          ("generate.llm.concurrency", "generate.llm.concurrency: got 0")):
        with pytest.raises(ParamsError, match=message):
            parse_params(with_change(path, 0))
    bad = copy.deepcopy(raw)
    bad["eval"]["models"][1]["api_key_env"] = "sk-not-a-name"
    with pytest.raises(ParamsError, match="eval.models.local_qwen.api_key_env: got 'sk-not-a-name'"):
        parse_params(bad)


@pytest.mark.parametrize("path, value, message", [
    ("train.lora_dropout", 1.0, "train.lora_dropout: got 1.0; allowed: 0 <= value < 1"),
    ("generate.llm.temperature", 3, "generate.llm.temperature: got 3; allowed: 0 <= value <= 2"),
    ("eval.bootstrap_resamples", 10, "eval.bootstrap_resamples: got 10; allowed: a number >= 100"),
    ("generate.judge", "yes", "generate.judge: expected true or false, got 'yes'"),
    ("train.epochs", "2", "train.epochs: expected a whole number, got '2'"),
    ("train", [1, 2], "train: expected a mapping of keys, got list"),
    ("scrape.plugin_slugs", "akismet", "scrape.plugin_slugs: expected a list, got 'akismet'"),
    ("openai_ft.suffix", "x" * 65, "openai_ft.suffix: got 'xxx"),
    ("generate.llm.mode", "later", "generate.llm.mode: got 'later'; allowed: online, batch"),
])
def test_declared_types_and_bounds_say_the_key_and_the_allowed_values(path, value, message):
    with pytest.raises(ParamsError, match=re.escape(message)):
        parse_params(with_change(path, value))


def test_an_eval_model_entry_is_named_by_its_name_and_direct_construction_checks_too():
    from wpqa.params import LLMParams, PatternParams
    entry = {"name": "local_qwen", "model": "qwen", "base_url": "http://h/v1", "concurrency": 0}
    with pytest.raises(ParamsError, match=re.escape(
            "eval.models.local_qwen.concurrency: got 0; allowed: a number >= 1")):
        parse_params(with_change("eval.models", ["base", entry]))
    with pytest.raises(ParamsError, match=re.escape("pattern.max_items: got 1; allowed: a number "
                                                    ">= pattern.min_items (2)")):
        PatternParams(min_items=2, max_items=1, min_item_words=1, max_item_words=3, max_intro_words=9)
    with pytest.raises(ParamsError, match=re.escape("generate.llm.max_tokens: got 8")):
        LLMParams(max_tokens=8)
    with pytest.raises(ParamsError, match="params.yaml: expected a mapping of keys, got NoneType"):
        parse_params(None)
    assert parse_params(with_change("base.revision", 1234)).base.revision == "1234"
    assert parse_params(with_change("openai_ft.system_prompt", None)).openai_ft.system_prompt == ""


@pytest.mark.parametrize("path", ["train.val_size", "split.test_size", "lr"])
def test_infinite_and_nan_numbers_are_refused_with_the_key(path):
    for value in (float("inf"), float("nan")):
        with pytest.raises(ParamsError, match=re.escape(f"{path}: expected a finite number")):
            parse_params(with_change(path, value))
