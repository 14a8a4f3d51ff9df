"""The `train` stage: QLoRA fine-tuning of the base model on the train split.

The base model (the tiny one built here, a local folder or a pinned hub revision) is
loaded in 4-bit NF4 through bitsandbytes (which runs 4-bit on CPU as well as on CUDA),
prepared with `peft.prepare_model_for_kbit_training`, and wrapped with LoRA adapters on
the architecture's projections. Training runs through transformers' `Trainer`, so the
usual knobs work: gradient accumulation, gradient checkpointing, bf16/fp16, evaluation
loss on a held-out slice, `report_to`, checkpoints and resume, `accelerate launch` on
several GPUs. The semantics are the ones the tiny default was tuned with: loss on the
answer tokens only, the EOS after the answer kept as a label (so the model learns to
stop), length-grouped seeded batches, AdamW, warmup then cosine decay, clipping at 1.0.

Checkpoints go to `train.checkpoint_dir` (or `--checkpoints`) every `train.save_steps`
steps; the folder is scratch, kept across runs but ignored by git and DVC and never an
output, and `train.resume: auto` continues from the last checkpoint of the same run (same
data, base and params), so a killed run loses at most `save_steps` steps. A non-finite or
exploding loss stops the run and names the last good checkpoint.

The learning rate is the top-level `lr` param (so `dvc exp run -S lr=2e-4` works as
typed); everything else comes from `train.*`. The loss of every step goes through
dvclive into the metrics folder (the plot `dvc plots` shows); `metrics.json` there holds
the flat summary.

    python -m train.qlora --params params.yaml --train data/splits/train.jsonl \
        --base models/base --out models/adapter --metrics reports/train
    accelerate launch --config_file configs/accelerate/ddp.yaml -m train.qlora ...
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from wpqa.models import (BaseModelError, BaseRef, load_base_4bit, load_tokenizer,
                         quiet_peft_deprecation, resolve_base, resolve_precision)
from wpqa.prompt import encode_answer, encode_prompt
from wpqa.io import write_json
from wpqa.params import Params, ParamsError, TrainParams, load_params
from wpqa.records import QAPair, TrainDataError, load_pairs

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


# ------------------------------------------------------------------------------ data

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


def split_validation(pairs: list[QAPair], count: int, seed: int) -> tuple[list[QAPair], list[QAPair]]:
    """(train, validation): `count` pairs held out, chosen by a seeded shuffle of the ids."""
    if count <= 0:
        return pairs, []
    ids = sorted(p.id for p in pairs)
    held = set(random.Random(seed).sample(ids, count))
    return [p for p in pairs if p.id not in held], [p for p in pairs if p.id in held]


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
    """Right-pad a batch with TRL's collator: padding gets attention 0 and label -100.

    The collator masks padding by position, not by token id, so a tokenizer whose pad
    token is its EOS token (common for hub models) still keeps the real EOS label; the
    labels come from `build_example` (prompt masked), so only the answer and EOS are learned.
    """
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(pad_token_id=pad_id)(examples)


# ----------------------------------------------------------------------------- model

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


def top_layers(count: int, num_layers: int) -> list[int] | None:
    """Indices of the top `count` decoder layers (None: all of them).

    Backpropagation stops at the lowest layer with an adapter, so adapting only the top
    layers skips the backward pass through the ones below: on CPU, the top half of
    SmolLM2's 30 layers trains at ~1.4x the tokens/s of all 30.
    """
    if not count or count >= num_layers:
        return None
    return list(range(num_layers - count, num_layers))


def build_lora_config(params: TrainParams, target_modules: list[str] | str,
                      num_layers: int = 0):
    from peft import LoraConfig

    return LoraConfig(r=params.lora_r, lora_alpha=params.lora_alpha,
                      lora_dropout=params.lora_dropout, target_modules=target_modules,
                      layers_to_transform=top_layers(params.lora_layers, num_layers),
                      bias="none", task_type="CAUSAL_LM")


def use_gradient_checkpointing(params: TrainParams) -> bool:
    """Gradient checkpointing trades compute for memory: worth it for a 7B model on a
    GPU, pure overhead for a tiny model on CPU (`auto` turns it on only with CUDA)."""
    if params.gradient_checkpointing == "auto":
        return torch.cuda.is_available()
    return params.gradient_checkpointing == "on"


def prepare_qlora_model(model, params: TrainParams, seed: int):
    """kbit preparation + LoRA adapters on a 4-bit model; returns the PeftModel."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    targets = resolve_target_modules(params.target_modules, model.config.model_type)
    missing = [] if targets == ALL_LINEAR else [
        t for t in targets if not any(name.rsplit(".", 1)[-1] == t
                                      for name, _ in model.named_modules())]
    if missing:
        raise ParamsError(f"train.target_modules: {', '.join(missing)} not found in this "
                          f"{model.config.model_type} model; allowed: auto, all-linear, or "
                          "names of its linear layers")
    with quiet_peft_deprecation():
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=use_gradient_checkpointing(params),
            gradient_checkpointing_kwargs={"use_reentrant": False})
        torch.manual_seed(seed)  # LoRA A matrices are initialised randomly
        layers = getattr(model.config, "num_hidden_layers", 0) or 0
        return get_peft_model(model, build_lora_config(params, targets, layers))


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, total) parameters, 4-bit weights counted as their unpacked size."""
    return model.get_nb_trainable_parameters()


# ----------------------------------------------------------------------------- train

def cpu_packed_4bit_layers(model) -> int:
    """How many 4-bit layers bitsandbytes has repacked for its CPU inference kernel.

    On CPUs with AVX512-BF16, a Linear4bit's first forward in eval mode without grad
    rewrites its weight into a layout for a fused inference kernel, in place and for
    good. Training through such a layer silently drops the gradient to its input, so
    training must start from a model that has not run an eval-mode forward. (The
    Trainer's evaluation loss runs in eval mode but with the model still in training
    state for autograd purposes; see `ValidationLossTrainer`.)
    """
    return sum(1 for module in model.modules()
               if getattr(getattr(getattr(module, "weight", None), "quant_state", None),
                          "packing_format_for_cpu", False))


@dataclass(frozen=True)
class TrainResult:
    losses: list[float]  # one per optimizer step, from the first step of the run
    epochs: int
    steps_per_epoch: int
    eval_losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    resumed_from_step: int = 0  # 0: started from scratch

    @property
    def final_loss(self) -> float:
        """Mean loss over the last epoch's steps (one step is too noisy)."""
        last = self.losses[-self.steps_per_epoch:]
        return sum(last) / len(last)


