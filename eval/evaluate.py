"""The `eval` stage: every model under test answers the same test questions; score them.

`eval.models` lists the models: `base` (the 4-bit base with the adapter switched off),
`tuned` (the same model with the adapter on, so the only difference is what fine-tuning
learned) and any model behind an OpenAI-compatible endpoint. All answer every test
question (or the first `eval.limit`) from the same prompt (`wpqa.prompt`) with the same
decoding preset; endpoint answers go through `wpqa.llm` and its persistent request
cache, so a re-run pays nothing. With a sampling preset each question gets
`eval.samples` answers, each with its seed recorded.

Each answer is scored by the pattern checker that gates the dataset (strict and per-rule),
whether it stopped before the token limit, ROUGE-L, step-count error and step recall
against the reference, and grounding in the item's source section. Per-question results
(the mean over samples) give every headline number a 95% bootstrap interval and every
pair of models a paired test.

Writes into the out folder: `predictions.jsonl` (sorted by model, id, sample),
`metrics.json` (flat keys: `tuned_strict`, `tuned_strict_ci_low`, `tuned_vs_base_strict_p`
...), `comparisons.json`, `plots/rules.json` (per-rule pass rates for `dvc plots`) and the
report `report.html` / `report.md`.

    python -m eval.evaluate --params params.yaml --test data/splits/test.jsonl \
        --sections data/interim/sections.jsonl --base models/base \
        --adapter models/adapter --out reports/eval
"""
from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm import tqdm

from wpqa.grounding import grounding_score
from wpqa.pattern import RULE_IDS, check_answer
from eval import metrics as stats
from eval.loose import check_answer_loose
from wpqa.models import BaseModelError, resolve_base
from wpqa.prompt import encode_prompt, format_prompt
from wpqa.models import load_base_4bit, load_tokenizer, load_tuned
from wpqa.records import TrainDataError, load_pairs
from wpqa.replies import JUDGE_SCHEMA, Invalid, load_prompt, parse_judge
from wpqa.io import read_jsonl, write_json, write_jsonl
from wpqa.params import (Decoding, EvalParams, Endpoint, ModelSpec, ParamsError,
                         PatternParams, load_params)
from wpqa.records import Prediction, QAPair, Section, from_row, grounding_source, to_row
from wpqa.evidence import step_support
from wpqa.ui_strings import ui_faithfulness

# Headline metrics: each gets a 95% interval per model and a paired test per model pair.
# All are higher-is-better except step_count_error.
HEADLINE = ("strict", "loose", "stopped", "rougeL", "step_count_error", "step_recall", "grounding",
            "step_support", "ui_faithfulness", "judge")
SAMPLE_SEED_STRIDE = 1_000_003  # seed of sample s, batch starting at question i: seed + s*stride + i


@dataclass(frozen=True)
class Generated:
    text: str
    stopped: bool  # ended on EOS / finish_reason "stop", not at the token limit
    seed: int | None = None


# --------------------------------------------------------------------- local models

def generation_config(tokenizer, decoding: Decoding):
    from transformers import GenerationConfig

    common = {"max_new_tokens": decoding.max_new_tokens,
              "repetition_penalty": decoding.repetition_penalty,
              "no_repeat_ngram_size": decoding.no_repeat_ngram,
              "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    if decoding.sampling:
        return GenerationConfig(do_sample=True, temperature=decoding.temperature,
                                top_p=decoding.top_p, top_k=decoding.top_k, **common)
    return GenerationConfig(do_sample=False, **common)


def generate_answers(model, tokenizer, questions: list[str], *, decoding: Decoding,
                     batch_size: int, seed: int | None = None, progress: bool = True,
                     desc: str = "generate") -> list[Generated]:
    """One answer per question, in order, `batch_size` questions per generate() call.

    Prompts are left-padded (with an attention mask) so every answer starts right after
    its own prompt. When sampling, the batch starting at question i is drawn after
    `torch.manual_seed(seed + i)`, and that seed is recorded with each of its answers.
    """
    config = generation_config(tokenizer, decoding)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    answers: list[Generated] = []
    for start in tqdm(range(0, len(questions), batch_size), desc=desc, disable=not progress,
                      file=sys.stdout):
        prompts = [encode_prompt(tokenizer, q) for q in questions[start:start + batch_size]]
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts],
                                 device=device)
        batch_seed = None
        if decoding.sampling:
            batch_seed = (seed or 0) + start
            torch.manual_seed(batch_seed)
        with torch.inference_mode():
            output = model.generate(input_ids=input_ids, attention_mask=attention,
                                    generation_config=config)
        for row in output[:, width:].tolist():
            stopped = tokenizer.eos_token_id in row
            if stopped:
                row = row[:row.index(tokenizer.eos_token_id)]
            answers.append(Generated(tokenizer.decode(row, skip_special_tokens=True).strip(),
                                     stopped, batch_seed))
    return answers


