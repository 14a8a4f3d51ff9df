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
    failures: list[RuleFailure] = []

    def fail(rule: str, reason: str) -> None:
        failures.append(RuleFailure(rule, reason))

    parsed = parse_answer(answer)
    texts = [text for _, text in parsed.items]

    # intro
    if parsed.intro is None:
        fail("intro", "no intro line before the list" if parsed.items else "empty answer")
    elif not parsed.intro.endswith(":"):
        fail("intro", "intro does not end with ':'")
    elif _ITEM_NO_SPACE.match(parsed.intro):
        fail("intro", "intro is a list item")
    elif _SENTENCE_BREAK.search(parsed.intro):
        fail("intro", "intro is more than one sentence")
    elif len(words(parsed.intro)) > bounds.max_intro_words:
        fail("intro", f"intro has {len(words(parsed.intro))} words, over {bounds.max_intro_words}")

    # list
    if not (bounds.min_items <= len(parsed.items) <= bounds.max_items):
        fail("list", f"{len(parsed.items)} numbered items, allowed "
                     f"{bounds.min_items}..{bounds.max_items}")
    elif parsed.stray:
        fail("list", f"non-item line inside the list: {parsed.stray[0][:60]!r}")

    # numbering
    numbers = [n for n, _ in parsed.items]
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        fail("numbering", f"numbers run {numbers[:12]}, expected 1..{len(numbers)}")

    # tail
    if len(parsed.tail) > 1:
        fail("tail", f"{len(parsed.tail)} lines after the list, at most one Note: line allowed")
    elif parsed.tail and not parsed.tail[0].startswith("Note:"):
        fail("tail", f"line after the list does not start with 'Note:': {parsed.tail[0][:60]!r}")

    # no_code
    all_lines = [line for line in answer.splitlines() if line.strip()]
    if "```" in answer or "~~~" in answer:
        fail("no_code", "fenced code block")
    else:
        code_lines = [line for line in all_lines if _code_line(line)]
        long_inline = _statement_code(answer)
        if code_lines:
            fail("no_code", f"line of code: {_code_line(code_lines[0])[:60]!r}")
        elif long_inline:
            fail("no_code", f"inline code is a statement, not a name: {long_inline[:40]!r}")

    # no_markup (inline code is a name, not markup: `__FILE__` is no bold run)
    prose = _INLINE_CODE.sub("", answer)
    if _HTML_TAG.search(prose):
        fail("no_markup", f"HTML tag {_HTML_TAG.search(prose).group(0)[:30]!r}")
    elif any(_MD_HEADING.match(line) for line in all_lines):
        fail("no_markup", "Markdown heading")
    elif any(_MD_TABLE.match(line) for line in all_lines):
        fail("no_markup", "Markdown table row")
    elif _BOLD.search(prose):
        fail("no_markup", "bold run")

    # item_length
    for number, text in parsed.items:
        count = len(words(text))
        if count == 0:
            fail("item_length", f"item {number} is empty")
            break
        if not bounds.min_item_words <= count <= bounds.max_item_words:
            fail("item_length", f"item {number} has {count} words, allowed "
                                f"{bounds.min_item_words}..{bounds.max_item_words}")
            break

    # no_repeat
    normalised = [" ".join(words(t.lower())) for t in texts]
    dupes = [t for t, c in Counter(normalised).items() if c > 1 and t]
    if dupes:
        fail("no_repeat", f"duplicate item {dupes[0][:60]!r}")
    else:
        degenerate = _degenerate_repetition(answer)
        if degenerate:
            fail("no_repeat", degenerate)

    # kind
    announced = intro_kind(parsed.intro)
    if kind is not None and kind not in KINDS:
        fail("kind", f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
    elif announced is None:
        fail("kind", "intro announces neither steps nor possible solutions")
    elif kind is not None and announced != kind:
        fail("kind", f"intro announces {announced} but the item is {kind}")

    return failures


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
