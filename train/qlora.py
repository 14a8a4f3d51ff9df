"""The `train` stage: QLoRA fine-tuning of the base model on the train split.

The base model is loaded in 4-bit NF4 through bitsandbytes (which runs 4-bit on CPU as
well as on CUDA), prepared with `peft.prepare_model_for_kbit_training`, and wrapped with
LoRA adapters. The loop is a plain one a reader can follow top to bottom: AdamW on the
adapter weights, warmup then cosine decay, loss on the answer tokens only. The answer is
followed by EOS and the EOS label is kept, so the tuned model learns to stop.

The learning rate is the top-level `lr` param (so `dvc exp run -S lr=2e-4` works as
typed); everything else comes from `train.*`. The loss of every step goes through
dvclive into the metrics folder; `metrics.json` there holds the flat summary.

    python -m train.qlora --params params.yaml --train data/splits/train.jsonl \
        --base models/base --out models/adapter --metrics reports/train
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from train.base import BaseModelError, BaseRef, resolve_base
from train.prompt import encode_answer, encode_prompt
from wpqa.io import read_jsonl, write_json
from wpqa.params import ParamsError, TrainParams, load_params
from wpqa.records import QAPair, from_row

IGNORE_INDEX = -100  # label value the loss skips (prompt and padding)

# Module names of the linear layers LoRA adapts, per architecture (config.model_type).
LLAMA_LIKE = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
FALCON = ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]
TARGET_MODULES = {
    "llama": LLAMA_LIKE, "mistral": LLAMA_LIKE, "mixtral": LLAMA_LIKE, "qwen2": LLAMA_LIKE,
    "qwen3": LLAMA_LIKE, "gemma": LLAMA_LIKE, "gemma2": LLAMA_LIKE, "gemma3_text": LLAMA_LIKE,
    "olmo2": LLAMA_LIKE, "smollm3": LLAMA_LIKE, "falcon": FALCON,
}
ALL_LINEAR = "all-linear"


class TrainDataError(ValueError):
    """The train split is missing, empty or malformed; the message says which."""


# ------------------------------------------------------------------------------ data

def load_pairs(path: str | Path) -> list[QAPair]:
    """QAPair records from a split file, with clear errors for a missing or empty split."""
    path = Path(path)
    if not path.is_file():
        raise TrainDataError(f"{path}: split not found; run the split stage first")
    try:
        pairs = [from_row(QAPair, row) for row in read_jsonl(path)]
    except ValueError as err:
        raise TrainDataError(str(err)) from None
    if not pairs:
        raise TrainDataError(f"{path}: the split is empty; the curation stages accepted no "
                             "Q&A (see the validate stage's quarantine and the report)")
    return pairs


def build_example(prompt_ids: list[int], answer_ids: list[int], eos_id: int,
                  max_length: int) -> dict[str, list[int]] | None:
    """input_ids and labels for one pair: prompt labels masked, answer + EOS learned.

    The EOS label is kept (not -100): a model that never sees EOS as a target never
    learns to stop. Returns None when prompt + answer + EOS does not fit `max_length`,
    since cutting the answer would teach the model to stop mid-list.
    """
    if not answer_ids:
        raise TrainDataError("an answer encodes to no tokens")
    target = list(answer_ids) + [eos_id]
    input_ids = list(prompt_ids) + target
    if len(input_ids) > max_length:
        return None
    labels = [IGNORE_INDEX] * len(prompt_ids) + target
    return {"input_ids": input_ids, "labels": labels}


def encode_pairs(tokenizer, pairs: list[QAPair], max_length: int):
    """Examples for every pair that fits, and the ids of those that did not."""
    examples, too_long = [], []
    for pair in pairs:
        example = build_example(encode_prompt(tokenizer, pair.question),
                                encode_answer(tokenizer, pair.answer),
                                tokenizer.eos_token_id, max_length)
        if example is None:
            too_long.append(pair.id)
        else:
            examples.append(example)
    return examples, too_long


def collate(examples: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padding gets attention 0 and label -100.

    Padding is masked by position, not by token id, so a tokenizer whose pad token is
    its EOS token (common for hub models) still keeps the real EOS label.
    """
    width = max(len(e["input_ids"]) for e in examples)
    input_ids, labels, attention = [], [], []
    for e in examples:
        pad = width - len(e["input_ids"])
        input_ids.append(e["input_ids"] + [pad_id] * pad)
        labels.append(e["labels"] + [IGNORE_INDEX] * pad)
        attention.append([1] * len(e["input_ids"]) + [0] * pad)
    return {"input_ids": torch.tensor(input_ids), "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(attention)}


# ----------------------------------------------------------------------------- model

def build_bnb_config(compute_dtype: torch.dtype):
    """4-bit NF4 with double quantization: the QLoRA recipe."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)


def compute_setup() -> tuple[torch.dtype, dict[str, str] | str]:
    """(compute dtype, device_map): bf16 across GPUs, fp32 on CPU.

    On CPU bitsandbytes dequantizes the 4-bit weights and runs the matmul in the compute
    dtype. bf16 is fast only on CPUs with AVX512-BF16 or AMX (about 15% per training step
    on the 2-core dev machine) and slow everywhere else; fp32 is fast enough on any CPU
    and keeps a tiny model's high-learning-rate training numerically safe.
    """
    if torch.cuda.is_available():
        return torch.bfloat16, "auto"
    return torch.float32, {"": "cpu"}


def load_tokenizer(ref: BaseRef):
    """The base model's tokenizer, with a pad token (its EOS when it has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ref.model, revision=ref.revision)
    if tokenizer.eos_token_id is None:
        raise BaseModelError(f"{ref.model}: the tokenizer has no EOS token, so answers "
                             "cannot be taught to stop")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_4bit(ref: BaseRef):
    """The base model with its linear layers in 4-bit NF4 (bitsandbytes Linear4bit)."""
    from transformers import AutoModelForCausalLM

    dtype, device_map = compute_setup()
    try:
        return AutoModelForCausalLM.from_pretrained(
            ref.model, revision=ref.revision, quantization_config=build_bnb_config(dtype),
            dtype=dtype, device_map=device_map)
    except OSError as err:
        raise BaseModelError(f"cannot load base model {ref.model!r}: {err}") from None


def resolve_target_modules(setting: str, model_type: str) -> list[str] | str:
    """LoRA target modules from `train.target_modules`.

    `auto` picks the architecture's attention and MLP projections (falling back to
    PEFT's `all-linear` for an architecture not listed); `all-linear` is passed to PEFT,
    which adapts every linear layer but the output head; anything else is a
    comma-separated list of module names.
    """
    setting = setting.strip()
    if setting == "auto":
        known = TARGET_MODULES.get(model_type)
        return list(known) if known else ALL_LINEAR
    if setting == ALL_LINEAR:
        return ALL_LINEAR
    names = [name.strip() for name in setting.split(",") if name.strip()]
    if not names:
        raise ParamsError("train.target_modules: allowed: auto, all-linear, "
                          "or comma-separated module names")
    return names


def build_lora_config(params: TrainParams, target_modules: list[str] | str):
    from peft import LoraConfig

    return LoraConfig(r=params.lora_r, lora_alpha=params.lora_alpha,
                      lora_dropout=params.lora_dropout, target_modules=target_modules,
                      bias="none", task_type="CAUSAL_LM")


@contextmanager
def quiet_peft_deprecation():
    """peft 0.21 calls a transformers method deprecated in v5; the notice is not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing",
                                category=FutureWarning)
        yield


def prepare_qlora_model(model, params: TrainParams, seed: int):
    """kbit preparation + LoRA adapters on a 4-bit model; returns the PeftModel."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    # Gradient checkpointing trades compute for memory: worth it for a 7B model on a
    # GPU, pure overhead for a tiny model on CPU.
    targets = resolve_target_modules(params.target_modules, model.config.model_type)
    with quiet_peft_deprecation():
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=torch.cuda.is_available())
        torch.manual_seed(seed)  # LoRA A matrices are initialised randomly
        return get_peft_model(model, build_lora_config(params, targets))