class TrainingDiverged(RuntimeError):
    """The loss went non-finite or exploded; the message names the last good checkpoint."""


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


class LengthGroupedBatchSampler(torch.utils.data.Sampler):
    """`length_grouped_batches` as a batch sampler whose order depends only on (seed, epoch).

    Epoch e replays the seeded generator through epochs 0..e-1, so a run resumed at any
    step sees exactly the batches an uninterrupted run would have seen.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(self.epoch):
            length_grouped_batches(self.lengths, self.batch_size, generator)
        return iter(length_grouped_batches(self.lengths, self.batch_size, generator))

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


def loss_problem(loss: float, first_loss: float | None, factor: float) -> str | None:
    """Why a step's loss means the run has diverged, or None when it is fine."""
    if not math.isfinite(loss):
        return f"the loss is {loss}"
    if first_loss is not None and first_loss > 0 and loss > factor * first_loss:
        return (f"the loss {loss:.4g} is over train.diverge_factor={factor:g} times the "
                f"first loss {first_loss:.4g}")
    return None


def last_checkpoint(checkpoint_dir: str | Path) -> Path | None:
    """The newest complete `checkpoint-N` folder (a killed save leaves an incomplete one)."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        return None
    complete = [p for p in checkpoint_dir.glob("checkpoint-*")
                if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
                and (p / "optimizer.pt").is_file() and (p / "scheduler.pt").is_file()]
    return max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)


RUN_RECORD = "run.json"
NOT_IN_FINGERPRINT = ("save_steps", "save_total_limit", "resume", "report_to", "checkpoint_dir")


def run_fingerprint(params: Params, ref: BaseRef, train_file: str | Path) -> dict:
    """What makes two runs the same run: data, base, and every param that shapes training."""
    digest = hashlib.sha256(Path(train_file).read_bytes()).hexdigest() if train_file else ""
    train = {k: v for k, v in asdict(params.train).items() if k not in NOT_IN_FINGERPRINT}
    return {"lr": params.lr, "seed": params.seed, "train": train, "data_sha256": digest,
            "base": {"model": ref.model, "revision": ref.revision}}


def checkpoint_to_resume(checkpoint_dir: str | Path, fingerprint: dict, resume: str) -> Path | None:
    """The checkpoint to continue from, or None after clearing checkpoints of another run.

    `resume: auto` continues only a run with the same fingerprint; anything else (new
    data, params or base, or `resume: never`) starts fresh, and stale checkpoints are
    removed so they cannot be mixed with the new run's.
    """
    checkpoint_dir = Path(checkpoint_dir)
    record = checkpoint_dir / RUN_RECORD
    same_run = record.is_file() and json.loads(record.read_text()) == fingerprint
    found = last_checkpoint(checkpoint_dir)
    if resume == "auto" and same_run and found is not None:
        return found
    for stale in checkpoint_dir.glob("checkpoint-*"):
        shutil.rmtree(stale)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    write_json(record, fingerprint)
    return None


def make_callbacks(*, live=None, progress: bool, diverge_factor: float):
    """The Trainer callbacks: dvclive logging, a progress bar, and the divergence guard."""
    from transformers import TrainerCallback

    class LiveLogger(TrainerCallback):
        """Every step's loss (and eval loss) into dvclive, keyed by the global step.

        A resumed run first replays the steps it restored from the checkpoint, so the
        plot always covers the whole run."""

        def _log(self, entry: dict) -> None:
            step = entry.get("step")
            for key in ("loss", "eval_loss"):
                if key in entry and step is not None:
                    live.step = step
                    live.log_metric(key, entry[key], plot=True)

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                for entry in state.log_history:
                    self._log(entry)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                self._log({**logs, "step": state.global_step})

    class Progress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="qlora",
                            disable=not (progress and state.is_world_process_zero),
                            file=sys.stdout)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.bar.set_postfix(epoch=f"{state.epoch:.2f}", loss=f"{logs['loss']:.3f}",
                                     refresh=False)
            self.bar.update(state.global_step - self.bar.n)

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()

    class LossGuard(TrainerCallback):
        """Stops on a non-finite or exploding loss, before that step is checkpointed."""

        def __init__(self):
            self.first_loss, self.problem = None, None

        def on_train_begin(self, args, state, control, **kwargs):
            restored = [e["loss"] for e in state.log_history if "loss" in e]
            self.first_loss = restored[0] if restored else None

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:
                return
            problem = loss_problem(logs["loss"], self.first_loss, diverge_factor)
            if problem:
                self.problem = (state.global_step, problem)
                control.should_training_stop = True
                control.should_save = False  # never checkpoint the bad weights
            elif self.first_loss is None:
                self.first_loss = logs["loss"]

    callbacks = [Progress(), LossGuard()]
    if live is not None:
        callbacks.insert(0, LiveLogger())
    return callbacks


def training_arguments(params: TrainParams, *, lr: float, seed: int, output_dir: str | Path,
                       has_validation: bool, report_to: list[str]):
    """TrainingArguments from `train.*`, matching the stage's training semantics."""
    from transformers import TrainingArguments

    precision = resolve_precision(params.precision)
    on_gpu = torch.cuda.is_available()
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=params.epochs,
        per_device_train_batch_size=params.batch_size,
        per_device_eval_batch_size=params.batch_size,
        gradient_accumulation_steps=params.grad_accum,
        learning_rate=lr,
        lr_scheduler_type="cosine",
        warmup_steps=params.warmup_ratio,  # a float < 1 is a ratio of the total steps
        weight_decay=0.0,
        max_grad_norm=1.0,
        optim="adamw_torch",
        seed=seed,
        bf16=precision == "bf16" and on_gpu,
        fp16=precision == "fp16" and on_gpu,
        activation_checkpointing=use_gradient_checkpointing(params),
        activation_checkpointing_kwargs={"use_reentrant": False},
        logging_steps=1,
        logging_nan_inf_filter=False,  # a NaN must reach the divergence guard, not be averaged away
        eval_strategy="epoch" if has_validation else "no",
        save_strategy="steps" if params.save_steps else "no",
        save_steps=params.save_steps or 500,
        save_total_limit=params.save_total_limit,
        report_to=report_to,
        disable_tqdm=True,  # the Progress callback draws one bar
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=not on_gpu,
        ddp_find_unused_parameters=False,
    )


