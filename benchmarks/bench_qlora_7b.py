"""QLoRA training speed of a 7B-shaped model: tokens/s, peak memory, share of the bf16 bound.

Builds a Llama-2-7B-shaped model (hidden 4096, 32 layers, MLP 11008, vocab 32000) from its
config with random weights (nothing is downloaded; speed does not depend on the values),
saves it, and loads it through the train stage's own `load_base_4bit` and
`prepare_qlora_model` (4-bit NF4, LoRA r=16 on q/k/v/o/gate/up/down, gradient
checkpointing on CUDA), then times optimizer steps at sequence lengths 1024 and 2048.

The bound: a training step costs about 6 x N FLOPs per token for N parameters (the
convention behind the published anchors: Hugging Face QLoRA ~2,400 tokens/s on an A100
for Llama-2-7B, ~31% of 312 TFLOPS; Unsloth ~3,700, ~48%). The share printed is
tokens/s x 6N / the GPU's dense bf16 peak.

    python benchmarks/bench_qlora_7b.py                 # 7B shape; needs a CUDA GPU
    python benchmarks/bench_qlora_7b.py --size tiny     # same code at toy size, CPU is fine
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wpqa.models import BaseRef
from train.qlora import prepare_qlora_model
from wpqa.models import load_base_4bit
from wpqa.params import TrainParams  # noqa: E402

SHAPES = {
    "7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
               num_attention_heads=32, num_key_value_heads=32, vocab_size=32000),
    "tiny": dict(hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=4, vocab_size=32000),
}
# Dense bf16 tensor-core peak, FLOP/s, by a substring of torch.cuda.get_device_name().
BF16_PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12,
             "L4": 121e12, "4090": 165e12, "3090": 71e12}


def build_random_model(size: str, out: Path, max_len: int) -> int:
    """Save a random-weight Llama of the given shape in bf16; returns its parameter count."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**SHAPES[size], max_position_embeddings=max_len, bos_token_id=1,
                         eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    count = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return count


def bf16_peak() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in BF16_PEAK.items() if key in name), None)


def peak_memory_gib() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


def time_steps(model, seq_len: int, batch: int, steps: int, vocab: int) -> float:
    """Median seconds per optimizer step on random tokens (after 2 warmup steps)."""
    device = next(p.device for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(3, vocab, (batch, seq_len), device=device)
    times = []
    model.train()
    for i in range(steps + 2):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        started = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SHAPES), default="7b")
    parser.add_argument("--seq-lens", default="1024,2048")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    seq_lens = [int(s) for s in args.seq_lens.split(",")]
    lora = TrainParams(epochs=1, batch_size=args.batch, max_length=max(seq_lens), lora_r=16,
                       lora_alpha=32, lora_dropout=0.0, target_modules="auto", warmup_ratio=0.0)
    with tempfile.TemporaryDirectory(prefix="wpqa-bench-7b-") as tmp:
        n_params = build_random_model(args.size, Path(tmp), max(seq_lens))
        model = prepare_qlora_model(load_base_4bit(BaseRef(model=tmp, revision=None)), lora, 0)
    trainable, _ = model.get_nb_trainable_parameters()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    peak = bf16_peak()
    print(f"QLoRA {args.size} ({n_params / 1e9:.2f}B params, {trainable:,} trainable), "
          f"batch {args.batch}, {args.steps} timed steps, {device}, "
          f"{torch.get_num_threads()} CPU threads")
    rates = {}
    for seq_len in seq_lens:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        seconds = time_steps(model, seq_len, args.batch, args.steps, SHAPES[args.size]["vocab_size"])
        rates[seq_len] = args.batch * seq_len / seconds
        share = (f"{rates[seq_len] * 6 * n_params / peak:.1%} of the bf16 bound"
                 if peak else "no GPU bf16 bound on this device")
        print(f"  seq {seq_len:5d}: {rates[seq_len]:9.0f} tokens/s, {seconds:.3f} s/step, "
              f"peak memory {peak_memory_gib():.2f} GiB, {share}")
    if len(seq_lens) > 1:
        print(f"  tokens/s at seq {seq_lens[-1]} vs {seq_lens[0]}: "
              f"{rates[seq_lens[-1]] / rates[seq_lens[0]]:.2f}x")


if __name__ == "__main__":
    main()
