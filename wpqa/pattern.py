"""The list-format answer pattern: the one definition shared by curation and evaluation.

An answer is a one-sentence intro ending in ':', then numbered items (`1. `), one per
line, optionally followed by a single `Note:` line. `check_answer` returns every rule
that failed with a reason, so the data gate and the model evaluation measure "follows
the pattern" with the same code.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from wpqa.params import PatternParams

RULE_IDS = ("intro", "list", "numbering", "tail", "no_code", "no_markup",
            "item_length", "no_repeat", "kind")
KINDS = ("steps", "solutions")

STEPS_INTRO_SUFFIX = "follow these steps:"
SOLUTIONS_INTRO = "Here are the possible solutions to the problem:"

_ITEM = re.compile(r"^(\d+)\.\s+(.*)$")
_ITEM_NO_SPACE = re.compile(r"^\d+[.)]")
_SENTENCE_BREAK = re.compile(r"[.!?]\s+[A-Z]")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>")
_MD_HEADING = re.compile(r"^#{1,6}\s")
_MD_TABLE = re.compile(r"^\s*\|.*\|\s*$")
_BOLD = re.compile(r"\*\*[^*]+\*\*|__[^_]+__")
_INLINE_CODE = re.compile(r"`([^`]*)`")
# Lines that read as code rather than prose: statements, tags, shell prompts.
_CODE_LINE = re.compile(
    r"(^\s*(<\?php|\$\s|\$[a-z_]+\s*=|define\(|function\s+\w+\s*\(|add_action\(|add_filter\(|"
    r"import\s|from\s+\S+\s+import\s|def\s|class\s+\w+\s*[:{(]|return\s|echo\s|[{}]\s*$))"
    r"|;\s*$|\)\s*\{\s*$|=>")
# Inline code that is a statement rather than a name: arguments, assignment, a block.
_INLINE_STATEMENT = re.compile(r"\([^)]+\)|;|=|\{|\}|^<\?php")
# A terminal command is an action, like a menu path: `git cherry-pick -m 1 cb150a2` is a
# step a reader types, not a statement, as long as it stays one short line.
_SHELL_COMMAND = re.compile(r"^(git|npm|npx|yarn|pnpm|wp|composer|svn|cd|node|docker|mkdir|cp|mv|"
                            r"chmod|chown|ssh|curl|wget|make)\s")
MAX_COMMAND_WORDS = 8
_WORD = re.compile(r"[\w'’-]+")
MAX_INLINE_CODE_WORDS = 4


def _code_line(line: str) -> str:
    """The line, stripped, when it reads as code outside its inline code spans; else ""."""
    body = _INLINE_CODE.sub("", _strip_item_number(line))
    return body.strip() if _CODE_LINE.search(body) else ""


def _statement_code(text: str) -> str:
    """The first inline code span that is a statement, not a name ("" when none).

    Short inline code names a file, option or menu, and a short terminal command is a
    step; arguments, assignments and blocks are code."""
    return next((c for c in _INLINE_CODE.findall(text)
                 if _INLINE_STATEMENT.search(c) or _command_words(c) > (
                     MAX_COMMAND_WORDS if _SHELL_COMMAND.match(c) else MAX_INLINE_CODE_WORDS)), "")


def _command_words(code: str) -> int:
    """Words of a code span; in a terminal command a quoted argument (`git commit -m "…"`)
    is one word, as the shell reads it."""
    if _SHELL_COMMAND.match(code):
        code = _QUOTED_ARGUMENT.sub("arg", code)
    return len(code.split())


_QUOTED_ARGUMENT = re.compile(r"\"[^\"]*\"|'[^']*'")


def reads_as_code(text: str) -> bool:
    """Would this text, as an answer line, fail the no_code rule?"""
    return bool(_code_line(text) or _statement_code(text) or "```" in text or "~~~" in text)


@dataclass(frozen=True)
class RuleFailure:
    rule: str
    reason: str


@dataclass(frozen=True)
class ParsedAnswer:
    """An answer split into its parts; `stray` are lines that fit no part."""

    intro: str | None
    items: list[tuple[int, str]]
    tail: list[str]
    stray: list[str]


def parse_answer(answer: str) -> ParsedAnswer:
    lines = [line.rstrip() for line in answer.strip().splitlines() if line.strip()]
    intro = None
    if lines and not _ITEM.match(lines[0]):
        intro, lines = lines[0], lines[1:]
    items: list[tuple[int, str]] = []
    tail: list[str] = []
    stray: list[str] = []
    for line in lines:
        match = _ITEM.match(line)
        if match and not tail:
            items.append((int(match.group(1)), match.group(2).strip()))
        elif match:
            stray.extend(tail)
            tail = []
            items.append((int(match.group(1)), match.group(2).strip()))
        else:
            tail.append(line)
    if not items:
        stray.extend(tail)
        tail = []
    return ParsedAnswer(intro=intro, items=items, tail=tail, stray=stray)


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def steps_intro(task: str) -> str:
    """The intro of a `steps` answer: 'To install a plugin, follow these steps:'."""
    return f"To {task.strip().rstrip('.:')}, {STEPS_INTRO_SUFFIX}"


def format_answer(kind: str, items: Sequence[str], task: str = "", note: str = "",
                  intro: str = "") -> str:
    """Render items in the pattern; `task` words the intro of a `steps` answer (or `intro`
    gives it whole)."""
    if kind not in KINDS:
        raise ValueError(f"kind: got {kind!r}; allowed: {', '.join(KINDS)}")
    intro = intro or (steps_intro(task) if kind == "steps" else SOLUTIONS_INTRO)
    lines = [intro] + [f"{n}. {item}" for n, item in enumerate(items, 1)]
    if note:
        lines.append(f"Note: {note}")
    return "\n".join(lines)


def intro_kind(intro: str | None) -> str | None:
    """Which kind an intro announces, or None when it announces neither."""
    if not intro:
        return None
    lowered = intro.strip().lower()
    if lowered.endswith(STEPS_INTRO_SUFFIX):
        return "steps"
    if "possible solutions" in lowered and lowered.endswith(":"):
        return "solutions"
    return None


def check_answer(answer: str, kind: str | None, bounds: PatternParams) -> list[RuleFailure]:
    """Every rule the answer breaks, each with a reason; empty when it conforms."""
    parsed = parse_answer(answer)
    failures = []
    for rule in RULE_IDS:
        reason = RULE_CHECKS[rule](parsed, answer, kind, bounds)
        if reason:
            failures.append(RuleFailure(rule, reason))
    return failures


# One function per rule, each (parsed, answer, kind, bounds) -> the reason it fails, or None.

def _check_intro(parsed: ParsedAnswer, answer: str, kind, bounds: PatternParams) -> str | None:
    intro = parsed.intro
    if intro is None:
        return "no intro line before the list" if parsed.items else "empty answer"
    if not intro.endswith(":"):
        return "intro does not end with ':'"
    if _ITEM_NO_SPACE.match(intro):
        return "intro is a list item"
    if _SENTENCE_BREAK.search(intro):
        return "intro is more than one sentence"
    if len(words(intro)) > bounds.max_intro_words:
        return f"intro has {len(words(intro))} words, over {bounds.max_intro_words}"
    return None


def _check_list(parsed: ParsedAnswer, answer: str, kind, bounds: PatternParams) -> str | None:
    if not (bounds.min_items <= len(parsed.items) <= bounds.max_items):
        return (f"{len(parsed.items)} numbered items, allowed "
                f"{bounds.min_items}..{bounds.max_items}")
    if parsed.stray:
        return f"non-item line inside the list: {parsed.stray[0][:60]!r}"
    return None


def _check_numbering(parsed: ParsedAnswer, answer: str, kind, bounds) -> str | None:
    numbers = [n for n, _ in parsed.items]
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        return f"numbers run {numbers[:12]}, expected 1..{len(numbers)}"
    return None


def _check_tail(parsed: ParsedAnswer, answer: str, kind, bounds) -> str | None:
    if len(parsed.tail) > 1:
        return f"{len(parsed.tail)} lines after the list, at most one Note: line allowed"
    if parsed.tail and not parsed.tail[0].startswith("Note:"):
        return f"line after the list does not start with 'Note:': {parsed.tail[0][:60]!r}"
    return None


def _nonblank_lines(answer: str) -> list[str]:
    return [line for line in answer.splitlines() if line.strip()]


def _check_no_code(parsed: ParsedAnswer, answer: str, kind, bounds) -> str | None:
    if "```" in answer or "~~~" in answer:
        return "fenced code block"
    code_lines = [line for line in _nonblank_lines(answer) if _code_line(line)]
    if code_lines:
        return f"line of code: {_code_line(code_lines[0])[:60]!r}"
    long_inline = _statement_code(answer)
    if long_inline:
        return f"inline code is a statement, not a name: {long_inline[:40]!r}"
    return None


def _check_no_markup(parsed: ParsedAnswer, answer: str, kind, bounds) -> str | None:
    # Inline code is a name, not markup: `__FILE__` is no bold run.
    prose = _INLINE_CODE.sub("", answer)
    lines = _nonblank_lines(answer)
    tag = _HTML_TAG.search(prose)
    if tag:
        return f"HTML tag {tag.group(0)[:30]!r}"
    if any(_MD_HEADING.match(line) for line in lines):
        return "Markdown heading"
    if any(_MD_TABLE.match(line) for line in lines):
        return "Markdown table row"
    if _BOLD.search(prose):
        return "bold run"
    return None


def _check_item_length(parsed: ParsedAnswer, answer: str, kind, bounds: PatternParams) -> str | None:
    for number, text in parsed.items:
        count = len(words(text))
        if count == 0:
            return f"item {number} is empty"
        if not bounds.min_item_words <= count <= bounds.max_item_words:
            return (f"item {number} has {count} words, allowed "
                    f"{bounds.min_item_words}..{bounds.max_item_words}")
    return None


def _check_no_repeat(parsed: ParsedAnswer, answer: str, kind, bounds) -> str | None:
    normalised = [" ".join(words(text.lower())) for _, text in parsed.items]
    dupes = [t for t, c in Counter(normalised).items() if c > 1 and t]
    if dupes:
        return f"duplicate item {dupes[0][:60]!r}"
    return _degenerate_repetition(answer)


def _check_kind(parsed: ParsedAnswer, answer: str, kind: str | None, bounds) -> str | None:
    announced = intro_kind(parsed.intro)
    if kind is not None and kind not in KINDS:
        return f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}"
    if announced is None:
        return "intro announces neither steps nor possible solutions"
    if kind is not None and announced != kind:
        return f"intro announces {announced} but the item is {kind}"
    return None


RULE_CHECKS = {
    "intro": _check_intro, "list": _check_list, "numbering": _check_numbering,
    "tail": _check_tail, "no_code": _check_no_code, "no_markup": _check_no_markup,
    "item_length": _check_item_length, "no_repeat": _check_no_repeat, "kind": _check_kind,
}


def _strip_item_number(line: str) -> str:
    match = _ITEM.match(line.strip())
    return match.group(2) if match else line


def _degenerate_repetition(text: str) -> str | None:
    """A run of the same word, or one 3-word phrase over and over: a looping model."""
    tokens = [w.lower() for w in words(text)]
    run = 1
    for prev, cur in zip(tokens, tokens[1:]):
        run = run + 1 if cur == prev else 1
        if run >= 4:
            return f"word {cur!r} repeated {run} times in a row"
    trigrams = Counter(zip(tokens, tokens[1:], tokens[2:]))
    if trigrams:
        gram, count = trigrams.most_common(1)[0]
        if count >= 4 and count * 3 > len(tokens) * 0.3:
            return f"phrase {' '.join(gram)!r} repeated {count} times"
    return None


def conforms(answer: str, kind: str | None, bounds: PatternParams) -> bool:
    return not check_answer(answer, kind, bounds)


def conformance_rates(failures: Iterable[Sequence[RuleFailure]]) -> dict[str, float]:
    """Strict rate (all rules pass) and per-rule pass rates, as flat metric keys."""
    failures = list(failures)
    total = len(failures)
    if total == 0:
        return {"strict": 0.0, **{f"rule_{rule}": 0.0 for rule in RULE_IDS}}
    rates = {"strict": sum(1 for f in failures if not f) / total}
    for rule in RULE_IDS:
        passed = sum(1 for f in failures if all(x.rule != rule for x in f))
        rates[f"rule_{rule}"] = passed / total
    return rates


# The bounds in the shipped params.yaml, for `wpqa check` outside a project checkout.
DEFAULT_BOUNDS = PatternParams(min_items=2, max_items=10, min_item_words=2, max_item_words=40,
                               max_intro_words=30)