def make_trainer(model, examples, *, args, pad_id: int, seed: int, eval_examples=None,
                 callbacks=()):
    """A transformers Trainer whose train batches come from `LengthGroupedBatchSampler`.

    Not TRL's SFTTrainer: on the same tokenized examples, batches and seed its loss (a fused
    LM head, per-token log-probs summed over the answer tokens) drifts from the model's own
    loss by 6.6e-5 relative after three steps (measured with the step-for-step test below),
    so `make repro` would stop reproducing the committed adapter and metrics; its prompt and
    completion preparation would also need a second definition of the prompt format
    (`wpqa/prompt.py` is the one). What TRL does the same, its collator, is used (`collate`).
    TRL and transformers have no seeded length-grouped batching that gives the same batches
    after a resume (`group_by_length` draws random megabatches), so the sampler stays, and
    `last_checkpoint` stays because `get_last_checkpoint` returns a checkpoint cut off while
    saving (no trainer_state.json).
    """
    from torch.utils.data import DataLoader
    from transformers import PrinterCallback, ProgressCallback, Trainer

    lengths = [len(e["input_ids"]) for e in examples]
    sampler = LengthGroupedBatchSampler(lengths, args.per_device_train_batch_size, seed)

    class SameBatchesTrainer(Trainer):
        def get_train_dataloader(self):
            loader = DataLoader(self.train_dataset, batch_sampler=sampler,
                                collate_fn=self.data_collator, num_workers=0)
            return self.accelerator.prepare(loader)

        def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
            # The validation loss runs without grad in eval mode, which on AVX512-BF16 CPUs
            # would repack the 4-bit weights for good (see cpu_packed_4bit_layers). The
            # `training` flag of a Linear4bit only gates that repacking (it has no
            # dropout), so it stays on while the loss is computed.
            linear4 = [m for m in model.modules() if type(m).__name__ == "Linear4bit"
                       and type(m).__module__.startswith("bitsandbytes")]
            for module in linear4:
                module.training = True
            try:
                return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
            finally:
                for module in linear4:
                    module.training = False

    from transformers import TrainerCallback

    class SamplerEpoch(TrainerCallback):
        """Sets the sampler's epoch also where a resumed run's skip wrapper hides it."""

        def on_epoch_begin(self, args, state, control, **kwargs):
            sampler.set_epoch(int(state.epoch or 0))

    trainer = SameBatchesTrainer(
        model=model, args=args, train_dataset=examples, eval_dataset=eval_examples or None,
        data_collator=lambda batch: collate(batch, pad_id),
        callbacks=[SamplerEpoch(), *callbacks])
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    return trainer


