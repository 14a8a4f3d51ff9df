"""`wpqa export-data`: the formats other trainers read, checked with TRL's own loader and
trainer where it installs, and the axolotl config by its structure."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from commands.trainer_exports import (alpaca_row, export_data_command, messages_row,
                                      prompt_completion_row, sharegpt_row)
from tests.tiny_models import make_arch_model, qa_rows, write_params
from train import base as base_stage
from wpqa.io import write_jsonl
from wpqa.models import load_tokenizer, resolve_base
from wpqa.prompt import encode_answer, encode_prompt
from wpqa.records import QAPair, from_row

PAIR = from_row(QAPair, {**qa_rows(1)[0], "question": "  How do I   add a menu? ",
                        "answer": "To add a menu, follow these steps:\n1. Open Appearance.\n"
                                  "2. Click Menus."})


def test_each_format_holds_the_question_and_answer_once():
    q, a = "How do I add a menu?", PAIR.answer
    assert messages_row(PAIR) == {"messages": [{"role": "user", "content": q},
                                               {"role": "assistant", "content": a}]}
    assert sharegpt_row(PAIR) == {"conversations": [{"from": "human", "value": q},
                                                    {"from": "gpt", "value": a}]}
    assert alpaca_row(PAIR) == {"instruction": q, "input": "", "output": a}
    assert prompt_completion_row(PAIR) == {
        "prompt": [{"role": "user", "content": q}],
        "completion": [{"role": "assistant", "content": a}]}


def exported(tmp_path, arch: str):
    """Splits of 12 + 4 rows, a base stage output for a tiny `arch` model, exported."""
    splits = tmp_path / "splits"
    rows = qa_rows(16)
    write_jsonl(splits / "train.jsonl", rows[:12])
    write_jsonl(splits / "test.jsonl", rows[12:])
    local = make_arch_model(arch, tmp_path / arch)
    params = write_params(tmp_path / "p.yaml", base={"model": str(local)},
                          train={"epochs": 2, "batch_size": 4, "lora_layers": 1})
    assert base_stage.main(["--params", str(params), "--sections", "unused",
                            "--out", str(tmp_path / "base")]) == 0
    out = tmp_path / "exports"
    assert export_data_command(["--splits", str(splits), "--base", str(tmp_path / "base"),
                                "--out", str(out), "--params", str(params)]) == 0
    return out, params, rows


@pytest.mark.integration
@pytest.mark.parametrize("arch", ["llama", "qwen2"])  # plain prompt; ChatML template
def test_trl_reads_the_export_and_sees_the_train_stage_prompt(arch, tmp_path):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM
    from trl import ModelConfig, ScriptArguments, SFTConfig, SFTTrainer, TrlParser

    out, params_path, rows = exported(tmp_path, arch)
    for name in ("messages", "sharegpt", "alpaca", "prompt_completion"):
        lines = (out / name / "train.jsonl").read_text().splitlines()
        assert len(lines) == 12 and all(json.loads(line) for line in lines)

    # The command line parses with TRL's own parser into the train stage's settings.
    script = (out / "trl_sft.sh").read_text()
    words = shlex.split(script.split("trl sft", 1)[1].replace("\\\n", " "))
    words += ["--bf16", "False"]  # TRL's bf16 default needs a GPU; the script is for one
    script_args, sft, model_args = TrlParser((ScriptArguments, SFTConfig, ModelConfig)) \
        .parse_args_and_config(words)
    assert (sft.learning_rate, sft.num_train_epochs, sft.max_length,
            sft.per_device_train_batch_size) == (1e-2, 2, 256, 4)
    assert model_args.load_in_4bit and model_args.use_peft and model_args.lora_r == 16
    assert model_args.bnb_4bit_quant_type == "nf4" and model_args.use_bnb_nested_quant
    assert script_args.dataset_name == str(out / "prompt_completion")

    # TRL loads the folder and tokenizes each row into our prompt + answer + EOS.
    ref = resolve_base(tmp_path / "base")
    tokenizer = load_tokenizer(ref)
    data = load_dataset(script_args.dataset_name)
    assert data["train"].num_rows == 12 and data["test"].num_rows == 4
    model = AutoModelForCausalLM.from_pretrained(ref.model)
    config = SFTConfig(output_dir=str(tmp_path / "trl"), max_steps=1, per_device_train_batch_size=2,
                       report_to=[], use_cpu=True, completion_only_loss=True,
                       max_length=sft.max_length, chat_template_path=sft.chat_template_path)
    trainer = SFTTrainer(model=model, args=config, train_dataset=data["train"],
                         processing_class=tokenizer)
    first = trainer.train_dataset[0]
    pair = from_row(QAPair, rows[0])
    prompt, answer = encode_prompt(tokenizer, pair.question), encode_answer(tokenizer, pair.answer)
    ids, mask = first["input_ids"], [label != -100 for label in first["labels"]]
    start = mask.index(True)
    assert ids[:start] == prompt and not any(mask[:start]) and all(mask[start:])
    completion = ids[start:]
    assert completion[:len(answer) + 1] == answer + [tokenizer.eos_token_id]
    # After the end of turn a chat template may write a newline (ChatML does); nothing else.
    assert tokenizer.decode(completion[len(answer) + 1:]).strip() == ""
    assert trainer.train().training_loss > 0

    # The axolotl config: the same run on the same files (axolotl itself does not install here).
    axolotl = yaml.safe_load((out / "axolotl.yaml").read_text())
    assert (axolotl["adapter"], axolotl["load_in_4bit"], axolotl["learning_rate"],
            axolotl["num_epochs"], axolotl["sequence_len"], axolotl["micro_batch_size"]) == \
        ("qlora", True, 0.01, 2, 256, 4)
    assert axolotl["peft_layers_to_transform"] == [1]  # lora_layers: 1 of the tiny 2
    assert axolotl["train_on_inputs"] is False
    dataset = axolotl["datasets"][0]
    assert Path(dataset["path"]).exists()
    assert dataset["type"] == "chat_template" and dataset["roles_to_train"] == ["assistant"]
    if arch == "qwen2":  # the base's template; no plain one is written or named
        assert axolotl["chat_template"] == "tokenizer_default"
        assert sft.chat_template_path is None and not (out / "plain_prompt.jinja").exists()
    else:
        assert axolotl["chat_template"] == "jinja"
        assert axolotl["chat_template_jinja"] == (out / "plain_prompt.jinja").read_text()


def test_a_missing_split_is_a_clean_error(tmp_path, capsys):
    assert export_data_command(["--splits", str(tmp_path / "none"), "--base",
                                str(tmp_path / "base"), "--out", str(tmp_path / "o")]) == 2
    assert "wpqa export-data:" in capsys.readouterr().err
