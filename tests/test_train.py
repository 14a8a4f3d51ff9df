"""Tests for the base and train stages: prompt and labels, target modules, real 4-bit QLoRA."""
from __future__ import annotations

import json

import pytest

from wpqa import records

from wpqa import models
import torch

from tests.tiny_models import TINY_BASE, docs_lines, make_tiny_base, qa_rows, section_rows, write_params
from train import base as base_stage
from train import qlora
from wpqa.prompt import encode_answer, encode_prompt, format_prompt
from wpqa.io import write_jsonl
from wpqa.params import BaseParams, ParamsError, load_params
from wpqa.records import QAPair, from_row

EOS, PAD = 2, 0


# ------------------------------------------------------------------ prompt and labels

def test_prompt_puts_the_answer_on_its_own_line():
    assert format_prompt("  How do I\n install a plugin? ") == (
        "Question: How do I install a plugin?\nAnswer:\n")


def test_build_example_masks_the_prompt_and_learns_answer_then_eos():
    example = qlora.build_example([1, 10, 11, 12], [20, 21], EOS, max_length=16)
    assert example["input_ids"] == [1, 10, 11, 12, 20, 21, EOS]
    assert example["labels"] == [-100, -100, -100, -100, 20, 21, EOS]
    assert example["labels"][-1] == EOS  # the model must learn to stop


def test_build_example_drops_what_does_not_fit_rather_than_cutting_the_answer():
    assert qlora.build_example([1, 10], [20, 21, 22], EOS, max_length=5) is None
    assert qlora.build_example([1, 10], [20, 21], EOS, max_length=5) is not None


def test_collate_masks_padding_by_position_even_when_pad_is_eos():
    short = qlora.build_example([1, 10], [20], EOS, max_length=16)
    long = qlora.build_example([1, 10, 11], [20, 21, 22], EOS, max_length=16)
    batch = qlora.collate([short, long], pad_id=EOS)  # hub tokenizers often pad with EOS
    assert batch["input_ids"].shape == (2, 7)
    assert batch["labels"][0].tolist() == [-100, -100, 20, EOS, -100, -100, -100]
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert batch["labels"][1].tolist()[-1] == EOS


def test_encode_pairs_with_a_real_tokenizer_keeps_eos_and_masks_the_prompt():
    tokenizer = base_stage.train_tokenizer(docs_lines(), 400)
    pairs = [from_row(QAPair, row) for row in qa_rows(3)]
    examples, too_long = qlora.encode_pairs(tokenizer, pairs, max_length=256)
    assert too_long == [] and len(examples) == 3
    for pair, example in zip(pairs, examples):
        prompt = encode_prompt(tokenizer, pair.question)
        assert prompt[0] == tokenizer.bos_token_id
        assert example["input_ids"][:len(prompt)] == prompt
        assert set(example["labels"][:len(prompt)]) == {-100}
        assert example["labels"][len(prompt):] == (
            encode_answer(tokenizer, pair.answer) + [tokenizer.eos_token_id])
        assert tokenizer.decode(example["labels"][len(prompt):-1]) == pair.answer
    _, too_long = qlora.encode_pairs(tokenizer, pairs, max_length=20)
    assert too_long == [p.id for p in pairs]


# ------------------------------------------------------------------- target modules

@pytest.mark.parametrize("setting, model_type, expected", [
    ("auto", "llama", qlora.LLAMA_LIKE),
    ("auto", "falcon", ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]),
    ("auto", "some_new_arch", "all-linear"),
    ("all-linear", "llama", "all-linear"),
    (" q_proj, v_proj ,", "llama", ["q_proj", "v_proj"]),
])
def test_resolve_target_modules(setting, model_type, expected):
    assert qlora.resolve_target_modules(setting, model_type) == expected


def test_resolve_target_modules_rejects_an_empty_list():
    with pytest.raises(ParamsError, match="train.target_modules"):
        qlora.resolve_target_modules(" , ", "llama")


def _tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=2, num_attention_heads=2,
                                        num_key_value_heads=2))


def _tiny_falcon():
    from transformers import FalconConfig, FalconForCausalLM
    return FalconForCausalLM(FalconConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2,
                                          num_attention_heads=2))


@pytest.mark.parametrize("build, n_layers", [(_tiny_llama, 2), (_tiny_falcon, 2)])
def test_auto_targets_every_projection_of_the_architecture(build, n_layers, tmp_path):
    from peft import get_peft_model

    model = build()
    targets = qlora.resolve_target_modules("auto", model.config.model_type)
    params = load_params(write_params(tmp_path / "params.yaml"))
    with models.quiet_peft_deprecation():
        peft_model = get_peft_model(model, qlora.build_lora_config(params.train, targets))
    adapted = {name.rsplit(".", 1)[-1] for name, module in peft_model.named_modules()
               if hasattr(module, "lora_A") and name.split(".")[-1] in targets}
    assert adapted == set(targets)
    count = sum(1 for _, m in peft_model.named_modules()
                if type(m).__name__ == "Linear" and hasattr(m, "lora_A"))
    assert count == n_layers * len(targets)