def sample_seed(seed: int, sample: int) -> int:
    return seed + sample * SAMPLE_SEED_STRIDE


def answer_locally(model, tokenizer, name: str, questions: list[str], decoding: Decoding,
                   batch_size: int, seed: int, progress: bool) -> list[list[Generated]]:
    """[sample][question] answers of `base` (adapter off) or `tuned` (adapter on)."""
    samples = []
    for sample in range(decoding.samples):
        def run():
            return generate_answers(model, tokenizer, questions, decoding=decoding,
                                    batch_size=batch_size, seed=sample_seed(seed, sample),
                                    progress=progress, desc=f"{name} answers")
        if name == "base" and hasattr(model, "disable_adapter"):
            with model.disable_adapter():
                samples.append(run())
        else:
            samples.append(run())
    return samples


# ------------------------------------------------------------------ endpoint models

def endpoint_requests(questions: list[str], decoding: Decoding, seed: int) -> list[Any]:
    """One chat request per (sample, question): the same prompt text the local models see.

    OpenAI's API has no top-k; the endpoint gets temperature, top-p, max tokens and, when
    sampling, the sample's seed (which also keys the request cache).
    """
    from wpqa.llm import ChatRequest, chat

    requests = []
    for sample in range(decoding.samples):
        for question in questions:
            requests.append(ChatRequest(
                messages=chat("", format_prompt(question)),
                temperature=decoding.temperature,
                top_p=decoding.top_p if decoding.sampling else None,
                seed=sample_seed(seed, sample) if decoding.sampling else None,
                max_tokens=decoding.max_new_tokens))
    return requests


def answer_with_endpoint(client, questions: list[str], decoding: Decoding, seed: int,
                         progress: bool, desc: str) -> list[list[Generated]]:
    """[sample][question] answers from an OpenAI-compatible endpoint (through the cache).

    A request that fails for good (error, budget) ends the stage with its reason: a
    model's score over only some questions would not be comparable with the others.
    """
    from wpqa.llm import run_requests

    requests = endpoint_requests(questions, decoding, seed)
    replies = run_requests(client, requests, progress=progress, desc=desc)
    failed = [r for r in replies if not r.ok]
    if failed:
        raise EndpointError(f"{desc}: {len(failed)} of {len(replies)} requests failed; first: "
                            f"{failed[0].error} {failed[0].detail[:200]}")
    answers = [Generated((r.text or "").strip(), r.finish_reason != "length", q.seed)
               for r, q in zip(replies, requests)]
    n = len(questions)
    return [answers[s * n:(s + 1) * n] for s in range(decoding.samples)]


class EndpointError(RuntimeError):
    """An endpoint model could not answer every question."""


def endpoint_client(endpoint: Endpoint):
    """A `wpqa.llm` client for an endpoint model or the judge: the shared request cache,
    the endpoint's own budget and limits."""
    from wpqa.llm import LLMClient, LLMConfig

    return LLMClient(LLMConfig.for_endpoint(endpoint))


# -------------------------------------------------------------------------- judge

JUDGE_PROMPTS = Path(__file__).resolve().parent / "prompts"


def judge_requests(predictions: list[Prediction], prompt) -> list[Any]:
    """One grading request per prediction, from the versioned judge prompt."""
    from wpqa.llm import ChatRequest

    return [ChatRequest(messages=prompt.render(question=p.question, reference=p.reference,
                                               answer=p.answer or "(empty answer)"),
                        temperature=0.0, max_tokens=200, schema=JUDGE_SCHEMA,
                        schema_name="judgement", prompt_version=prompt.version)
            for p in predictions]


