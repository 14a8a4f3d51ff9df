"""The OpenAI fine-tuning path (the thesis's rounds 1-2): export, validate, submit, record.

`export` writes the train and validation splits as chat-format JSONL (an optional system
message, the question as the user turn, the curated answer as the assistant turn) and
checks them the way OpenAI's data-preparation guide does: every example a dict with a
`messages` list; every message with `role` and `content` and no other keys; roles
system/user/assistant (tool/function are rejected here: the dataset has none); no empty
content; an assistant message in every example; tokens per example, examples over the
model's context (they would be truncated), and the billed tokens and cost for the epochs
OpenAI would run. Any format error exits non-zero before a cent is spent.

`submit` uploads both files, creates the job with the hyperparameters from
`openai_ft.*` (0 = OpenAI's auto), polls the job and prints its events, and records the
job id, the fine-tuned model id and the training/validation loss of every step in
`reports/openai_ft/` (job.json, loss.tsv), which dvc.yaml declares as metrics and plots.
The fine-tuned model can then be evaluated like any OpenAI-compatible endpoint.

    wpqa openai-ft export [--train data/splits/train.jsonl] [--valid data/splits/test.jsonl]
                          [--out data/openai_ft] [--params params.yaml]
    wpqa openai-ft submit [--data data/openai_ft] [--out reports/openai_ft]
    python -m commands.openai_ft all ...   # both, as the DVC stage runs them
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from wpqa.io import write_json, write_jsonl
from wpqa.params import OpenAIFTParams, ParamsError, load_params

ROLES = ("system", "user", "assistant")
MESSAGE_KEYS = ("role", "content", "name", "weight")
# OpenAI's default epochs: 3, raised for small sets and lowered for huge ones so that
# the examples seen stay within these bounds.
TARGET_EPOCHS, MIN_EXAMPLES_SEEN, MAX_EXAMPLES_SEEN, MAX_DEFAULT_EPOCHS = 3, 100, 25_000, 25
TERMINAL = ("succeeded", "failed", "cancelled")


class OpenAIFTError(RuntimeError):
    """The data or the job failed; the message says what to fix."""


# ------------------------------------------------------------------------- export

def chat_example(question: str, answer: str, system_prompt: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages += [{"role": "user", "content": " ".join(question.split())},
                 {"role": "assistant", "content": answer.strip()}]
    return {"messages": messages}


def format_errors(examples: list[Any]) -> Counter:
    """Counts of OpenAI's chat-format errors, by snake_case reason (empty when clean)."""
    errors: Counter = Counter()
    for example in examples:
        if not isinstance(example, dict):
            errors["data_type"] += 1
            continue
        messages = example.get("messages")
        if not isinstance(messages, list) or not messages:
            errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                errors["message_missing_key"] += 1
                continue
            if any(key not in MESSAGE_KEYS for key in message):
                errors["message_unrecognized_key"] += 1
            if message["role"] not in ROLES:
                errors["unrecognized_role"] += 1
            content = message["content"]
            if not isinstance(content, str) or not content.strip():
                errors["missing_content"] += 1
        if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
            errors["example_missing_assistant_message"] += 1
    return errors


def make_token_counter() -> tuple[Callable[[str], int], str]:
    """(count, name): tiktoken's o200k_base when it is installed and has its encoding
    file, else an estimate of one token per 4 bytes of UTF-8 (OpenAI's rule of thumb),
    named as such in the report."""
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("o200k_base")
        return (lambda text: len(encoding.encode(text))), "tiktoken o200k_base"
    except Exception:  # not installed, or no network to fetch the encoding file
        return (lambda text: math.ceil(len(text.encode("utf-8")) / 4)), "estimate: 4 bytes per token"


def example_tokens(example: dict[str, Any], count: Callable[[str], int]) -> int:
    """Tokens of one chat example as OpenAI's guide counts them: 3 per message for the
    framing, the role and content, 1 more for a name, and 3 to prime the reply."""
    total = 3
    for message in example["messages"]:
        total += 3 + count(message["role"]) + count(message["content"])
        if "name" in message:
            total += 1 + count(message["name"])
    return total