def train_adapter(model, examples: list[dict[str, list[int]]], *, lr: float,
                  params: TrainParams, seed: int, pad_id: int, checkpoint_dir: str | Path,
                  eval_examples: list[dict[str, list[int]]] | None = None,
                  resume_from: str | Path | None = None, live=None, progress: bool = True,
                  extra_callbacks: tuple = ()) -> TrainResult:
    """Train the trainable (LoRA) weights of `model` on `examples` with the Trainer.

    Raises TrainingDiverged (naming the last good checkpoint) when the loss goes
    non-finite or explodes.
    """
    if not examples:
        raise TrainDataError("no training examples fit train.max_length")
    if cpu_packed_4bit_layers(model):
        raise RuntimeError(
            "the 4-bit weights were repacked for bitsandbytes' CPU inference kernel by an "
            "eval-mode forward pass; that kernel has no backward, so LoRA layers below the "
            "top would get zero gradients. Load the model again and train before any "
            "eval-mode forward.")
    report_to = [n for n in params.report_targets() if n != "dvclive"]
    args = training_arguments(params, lr=lr, seed=seed, output_dir=checkpoint_dir,
                              has_validation=bool(eval_examples), report_to=report_to)
    callbacks = make_callbacks(live=live, progress=progress, diverge_factor=params.diverge_factor)
    trainer = make_trainer(model, examples, args=args, pad_id=pad_id, seed=seed,
                           eval_examples=eval_examples, callbacks=[*callbacks, *extra_callbacks])
    resumed = 0
    if resume_from:  # read now: save_total_limit may delete that checkpoint during training
        resumed = json.loads((Path(resume_from) / "trainer_state.json").read_text())["global_step"]
    model.train()  # before any forward: see cpu_packed_4bit_layers
    with quiet_peft_deprecation():
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    guard = next(c for c in trainer.callback_handler.callbacks if type(c).__name__ == "LossGuard")
    if guard.problem:
        step, problem = guard.problem
        good = last_checkpoint(checkpoint_dir)
        raise TrainingDiverged(
            f"training stopped at step {step}: {problem}. Last good checkpoint: "
            f"{good if good else 'none (no checkpoint was saved before this step)'}. "
            "Lower lr (or raise train.warmup_ratio) and run again; with train.resume: auto "
            "and unchanged params the run would continue from that checkpoint.")
    model.eval()
    history = trainer.state.log_history
    losses = [e["loss"] for e in history if "loss" in e]
    evals = [(e["step"], e["eval_loss"]) for e in history if "eval_loss" in e]
    steps_per_epoch = math.ceil(math.ceil(len(examples) / params.batch_size)
                                / (params.grad_accum * max(args.world_size, 1)))
    return TrainResult(losses=losses, epochs=params.epochs, steps_per_epoch=steps_per_epoch,
                       eval_losses=evals, resumed_from_step=resumed)