# ----------------------------------------------------------------------------- train

def cpu_packed_4bit_layers(model) -> int:
    """How many 4-bit layers bitsandbytes has repacked for its CPU inference kernel.

    On CPUs with AVX512-BF16, a Linear4bit's first forward in eval mode without grad
    rewrites its weight into a layout for a fused inference kernel, in place and for
    good. Training through such a layer silently drops the gradient to its input, so
    training must start from a model that has not run an eval-mode forward.
    """
    return sum(1 for module in model.modules()
               if getattr(getattr(getattr(module, "weight", None), "quant_state", None),
                          "packing_format_for_cpu", False))


@dataclass(frozen=True)
class TrainResult:
    losses: list[float]  # one per optimizer step
    epochs: int
    steps_per_epoch: int

    @property
    def final_loss(self) -> float:
        """Mean loss over the last epoch's steps (one step is too noisy)."""
        last = self.losses[-self.steps_per_epoch:]
        return sum(last) / len(last)


def length_grouped_batches(lengths: list[int], batch_size: int,
                           generator: torch.Generator, group: int = 16) -> list[list[int]]:
    """One epoch of batches: shuffled, but with similar lengths batched together.

    The shuffled indices are cut into windows of `group` batches, each window is sorted
    by length and cut into batches, and the batches are shuffled. Padding drops from
    about a quarter of the tokens to a few percent (the compute on CPU scales with the
    padded length) while every epoch still sees the examples in a new seeded order.
    """
    order = torch.randperm(len(lengths), generator=generator).tolist()
    window = batch_size * group
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def train_adapter(model, examples: list[dict[str, list[int]]], *, lr: float, epochs: int,
                  batch_size: int, warmup_ratio: float, seed: int, pad_id: int,
                  log_step: Callable[[int, float], None] = lambda step, loss: None,
                  progress: bool = True) -> TrainResult:
    """Train the trainable (LoRA) weights of `model` on `examples`; seeded shuffling."""
    from transformers import get_cosine_schedule_with_warmup

    if not examples:
        raise TrainDataError("no training examples fit train.max_length")
    if cpu_packed_4bit_layers(model):
        raise RuntimeError(
            "the 4-bit weights were repacked for bitsandbytes' CPU inference kernel by an "
            "eval-mode forward pass; that kernel has no backward, so LoRA layers below the "
            "top would get zero gradients. Load the model again and train before any "
            "eval-mode forward.")
    steps_per_epoch = math.ceil(len(examples) / batch_size)
    total = steps_per_epoch * epochs
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, math.ceil(warmup_ratio * total), total)
    generator = torch.Generator().manual_seed(seed)
    lengths = [len(e["input_ids"]) for e in examples]
    device = next(p.device for p in trainable)
    model.train()  # before any forward: see cpu_packed_4bit_layers
    losses: list[float] = []
    bar = tqdm(total=total, desc="qlora", disable=not progress, file=sys.stdout)
    for epoch in range(epochs):
        for indices in length_grouped_batches(lengths, batch_size, generator):
            batch = collate([examples[i] for i in indices], pad_id)
            loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            log_step(len(losses), losses[-1])
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3f}")
    bar.close()
    model.eval()
    return TrainResult(losses=losses, epochs=epochs, steps_per_epoch=steps_per_epoch)


