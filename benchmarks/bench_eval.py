"""Eval generation speed: batched vs one-by-one answers, and the 4-bit vs the fp32 base.

Batching: the eval stage's own `generate_answers` answers the same questions with
`eval.batch_size` questions per generate() call and with one question per call
(greedy, at most `--new-tokens`), alternating for `--rounds` rounds; the ratio of the
median wall times is the speed-up, and the answers must be identical. With `--base
models/base --adapter models/adapter --test data/splits/test.jsonl` it times the
pipeline's tuned model on the real test questions (answers stop at EOS, so a batch runs
as long as its longest answer); without, a random tiny model of the `base.*` size on
made-up questions (no EOS: every answer runs to the limit).

4-bit vs fp32:

Both generate exactly `--new-tokens` tokens per prompt (EOS ignored, so the count does
not depend on the weights) for `--batch` prompts at once; batch 1 is the chat case,
batch 16 is how the eval stage runs. The two variants alternate call by call for
`--rounds` rounds and the median rate of each is reported, so a burst of load from
another process hits both alike.

    python benchmarks/bench_eval.py [--base models/base --adapter models/adapter
        --test data/splits/test.jsonl] [--questions 32] [--new-tokens 64] [--batch 1 16]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from statistics import median

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import base_ref, load_base_fp32, scratch_dir  # noqa: E402
from eval.evaluate import generate_answers
from wpqa.models import load_tuned
from train.base import build_model, train_tokenizer
from wpqa.models import BaseRef, resolve_base
from wpqa.models import load_base_4bit, load_tokenizer
from wpqa.records import load_pairs
from wpqa.params import Params, load_params  # noqa: E402

OBJECTS = ["plugin", "theme", "widget", "menu", "page", "post", "user", "comment"]
VERBS = ["install", "update", "delete", "create", "rename", "export", "restore", "hide"]


def made_up_questions(n: int) -> list[str]:
    questions = [f"How do I {verb} a {obj} on my site?" for verb in VERBS for obj in OBJECTS]
    questions += [f"The {obj} is broken after I {verb} it" for verb in VERBS for obj in OBJECTS]
    return questions[:n]


def random_tokenized_base(params: Params, workdir: str):
    """A random Llama of the base.* size with a BPE tokenizer trained on the questions."""
    torch.manual_seed(params.seed)
    tokenizer = train_tokenizer(made_up_questions(128) * 4, params.base.vocab_size)
    model = build_model(params.base, tokenizer)
    path = Path(workdir) / "random-tokenized-base"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return BaseRef(model=str(path), revision=None)


def batching_speedup(args, params: Params, workdir: str) -> None:
    decoding = replace(params.eval.resolved_decoding(), max_new_tokens=args.new_tokens)
    if args.base:
        ref = resolve_base(args.base)
        model = load_base_4bit(ref)
        if args.adapter:
            model = load_tuned(model, args.adapter)
        what = f"base {ref.model}" + (f" + adapter {args.adapter}" if args.adapter else "")
    else:
        ref = random_tokenized_base(params, workdir)
        model, what = load_base_4bit(ref), "random tiny base (no EOS: every answer runs to the limit)"
    model.eval()
    tokenizer = load_tokenizer(ref)
    if args.test:
        questions = [p.question for p in sorted(load_pairs(args.test), key=lambda p: p.id)]
        questions = questions[:args.questions]
    else:
        questions = made_up_questions(args.questions)
    batch = params.eval.batch_size
    times: dict[int, list[float]] = {batch: [], 1: []}
    answers: dict[int, list] = {}
    generate_answers(model, tokenizer, questions[:2], decoding=decoding, batch_size=2,
                     progress=False)  # warmup
    for _ in range(args.batching_rounds):
        for size in (batch, 1):
            started = time.perf_counter()
            answers[size] = generate_answers(model, tokenizer, questions, decoding=decoding,
                                             batch_size=size, progress=False)
            times[size].append(time.perf_counter() - started)
    batched, single = median(times[batch]), median(times[1])
    same = sum(a == b for a, b in zip(answers[batch], answers[1]))
    stopped = sum(a.stopped for a in answers[1])
    print(f"eval generation, {len(questions)} questions, greedy, at most "
          f"{decoding.max_new_tokens} new tokens, {what}, median of {args.batching_rounds}, "
          f"{torch.get_num_threads()} threads")
    print(f"  batch {batch}: {batched:7.2f} s   one by one: {single:7.2f} s   "
          f"speed-up: {single / batched:.1f}x   identical answers: {same}/{len(questions)}   "
          f"stopped on EOS: {stopped}/{len(questions)}")


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
    parser.add_argument("--adapter", help="an adapter folder: batching is timed on the tuned model")
    parser.add_argument("--test", help="test split: batching is timed on its questions")
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--batching-rounds", type=int, default=3)
    parser.add_argument("--only-batching", action="store_true")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    rates: dict[tuple[str, int], float] = {}
    with scratch_dir() as workdir:
        batching_speedup(args, params, workdir)
        if args.only_batching:
            return
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
