"""Time one QLoRA training step: 4-bit NF4 base vs the same LoRA on the fp32 base.

Both variants run the train stage's own code (the 4-bit path is `load_base_4bit` +
`prepare_qlora_model`, as in `train.qlora`) on the same random batch of
`train.batch_size` x `--seq-len` tokens, on this machine, alternating step by step;
the median step time of each is reported.

    python benchmarks/bench_train.py [--base models/base] [--steps 20] [--seq-len 128]
"""
from __future__ import annotations

import argparse
import sys
import time
from statistics import median
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import base_ref, load_base_fp32, scratch_dir  # noqa: E402
from train.qlora import build_lora_config, prepare_qlora_model, resolve_target_modules  # noqa: E402
from wpqa.models import load_base_4bit  # noqa: E402
from wpqa.params import load_params  # noqa: E402


def train_step(model, optimizer, batch: dict[str, torch.Tensor]) -> float:
    """One optimizer step (forward, backward, AdamW); returns its wall time in seconds."""
    started = time.perf_counter()
    model(**batch).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def lora_fp32(ref, params):
    from peft import get_peft_model

    model = load_base_fp32(ref)
    targets = resolve_target_modules(params.train.target_modules, model.config.model_type)
    torch.manual_seed(params.seed)
    return get_peft_model(model, build_lora_config(params.train, targets))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--base", help="a base stage output folder (default: random tiny base)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seq-len", type=int, default=128)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    with scratch_dir() as workdir:
        ref = base_ref(args.base, params, workdir)
        models = {"4-bit": prepare_qlora_model(load_base_4bit(ref), params.train, params.seed),
                  "fp32": lora_fp32(ref, params)}
        generator = torch.Generator().manual_seed(params.seed)
        vocab = next(iter(models.values())).config.vocab_size
        ids = torch.randint(3, vocab, (params.train.batch_size, args.seq_len),
                            generator=generator)
        batch = {"input_ids": ids, "labels": ids, "attention_mask": torch.ones_like(ids)}
        optimizers = {}
        for name, model in models.items():
            model.train()  # before any forward: an eval forward repacks CPU 4-bit weights
            optimizers[name] = torch.optim.AdamW(
                [p for p in model.parameters() if p.requires_grad], lr=1e-4)
            for _ in range(3):  # warmup
                train_step(model, optimizers[name], batch)
        # Alternate the variants step by step and keep the median, so a burst of load
        # from another process on the machine hits both alike and is not averaged in.
        times: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.steps):
            for name, model in models.items():
                times[name].append(train_step(model, optimizers[name], batch))
        results = {name: median(t) for name, t in times.items()}
    tokens = params.train.batch_size * args.seq_len
    print(f"QLoRA train step, batch {params.train.batch_size} x {args.seq_len} tokens, "
          f"{args.steps} steps, {torch.get_num_threads()} threads, base {ref.model}")
    for name, seconds in results.items():
        print(f"  {name:6s} {seconds * 1000:8.1f} ms/step  {tokens / seconds:9.0f} tokens/s")
    print(f"  4-bit / fp32 time per step: {results['4-bit'] / results['fp32']:.2f}x")


if __name__ == "__main__":
    main()
