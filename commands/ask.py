"""`wpqa ask "How do I …?"`: answer one question from base + adapter, streamed.

The question goes through `wpqa.prompt` (the tokenizer's chat template when it has one),
the model loads in 4-bit exactly as the eval stage loads it, the answer streams to the
terminal token by token, and then the pattern rules it passes and fails are listed.
`--compare` answers with the adapter switched off first (the base model), then with it on,
and shows the two answers' rule results side by side.

    wpqa ask "How do I install a plugin?" [--compare] [--base models/base]
             [--adapter models/adapter] [--max-new-tokens 200] [--params params.yaml]
"""
from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext

import torch

from wpqa.pattern import RULE_IDS, check_answer
from wpqa.models import BaseModelError, resolve_base
from wpqa.prompt import encode_prompt


def stream_answer(model, tokenizer, question: str, max_new_tokens: int, out=sys.stdout,
                  repetition_penalty: float = 1.0, no_repeat_ngram: int = 0) -> str:
    """Greedy answer to one question, written to `out` as it is generated."""
    from transformers import TextStreamer

    class Streamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False):
            out.write(text + ("\n" if stream_end else ""))
            out.flush()

    device = next(model.parameters()).device
    ids = torch.tensor([encode_prompt(tokenizer, question)], device=device)
    with torch.inference_mode():
        output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                max_new_tokens=max_new_tokens, do_sample=False,
                                repetition_penalty=repetition_penalty,
                                no_repeat_ngram_size=no_repeat_ngram,
                                eos_token_id=tokenizer.eos_token_id,
                                pad_token_id=tokenizer.pad_token_id,
                                streamer=Streamer(tokenizer, skip_prompt=True,
                                                  skip_special_tokens=True))
    row = output[0, ids.shape[1]:].tolist()
    if tokenizer.eos_token_id in row:
        row = row[:row.index(tokenizer.eos_token_id)]
    return tokenizer.decode(row, skip_special_tokens=True).strip()


def rule_results(answer: str, bounds) -> dict[str, str]:
    """rule id -> "pass" or the reason it failed (kind is inferred from the intro)."""
    failed = {f.rule: f.reason for f in check_answer(answer, None, bounds)}
    return {rule: failed.get(rule, "pass") for rule in RULE_IDS}


def format_rules(results: dict[str, dict[str, str]]) -> str:
    """A table: one row per rule, one column per model."""
    names = list(results)
    width = max(len(r) for r in RULE_IDS)
    lines = [f"{'rule':<{width}}  " + "  ".join(f"{n:<28}" for n in names).rstrip()]
    for rule in RULE_IDS:
        cells = [results[n][rule] for n in names]
        lines.append(f"{rule:<{width}}  " + "  ".join(
            f"{('ok' if c == 'pass' else 'FAIL: ' + c)[:28]:<28}" for c in cells).rstrip())
    conform = [all(v == "pass" for v in results[n].values()) for n in names]
    lines.append(f"{'conforms':<{width}}  " + "  ".join(
        f"{'yes' if c else 'no':<28}" for c in conform).rstrip())
    return "\n".join(lines)


def ask_command(argv: list[str], out=sys.stdout) -> int:
    parser = argparse.ArgumentParser(
        prog="wpqa ask", description=__doc__.splitlines()[0],
        epilog="exit status: 0 answered; 2 bad params, a missing base or adapter, or wrong "
        "arguments.")
    parser.add_argument("question")
    parser.add_argument("--compare", action="store_true", help="also answer with the base model")
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--adapter", default="models/adapter")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="default: the eval stage's limit (eval.max_new_tokens, else its preset's)")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    from wpqa.models import load_tuned
    from wpqa.models import load_base_4bit, load_tokenizer
    from wpqa.params import ParamsError, load_params

    try:
        params = load_params(args.params)
        ref = resolve_base(args.base)
        tokenizer = load_tokenizer(ref)
        model = load_tuned(load_base_4bit(ref), args.adapter)
    except (ParamsError, BaseModelError) as err:
        print(f"wpqa ask: {err}", file=sys.stderr)
        return 2
    max_new = args.max_new_tokens or params.eval.resolved_decoding().max_new_tokens
    results = {}
    for name in (("base", "tuned") if args.compare else ("tuned",)):
        if args.compare:
            out.write(f"--- {name} ---\n")
        with model.disable_adapter() if name == "base" else nullcontext():
            answer = stream_answer(model, tokenizer, args.question, max_new, out,
                                   params.eval.repetition_penalty, params.eval.no_repeat_ngram)
        results[name] = rule_results(answer, params.pattern)
    out.write("\n" + format_rules(results) + "\n")
    return 0