def train_metrics(result: TrainResult, *, lr: float, examples: int, too_long: int,
                  trainable_params: int, total_params: int,
                  validation: int = 0) -> dict[str, float | int]:
    """Flat metric keys for metrics.json (`lr` included so experiments show it)."""
    metrics = {
        "lr": lr,
        "epochs": result.epochs,
        "steps": len(result.losses),
        "first_loss": round(result.losses[0], 4),
        "final_loss": round(result.final_loss, 4),
        "examples": examples,
        "skipped_too_long": too_long,
        "trainable_params": trainable_params,
        "total_params": total_params,
        "resumed_from_step": result.resumed_from_step,
    }
    if validation:
        metrics["validation_examples"] = validation
    if result.eval_losses:
        metrics["final_eval_loss"] = round(result.eval_losses[-1][1], 4)
    return metrics


# ------------------------------------------------------------------------------ main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", required=True, help="data/splits/train.jsonl")
    parser.add_argument("--base", required=True, help="models/base")
    parser.add_argument("--out", required=True, help="models/adapter")
    parser.add_argument("--metrics", required=True, help="reports/train")
    parser.add_argument("--checkpoints", default=None,
                        help="checkpoint folder, kept across runs (default: train.checkpoint_dir)")
    return parser.parse_args(argv)


@dataclass
class TrainInputs:
    """What the stage trains on: params, the base, its tokenizer and the encoded pairs."""
    params: Params
    ref: BaseRef
    tokenizer: object
    examples: list[dict[str, list[int]]]
    val_examples: list[dict[str, list[int]]]
    too_long: list[str]


def load_inputs(args: argparse.Namespace) -> TrainInputs:
    """Read params, pairs and the base tokenizer; encode the training and held-out pairs.

    Raises ParamsError, TrainDataError or BaseModelError, which main reports as exit 2.
    """
    params = load_params(args.params)
    pairs = load_pairs(args.train)
    ref = resolve_base(args.base)
    tokenizer = load_tokenizer(ref)
    train_pairs, val_pairs = split_validation(
        pairs, params.train.val_count(len(pairs)), params.seed)
    examples, too_long = encode_pairs(tokenizer, train_pairs, params.train.max_length)
    val_examples, _ = encode_pairs(tokenizer, val_pairs, params.train.max_length)
    if not examples:
        raise TrainDataError(f"none of the {len(pairs)} pairs fits train.max_length="
                             f"{params.train.max_length} tokens; raise it")
    return TrainInputs(params, ref, tokenizer, examples, val_examples, too_long)