def judge_predictions(predictions: list[Prediction], client, *, progress: bool = True,
                      prompts_dir: Path = JUDGE_PROMPTS) -> tuple[list[Prediction], dict[str, int]]:
    """Predictions with `scores["judge"]` (1-5) and the judge's reason added.

    A reply that fails or does not parse leaves that answer without a judge score; the
    counts say how many were judged and why the rest were not.
    """
    from wpqa.llm import run_requests

    prompt = load_prompt("judge", prompts_dir)
    replies = run_requests(client, judge_requests(predictions, prompt), progress=progress,
                           desc=f"judge ({prompt.version})")
    judged: list[Prediction] = []
    counts: dict[str, int] = {"judged": 0}
    for prediction, reply in zip(predictions, replies, strict=True):
        try:
            if not reply.ok:
                raise Invalid(reply.error, reply.detail)
            score, reason = parse_judge(reply.text)
        except Invalid as err:
            counts[f"judge_{err.reason}"] = counts.get(f"judge_{err.reason}", 0) + 1
            judged.append(prediction)
            continue
        counts["judged"] += 1
        judged.append(replace(prediction, scores={**prediction.scores, "judge": float(score)},
                              judge_reason=reason))
    return judged, counts


# ------------------------------------------------------------------------ scoring

def score_answers(pairs: list[QAPair], answers: Sequence[Generated | str], model_name: str,
                  bounds: PatternParams, *, sources: dict[str, str] | None = None,
                  step_match_f1: float = 0.5, sample: int = 0) -> list[Prediction]:
    """One Prediction per pair: the rules its answer failed and its reference scores."""
    sources = sources or {}
    predictions = []
    for pair, generated in zip(pairs, answers, strict=True):
        if isinstance(generated, str):
            generated = Generated(generated, True)
        answer = generated.text
        failed = sorted({failure.rule for failure in check_answer(answer, pair.kind, bounds)})
        loose_failed = [] if not failed else sorted(
            {failure.rule for failure in check_answer_loose(answer, pair.kind, bounds)})
        scores = {
            "rougeL": round(stats.rouge_l(answer, pair.answer), 4),
            "step_count_error": float(stats.step_count_error(answer, pair.answer)),
            "step_recall": round(stats.step_recall(answer, pair.answer, step_match_f1), 4),
        }
        if pair.section_id in sources:
            scores["grounding"] = round(grounding_score(answer, sources[pair.section_id]), 4)
            support = step_support(answer, sources[pair.section_id])
            if support is not None:  # an answer without numbered steps is left out
                scores["step_support"] = round(support, 4)
            faithful = ui_faithfulness(answer, sources[pair.section_id])
            if faithful is not None:  # an answer that names no UI string is left out
                scores["ui_faithfulness"] = round(faithful, 4)
        predictions.append(Prediction(
            id=pair.id, model=model_name, question=pair.question, kind=pair.kind,
            reference=pair.answer, answer=answer, conforms=not failed, failed_rules=failed,
            sample=sample, seed=generated.seed, stopped=generated.stopped, scores=scores,
            section_id=pair.section_id, source_url=pair.source_url,
            loose=not loose_failed, loose_failed_rules=loose_failed))
    return predictions


def sort_predictions(predictions: list[Prediction]) -> list[Prediction]:
    return sorted(predictions, key=lambda p: (p.model, p.id, p.sample))


def prediction_value(prediction: Prediction, metric: str) -> float | None:
    if metric == "strict":
        return float(prediction.conforms)
    if metric == "loose":
        return None if prediction.loose is None else float(prediction.loose)
    if metric.startswith("loose_rule_"):
        if prediction.loose is None:
            return None
        return float(metric[11:] not in prediction.loose_failed_rules)
    if metric == "stopped":
        return float(prediction.stopped)
    if metric.startswith("rule_"):
        return float(metric[5:] not in prediction.failed_rules)
    return prediction.scores.get(metric)


def per_question(predictions: list[Prediction], model: str, metric: str) -> dict[str, float]:
    """question id -> the metric's mean over that model's samples (ids without it left out)."""
    grouped: dict[str, list[float]] = {}
    for p in predictions:
        if p.model != model:
            continue
        value = prediction_value(p, metric)
        if value is not None:
            grouped.setdefault(p.id, []).append(value)
    return {qid: sum(v) / len(v) for qid, v in sorted(grouped.items())}


def model_order(predictions: list[Prediction], models: Sequence[str] | None) -> list[str]:
    names = list(models) if models else sorted({p.model for p in predictions})
    return [m for m in names if any(p.model == m for p in predictions)]