# ----------------------------------------------------------------------- data errors

def test_load_pairs_errors_name_the_problem(tmp_path):
    with pytest.raises(records.TrainDataError, match="split not found; run the split stage"):
        records.load_pairs(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(records.TrainDataError, match="the split is empty"):
        records.load_pairs(tmp_path / "empty.jsonl")
    write_jsonl(tmp_path / "bad.jsonl", [{"id": "x", "question": "q"}])
    with pytest.raises(records.TrainDataError, match="QAPair row lacks answer"):
        records.load_pairs(tmp_path / "bad.jsonl")


def test_train_main_fails_cleanly_on_a_missing_split(tmp_path, capsys):
    code = qlora.main(["--params", str(write_params(tmp_path / "p.yaml")),
                       "--train", str(tmp_path / "nope.jsonl"), "--base", str(tmp_path),
                       "--out", str(tmp_path / "a"), "--metrics", str(tmp_path / "m")])
    assert code == 2
    assert "split not found" in capsys.readouterr().err


def test_train_metrics_are_flat_and_carry_lr():
    result = qlora.TrainResult(losses=[3.0, 2.0, 1.0, 0.5], epochs=2, steps_per_epoch=2)
    metrics = qlora.train_metrics(result, lr=2e-4, examples=7, too_long=1,
                                  trainable_params=10, total_params=100)
    assert metrics["lr"] == 0.0002 and metrics["steps"] == 4 and metrics["epochs"] == 2
    assert metrics["final_loss"] == 0.75
    assert all(isinstance(v, (int, float)) for v in metrics.values())


# ------------------------------------------------------------------------ base stage

def test_section_text_reads_like_the_page_not_like_qa():
    text = base_stage.pretraining_text({
        "heading": "Install a plugin", "paragraphs": ["Plugins  add\nfeatures."],
        "ordered_lists": [["Go to Plugins.", "Click Add New."]],
        "unordered_lists": [["A fact."]], "notes": ["Back up first."]})
    assert text.splitlines() == ["Install a plugin", "Plugins add features.", "1. Go to Plugins.",
                                 "2. Click Add New.", "A fact.", "Back up first."]
    assert base_stage.build_corpus([{"heading": ""}, {"heading": "H"}]) == ["H"]


def test_resolve_base_errors(tmp_path):
    with pytest.raises(base_stage.BaseModelError, match="run the base stage first"):
        models.resolve_base(tmp_path)
    (tmp_path / "base.json").write_text(json.dumps({"kind": "tiny"}))
    with pytest.raises(base_stage.BaseModelError, match="no config.json"):
        models.resolve_base(tmp_path)


def test_hub_or_local_base_is_recorded_not_downloaded(tmp_path):
    params = BaseParams(**{**_base_params(), "model": "org/some-model", "revision": "abc123"})
    assert base_stage.hub_base_record(params) == {
        "kind": "hub", "model": "org/some-model", "revision": "abc123",
        "trust_remote_code": False}
    unpinned = BaseParams(**{**_base_params(), "model": "org/some-model"})
    assert base_stage.hub_base_record(unpinned, pin=lambda m: "f" * 40)["revision"] == "f" * 40
    with pytest.raises(base_stage.BaseModelError, match="set base.revision to the commit hash"):
        base_stage.hub_base_record(unpinned)  # HF_HUB_OFFLINE=1 in tests: cannot ask the hub
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(base_stage.BaseModelError, match="directory without a model"):
        base_stage.hub_base_record(BaseParams(**{**_base_params(), "model": str(empty)}))


def _base_params():
    return dict(TINY_BASE)


@pytest.mark.integration
def test_base_main_builds_a_loadable_tiny_model(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sections = tmp_path / "sections.jsonl"
    write_jsonl(sections, section_rows())
    out = tmp_path / "base"
    assert base_stage.main(["--params", str(write_params(tmp_path / "p.yaml")),
                            "--sections", str(sections), "--out", str(out)]) == 0
    record = json.loads((out / "base.json").read_text())
    assert record["kind"] == "tiny" and record["parameter_count"] > 0
    assert record["final_loss"] < record["first_loss"]
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.model_type == "llama"
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == (
        "</s>", "<pad>", "<s>")
    ids = tokenizer("Back up your site.", return_tensors="pt")["input_ids"]
    assert model(input_ids=ids).logits.shape[-1] == len(tokenizer)
    assert models.resolve_base(out).model == str(out)


@pytest.mark.integration
def test_base_main_with_a_local_model_path_only_records_it(tmp_path):
    local = tmp_path / "my-model"
    make_tiny_base(local)
    out = tmp_path / "base"
    params = write_params(tmp_path / "p.yaml", base={"model": str(local)})
    assert base_stage.main(["--params", str(params), "--sections", str(tmp_path / "none"),
                            "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["base.json"]
    assert models.resolve_base(out).model == str(local.resolve())


# ---------------------------------------------------------------------- real QLoRA

@pytest.mark.integration
def test_qlora_4bit_trains_saves_and_reloads(tmp_path):
    import bitsandbytes as bnb

    from wpqa.models import load_tuned

    ref = make_tiny_base(tmp_path / "base", steps=40)
    tokenizer = models.load_tokenizer(ref)
    params = load_params(write_params(tmp_path / "p.yaml"))
    model = qlora.prepare_qlora_model(qlora.load_base_4bit(ref), params.train, seed=0)
    pairs = [from_row(QAPair, row) for row in qa_rows(8)]
    examples, _ = qlora.encode_pairs(tokenizer, pairs, max_length=256)
    batch = qlora.collate(examples, tokenizer.pad_token_id)

    def loss_now(m):
        m.train()  # an eval-mode forward would repack the CPU 4-bit weights (no backward)
        with torch.no_grad():
            return m(**batch).loss.item()

    before = loss_now(model)
    train_params = load_params(write_params(tmp_path / "p10.yaml", train={
        "epochs": 10, "batch_size": 4, "warmup_ratio": 0.0})).train
    result = qlora.train_adapter(model, examples, lr=1e-2, params=train_params, seed=0,
                                 pad_id=tokenizer.pad_token_id,
                                 checkpoint_dir=tmp_path / "ck", progress=False)
    after = loss_now(model)
    assert len(result.losses) == 20
    assert after < before * 0.85, (before, after)
    model.save_pretrained(tmp_path / "adapter")

    reloaded = load_tuned(qlora.load_base_4bit(ref), tmp_path / "adapter")
    linear4 = [m for m in reloaded.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(linear4) == 2 * len(qlora.LLAMA_LIKE)  # every projection stays 4-bit
    assert all(m.weight.quant_type == "nf4" for m in linear4)
    lora_layers = [m for m in reloaded.modules() if hasattr(m, "lora_A")]
    assert lora_layers and all(isinstance(m.base_layer, bnb.nn.Linear4bit) for m in lora_layers)
    assert loss_now(reloaded) == pytest.approx(after, rel=1e-4)


@pytest.mark.integration
def test_training_refuses_a_model_repacked_by_an_eval_forward(tmp_path):
    """bitsandbytes' CPU inference repacking would silently zero the lower LoRA gradients."""
    ref = make_tiny_base(tmp_path / "base")
    tokenizer = models.load_tokenizer(ref)
    params = load_params(write_params(tmp_path / "p.yaml"))
    model = qlora.prepare_qlora_model(qlora.load_base_4bit(ref), params.train, seed=0)
    examples, _ = qlora.encode_pairs(tokenizer, [from_row(QAPair, r) for r in qa_rows(2)], 256)
    model.eval()
    with torch.no_grad():
        model(**qlora.collate(examples, tokenizer.pad_token_id))
    if not qlora.cpu_packed_4bit_layers(model):
        pytest.skip("this CPU has no AVX512-BF16 inference kernel, so nothing is repacked")
    with pytest.raises(RuntimeError, match="repacked"):
        qlora.train_adapter(model, examples, lr=1e-2, params=params.train, seed=0,
                            pad_id=tokenizer.pad_token_id, checkpoint_dir=tmp_path / "ck",
                            progress=False)


def test_base_sizes_must_fit_the_4bit_block(tmp_path):
    params = BaseParams(**{**TINY_BASE, "hidden_size": 96, "heads": 2})
    with pytest.raises(base_stage.BaseModelError, match="base.hidden_size: 96 must be a multiple of 64"):
        base_stage.build_tiny_base(section_rows(), params, seed=0, progress=False)


def test_saved_configs_do_not_depend_on_hash_seed_or_environment(tmp_path):
    from train.qlora import normalize_saved_configs

    (tmp_path / "adapter_config.json").write_text(json.dumps({"target_modules": ["v_proj", "k_proj", "q_proj"], "r": 4}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"local_files_only": True, "eos_token": "</s>"}))
    normalize_saved_configs(tmp_path)
    assert json.loads((tmp_path / "adapter_config.json").read_text()) == {"target_modules": ["k_proj", "q_proj", "v_proj"], "r": 4}
    assert json.loads((tmp_path / "tokenizer_config.json").read_text()) == {"eos_token": "</s>"}


def test_top_layers_adapts_only_the_top_of_the_stack():
    assert qlora.top_layers(0, 30) is None
    assert qlora.top_layers(30, 30) is None and qlora.top_layers(40, 30) is None
    assert qlora.top_layers(2, 30) == [28, 29]