def default_epochs(n_examples: int) -> int:
    """The epochs OpenAI runs when n_epochs is auto."""
    if n_examples * TARGET_EPOCHS < MIN_EXAMPLES_SEEN:
        return min(MAX_DEFAULT_EPOCHS, MIN_EXAMPLES_SEEN // max(n_examples, 1))
    if n_examples * TARGET_EPOCHS > MAX_EXAMPLES_SEEN:
        return max(1, MAX_EXAMPLES_SEEN // n_examples)
    return TARGET_EPOCHS


def analyze(examples: list[dict[str, Any]], params: OpenAIFTParams,
            count: Callable[[str], int]) -> dict[str, Any]:
    """Token statistics, over-limit examples, billed tokens and estimated cost."""
    tokens = sorted(example_tokens(e, count) for e in examples)
    limit = params.max_tokens_per_example
    epochs = params.epochs or default_epochs(len(examples))
    billed_per_epoch = sum(min(limit, t) for t in tokens)
    billed = billed_per_epoch * epochs
    return {
        "examples": len(examples),
        "tokens_min": tokens[0] if tokens else 0,
        "tokens_max": tokens[-1] if tokens else 0,
        "tokens_mean": round(sum(tokens) / len(tokens), 1) if tokens else 0,
        "tokens_p95": tokens[min(len(tokens) - 1, int(0.95 * len(tokens)))] if tokens else 0,
        "over_token_limit": sum(t > limit for t in tokens),
        "epochs": epochs,
        "billed_tokens": billed,
        "estimated_cost_usd": round(billed / 1e6 * params.price_per_million_tokens, 4),
    }


def export(train_pairs, valid_pairs, params: OpenAIFTParams, out_dir: str | Path) -> dict:
    """Write train.jsonl / valid.jsonl and report.json; raise OpenAIFTError on format errors."""
    out_dir = Path(out_dir)
    count, counter_name = make_token_counter()
    report: dict[str, Any] = {"model": params.model, "token_counter": counter_name}
    for name, pairs in (("train", train_pairs), ("valid", valid_pairs)):
        if not pairs:
            continue
        examples = [chat_example(p.question, p.answer, params.system_prompt) for p in pairs]
        errors = format_errors(examples)
        report[name] = {"format_errors": dict(sorted(errors.items())),
                        **analyze(examples, params, count)}
        write_jsonl(out_dir / f"{name}.jsonl", examples)
    write_json(out_dir / "report.json", report)
    bad = {n: report[n]["format_errors"] for n in ("train", "valid")
           if n in report and report[n]["format_errors"]}
    if bad:
        raise OpenAIFTError(f"format errors, nothing to submit: {bad}")
    return report


def validate_file(path: str | Path, params: OpenAIFTParams) -> dict[str, Any]:
    """The same checks on any chat JSONL file (a line that is not JSON is a data_type error)."""
    examples = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                examples.append(json.loads(line))
            except json.JSONDecodeError:
                examples.append(None)
    errors = format_errors(examples)
    count, _ = make_token_counter()
    clean = [e for e in examples if isinstance(e, dict) and not format_errors([e])]
    return {"format_errors": dict(sorted(errors.items())), **analyze(clean, params, count)}


# ------------------------------------------------------------------------- submit

def hyperparameters(params: OpenAIFTParams) -> dict[str, Any]:
    """The job's hyperparameters; 0 in params means OpenAI's auto."""
    return {"n_epochs": params.epochs or "auto", "batch_size": params.batch_size or "auto",
            "learning_rate_multiplier": params.learning_rate_multiplier or "auto"}


def submit(client, data_dir: str | Path, params: OpenAIFTParams, *, seed: int,
           sleep: Callable[[float], None] = time.sleep, out=sys.stdout,
           max_polls: int = 100_000) -> dict[str, Any]:
    """Upload, create the job, poll to the end; returns the record for job.json."""
    data_dir = Path(data_dir)
    file_ids = {}
    for name in ("train", "valid"):
        path = data_dir / f"{name}.jsonl"
        if path.is_file():
            with path.open("rb") as handle:
                file_ids[name] = client.files.create(file=handle, purpose="fine-tune").id
            out.write(f"uploaded {path} as {file_ids[name]}\n")
    if "train" not in file_ids:
        raise OpenAIFTError(f"{data_dir / 'train.jsonl'}: not found; run `wpqa openai-ft export`")
    job = client.fine_tuning.jobs.create(
        model=params.model, training_file=file_ids["train"],
        validation_file=file_ids.get("valid"), suffix=params.suffix or None, seed=seed,
        method={"type": "supervised",
                "supervised": {"hyperparameters": hyperparameters(params)}})
    out.write(f"created fine-tuning job {job.id} ({job.status})\n")
    seen: set[str] = set()
    steps: dict[int, dict[str, float]] = {}
    for _ in range(max_polls):
        job = client.fine_tuning.jobs.retrieve(job.id)
        events = list(client.fine_tuning.jobs.list_events(job.id, limit=100).data)
        for event in reversed(events):  # the API lists newest first
            if event.id in seen:
                continue
            seen.add(event.id)
            data = event.data or {}
            if event.type == "metrics" and "step" in data:
                steps[int(data["step"])] = {k: data[k] for k in ("train_loss", "valid_loss",
                                                                 "full_valid_loss") if data.get(k) is not None}
            else:
                out.write(f"[{job.id}] {event.message}\n")
        if job.status in TERMINAL:
            break
        sleep(params.poll_seconds)
    record = {
        "job_id": job.id, "status": job.status, "model": job.model,
        "fine_tuned_model": job.fine_tuned_model, "trained_tokens": job.trained_tokens,
        "training_file": file_ids["train"], "validation_file": file_ids.get("valid"),
        "hyperparameters": hyperparameters(params),
        "error": job.error.message if job.error and job.error.message else None,
        "steps": [{"step": s, **steps[s]} for s in sorted(steps)],
    }
    last = record["steps"][-1] if record["steps"] else {}
    record["final_train_loss"] = last.get("train_loss")
    record["final_valid_loss"] = last.get("valid_loss")
    return record


def write_record(record: dict[str, Any], out_dir: str | Path) -> None:
    """job.json (the record) and loss.tsv (one row per step, for `dvc plots`)."""
    out_dir = Path(out_dir)
    write_json(out_dir / "job.json", record)
    rows = ["step\ttrain_loss\tvalid_loss"] + [
        f"{s['step']}\t{s.get('train_loss', '')}\t{s.get('valid_loss', '')}" for s in record["steps"]]
    tmp = out_dir / "loss.tsv.tmp"
    tmp.write_text("\n".join(rows) + "\n", encoding="utf-8")
    tmp.replace(out_dir / "loss.tsv")


def make_client(params: OpenAIFTParams):
    from openai import OpenAI

    key = os.environ.get(params.api_key_env, "") if params.api_key_env else "none"
    if not key:
        raise OpenAIFTError(f"set the environment variable {params.api_key_env} to an API key "
                            "(openai_ft.api_key_env names it)")
    return OpenAI(base_url=params.base_url, api_key=key)


# ---------------------------------------------------------------------------- CLI

def openai_ft_command(argv: list[str], out=sys.stdout) -> int:
    parser = argparse.ArgumentParser(
        prog="wpqa openai-ft", description=__doc__.splitlines()[0],
        epilog="exit status: 0 done; 1 the file has format errors, or the job did not succeed; "
        "2 bad params, bad data, an API error, or wrong arguments.")
    parser.add_argument("action", choices=("export", "submit", "all", "validate"))
    parser.add_argument("file", nargs="?", help="validate: a chat JSONL file")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", default="data/splits/train.jsonl")
    parser.add_argument("--valid", default="data/splits/test.jsonl",
                        help="validation file (OpenAI reports its loss; it does not train on it); "
                             "'' for none")
    parser.add_argument("--data", default="data/openai_ft", help="where export writes the JSONL")
    parser.add_argument("--out", default="reports/openai_ft", help="where submit records the job")
    args = parser.parse_args(argv)
    from wpqa.records import TrainDataError, load_pairs

    try:
        params = load_params(args.params)
        ft = params.openai_ft
        if args.action == "validate":
            if not args.file:
                raise OpenAIFTError("validate needs a chat JSONL file")
            report = validate_file(args.file, ft)
            out.write(json.dumps(report, indent=2) + "\n")
            return 1 if report["format_errors"] else 0
        if args.action in ("export", "all"):
            train = load_pairs(args.train)
            valid = load_pairs(args.valid) if args.valid else []
            report = export(train, valid, ft, args.data)
            t = report["train"]
            out.write(f"openai-ft export: {t['examples']} train examples "
                      f"({report.get('valid', {}).get('examples', 0)} validation) in {args.data}; "
                      f"{t['tokens_mean']} tokens mean, {t['tokens_max']} max "
                      f"({report['token_counter']}), {t['over_token_limit']} over the limit; "
                      f"{t['epochs']} epochs bill ~{t['billed_tokens']:,} tokens, "
                      f"~${t['estimated_cost_usd']}\n")
        if args.action in ("submit", "all"):
            record = submit(make_client(ft), args.data, ft, seed=params.seed, out=out)
            write_record(record, args.out)
            out.write(f"openai-ft submit: job {record['job_id']} {record['status']}, model "
                      f"{record['fine_tuned_model']}; {len(record['steps'])} steps recorded in "
                      f"{args.out}\n")
            if record["status"] != "succeeded":
                print(f"wpqa openai-ft: the job ended {record['status']}: {record['error']}",
                      file=sys.stderr)
                return 1
    except (ParamsError, TrainDataError, OpenAIFTError) as err:
        print(f"wpqa openai-ft: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(openai_ft_command(sys.argv[1:]))