def describe_run(inputs: TrainInputs, model) -> list[str]:
    """The lines the stage prints before training: skipped pairs, then the run."""
    params = inputs.params
    lines = []
    if inputs.too_long:
        lines.append(f"train: skipped {len(inputs.too_long)} pairs longer than "
                     f"train.max_length={params.train.max_length} tokens "
                     f"(e.g. {inputs.too_long[0]})")
    trainable, total = parameter_counts(model)
    lines.append(f"train: {model.config.model_type} base {inputs.ref.model} (revision "
                 f"{inputs.ref.revision}); {len(inputs.examples)} examples, "
                 f"{len(inputs.val_examples)} held out for eval loss; {trainable:,} trainable "
                 f"of {total:,} parameters ({100 * trainable / total:.3f}%), lr "
                 f"{params.lr:g}, {params.train.epochs} epochs")
    return lines


def choose_resume(args: argparse.Namespace, inputs: TrainInputs, main_process: bool) -> Path | None:
    """The checkpoint this run continues from; the main process decides, the others follow."""
    resume_from = None
    if main_process:
        fingerprint = run_fingerprint(inputs.params, inputs.ref, args.train)
        resume_from = checkpoint_to_resume(args.checkpoints, fingerprint,
                                           inputs.params.train.resume)
    return broadcast_choice(resume_from)


def finish_run(args: argparse.Namespace, inputs: TrainInputs, model, result: TrainResult,
               live, seconds: float) -> str:
    """Record the summary metrics, save the adapter and say what the run did."""
    params = inputs.params
    trainable, total = parameter_counts(model)
    live.summary.update(train_metrics(
        result, lr=params.lr, examples=len(inputs.examples), too_long=len(inputs.too_long),
        trainable_params=trainable, total_params=total, validation=len(inputs.val_examples)))
    live.end()
    model.save_pretrained(args.out)
    inputs.tokenizer.save_pretrained(args.out)
    normalize_saved_configs(args.out)
    return (f"train: {len(result.losses)} steps ({len(result.losses) - result.resumed_from_step}"
            f" in this run) in {seconds:.0f} s, loss {result.losses[0]:.3f} -> "
            f"{result.final_loss:.3f}; adapter saved to {args.out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        inputs = load_inputs(args)
        params = inputs.params
        model = prepare_qlora_model(load_base_4bit(inputs.ref, params.train.precision),
                                    params.train, params.seed)
    except (ParamsError, TrainDataError, BaseModelError) as err:
        print(f"train: {err}", file=sys.stderr)
        return 2
    args.checkpoints = args.checkpoints or params.train.checkpoint_dir
    main_process = int(os.environ.get("RANK", "0")) == 0
    say = print if main_process else (lambda *a, **k: None)
    for line in describe_run(inputs, model):
        say(line)
    resume_from = choose_resume(args, inputs, main_process)
    if resume_from:
        say(f"train: resuming from {resume_from}")

    from dvclive import Live

    started = time.perf_counter()
    live = Live(dir=args.metrics, dvcyaml=None, save_dvc_exp=False) if main_process else None
    try:
        result = train_adapter(
            model, inputs.examples, lr=params.lr, params=params.train, seed=params.seed,
            pad_id=inputs.tokenizer.pad_token_id, checkpoint_dir=args.checkpoints,
            eval_examples=inputs.val_examples, resume_from=resume_from, live=live)
    except TrainingDiverged as err:
        print(f"train: {err}", file=sys.stderr)
        if live is not None:
            live.end()
        return 1
    if main_process:
        say(finish_run(args, inputs, model, result, live, time.perf_counter() - started))
    return 0


def broadcast_choice(value: Path | None) -> Path | None:
    """Under `accelerate launch`, every process resumes from what the main one chose."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return value
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    PartialState()  # joins the process group
    box = [str(value) if value else None]
    broadcast_object_list(box, from_process=0)
    return Path(box[0]) if box[0] else None


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
