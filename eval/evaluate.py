"""The `eval` stage: do the base and the tuned model answer in the pattern?

Both models answer every test question (or the first `eval.limit`) greedily, from the
same prompt the tuned model was trained on. "base" is the 4-bit base model with the
adapter switched off, "tuned" the same 4-bit model with the adapter on, so the only
difference between the two is what fine-tuning learned. Every answer is scored by
`curation.pattern.check_answer`, the same rules that gate the dataset.

Writes `predictions.jsonl` (Prediction records sorted by model then id) and
`metrics.json` (strict and per-rule pass rates for both models) into the out folder.

    python -m eval.evaluate --params params.yaml --test data/splits/test.jsonl \
        --base models/base --adapter models/adapter --out reports/eval
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from curation.pattern import RULE_IDS, check_answer
from train.base import BaseModelError, resolve_base
from train.prompt import encode_prompt
from train.qlora import (TrainDataError, load_base_4bit, load_pairs, load_tokenizer,
                         quiet_peft_deprecation)
from wpqa.io import write_json, write_jsonl
from wpqa.params import ParamsError, PatternParams, load_params
from wpqa.records import Prediction, QAPair, to_row

MODELS = ("base", "tuned")
GENERATE_BATCH = 16  # questions per generate() call; left-padded


def load_tuned(base_model, adapter_dir: str | Path):
    """The 4-bit base with the trained LoRA adapter attached (switchable off)."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise BaseModelError(f"{adapter_dir}: no adapter_config.json; run the train stage first")
    with quiet_peft_deprecation():
        model = PeftModel.from_pretrained(base_model, adapter_dir)
    model.eval()
    return model


def generate_answers(model, tokenizer, questions: list[str], *, max_new_tokens: int,
                     batch_size: int = GENERATE_BATCH, progress: bool = True,
                     desc: str = "generate") -> list[str]:
    """Greedy answers, one per question, in order; generation stops at EOS."""
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False,
                              eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)
    device = next(model.parameters()).device
    answers: list[str] = []
    for start in tqdm(range(0, len(questions), batch_size), desc=desc, disable=not progress,
                      file=sys.stdout):
        prompts = [encode_prompt(tokenizer, q) for q in questions[start:start + batch_size]]
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p
                                  for p in prompts], device=device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts],
                                 device=device)
        with torch.inference_mode():
            output = model.generate(input_ids=input_ids, attention_mask=attention,
                                    generation_config=config)
        for row in output[:, width:].tolist():
            if tokenizer.eos_token_id in row:
                row = row[:row.index(tokenizer.eos_token_id)]
            answers.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return answers


def score_answers(pairs: list[QAPair], answers: list[str], model_name: str,
                  bounds: PatternParams) -> list[Prediction]:
    """One Prediction per pair, with the rules its answer failed."""
    predictions = []
    for pair, answer in zip(pairs, answers, strict=True):
        failed = sorted({failure.rule for failure in check_answer(answer, pair.kind, bounds)})
        predictions.append(Prediction(id=pair.id, model=model_name, question=pair.question,
                                      kind=pair.kind, reference=pair.answer, answer=answer,
                                      conforms=not failed, failed_rules=failed))
    return predictions


def summarize(predictions: list[Prediction]) -> dict[str, float | int]:
    """Flat metrics: <model>_strict, <model>_rule_<id> pass rates, the gain, the count."""
    metrics: dict[str, float | int] = {}
    counts = set()
    for model_name in MODELS:
        rows = [p for p in predictions if p.model == model_name]
        counts.add(len(rows))
        n = max(len(rows), 1)
        metrics[f"{model_name}_strict"] = round(sum(p.conforms for p in rows) / n, 4)
        for rule in RULE_IDS:
            passed = sum(rule not in p.failed_rules for p in rows)
            metrics[f"{model_name}_rule_{rule}"] = round(passed / n, 4)
    if len(counts) != 1:
        raise ValueError(f"base and tuned answered different numbers of questions: {counts}")
    metrics["tuned_minus_base"] = round(metrics["tuned_strict"] - metrics["base_strict"], 4)
    metrics["n_questions"] = counts.pop()
    return metrics


def sort_predictions(predictions: list[Prediction]) -> list[Prediction]:
    return sorted(predictions, key=lambda p: (p.model, p.id))


def evaluate(model, tokenizer, pairs: list[QAPair], *, max_new_tokens: int,
             bounds: PatternParams, progress: bool = True) -> list[Prediction]:
    """Predictions of the base (adapter off) and tuned (adapter on) model, sorted."""
    questions = [pair.question for pair in pairs]
    with model.disable_adapter():
        base = generate_answers(model, tokenizer, questions, max_new_tokens=max_new_tokens,
                                progress=progress, desc="base answers")
    tuned = generate_answers(model, tokenizer, questions, max_new_tokens=max_new_tokens,
                             progress=progress, desc="tuned answers")
    return sort_predictions(score_answers(pairs, base, "base", bounds)
                            + score_answers(pairs, tuned, "tuned", bounds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--test", required=True, help="data/splits/test.jsonl")
    parser.add_argument("--base", required=True, help="models/base")
    parser.add_argument("--adapter", required=True, help="models/adapter")
    parser.add_argument("--out", required=True, help="reports/eval")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        pairs = sorted(load_pairs(args.test), key=lambda p: p.id)
        if params.eval.limit:
            pairs = pairs[:params.eval.limit]
        ref = resolve_base(args.base)
        tokenizer = load_tokenizer(ref)
        model = load_tuned(load_base_4bit(ref), args.adapter)
    except (ParamsError, TrainDataError, BaseModelError) as err:
        print(f"eval: {err}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    predictions = evaluate(model, tokenizer, pairs, max_new_tokens=params.eval.max_new_tokens,
                           bounds=params.pattern)
    metrics = summarize(predictions)
    out = Path(args.out)
    write_jsonl(out / "predictions.jsonl", (to_row(p) for p in predictions))
    write_json(out / "metrics.json", metrics)
    print(f"eval: {metrics['n_questions']} questions in {time.perf_counter() - started:.0f} s; "
          f"strict conformance base {metrics['base_strict']:.2f}, "
          f"tuned {metrics['tuned_strict']:.2f}; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
