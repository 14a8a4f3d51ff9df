"""Hub-like base models: tiny random-weight Falcon, Llama, Qwen2 and Mistral, built from
their configs, saved, and loaded by path through the same code the stages use."""
from __future__ import annotations

import json

import pytest

from wpqa import models

from tests.tiny_models import ARCH_TOKENS, make_arch_model, qa_rows, write_params
from train import base as base_stage
from train import qlora
from wpqa.prompt import encode_answer, encode_prompt, prompt_text
from wpqa.params import Decoding, load_params
from wpqa.records import QAPair, from_row

ARCHS = ["falcon", "llama", "qwen2", "mistral"]
EXPECTED_TARGETS = {
    "falcon": {"query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"},
    "llama": set(qlora.LLAMA_LIKE), "qwen2": set(qlora.LLAMA_LIKE),
    "mistral": set(qlora.LLAMA_LIKE),
}


@pytest.mark.integration
@pytest.mark.parametrize("arch", ARCHS)
def test_local_hub_model_trains_through_the_stage_code(arch, tmp_path):
    import bitsandbytes as bnb

    from eval.evaluate import generate_answers
    from wpqa.models import load_tuned

    local = make_arch_model(arch, tmp_path / arch)
    params_path = write_params(tmp_path / "p.yaml", base={"model": str(local)},
                               train={"epochs": 1, "batch_size": 4, "save_steps": 0})
    assert base_stage.main(["--params", str(params_path), "--sections", "unused",
                            "--out", str(tmp_path / "base")]) == 0
    record = json.loads((tmp_path / "base" / "base.json").read_text())
    assert record == {"kind": "local", "model": str(local.resolve()), "revision": None,
                      "trust_remote_code": False}
    ref = models.resolve_base(tmp_path / "base")
    params = load_params(params_path)

    # pad and EOS: a pad token always exists; EOS is the answer's last label
    tokenizer = models.load_tokenizer(ref)
    spec = ARCH_TOKENS[arch]
    assert tokenizer.eos_token == spec["eos"]
    assert tokenizer.pad_token == (spec["pad"] or spec["eos"])
    pairs = [from_row(QAPair, row) for row in qa_rows(8)]
    examples, _ = qlora.encode_pairs(tokenizer, pairs, max_length=256)
    prompt = encode_prompt(tokenizer, pairs[0].question)
    assert examples[0]["labels"][len(prompt):] == (
        encode_answer(tokenizer, pairs[0].answer) + [tokenizer.eos_token_id])
    if spec["template"]:  # the chat template frames the question
        assert pairs[0].question in prompt_text(tokenizer, pairs[0].question)
        assert not prompt_text(tokenizer, pairs[0].question).startswith("Question:")
    else:
        assert prompt_text(tokenizer, pairs[0].question).startswith("Question:")
    assert prompt.count(tokenizer.bos_token_id) <= 1 if tokenizer.bos_token_id is not None \
        else True
    batch = qlora.collate(examples[:2], tokenizer.pad_token_id)
    assert (batch["labels"] == tokenizer.eos_token_id).sum() == 2  # kept even when pad == EOS

    model = qlora.prepare_qlora_model(qlora.load_base_4bit(ref), params.train, seed=0)
    adapted = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
               if hasattr(module, "lora_A") and isinstance(getattr(module, "base_layer", None),
                                                             bnb.nn.Linear4bit)}
    assert adapted == EXPECTED_TARGETS[arch]
    trainable, total = qlora.parameter_counts(model)
    assert 0 < trainable < total
    result = qlora.train_adapter(model, examples, lr=1e-2, params=params.train, seed=0,
                                 pad_id=tokenizer.pad_token_id,
                                 checkpoint_dir=tmp_path / "ck", progress=False)
    assert len(result.losses) == 2
    model.save_pretrained(tmp_path / "adapter")

    tuned = load_tuned(qlora.load_base_4bit(ref), tmp_path / "adapter")
    greedy = Decoding("greedy", 0.0, 1.0, 0, 4, 1)
    answers = generate_answers(tuned, tokenizer, [pairs[0].question], decoding=greedy,
                               batch_size=1, progress=False)
    assert len(answers) == 1 and isinstance(answers[0].text, str)


def test_all_linear_and_explicit_targets_on_falcon(tmp_path):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    local = make_arch_model("falcon", tmp_path / "falcon")
    params = load_params(write_params(tmp_path / "p.yaml"))
    for setting, expected in [("all-linear", EXPECTED_TARGETS["falcon"]),
                              ("query_key_value", {"query_key_value"})]:
        model = AutoModelForCausalLM.from_pretrained(local)
        targets = qlora.resolve_target_modules(setting, model.config.model_type)
        with models.quiet_peft_deprecation():
            peft_model = get_peft_model(model, qlora.build_lora_config(params.train, targets))
        adapted = {n.rsplit(".", 1)[-1] for n, m in peft_model.named_modules()
                   if hasattr(m, "lora_A") and hasattr(m, "base_layer")}
        assert adapted == expected, setting


def test_a_target_the_model_lacks_is_a_params_error(tmp_path):
    from wpqa.params import ParamsError

    local = make_arch_model("llama", tmp_path / "llama")
    ref = models.BaseRef(model=str(local), revision=None)
    params = load_params(write_params(tmp_path / "p.yaml",
                                      train={"target_modules": "query_key_value"}))
    with pytest.raises(ParamsError, match="query_key_value not found in this llama model"):
        qlora.prepare_qlora_model(qlora.load_base_4bit(ref), params.train, seed=0)


def test_model_loads_ask_for_no_hub_kernels(tmp_path, monkeypatch):
    """transformers would otherwise fetch layer kernels from the Hub on CUDA (unpinned
    code, and a failed load on an offline GPU machine): every load passes use_kernels=False."""
    from transformers import PreTrainedModel

    from commands.export import load_base_full

    monkeypatch.delenv("USE_HUB_KERNELS", raising=False)  # the default: kernels allowed
    asked = []
    real = PreTrainedModel.set_use_kernels

    def spy(self, use_kernels, *args, **kwargs):
        asked.append(use_kernels)
        return real(self, use_kernels, *args, **kwargs)

    monkeypatch.setattr(PreTrainedModel, "set_use_kernels", spy)
    ref = models.BaseRef(model=str(make_arch_model("llama", tmp_path / "llama")), revision=None)
    models.load_base_4bit(ref)
    load_base_full(ref)
    assert asked == [False, False]