def summarize(predictions: list[Prediction], models: Sequence[str] | None = None, *,
              resamples: int = 2000, seed: int = 0) -> tuple[dict[str, Any], list[dict]]:
    """Flat metrics and the pairwise comparisons, from per-question results.

    For each model: `<m>_<metric>` with `_ci_low`/`_ci_high` (95% bootstrap) for the
    headline metrics and `<m>_rule_<id>` pass rates. For each pair (later in the list vs
    earlier): `<a>_vs_<b>_<metric>_diff` and `_p`. Comparisons (with intervals and the
    test used) are returned as rows for the report.
    """
    names = model_order(predictions, models)
    ids = {m: sorted({p.id for p in predictions if p.model == m}) for m in names}
    if len({tuple(v) for v in ids.values()}) > 1:
        raise ValueError("models answered different questions: "
                         + ", ".join(f"{m} {len(v)}" for m, v in ids.items()))
    metrics: dict[str, Any] = {"n_questions": len(ids[names[0]]) if names else 0}
    present = [name for name in HEADLINE
               if all(per_question(predictions, m, name) for m in names)]
    for m in names:
        for name in present:
            values = list(per_question(predictions, m, name).values())
            interval = stats.bootstrap_interval(values, resamples, seed)
            metrics[f"{m}_{name}"] = round(interval.mean, 4)
            metrics[f"{m}_{name}_ci_low"] = round(interval.low, 4)
            metrics[f"{m}_{name}_ci_high"] = round(interval.high, 4)
        for rule in RULE_IDS:
            values = list(per_question(predictions, m, f"rule_{rule}").values())
            metrics[f"{m}_rule_{rule}"] = round(sum(values) / max(len(values), 1), 4)
            values = list(per_question(predictions, m, f"loose_rule_{rule}").values())
            if values:
                metrics[f"{m}_loose_rule_{rule}"] = round(sum(values) / len(values), 4)
    comparisons = []
    for b, a in itertools.combinations(names, 2):
        for name in present:
            av, bv = per_question(predictions, a, name), per_question(predictions, b, name)
            common = sorted(set(av) & set(bv))
            result = stats.compare([av[q] for q in common], [bv[q] for q in common],
                                   resamples, seed)
            key = f"{a}_vs_{b}_{name}"
            metrics[f"{key}_diff"] = round(result.diff, 4)
            metrics[f"{key}_p"] = round(result.p_value, 4)
            comparisons.append({"a": a, "b": b, "metric": name, "diff": round(result.diff, 4),
                                "ci_low": round(result.low, 4), "ci_high": round(result.high, 4),
                                "p_value": round(result.p_value, 6), "test": result.test,
                                "n": len(common)})
    return metrics, comparisons


def rule_plot_rows(metrics: dict[str, Any], models: Sequence[str]) -> list[dict[str, Any]]:
    """Rows for the `dvc plots` bar chart of per-rule pass rates."""
    return [{"rule": f"{rule} ({m})", "model": m, "pass_rate": metrics[f"{m}_rule_{rule}"]}
            for rule in RULE_IDS for m in models if f"{m}_rule_{rule}" in metrics]


# --------------------------------------------------------------------------- stage

def model_answers(spec: ModelSpec, questions: list[str], params: EvalParams, *, seed: int,
                  local_model=None, tokenizer=None, clients: dict[str, Any] | None = None,
                  progress: bool = True, what: str = "answers") -> list[list[Generated]]:
    """[sample][question] answers of one model under test, local or behind an endpoint."""
    decoding = params.resolved_decoding()
    if spec.is_endpoint:
        client = (clients or {}).get(spec.name) or endpoint_client(spec)
        return answer_with_endpoint(client, questions, decoding, seed, progress,
                                    desc=f"{spec.name} {what}")
    return answer_locally(local_model, tokenizer, spec.name, questions, decoding,
                          params.batch_size, seed, progress)


