"""Shared set-up for the benchmarks: a base model to time, without training one.

With `--base models/base` the benchmarks time the real base the pipeline built; without
it they build a randomly initialised model of the `base.*` size from params.yaml in a
temporary folder (timing does not depend on the weights' values).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from wpqa.models import BaseRef, resolve_base
from wpqa.params import Params


def base_ref(base_dir: str | None, params: Params, workdir: str) -> BaseRef:
    """The base to benchmark: the given base stage output, or a random tiny Llama."""
    if base_dir:
        return resolve_base(base_dir)
    from transformers import LlamaConfig, LlamaForCausalLM

    b = params.base
    torch.manual_seed(params.seed)
    config = LlamaConfig(vocab_size=b.vocab_size, hidden_size=b.hidden_size,
                         intermediate_size=b.intermediate_size, num_hidden_layers=b.layers,
                         num_attention_heads=b.heads, num_key_value_heads=b.heads,
                         max_position_embeddings=b.context_length, tie_word_embeddings=True,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    path = Path(workdir) / "random-base"
    LlamaForCausalLM(config).save_pretrained(path)
    return BaseRef(model=str(path), revision=None)


def load_base_fp32(ref: BaseRef):
    """The same base, unquantized, in fp32 on CPU."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(ref.model, revision=ref.revision,
                                                dtype=torch.float32)


def scratch_dir():
    return tempfile.TemporaryDirectory(prefix="wpqa-bench-")
