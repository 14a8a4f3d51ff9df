"""`wpqa export --merged DIR`: the adapter merged into a full-precision copy of the base.

The merge never touches the 4-bit weights the adapter was trained against: the base is
loaded again from where the base stage recorded it (the converted SmolLM2 or tiny
model's folder, a local path or the pinned hub revision), the adapter is applied, and its
low-rank update is folded into the weights. `--dtype auto` (the default) merges in the
dtype the base is stored in: fp32 for the converted SmolLM2 and the tiny model, the
checkpoint's own dtype (usually bf16) for a hub model. bf16 rounds away part of a small
LoRA update: a bf16 merge of the earlier tiny default's adapter changed the greedy answer
to 1 of 3 prompts; on the SmolLM2 default adapter the fp32 merge left the first-token
logits unchanged (max difference 0.0) where bf16 moved them by up to 0.47. Before merging, the unmerged model answers a few
prompts; the merged model must give the same greedy tokens, and the largest difference
in next-token logits is reported, so a wrong merge cannot pass unnoticed.

    wpqa export --merged models/merged [--base models/base] [--adapter models/adapter]
                [--test data/splits/test.jsonl] [--prompts 3] [--dtype auto|fp32|bf16|fp16]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from wpqa.models import NO_HUB_KERNELS, BaseModelError, BaseRef, resolve_base
from wpqa.prompt import encode_prompt
from wpqa.io import write_json

DEFAULT_QUESTIONS = ("How do I install a plugin?", "I can't log in to my dashboard",
                     "How do I change the site title?")


def load_base_full(ref: BaseRef, dtype: torch.dtype = torch.bfloat16):
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(
            ref.model, revision=ref.revision, trust_remote_code=ref.trust_remote_code,
            dtype=dtype, device_map={"": "cuda:0" if torch.cuda.is_available() else "cpu"},
            **NO_HUB_KERNELS)
    except (OSError, ValueError) as err:
        raise BaseModelError(f"cannot load base model {ref.model!r}: {err}") from None


def greedy_outputs(model, tokenizer, questions: list[str], new_tokens: int):
    """Greedy continuations and the logits of the first new token, per question."""
    device = next(model.parameters()).device
    tokens, logits = [], []
    for question in questions:
        ids = torch.tensor([encode_prompt(tokenizer, question)], device=device)
        with torch.inference_mode():
            logits.append(model(input_ids=ids).logits[0, -1].float().cpu())
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                 max_new_tokens=new_tokens, do_sample=False,
                                 eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id)
        tokens.append(out[0, ids.shape[1]:].tolist())
    return tokens, logits


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def stored_dtype(ref: BaseRef) -> str:
    """The dtype the base checkpoint is stored in, as `fp32`/`bf16`/`fp16` (fp32 if unsaid)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(ref.model, revision=ref.revision,
                                            trust_remote_code=ref.trust_remote_code)
    except (OSError, ValueError) as err:
        raise BaseModelError(f"cannot read the config of {ref.model!r}: {err}") from None
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    name = str(dtype).replace("torch.", "")
    return {"bfloat16": "bf16", "float16": "fp16"}.get(name, "fp32")


def merge_and_verify(ref: BaseRef, adapter_dir: str | Path, out_dir: str | Path,
                     questions: list[str], new_tokens: int = 24, dtype: str = "auto") -> dict:
    """Merge the adapter into the base weights in `dtype`, save to `out_dir`, check the
    greedy outputs agree with base + adapter unmerged."""
    from peft import PeftModel

    from wpqa.models import load_tokenizer, quiet_peft_deprecation

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise BaseModelError(f"{adapter_dir}: no adapter_config.json; run the train stage first")
    tokenizer = load_tokenizer(ref)
    dtype = stored_dtype(ref) if dtype == "auto" else dtype
    with quiet_peft_deprecation():
        model = PeftModel.from_pretrained(load_base_full(ref, DTYPES[dtype]), adapter_dir)
    model.eval()
    before_tokens, before_logits = greedy_outputs(model, tokenizer, questions, new_tokens)
    merged = model.merge_and_unload()
    after_tokens, after_logits = greedy_outputs(merged, tokenizer, questions, new_tokens)
    agree = [a == b for a, b in zip(before_tokens, after_tokens)]
    max_diff = max(float((a - b).abs().max()) for a, b in zip(before_logits, after_logits))
    report = {"prompts": len(questions), "greedy_agree": sum(agree),
              "max_first_token_logit_diff": round(max_diff, 4), "dtype": dtype,
              "base": ref.model, "revision": ref.revision, "adapter": str(adapter_dir)}
    if not all(agree):
        raise BaseModelError(f"the merged model's greedy answers differ from base + adapter on "
                             f"{agree.count(False)} of {len(questions)} prompts "
                             f"(max first-token logit difference {max_diff:.4f}); not saved")
    out_dir = Path(out_dir)
    merged.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    write_json(out_dir / "merge_report.json", report)
    return report


def export_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="wpqa export", description=__doc__.splitlines()[0],
        epilog="exit status: 0 merged and the greedy answers agree; 1 the base or adapter cannot "
        "be loaded, or the merged model answers differently; 2 wrong arguments.")
    parser.add_argument("--merged", required=True, metavar="DIR", help="where to save the merged model")
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--adapter", default="models/adapter")
    parser.add_argument("--test", default="data/splits/test.jsonl",
                        help="questions to check the merge on (default questions when absent)")
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--dtype", choices=["auto", *DTYPES], default="auto",
                        help="merge precision; auto: the dtype the base is stored in")
    args = parser.parse_args(argv)
    questions = list(DEFAULT_QUESTIONS)
    if Path(args.test).is_file():
        from wpqa.records import load_pairs
        questions = [p.question for p in sorted(load_pairs(args.test), key=lambda p: p.id)]
    questions = questions[:max(args.prompts, 1)]
    try:
        report = merge_and_verify(resolve_base(args.base), args.adapter, args.merged, questions,
                                  dtype=args.dtype)
    except BaseModelError as err:
        print(f"wpqa export: {err}", file=sys.stderr)
        return 1
    print(f"wpqa export: merged into {report['dtype']} weights of {report['base']}, saved to {args.merged}; "
          f"greedy answers agree on {report['greedy_agree']}/{report['prompts']} prompts, "
          f"max first-token logit difference {report['max_first_token_logit_diff']}")
    return 0