def train_metrics(result: TrainResult, *, lr: float, examples: int, too_long: int,
                  trainable_params: int, total_params: int) -> dict[str, float | int]:
    """Flat metric keys for metrics.json (`lr` included so experiments show it)."""
    return {
        "lr": lr,
        "epochs": result.epochs,
        "steps": len(result.losses),
        "first_loss": round(result.losses[0], 4),
        "final_loss": round(result.final_loss, 4),
        "examples": examples,
        "skipped_too_long": too_long,
        "trainable_params": trainable_params,
        "total_params": total_params,
    }


# ------------------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", required=True, help="data/splits/train.jsonl")
    parser.add_argument("--base", required=True, help="models/base")
    parser.add_argument("--out", required=True, help="models/adapter")
    parser.add_argument("--metrics", required=True, help="reports/train")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        pairs = load_pairs(args.train)
        ref = resolve_base(args.base)
        tokenizer = load_tokenizer(ref)
        examples, too_long = encode_pairs(tokenizer, pairs, params.train.max_length)
        if not examples:
            raise TrainDataError(f"none of the {len(pairs)} pairs fits train.max_length="
                                 f"{params.train.max_length} tokens; raise it")
        model = prepare_qlora_model(load_base_4bit(ref), params.train, params.seed)
    except (ParamsError, TrainDataError, BaseModelError) as err:
        print(f"train: {err}", file=sys.stderr)
        return 2
    if too_long:
        print(f"train: skipped {len(too_long)} pairs longer than train.max_length="
              f"{params.train.max_length} tokens (e.g. {too_long[0]})")
    trainable, total = model.get_nb_trainable_parameters()
    print(f"train: {len(examples)} examples, {trainable:,} trainable of {total:,} parameters, "
          f"lr {params.lr:g}, {params.train.epochs} epochs")

    from dvclive import Live

    started = time.perf_counter()
    with Live(dir=args.metrics, dvcyaml=None, save_dvc_exp=False) as live:
        def log_step(step: int, loss: float) -> None:
            live.log_metric("loss", loss)
            live.next_step()

        result = train_adapter(
            model, examples, lr=params.lr, epochs=params.train.epochs,
            batch_size=params.train.batch_size, warmup_ratio=params.train.warmup_ratio,
            seed=params.seed, pad_id=tokenizer.pad_token_id, log_step=log_step)
        live.summary.update(train_metrics(result, lr=params.lr, examples=len(examples),
                                          too_long=len(too_long), trainable_params=trainable,
                                          total_params=total))
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    normalize_saved_configs(args.out)
    print(f"train: {len(result.losses)} steps in {time.perf_counter() - started:.0f} s, "
          f"loss {result.losses[0]:.3f} -> {result.final_loss:.3f}; adapter saved to {args.out}")
    return 0


def normalize_saved_configs(out_dir: str | Path) -> None:
    """Make the saved adapter folder byte-identical across runs and environments.

    peft keeps `target_modules` as a set, so its saved order follows Python's hash seed,
    and the tokenizer config records `local_files_only`, which only says whether
    HF_HUB_OFFLINE was set. Either would change the folder's hash for DVC with the
    weights unchanged.
    """
    out_dir = Path(out_dir)
    adapter_config = out_dir / "adapter_config.json"
    if adapter_config.exists():
        config = json.loads(adapter_config.read_text())
        if isinstance(config.get("target_modules"), list):
            config["target_modules"] = sorted(config["target_modules"])
        write_json(adapter_config, config)
    tokenizer_config = out_dir / "tokenizer_config.json"
    if tokenizer_config.exists():
        config = json.loads(tokenizer_config.read_text())
        config.pop("local_files_only", None)
        write_json(tokenizer_config, config)


if __name__ == "__main__":
    sys.exit(main())