def evaluate(pairs: list[QAPair], params: EvalParams, bounds: PatternParams, *, seed: int,
             local_model=None, tokenizer=None, clients: dict[str, Any] | None = None,
             sources: dict[str, str] | None = None, progress: bool = True) -> list[Prediction]:
    """Every model in `params.models` answers every pair; predictions sorted."""
    questions = [pair.question for pair in pairs]
    clients = clients or {}
    predictions: list[Prediction] = []
    for spec in params.models:
        by_sample = model_answers(spec, questions, params, seed=seed, local_model=local_model,
                                  tokenizer=tokenizer, clients=clients, progress=progress)
        for sample, answers in enumerate(by_sample):
            predictions += score_answers(pairs, answers, spec.name, bounds, sources=sources,
                                         step_match_f1=params.step_match_f1, sample=sample)
    if params.judge.enabled:
        client = clients.get("judge") or endpoint_client(params.judge)
        predictions, counts = judge_predictions(predictions, client, progress=progress)
        if progress:
            print("eval: judge " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return sort_predictions(predictions)


# ------------------------------------------------------------- over-application

_NUMBERED_ITEM = re.compile(r"^\s*(?:\*\*)?\d+[.)](?:\*\*)?\s+\S", re.MULTILINE)


def load_non_procedural(path: str | Path) -> list[dict[str, str]]:
    """[{id, question}] from the non-procedural question file (eval/non_procedural.yaml)."""
    import yaml

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    questions = raw.get("questions") or []
    if not questions or any(not q.get("id") or not q.get("question") for q in questions):
        raise TrainDataError(f"{path}: expected `questions:` with an id and a question each")
    return [{"id": str(q["id"]), "question": str(q["question"])} for q in questions]


def has_numbered_list(answer: str) -> bool:
    """Two or more numbered items (`1.`, `2)`, `**1.**`): the answer was given as a list."""
    return len(_NUMBERED_ITEM.findall(answer)) >= 2


def over_application(questions: list[dict[str, str]], params: EvalParams, *, seed: int,
                     local_model=None, tokenizer=None, clients: dict[str, Any] | None = None,
                     progress: bool = True) -> list[dict[str, Any]]:
    """Every model answers the non-procedural questions; one row per model, question, sample."""
    rows = []
    texts = [q["question"] for q in questions]
    for spec in params.models:
        by_sample = model_answers(spec, texts, params, seed=seed, local_model=local_model,
                                  tokenizer=tokenizer, clients=clients, progress=progress,
                                  what="non-procedural answers")
        for sample, answers in enumerate(by_sample):
            for q, generated in zip(questions, answers, strict=True):
                rows.append({"id": q["id"], "model": spec.name, "sample": sample,
                             "question": q["question"], "answer": generated.text,
                             "numbered_list": has_numbered_list(generated.text),
                             "stopped": generated.stopped})
    return sorted(rows, key=lambda r: (r["model"], r["id"], r["sample"]))


def over_application_metrics(rows: list[dict[str, Any]], models: Sequence[str], *,
                             resamples: int, seed: int) -> dict[str, float]:
    """`<m>_forced_list` (share answered with a numbered list) with its 95% interval, and
    `<a>_vs_<b>_forced_list_diff` / `_p` per model pair (exact McNemar)."""
    per: dict[str, dict[str, float]] = {}
    for m in models:
        grouped: dict[str, list[float]] = {}
        for r in rows:
            if r["model"] == m:
                grouped.setdefault(r["id"], []).append(float(r["numbered_list"]))
        per[m] = {qid: sum(v) / len(v) for qid, v in sorted(grouped.items())}
    metrics: dict[str, float] = {}
    for m in models:
        if not per[m]:
            continue
        interval = stats.bootstrap_interval(list(per[m].values()), resamples, seed)
        metrics[f"{m}_forced_list"] = round(interval.mean, 4)
        metrics[f"{m}_forced_list_ci_low"] = round(interval.low, 4)
        metrics[f"{m}_forced_list_ci_high"] = round(interval.high, 4)
    for b, a in itertools.combinations(models, 2):
        common = sorted(set(per[a]) & set(per[b]))
        if common:
            result = stats.compare([per[a][q] for q in common], [per[b][q] for q in common],
                                   resamples, seed)
            metrics[f"{a}_vs_{b}_forced_list_diff"] = round(result.diff, 4)
            metrics[f"{a}_vs_{b}_forced_list_p"] = round(result.p_value, 4)
    return metrics


def load_sections(path: str | Path | None, pairs: list[QAPair]) -> dict[str, dict[str, Any]]:
    """section_id -> section row, for the test items' sections."""
    if not path:
        return {}
    wanted = {pair.section_id for pair in pairs}
    return {row["section_id"]: row for row in read_jsonl(path)
            if row.get("section_id") in wanted}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--test", required=True, help="data/splits/test.jsonl")
    parser.add_argument("--sections", help="data/interim/sections.jsonl (for grounding)")
    parser.add_argument("--base", required=True, help="models/base")
    parser.add_argument("--adapter", required=True, help="models/adapter")
    parser.add_argument("--out", required=True, help="reports/eval")
    parser.add_argument("--non-procedural", help="eval/non_procedural.yaml: questions that "
                        "want no list (over-application check)")
    return parser.parse_args(argv)


@dataclass
class EvalInputs:
    """What the stage reads: params, test pairs, their sections, the non-procedural
    questions and, when a local model is under test, the base with its adapter."""

    params: Any
    pairs: list[QAPair]
    sections: dict[str, dict]
    sources: dict[str, str]
    non_procedural: list
    model: Any = None
    tokenizer: Any = None


def load_inputs(args: argparse.Namespace) -> EvalInputs:
    params = load_params(args.params)
    pairs = sorted(load_pairs(args.test), key=lambda p: p.id)
    if params.eval.limit:
        pairs = pairs[:params.eval.limit]
    sections = load_sections(args.sections, pairs)
    # The generate gate's grounding source, so both measure against the same text.
    sources = {sid: grounding_source(from_row(Section, row)) for sid, row in sections.items()}
    non_procedural = load_non_procedural(args.non_procedural) if args.non_procedural else []
    if params.eval.limit:
        non_procedural = non_procedural[:params.eval.limit]
    inputs = EvalInputs(params, pairs, sections, sources, non_procedural)
    if any(not spec.is_endpoint for spec in params.eval.models):
        ref = resolve_base(args.base)
        inputs.tokenizer = load_tokenizer(ref)
        inputs.model = load_tuned(load_base_4bit(ref), args.adapter)
    return inputs


def warn_about_inputs(inputs: EvalInputs, sections_path: str | None) -> None:
    """Notes on stderr: answers that may outgrow the context, sections not found."""
    limit = getattr(getattr(inputs.model, "config", None), "max_position_embeddings", None)
    decoding = inputs.params.eval.resolved_decoding()
    if isinstance(limit, int) and decoding.max_new_tokens >= limit:
        print(f"eval: note: up to {decoding.max_new_tokens} new tokens (decoding "
              f"{decoding.preset}) reach past the base model's context of {limit} positions; "
              "answers that long degrade (set eval.max_new_tokens to stay inside)", file=sys.stderr)
    missing = sorted({p.section_id for p in inputs.pairs} - set(inputs.sources)) if sections_path else []
    if missing:
        print(f"eval: {len(missing)} test items' sections are not in {sections_path} "
              f"(e.g. {missing[0]}); grounding is left out for them", file=sys.stderr)


def write_outputs(out: Path, inputs: EvalInputs, predictions: list[Prediction], overapply: list,
                  metrics: dict, comparisons: list, names: list[str], non_procedural: bool) -> None:
    from eval.report import write_report

    write_jsonl(out / "predictions.jsonl", (to_row(p) for p in predictions))
    if non_procedural:
        write_jsonl(out / "non_procedural.jsonl", overapply)
    write_json(out / "metrics.json", metrics)
    write_json(out / "comparisons.json", comparisons)
    write_json(out / "plots" / "rules.json", rule_plot_rows(metrics, names))
    write_report(out, predictions, metrics, comparisons, names,
                 decoding=inputs.params.eval.resolved_decoding(), sections=inputs.sections,
                 overapply=overapply)


def main(argv: list[str] | None = None) -> int:
    from wpqa.llm import LLMConfigError

    args = parse_args(argv)
    try:
        inputs = load_inputs(args)
    except (ParamsError, TrainDataError, BaseModelError) as err:
        print(f"eval: {err}", file=sys.stderr)
        return 2
    warn_about_inputs(inputs, args.sections)
    params, started = inputs.params, time.perf_counter()
    try:
        predictions = evaluate(inputs.pairs, params.eval, params.pattern, seed=params.seed,
                               local_model=inputs.model, tokenizer=inputs.tokenizer, sources=inputs.sources)
        overapply = over_application(inputs.non_procedural, params.eval, seed=params.seed,
                                     local_model=inputs.model, tokenizer=inputs.tokenizer)
    except (LLMConfigError, EndpointError) as err:
        print(f"eval: {err}", file=sys.stderr)
        return 1 if isinstance(err, EndpointError) else 2
    names = [spec.name for spec in params.eval.models]
    metrics, comparisons = summarize(predictions, names, resamples=params.eval.bootstrap_resamples,
                                     seed=params.seed)
    metrics.update(over_application_metrics(overapply, names, resamples=params.eval.bootstrap_resamples,
                                            seed=params.seed))
    out = Path(args.out)
    write_outputs(out, inputs, predictions, overapply, metrics, comparisons, names,
                  bool(args.non_procedural))
    summary = ", ".join(f"{m} {metrics[f'{m}_strict']:.2f} (loose {metrics[f'{m}_loose']:.2f})"
                        for m in names)
    print(f"eval: {metrics['n_questions']} questions in {time.perf_counter() - started:.0f} s; "
          f"strict conformance {summary}; report {out / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
