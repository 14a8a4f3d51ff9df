"""Sweep train settings through the train and eval stages' own functions, in one process.

`dvc exp run` is the way to try one variant and keep it; on 2 cores each SmolLM2 run takes
most of an hour, so choosing the defaults (learning rate, epochs, max length, LoRA layers
and targets) needs a faster loop. This script trains one adapter per config on the train
split, exactly as the train stage does (4-bit base, LoRA, the same Trainer and batches),
then answers the test questions and the non-procedural ones greedily as the eval stage
does, and prints one row per config: strict and loose conformance, ROUGE-L, step recall,
the share of non-procedural questions forced into a list, and the wall time.

    python benchmarks/sweep_qlora.py --base models/base \
        --configs "epochs=1" "epochs=2,lr=1e-3" "epochs=2,lora_layers=0" --out sweep.json

A config is comma-separated `key=value` overrides of `train.*` (and `lr`) from params.yaml.
Runs on CPU or CUDA (a GPU makes a many-config sweep take minutes); record what a sweep
chose with a `dvc exp run` of the winner on the target machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from eval.evaluate import (generate_answers, has_numbered_list, load_non_procedural,
                           score_answers)
from train.qlora import encode_pairs, prepare_qlora_model, train_adapter
from wpqa.models import BaseModelError, load_base_4bit, load_tokenizer, resolve_base
from wpqa.params import ParamsError, load_params
from wpqa.records import TrainDataError, load_pairs


def parse_config(text: str, fields: set[str]) -> dict[str, str]:
    """`epochs=2,lr=1e-3` -> {"epochs": "2", "lr": "1e-3"}; unknown keys are an error."""
    overrides = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or (key not in fields and key != "lr"):
            raise ParamsError(f"config {text!r}: {part!r} is not key=value with a train.* key "
                              f"or lr (allowed: lr, {', '.join(sorted(fields))})")
        overrides[key] = value
    return overrides


def apply_config(train_params, lr: float, overrides: dict[str, str]):
    """(TrainParams, lr) with the overrides applied, each typed like the field it replaces."""
    changes = {}
    for key, value in overrides.items():
        if key == "lr":
            lr = float(value)
            continue
        current = getattr(train_params, key)
        changes[key] = type(current)(float(value) if isinstance(current, (int, float))
                                     and not isinstance(current, bool) else value)
    return dataclasses.replace(train_params, **changes), lr


def mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else float("nan")


def answer_both(model, tokenizer, test, non_procedural, params) -> dict[str, list[str]]:
    """Greedy answers to the test questions and to the non-procedural ones."""
    decoding = params.eval.resolved_decoding()
    answers = {}
    for key, questions in (("answers", [p.question for p in test]),
                           ("non_procedural", [q["question"] for q in non_procedural])):
        answers[key] = [a.text for a in generate_answers(
            model, tokenizer, questions, decoding=decoding, batch_size=params.eval.batch_size,
            progress=False)]
    return answers


def score_rows(answers: dict[str, list[str]], test, params) -> dict:
    """The eval stage's per-answer checks, averaged (raises ImportError without the eval extra)."""
    predictions = score_answers(test, answers["answers"], "m", params.pattern,
                                step_match_f1=params.eval.step_match_f1)
    return {
        "strict": mean([float(p.conforms) for p in predictions]),
        "loose": mean([float(bool(p.loose)) for p in predictions]),
        "rougeL": mean([p.scores["rougeL"] for p in predictions]),
        "step_recall": mean([p.scores["step_recall"] for p in predictions]),
        "forced_list": mean([float(has_numbered_list(a)) for a in answers["non_procedural"]]),
        "failed_rules": {rule: sum(rule in p.failed_rules for p in predictions)
                         for rule in sorted({r for p in predictions for r in p.failed_rules})},
    }


