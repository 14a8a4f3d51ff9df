"""`wpqa export-data`: the splits in the formats other trainers read, plus ready configs.

    wpqa export-data [--splits data/splits] [--base models/base] [--out data/exports]
                     [--params params.yaml]

Writes under --out, one `train.jsonl` and `test.jsonl` per format:

- `messages/`: `{"messages": [user, assistant]}`, the ChatML roles that TRL, axolotl
  (`type: chat_template`) and most chat trainers read;
- `sharegpt/`: `{"conversations": [{"from": "human"}, {"from": "gpt"}]}`;
- `alpaca/`: `{"instruction", "input": "", "output"}`;
- `prompt_completion/`: the question as a user turn (`prompt`) and the answer as the
  assistant turn (`completion`), which TRL renders through the base's chat template, so it
  trains on exactly the tokens the train stage does (prompt unscored, answer + EOS scored;
  a ChatML template also writes a newline after the end of turn);
- `plain_prompt.jinja`, for a base without a chat template: the train stage's plain prompt
  (`Question: …\\nAnswer:\\n`, BOS first, EOS after the answer) as a chat template, which
  the TRL command and the axolotl config name;
- `axolotl.yaml`: a QLoRA config (4-bit NF4, double quantization, LoRA r/alpha/dropout,
  target modules and layers, epochs, lr, batch, sequence length from params.yaml) that
  trains on these files with the same prompt;
- `trl_sft.sh`: the same run as a `trl sft` command line on `prompt_completion/`.

The prompt is defined once (`wpqa.prompt`); each format renders it. Exit status 0 written;
2 bad params, a missing split or base, or wrong arguments.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

from train.qlora import ALL_LINEAR, resolve_target_modules, top_layers
from wpqa.io import write_jsonl, write_text
from wpqa.models import BaseModelError, BaseRef, load_tokenizer, resolve_base
from wpqa.params import Params, ParamsError, load_params
from wpqa.prompt import chat_messages, clean_question, has_chat_template, plain_chat_template
from wpqa.records import QAPair, TrainDataError, load_pairs

SPLITS = ("train", "test")


def messages_row(pair: QAPair) -> dict[str, Any]:
    return {"messages": chat_messages(pair.question)
            + [{"role": "assistant", "content": pair.answer.strip()}]}


def sharegpt_row(pair: QAPair) -> dict[str, Any]:
    return {"conversations": [{"from": "human", "value": clean_question(pair.question)},
                              {"from": "gpt", "value": pair.answer.strip()}]}


def alpaca_row(pair: QAPair) -> dict[str, Any]:
    return {"instruction": clean_question(pair.question), "input": "",
            "output": pair.answer.strip()}


def prompt_completion_row(pair: QAPair) -> dict[str, Any]:
    return {"prompt": chat_messages(pair.question),
            "completion": [{"role": "assistant", "content": pair.answer.strip()}]}


FORMATS: dict[str, Callable[[QAPair], dict[str, Any]]] = {
    "messages": messages_row, "sharegpt": sharegpt_row, "alpaca": alpaca_row,
    "prompt_completion": prompt_completion_row}
PLAIN_TEMPLATE = "plain_prompt.jinja"


def axolotl_config(params: Params, ref: BaseRef, model_type: str, num_layers: int,
                   chat: bool, data_dir: str) -> dict[str, Any]:
    """An axolotl QLoRA config equal to the train stage's run on the exported files."""
    t = params.train
    targets = resolve_target_modules(t.target_modules, model_type)
    # The base's own chat template, or the plain prompt as one; loss on the answer only.
    dataset = {"path": f"{data_dir}/messages/train.jsonl", "ds_type": "json",
               "type": "chat_template", "field_messages": "messages",
               "roles_to_train": ["assistant"]}
    template = ({"chat_template": "tokenizer_default"} if chat else
                {"chat_template": "jinja", "chat_template_jinja": plain_chat_template()})
    config: dict[str, Any] = {
        "base_model": ref.model,
        **({"revision_of_model": ref.revision} if ref.revision else {}),
        "load_in_4bit": True,
        "adapter": "qlora",
        "bnb_config_kwargs": {"bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True},
        "lora_r": t.lora_r,
        "lora_alpha": t.lora_alpha,
        "lora_dropout": t.lora_dropout,
        **({"lora_target_linear": True} if targets == ALL_LINEAR
           else {"lora_target_modules": list(targets)}),
        "datasets": [dataset],
        **template,
        "train_on_inputs": False,
        "val_set_size": 0,
        "sequence_len": t.max_length,
        "sample_packing": False,
        "micro_batch_size": t.batch_size,
        "gradient_accumulation_steps": t.grad_accum,
        "num_epochs": t.epochs,
        "learning_rate": float(params.lr),
        "lr_scheduler": "cosine",
        "warmup_ratio": t.warmup_ratio,
        "optimizer": "adamw_torch",
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "seed": params.seed,
        "bf16": "auto",
        "output_dir": "models/axolotl-adapter",
    }
    layers = top_layers(t.lora_layers, num_layers)
    if layers:
        config["peft_layers_to_transform"] = layers
    return config


def trl_sft_args(params: Params, ref: BaseRef, model_type: str, data_dir: str,
                 chat: bool) -> list[str]:
    """`trl sft` arguments for the train stage's run on `prompt_completion/`."""
    t = params.train
    targets = resolve_target_modules(t.target_modules, model_type)
    args = ["--model_name_or_path", ref.model,
            *(["--model_revision", ref.revision] if ref.revision else []),
            "--dataset_name", f"{data_dir}/prompt_completion",
            "--dataset_train_split", "train",
            "--load_in_4bit", "--bnb_4bit_quant_type", "nf4", "--use_bnb_nested_quant",
            "--use_peft", "--lora_r", str(t.lora_r), "--lora_alpha", str(t.lora_alpha),
            "--lora_dropout", str(t.lora_dropout),
            "--lora_target_modules", *([ALL_LINEAR] if targets == ALL_LINEAR else targets),
            "--completion_only_loss", "True",
            *([] if chat else ["--chat_template_path", f"{data_dir}/{PLAIN_TEMPLATE}"]),
            "--max_length", str(t.max_length),
            "--num_train_epochs", str(t.epochs),
            "--per_device_train_batch_size", str(t.batch_size),
            "--gradient_accumulation_steps", str(t.grad_accum),
            "--learning_rate", f"{float(params.lr):g}",
            # transformers 5 reads a warmup_steps below 1 as a ratio (warmup_ratio is gone)
            "--lr_scheduler_type", "cosine", "--warmup_steps", str(t.warmup_ratio),
            "--seed", str(params.seed),
            "--output_dir", "models/trl-adapter"]
    return args


def export_data(pairs_by_split: dict[str, list[QAPair]], params: Params, ref: BaseRef,
                chat: bool, model_type: str, num_layers: int, out: str | Path) -> dict[str, int]:
    """Write every format, the axolotl config and the TRL command; rows per split."""
    out = Path(out)
    data_dir = out.as_posix()
    for name, row in FORMATS.items():
        for split, pairs in pairs_by_split.items():
            write_jsonl(out / name / f"{split}.jsonl", (row(p) for p in pairs))
    if not chat:
        write_text(out / PLAIN_TEMPLATE, plain_chat_template())
    config = axolotl_config(params, ref, model_type, num_layers, chat, data_dir)
    write_text(out / "axolotl.yaml",
                      "# axolotl QLoRA config written by `wpqa export-data` from params.yaml\n"
                      + yaml.safe_dump(config, sort_keys=False))
    command = "trl sft " + " \\\n    ".join(
        shlex.join(pair) for pair in _flag_groups(trl_sft_args(params, ref, model_type, data_dir,
                                                               chat)))
    write_text(out / "trl_sft.sh", "#!/bin/sh\n# The train stage's QLoRA run with TRL, "
                      "written by `wpqa export-data` from params.yaml\n" + command + "\n")
    return {split: len(pairs) for split, pairs in pairs_by_split.items()}


def _flag_groups(args: list[str]) -> list[list[str]]:
    """Each `--flag` with its values, one group per line of the script."""
    groups: list[list[str]] = []
    for arg in args:
        if arg.startswith("--") or not groups:
            groups.append([arg])
        else:
            groups[-1].append(arg)
    return groups


def export_data_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="wpqa export-data", description=__doc__.splitlines()[0],
        epilog="exit status: 0 written; 2 bad params, a missing split or base, or wrong "
        "arguments.")
    parser.add_argument("--splits", default="data/splits",
                        help="folder with train.jsonl and test.jsonl")
    parser.add_argument("--base", default="models/base", help="the base stage's output")
    parser.add_argument("--out", default="data/exports")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        pairs = {split: load_pairs(Path(args.splits) / f"{split}.jsonl") for split in SPLITS}
        ref = resolve_base(args.base)
        tokenizer = load_tokenizer(ref)
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(ref.model, revision=ref.revision,
                                            trust_remote_code=ref.trust_remote_code)
    except (ParamsError, TrainDataError, BaseModelError, OSError, ValueError) as err:
        print(f"wpqa export-data: {err}", file=sys.stderr)
        return 2
    chat = has_chat_template(tokenizer)
    counts = export_data(pairs, params, ref, chat, config.model_type,
                         getattr(config, "num_hidden_layers", 0), args.out)
    print(f"wpqa export-data: {counts['train']} train and {counts['test']} test rows as "
          f"messages, sharegpt, alpaca and prompt_completion "
          f"({'chat template' if chat else 'plain prompt'}), axolotl.yaml and trl_sft.sh "
          f"in {args.out}")
    return 0
