"""Greedy generation speed: the 4-bit NF4 base vs the fp32 base, tokens per second.

Both generate exactly `--new-tokens` tokens per prompt (EOS ignored, so the count does
not depend on the weights) for `--batch` prompts at once; batch 1 is the chat case,
batch 16 is how the eval stage runs. The two variants alternate call by call for
`--rounds` rounds and the median rate of each is reported, so a burst of load from
another process hits both alike.

    python benchmarks/bench_eval.py [--base models/base] [--new-tokens 64] [--batch 1 16]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import median

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import base_ref, load_base_fp32, scratch_dir  # noqa: E402
from train.qlora import load_base_4bit  # noqa: E402
from wpqa.params import load_params  # noqa: E402


def generation_rate(model, ids: torch.Tensor, new_tokens: int) -> float:
    """Generated tokens per second for one greedy generate() call of exactly new_tokens."""
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                              do_sample=False, eos_token_id=None, pad_token_id=0)
    with torch.inference_mode():
        started = time.perf_counter()
        model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                       generation_config=config)
    return ids.shape[0] * new_tokens / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--base", help="a base stage output folder (default: random tiny base)")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt-len", type=int, default=24)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    rates: dict[tuple[str, int], float] = {}
    with scratch_dir() as workdir:
        ref = base_ref(args.base, params, workdir)
        models = {"4-bit": load_base_4bit(ref).eval(), "fp32": load_base_fp32(ref).eval()}
        vocab = models["fp32"].config.vocab_size
        generator = torch.Generator().manual_seed(params.seed)
        for batch in args.batch:
            ids = torch.randint(3, vocab, (batch, args.prompt_len), generator=generator)
            samples: dict[str, list[float]] = {name: [] for name in models}
            for model in models.values():  # warmup (and bitsandbytes' CPU repacking)
                generation_rate(model, ids, 4)
            for _ in range(args.rounds):
                for name, model in models.items():
                    samples[name].append(generation_rate(model, ids, args.new_tokens))
            for name, values in samples.items():
                rates[name, batch] = median(values)
    print(f"greedy generation, {args.new_tokens} new tokens after a {args.prompt_len}-token "
          f"prompt, median of {args.rounds}, {torch.get_num_threads()} threads, base {ref.model}")
    for batch in args.batch:
        four, full = rates["4-bit", batch], rates["fp32", batch]
        print(f"  batch {batch:3d}: 4-bit {four:8.0f} tokens/s   fp32 {full:8.0f} tokens/s   "
              f"4-bit / fp32 speed: {four / full:.2f}x")


if __name__ == "__main__":
    main()