def answer_and_score(model, tokenizer, test, non_procedural, params) -> dict:
    answers = answer_both(model, tokenizer, test, non_procedural, params)
    try:
        return {**answers, **score_rows(answers, test, params)}
    except ImportError as err:  # no eval extra here: keep the answers, score them with --rescore
        print(f"sweep: answers kept unscored ({err})", flush=True)
        return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--train", default="data/splits/train.jsonl")
    parser.add_argument("--test", default="data/splits/test.jsonl")
    parser.add_argument("--non-procedural", default="eval/non_procedural.yaml")
    parser.add_argument("--configs", nargs="+", default=[""],
                        help='overrides per run, e.g. "epochs=2,lr=1e-3" ("" = params.yaml)')
    parser.add_argument("--with-base", action="store_true",
                        help="also score the base model (adapter off) once")
    parser.add_argument("--limit", type=int, default=0,
                        help="use only the first N train, test and non-procedural items (a smoke run)")
    parser.add_argument("--rescore", help="score the answers kept in this earlier --out file "
                        "(from a machine without the eval extra) instead of training")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        fields = {f.name for f in dataclasses.fields(params.train)}
        configs = [(text, parse_config(text, fields)) for text in args.configs]
        pairs = load_pairs(args.train)
        test = sorted(load_pairs(args.test), key=lambda p: p.id)
        non_procedural = load_non_procedural(args.non_procedural)
        ref = resolve_base(args.base)
    except (ParamsError, TrainDataError, BaseModelError) as err:
        print(f"sweep: {err}", file=sys.stderr)
        return 2
    if args.limit:
        pairs, test, non_procedural = (pairs[:args.limit], test[:args.limit],
                                       non_procedural[:args.limit])
    rows = []
    if args.rescore:
        for row in json.loads(Path(args.rescore).read_text(encoding="utf-8")):
            rows.append({**row, **score_rows(row, test, params)} if "answers" in row else row)
        return finish(rows, args.out)
    tokenizer = load_tokenizer(ref)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"sweep: {len(configs)} configs, {len(pairs)} train pairs, {len(test)} test "
          f"questions, {len(non_procedural)} non-procedural, on {device}", flush=True)
    if args.with_base:
        started = time.perf_counter()
        model = load_base_4bit(ref, params.train.precision)
        model.eval()
        row = {"config": "base (no adapter)",
               **answer_and_score(model, tokenizer, test, non_procedural, params)}
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items()
                          if k not in ("answers", "non_procedural")}), flush=True)
        del model
    for text, overrides in configs:
        train_params, lr = apply_config(params.train, params.lr, overrides)
        train_params = dataclasses.replace(train_params, save_steps=0, val_size=0,
                                           report_to="none", resume="never")
        started = time.perf_counter()
        examples, too_long = encode_pairs(tokenizer, pairs, train_params.max_length)
        model = prepare_qlora_model(load_base_4bit(ref, train_params.precision), train_params,
                                    params.seed)
        with tempfile.TemporaryDirectory() as scratch:
            result = train_adapter(model, examples, lr=lr, params=train_params, seed=params.seed,
                                   pad_id=tokenizer.pad_token_id, checkpoint_dir=scratch,
                                   progress=False)
        trained = time.perf_counter() - started
        row = {"config": text or "params.yaml", "lr": lr, "epochs": train_params.epochs,
               "examples": len(examples), "too_long": len(too_long),
               "final_loss": round(result.final_loss, 4),
               **answer_and_score(model, tokenizer, test, non_procedural, params),
               "train_seconds": round(trained, 1),
               "seconds": round(time.perf_counter() - started, 1)}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items()
                          if k not in ("answers", "non_procedural")}), flush=True)
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    return finish(rows, args.out)


def finish(rows: list[dict], out: str | None) -> int:
    print("\n| config | strict | loose | ROUGE-L | step recall | forced list | loss | s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in (r for r in rows if "strict" in r):
        print(f"| {r['config']} | {r['strict']:.2f} | {r['loose']:.2f} | {r['rougeL']:.2f} | "
              f"{r['step_recall']:.3f} | {r['forced_list']:.2f} | {r.get('final_loss', '')} | "
              f"{r.get('seconds', 0):.0f} |")
    if out:
        Path(out).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
