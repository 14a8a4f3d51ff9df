"""The LLM backends of the generate stage: generate, judge and paraphrase through wpqa.llm.

Each task has a versioned prompt file in `curation/prompts/` (`generate.yaml`,
`judge.yaml`, `paraphrase.yaml`); the version goes on every row it produced and into the
request cache key. A section's text is untrusted data: it is put between markers (any
marker-like run in the text is removed first), the system prompt says it is data, a
section that addresses the model ("ignore previous instructions") is not sent at all
(`suspected_injection`), and every reply is validated — JSON, the schema, the list
pattern (`wpqa.pattern`), the no-LLM grounding score (`wpqa.grounding`) and,
when `generate.judge` is on, the judge's score. An invalid, off-schema or off-pattern
reply is re-asked `generate.invalid_retries` times with what was wrong, then rejected.

Per section the outcome is one candidate (plus its paraphrases) or one rejected row:
`llm_error`, `budget_exhausted`, `invalid_json`, `schema_violation`, `off_pattern`,
`not_useful`, `unsupported_token` (a URL, domain or shouted marker word the section does
not hold), `invented_ui_label` (a menu path, label or file name it does not hold),
`unsupported_step` (a step no passage of the section says; see `wpqa.evidence`),
`ungrounded`, `judge_low`, `suspected_injection`. A dropped paraphrase is a rejected row
whose `ref` is the original item's id, with a `paraphrase_` reason.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from wpqa.evidence import Span, evidence_rows, step_span
from wpqa.grounding import grounding_score
from wpqa.pattern import check_answer
from curation.rules import INJECTION_DETAIL, split_for_llm
from curation.validate import question_key
from wpqa.llm import ChatRequest, LLMClient, LLMConfig, Reply, with_repair
from wpqa.params import GenerateParams, LLMParams, PatternParams
from wpqa.replies import JUDGE_SCHEMA, Invalid, Prompt, load_prompt, parse_json, parse_judge
from wpqa.records import (QAPair, RejectedRow, Section, content_hash, grounding_source,
                          section_text)
from wpqa.screen import section_injection, unsupported_tokens
from wpqa.ui_strings import invented_ui_labels

PROMPTS = Path(__file__).resolve().parent / "prompts"

GENERATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "usable": {"type": "boolean"},
        "question": {"type": "string"},
        "kind": {"type": "string", "enum": ["steps", "solutions", ""]},
        "intro": {"type": "string"},
        "steps": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["usable", "question", "kind", "intro", "steps"],
    "additionalProperties": False,
}
PARAPHRASE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"questions": {"type": "array", "items": {"type": "string"}}},
    "required": ["questions"],
    "additionalProperties": False,
}

# Runs that could close the markers around a section's text in the prompt.
_MARKERS = re.compile(r"<{3,}|>{3,}")
_LEADING_NUMBER = re.compile(r"^\s*(\d+[.)]|[-*•])\s+")


def as_data(text: str) -> str:
    """Untrusted text made safe to put between markers: it cannot close them."""
    return _MARKERS.sub(" ", text)


# ---- parsing replies ----------------------------------------------------------------

@dataclass(frozen=True)
class Drafted:
    question: str
    kind: str
    answer: str
    grounding: float
    evidence: list = field(default_factory=list)  # per step [start, end) in the source


def parse_generated(text: str | None, section: Section, params: GenerateParams,
                    bounds: PatternParams) -> Drafted:
    """A generate reply checked by schema, pattern and grounding; raises Invalid."""
    data = parse_json(text, GENERATE_SCHEMA)
    if not data["usable"]:
        raise Invalid("not_useful", "the model found no task or problem in the section",
                      repairable=False)
    question = " ".join(data["question"].split())
    kind = data["kind"]
    if kind not in ("steps", "solutions"):
        raise Invalid("schema_violation", f"kind: {kind!r} is not steps or solutions")
    if not 8 <= len(question) <= 300:
        raise Invalid("schema_violation", f"question: {len(question)} characters, allowed 8..300")
    steps = [_LEADING_NUMBER.sub("", s).strip() for s in data["steps"]]
    steps = [s for s in steps if s]
    intro = " ".join(data["intro"].split())
    answer = "\n".join([intro] + [f"{n}. {s}" for n, s in enumerate(steps, 1)])
    failures = check_answer(answer, kind, bounds)
    if failures:
        raise Invalid("off_pattern", "; ".join(f"{f.rule}: {f.reason}" for f in failures))
    source = grounding_source(section)
    foreign = unsupported_tokens(" ".join([question, answer]), source)
    if foreign:
        raise Invalid("unsupported_token", f"not in the section: {', '.join(foreign)[:120]}",
                      repairable=False)
    invented = invented_ui_labels(answer, source)
    if invented:
        raise Invalid("invented_ui_label", "names what the section does not: "
                      + ", ".join(repr(label) for label in invented)[:160])
    score = grounding_score(answer, source)
    if score < params.min_grounding:
        raise Invalid("ungrounded", f"grounding {score:.2f} < {params.min_grounding:.2f}",
                      repairable=False)
    steps, answer, spans = supported_steps(steps, intro, source, params, bounds)
    return Drafted(question, kind, answer, grounding_score(answer, source), evidence_rows(spans))


def supported_steps(steps: list[str], intro: str, source: str, params: GenerateParams,
                    bounds: PatternParams) -> tuple[list[str], str, list[Span]]:
    """(steps, answer, spans) with every step backed by a passage of the source.

    A step no passage supports rejects the item (`unsupported_step`, re-asked with the
    step named), or with `generate.unsupported_step: drop` is left out, when enough
    steps remain for the pattern.
    """
    spans = [step_span(step, source, min_support=params.min_step_support) for step in steps]
    missing = [n for n, span in enumerate(spans, 1) if span is None]
    if missing and (params.unsupported_step == "reject"
                    or len(steps) - len(missing) < bounds.min_items):
        raise Invalid("unsupported_step", "no passage of the section says step "
                      + ", ".join(f"{n} ({steps[n - 1][:60]!r})" for n in missing)[:200])
    kept = [(step, span) for step, span in zip(steps, spans) if span is not None]
    steps = [step for step, _ in kept]
    answer = "\n".join([intro] + [f"{n}. {s}" for n, s in enumerate(steps, 1)])
    return steps, answer, [span for _, span in kept]


def parse_paraphrases(text: str | None) -> list[str]:
    data = parse_json(text, PARAPHRASE_SCHEMA)
    return [" ".join(q.split()) for q in data["questions"]]


# ---- running the tasks ----------------------------------------------------------------

async def ask_valid(client: LLMClient, request: ChatRequest, parse: Callable[[str | None], Any],
                    retries: int, replies: list[Reply]) -> Any:
    """Ask; re-ask an invalid reply up to `retries` times with what was wrong; raise Invalid."""
    for attempt in range(retries + 1):
        reply = await client.ask(request)
        replies.append(reply)
        if not reply.ok:
            raise Invalid(reply.error, reply.detail, repairable=False)
        try:
            return parse(reply.text)
        except Invalid as err:
            if not err.repairable or attempt == retries:
                raise
            request = with_repair(request, reply.text or "", err.detail)
    raise AssertionError("unreachable")


@dataclass
class Outcome:
    """What one section (or one rules item) became."""

    item: QAPair | None = None
    variants: list[QAPair] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)


@dataclass
class Prompts:
    generate: Prompt
    judge: Prompt
    paraphrase: Prompt

    @classmethod
    def load(cls) -> "Prompts":
        return cls(*(load_prompt(task, PROMPTS) for task in ("generate", "judge", "paraphrase")))


async def curate_section(client: LLMClient, section: Section, params: GenerateParams,
                         bounds: PatternParams, prompts: Prompts) -> Outcome:
    """generate -> check (schema, pattern, grounding) -> judge -> paraphrase, for one section.

    Each section runs as its own chain, so when the budget runs out every section that
    got through keeps its complete item.
    """
    out = Outcome()
    llm = params.llm

    def reject(reason: str, detail: str) -> Outcome:
        out.rejected.append(RejectedRow("generate", section.section_id, reason, detail))
        return out

    if section_injection(section):
        return reject("suspected_injection", INJECTION_DETAIL)
    try:
        drafted = await ask_valid(client, generate_request(section, prompts.generate, llm, bounds),
                                  lambda t: parse_generated(t, section, params, bounds),
                                  params.invalid_retries, out.replies)
    except Invalid as err:
        return reject(err.reason, err.detail)
    version = prompts.generate.version
    if params.judge:
        request = judge_request(section, drafted, prompts.judge, llm)
        try:
            score, why = await ask_valid(client, request, parse_judge, params.invalid_retries,
                                         out.replies)
        except Invalid as err:
            return reject(err.reason, f"judge: {err.detail}")
        if score < params.judge_min_score:
            return reject("judge_low", f"score {score} < {params.judge_min_score}: {why}")
        version = f"{version}+{prompts.judge.version}"
    out.item = QAPair(
        id=content_hash(section.section_id, drafted.question), question=drafted.question,
        answer=drafted.answer, kind=drafted.kind, source_url=section.url, source=section.source,
        section_id=section.section_id, heading_path=section.heading_path,
        content_hash=section.content_hash, generator=f"llm:{llm.model}", prompt_version=version,
        evidence=drafted.evidence)
    await paraphrase_into(client, out, params, prompts.paraphrase)
    return out


async def paraphrase_into(client: LLMClient, out: Outcome, params: GenerateParams,
                          prompt: Prompt) -> None:
    """Add `generate.paraphrases` variants of `out.item`, each a QAPair with `origin_id`.

    A variant keeps its original's answer, source, section and page, so the split (which
    groups by page) keeps them on the same side. Every variant asked for ends as a
    QAPair or as a rejected row (ref: the original's id, reason `paraphrase_...`).
    """
    n, origin = params.paraphrases, out.item
    if n == 0 or origin is None:
        return

    def drop(reason: str, detail: str) -> None:
        out.rejected.append(RejectedRow("generate", origin.id, f"paraphrase_{reason}", detail))

    try:
        questions = await ask_valid(client, paraphrase_request(origin, n, prompt, params.llm),
                                    parse_paraphrases, params.invalid_retries, out.replies)
    except Invalid as err:
        for i in range(1, n + 1):
            drop(err.reason, f"question {i} of {n}: {err.detail}")
        return
    seen = {question_key(origin.question)}
    for question in questions[:n]:
        key = question_key(question)
        if not 8 <= len(question) <= 300:
            drop("schema_violation", f"{len(question)} characters, allowed 8..300")
        elif key in seen:
            drop("duplicate", question[:120])
        else:
            seen.add(key)
            out.variants.append(QAPair(
                id=content_hash(origin.id, question), question=question, answer=origin.answer,
                kind=origin.kind, source_url=origin.source_url, source=origin.source,
                section_id=origin.section_id, heading_path=origin.heading_path,
                content_hash=origin.content_hash, generator=f"llm:{params.llm.model}",
                prompt_version=prompt.version, origin_id=origin.id, evidence=origin.evidence))
    for i in range(len(questions) + 1, n + 1):
        drop("missing", f"question {i} of {n}: the reply held {len(questions)}")


def generate_request(section: Section, prompt: Prompt, llm: LLMParams,
                     bounds: PatternParams) -> ChatRequest:
    messages = prompt.render(
        page_title=as_data(section.page_title),
        heading_path=as_data(" > ".join(section.heading_path)),
        section=as_data(f"{section.heading}\n\n{section_text(section)}"),
        min_items=bounds.min_items, max_items=bounds.max_items,
        min_item_words=bounds.min_item_words, max_item_words=bounds.max_item_words)
    return ChatRequest(messages=messages, temperature=llm.temperature, seed=llm.seed,
                       max_tokens=llm.max_tokens, schema=GENERATE_SCHEMA, schema_name="qa_item",
                       prompt_version=prompt.version)


def judge_request(section: Section, drafted: Drafted, prompt: Prompt, llm: LLMParams) -> ChatRequest:
    messages = prompt.render(section=as_data(f"{section.heading}\n\n{section_text(section)}"),
                             question=as_data(drafted.question), answer=as_data(drafted.answer))
    return ChatRequest(messages=messages, temperature=0.0, seed=llm.seed, max_tokens=200,
                       schema=JUDGE_SCHEMA, schema_name="judgement", prompt_version=prompt.version)


def paraphrase_request(item: QAPair, n: int, prompt: Prompt, llm: LLMParams) -> ChatRequest:
    return ChatRequest(messages=prompt.render(n=n, question=as_data(item.question),
                                              answer=as_data(item.answer)),
                       temperature=max(llm.temperature, 0.7), seed=llm.seed, max_tokens=300,
                       schema=PARAPHRASE_SCHEMA, schema_name="paraphrases",
                       prompt_version=prompt.version)


def curate_with_llm(sections: list[Section], rules_items: list[QAPair], params: GenerateParams,
                    bounds: PatternParams, client: LLMClient, progress: bool = False
                    ) -> list[Outcome]:
    """One Outcome per section sent to the LLM, then one per rules item (paraphrases only)."""
    from tqdm import tqdm

    prompts = Prompts.load()
    client.progress = progress

    async def run_all() -> list[Outcome]:
        async with client.session():
            bar = tqdm(total=len(sections) + len(rules_items), desc="generate (llm)",
                       unit="item", disable=not progress)

            # A chain makes one request at a time; at most `concurrency` chains run, so a
            # started section finishes before new ones start (and the budget, when it runs
            # out, leaves complete items rather than many half-done ones).
            # In batch mode every chain runs at once: each round of requests is one batch.
            chains = asyncio.Semaphore(params.llm.concurrency if params.llm.mode == "online"
                                       else max(1, len(sections) + len(rules_items)))

            async def one(coro):
                async with chains:
                    result = await coro
                bar.update(1)
                return result

            async def rules_item(item: QAPair) -> Outcome:
                out = Outcome(item=item)
                await paraphrase_into(client, out, params, prompts.paraphrase)
                return out

            try:
                return list(await asyncio.gather(
                    *[one(curate_section(client, s, params, bounds, prompts)) for s in sections],
                    *[one(rules_item(q)) for q in rules_items]))
            finally:
                bar.close()

    return asyncio.run(run_all())


# ---- estimating before spending ---------------------------------------------------------

def estimate_run(sections: list[Section], params: GenerateParams, bounds: PatternParams,
                 cache) -> dict[str, float]:
    """Requests, tokens and cost a run would need, from the rendered prompts and the cache.

    Input tokens are estimated high (3 characters a token); output is bounded by each
    request's max_tokens. Judge and paraphrase prompts are not known before the answers
    exist: each is estimated as its prompt plus an answer of `max_tokens`. A section whose
    generate call is cached counts as free; re-asks after invalid replies are not counted.
    """
    from wpqa.llm import estimate_prompt_tokens, request_key

    prompts = Prompts.load()
    config = LLMConfig.for_endpoint(params.llm)
    llm = params.llm
    to_llm, rules_items = sections, []
    if params.backend == "hybrid":
        rules_items, to_llm = split_for_llm(sections, bounds.max_item_words)
    skipped = [s for s in to_llm if section_injection(s)]
    sent = [s for s in to_llm if not section_injection(s)]
    counts = {"sections_in": len(sections), "sections_llm": len(to_llm),
              "sections_rules": len(sections) - len(to_llm), "suspected_injection": len(skipped),
              "generate_requests": 0, "generate_cached": 0, "judge_requests": 0,
              "paraphrase_requests": 0, "input_tokens": 0, "output_tokens_max": 0}
    answer_bound = "x" * (llm.max_tokens * 3)
    for section in sent:
        request = generate_request(section, prompts.generate, llm, bounds)
        counts["generate_requests"] += 1
        if cache.get(request_key(config, request)) is not None:
            counts["generate_cached"] += 1
            continue
        counts["input_tokens"] += estimate_prompt_tokens(request)
        counts["output_tokens_max"] += llm.max_tokens
        drafted = Drafted("x" * 60, "steps", answer_bound, 1.0)
        if params.judge:
            judge = judge_request(section, drafted, prompts.judge, llm)
            counts["judge_requests"] += 1
            counts["input_tokens"] += estimate_prompt_tokens(judge)
            counts["output_tokens_max"] += judge.max_tokens
        if params.paraphrases:
            item = QAPair("x", "x" * 60, answer_bound, "steps", "", "", "", [], "", "")
            para = paraphrase_request(item, params.paraphrases, prompts.paraphrase, llm)
            counts["paraphrase_requests"] += 1
            counts["input_tokens"] += estimate_prompt_tokens(para)
            counts["output_tokens_max"] += para.max_tokens
    if params.paraphrases:
        for item in rules_items:
            para = paraphrase_request(item, params.paraphrases, prompts.paraphrase, llm)
            counts["paraphrase_requests"] += 1
            if cache.get(request_key(config, para)) is None:
                counts["input_tokens"] += estimate_prompt_tokens(para)
                counts["output_tokens_max"] += para.max_tokens
    price = config.price
    counts["cost_usd_input_only"] = round(price.cost(counts["input_tokens"], 0), 6)
    counts["cost_usd_max"] = round(price.cost(counts["input_tokens"], counts["output_tokens_max"]), 6)
    return counts
