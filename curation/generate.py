"""generate stage: sections to candidate list-format Q&A (rules backend).

The rules backend needs no LLM and is deterministic. A procedure section (an imperative
heading over an ordered list) becomes a `steps` item: "How do I <task>?" answered with
"To <task>, follow these steps:" and the list. A problem on a troubleshooting or FAQ page
(a heading that states a problem or asks a question, over a list of fixes) becomes a
`solutions` item. Every section that yields nothing becomes a rejected row with a reason.

`generate.backend: openai` sends every section to an OpenAI-compatible endpoint instead
(generate, judge, paraphrase; see `curation.llm_curate`), and `hybrid` keeps the rules
item where a section yields one and asks the LLM for the rest. Both LLM backends add
`generate.paraphrases` question variants per item. Requests are cached outside DVC
(`.cache/llm/requests.sqlite`, or `--cache`), so a re-run on unchanged sections sends none.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from typing import Iterable

from tqdm import tqdm

from curation.pattern import format_answer
from wpqa.io import read_jsonl, write_json, write_jsonl
from wpqa.params import GenerateParams, ParamsError, PatternParams, load_params
from wpqa.records import QAPair, RejectedRow, Section, content_hash, from_row, to_row

GENERATOR = "rules-v1"

# Imperative verbs that open a task heading ("Install a plugin", "Set up a child theme").
TASK_VERBS = frozenset("""
access activate add adjust allow apply approve assign attach back block browse build
bulk cancel change check choose clean clear clone close collect combine configure connect
control convert copy create customize customise deactivate debug define delete deploy
disable display download duplicate edit embed empty enable enqueue enter export extend
fill filter find fix flush force generate give grant hide import increase insert install
invite limit link list load localize lock log make manage mark merge migrate moderate
modify move name open optimize organize override pick pin place point prepare preview
print protect publish purge put receive redirect refund register reinstall remove rename
reorder replace request reset resize restore restrict return revert review roll rotate
run save schedule search select send set share show sign sort specify start stop submit
switch sync take test track transfer translate troubleshoot turn undo uninstall unlock
unpublish update upgrade upload use validate verify view write
ask erase refresh keep prevent recover reactivate rebuild regenerate reduce require resave
secure harden speed lower raise contact get go let hold stage compress store protect follow
roll schedule add-on bump customize enforce exclude include insert invalidate join
rearrange reply crop group password-protect transform detach drag align reuse style format
wrap trash unapprove nest highlight indent color colour center
""".split())
# Section headings that name a procedure by a noun: "Installation" installs the page's subject.
NOUN_TASKS = {"installation": "install {subject}", "uninstallation": "uninstall {subject}",
              "setup": "set up {subject}", "configuration": "configure {subject}"}
_HOW_TO = re.compile(r"^how (?:to|do i|do you|can i)\s+(.+?)\??$", re.IGNORECASE)
_QUESTION_STEPS = re.compile(r"^(how (do|can|should) (i|you)|how to)\b", re.IGNORECASE)
_PRONOUNS_TO_ASKER = {"your": "my", "you": "I", "yours": "mine", "yourself": "myself"}
_PRONOUNS_TO_READER = {"my": "your", "i": "you", "mine": "yours", "myself": "yourself", "me": "you"}
# Verbs that make a problem heading a sentence rather than the name of an error.
_STATEMENT_VERBS = frozenset("""
is are was were does do did doesn't don't didn't isn't aren't won't can't cannot shows show
appears appear says say keeps keep reloads fails fail stops stop returns return loads load
gets get goes breaks has have looks opens sends send redirects displays stays remains
disappears disappear turns lists list ignores ignore arrive arrives reach reaches
""".split())
_TRAILING_PUNCT = re.compile(r"[\s.:;,!?]+$")


def swap_pronouns(text: str, table: dict[str, str]) -> str:
    def swap(match: re.Match) -> str:
        word = match.group(0)
        new = table.get(word.lower())
        if new is None:
            return word
        return new.capitalize() if word[0].isupper() and new != "I" else new
    return re.sub(r"\b[A-Za-z]+\b", swap, text)


def _lower_first(text: str) -> str:
    """Lower the first word unless it is a name (WordPress, PHP, WooCommerce, FTP)."""
    first, _, rest = text.partition(" ")
    if first[:1].isupper() and first[1:].islower():
        first = first.lower()
    return f"{first} {rest}".strip()


def task_from_heading(heading: str, subject: str = "") -> str | None:
    """The task a procedure heading names ("install a plugin"), or None if it names none.

    `subject` is what the page is about (a plugin's name), for noun headings such as
    "Installation".
    """
    heading = _TRAILING_PUNCT.sub("", heading.strip())
    if subject and heading.lower() in NOUN_TASKS:
        return NOUN_TASKS[heading.lower()].format(subject=subject)
    match = _HOW_TO.match(heading)
    if match:
        return swap_pronouns(match.group(1), _PRONOUNS_TO_READER)
    first = heading.split(" ", 1)[0].lower()
    if first in TASK_VERBS:
        return _lower_first(heading)
    return None


def steps_question(task: str) -> str:
    return f"How do I {swap_pronouns(task, _PRONOUNS_TO_ASKER)}?"


def problem_question(heading: str) -> str:
    """A user's question for a problem heading: kept when it is a question, first person otherwise."""
    heading = heading.strip()
    if heading.endswith("?"):
        return heading
    text = _TRAILING_PUNCT.sub("", heading)
    first = text.split(" ", 1)[0].lower()
    if first in ("you", "your", "you're", "you've"):
        return swap_pronouns(text, _PRONOUNS_TO_ASKER)
    if first in ("i", "i'm", "i've", "my"):
        return text
    if _STATEMENT_VERBS.intersection(re.findall(r"[a-z']+", text.lower())):
        # A sentence ("The preview does not show your changes"): the user reports it.
        return f"{swap_pronouns(text, _PRONOUNS_TO_ASKER)}. How do I fix it?"
    return f'How do I fix "{text}"?'


def clean_item(text: str) -> str:
    text = text.strip()
    if text and text[-1] not in ".!?)`\"":
        text += "."
    return text[0].upper() + text[1:] if text else text


def note_for(section: Section) -> str:
    """The first short notice of a section, kept as the answer's single Note: line."""
    for note in section.notes:
        note = re.sub(r"^(note|tip|warning|important)\s*:\s*", "", note, flags=re.IGNORECASE)
        if 3 <= len(note.split()) <= 40:
            return note
    return ""


def generate_from_section(section: Section) -> tuple[list[QAPair], list[RejectedRow]]:
    """Candidates from one section, or the reason it yields none."""
    def reject(reason: str, detail: str = "") -> tuple[list[QAPair], list[RejectedRow]]:
        return [], [RejectedRow("generate", section.section_id, reason, detail or section.heading)]

    heading = section.heading
    lists = section.ordered_lists
    is_question = heading.strip().endswith("?")
    asks_how = bool(_QUESTION_STEPS.match(heading.strip()))
    task = task_from_heading(heading, subject=section.heading_path[0] if len(section.heading_path) > 1 else "")

    if section.troubleshooting and not task and not asks_how:
        kind = "solutions"
        items = (lists or section.unordered_lists or [[]])[0]
        question = problem_question(heading)
        if not items:
            return reject("no_list")
    elif task or (is_question and asks_how):
        kind = "steps"
        if not lists:
            return reject("unordered_list_not_steps" if section.unordered_lists else "no_list")
        items = lists[0]
        task = task or swap_pronouns(_HOW_TO.match(heading.strip()).group(1), _PRONOUNS_TO_READER)
        question = steps_question(task)
    elif lists or section.unordered_lists:
        return reject("heading_not_a_task")
    else:
        return reject("no_list")

    if section.has_code:
        # The steps usually say "add the following code": without the code they mislead.
        return reject("has_code")
    items = [clean_item(i) for i in items]
    answer = format_answer(kind, items, task=task or "", note=note_for(section))
    qa = QAPair(
        id=content_hash(section.section_id, question),
        question=question, answer=answer, kind=kind, source_url=section.url,
        source=section.source, section_id=section.section_id,
        heading_path=section.heading_path, content_hash=section.content_hash,
        generator=GENERATOR)
    return [qa], []


def generate_candidates(sections: Iterable[Section], params: GenerateParams, progress: bool = False
                        ) -> tuple[list[QAPair], list[RejectedRow], dict[str, int]]:
    """The rules backend: deterministic, offline."""
    if params.backend != "rules":
        raise ValueError(f"generate.backend: {params.backend!r} needs an LLM client; "
                         "call generate_with_backend")
    sections = list(sections)
    candidates: list[QAPair] = []
    rejected: list[RejectedRow] = []
    for section in tqdm(sections, desc="generate", unit="section", disable=not progress):
        found, dropped = generate_from_section(section)
        candidates.extend(found)
        rejected.extend(dropped)
    candidates.sort(key=lambda q: q.id)
    rejected.sort(key=lambda r: (r.ref, r.reason))
    reasons = Counter(r.reason for r in rejected)
    metrics = {
        "sections_in": len(sections),
        "candidates_out": len(candidates),
        "candidates_steps": sum(1 for q in candidates if q.kind == "steps"),
        "candidates_solutions": sum(1 for q in candidates if q.kind == "solutions"),
        "sections_rejected": len(rejected),
        **{f"rejected_{reason}": count for reason, count in sorted(reasons.items())},
    }
    return candidates, rejected, metrics


def generate_with_backend(sections: Iterable[Section], params: GenerateParams,
                          bounds: PatternParams, client=None, progress: bool = False
                          ) -> tuple[list[QAPair], list[RejectedRow], dict[str, float]]:
    """Candidates, rejected rows and metrics for any backend; `client` (a wpqa.llm.LLMClient)
    is needed for openai and hybrid."""
    if params.backend == "rules":
        return generate_candidates(sections, params, progress)
    from curation.llm_curate import curate_with_llm

    sections = list(sections)
    rules_items: list[QAPair] = []
    to_llm = sections
    if params.backend == "hybrid":
        to_llm = []
        for section in sections:
            found, _ = generate_from_section(section)
            if found:
                rules_items.extend(found)
            else:
                to_llm.append(section)
    outcomes = curate_with_llm(to_llm, rules_items, params, bounds, client, progress)
    originals = sorted((o.item for o in outcomes if o.item), key=lambda q: q.id)
    variants = [v for o in outcomes for v in o.variants]
    candidates = sorted(originals + variants, key=lambda q: q.id)
    rejected = sorted((r for o in outcomes for r in o.rejected),
                      key=lambda r: (r.ref, r.reason, r.detail))
    section_rows = [r for r in rejected if not r.reason.startswith("paraphrase_")]
    item_rows = [r for r in rejected if r.reason.startswith("paraphrase_")]
    ok = [r for o in outcomes for r in o.replies if r.ok]
    metrics: dict[str, float] = {
        "sections_in": len(sections),
        "sections_with_candidates": len({q.section_id for q in originals}),
        "sections_rejected": len(section_rows),
        "sections_rules": len({q.section_id for q in rules_items}),
        "sections_llm": len(to_llm),
        "candidates_out": len(candidates),
        "candidates_steps": sum(1 for q in candidates if q.kind == "steps"),
        "candidates_solutions": sum(1 for q in candidates if q.kind == "solutions"),
        "paraphrases_wanted": params.paraphrases * len(originals),
        "paraphrases_out": len(variants),
        "paraphrases_rejected": len(item_rows),
        # What the LLM calls behind this dataset cost, whether paid now or in an earlier
        # run (cache hits); the same for the same data, so DVC sees no change on a re-run.
        "llm_calls": len(ok),
        "llm_prompt_tokens": sum(r.usage.prompt_tokens for r in ok),
        "llm_completion_tokens": sum(r.usage.completion_tokens for r in ok),
        "llm_cost_usd": round(sum(r.cost_usd for r in ok), 6),
    }
    reasons = Counter(r.reason for r in rejected)
    metrics.update({f"rejected_{reason}": count for reason, count in sorted(reasons.items())})
    return candidates, rejected, metrics


def make_client(params: GenerateParams, cache_path: str | None = None):
    from curation.llm_curate import llm_config
    from wpqa.llm import LLMClient, RequestCache

    return LLMClient(llm_config(params.llm), RequestCache(cache_path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sections", default="data/interim/sections.jsonl")
    parser.add_argument("--out", default="data/interim/candidates.jsonl")
    parser.add_argument("--rejected", default="data/interim/generate_rejected.jsonl")
    parser.add_argument("--metrics", default="reports/generate/metrics.json")
    parser.add_argument("--cache", default=None,
                        help="LLM request cache (default .cache/llm/requests.sqlite, or $WPQA_LLM_CACHE)")
    args = parser.parse_args(argv)
    try:
        all_params = load_params(args.params)
    except ParamsError as err:
        raise SystemExit(f"generate: {err}") from None
    params = all_params.generate
    sections = [from_row(Section, row) for row in read_jsonl(args.sections)]
    client = None
    if params.backend != "rules":
        from wpqa.llm import LLMConfigError

        client = make_client(params, args.cache)
        print(f"generate: backend {params.backend}, model {params.llm.model} at "
              f"{params.llm.base_url}, cache {client.cache.path}", file=sys.stderr)
    try:
        candidates, rejected, metrics = generate_with_backend(
            sections, params, all_params.pattern, client, progress=True)
    except KeyboardInterrupt:
        if client is None:
            raise
        raise SystemExit(f"generate: interrupted; {len(client.cache)} finished calls are in "
                         f"{client.cache.path}; run again to resume without paying for them") from None
    except Exception as err:
        if client is not None and isinstance(err, LLMConfigError):
            raise SystemExit(f"generate: {err}") from None
        raise
    write_jsonl(args.out, (to_row(q) for q in candidates))
    write_jsonl(args.rejected, (to_row(r) for r in rejected))
    write_json(args.metrics, metrics)
    print(f"generate: {len(sections)} sections -> {len(candidates)} candidates, "
          f"{len(rejected)} rejected")
    if client is not None:
        s = client.stats
        print(f"generate: {s.requests} LLM requests, {s.cached} from the cache, {s.sent} sent "
              f"({s.retries} retries), ${s.spent_usd:.4f} spent this run, "
              f"${metrics['llm_cost_usd']:.4f} for the whole dataset", file=sys.stderr)
        if client.budget_exhausted:
            print(f"generate: STOPPED AT THE BUDGET: {client.budget_message}; "
                  f"{metrics.get('rejected_budget_exhausted', 0)} sections and "
                  f"{metrics.get('rejected_paraphrase_budget_exhausted', 0)} paraphrases are "
                  f"rejected as budget_exhausted", file=sys.stderr)


if __name__ == "__main__":
    main()
