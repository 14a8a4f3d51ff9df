"""Loose scoring of the pattern, in the manner of IFEval's loose accuracy.

Strict is the checker that gates the dataset (`wpqa.pattern.check_answer`): the exact
house style. Loose asks whether a reader would see the pattern, forgiving what IFEval
forgives (its loose check retries a response with Markdown asterisks removed and with the
first or last line dropped) plus one thing specific to this pattern, an intro that
announces the steps or solutions in other words:

- **emphasis**: `**bold**`, `__bold__` and `*italic*` markers are removed first;
- **preamble**: a first line before the intro ("Sure!") may be dropped;
- **closing**: a last line after the list ("I hope this helps!") may be dropped, as
  strict allows one `Note:` line;
- **intro wording**: the `kind` rule accepts any one-sentence intro ending in `:` that
  announces steps ("by using the following steps:", "Here are the steps:") or solutions
  ("Try these fixes:"), or a neutral "the following:", as long as it does not announce
  the other kind.

Every other rule (numbered items, numbering, item length, no code, no repeats, no HTML or
headings) applies unchanged. An answer passes loose when any of its variants passes; the
per-rule result is that of the variant with the fewest failures. An answer that passes
strict passes loose.
"""
from __future__ import annotations

import itertools
import re

from wpqa.pattern import KINDS, RuleFailure, check_answer, intro_kind, parse_answer
from wpqa.params import PatternParams

_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_STEPS_WORDS = re.compile(r"\b(steps?|instructions?|procedure|how to)\b")
_SOLUTIONS_WORDS = re.compile(r"\b(solutions?|fix(es)?|remed(y|ies)|causes?|things to try|"
                              r"try (the following|these))\b")
_NEUTRAL_WORDS = re.compile(r"\b(the following|these|as follows|below)\b")


def strip_emphasis(text: str) -> str:
    """Markdown bold and italic markers removed, their text kept."""
    text = _BOLD.sub(lambda m: m.group(1) or m.group(2), text)
    return _ITALIC.sub(lambda m: m.group(1), text)


def loose_intro_kind(intro: str | None) -> str | None:
    """`steps`, `solutions`, `either` (a neutral "the following:") or None.

    The intro must be one line ending in ':'; the strict wording counts as well.
    """
    if not intro or not intro.rstrip().endswith(":"):
        return None
    strict = intro_kind(intro)
    if strict:
        return strict
    lowered = strip_emphasis(intro).lower()
    steps, solutions = _STEPS_WORDS.search(lowered), _SOLUTIONS_WORDS.search(lowered)
    if steps and not solutions:
        return "steps"
    if solutions and not steps:
        return "solutions"
    if steps and solutions:
        return "either"
    return "either" if _NEUTRAL_WORDS.search(lowered) else None


def loose_kind_failure(intro: str | None, kind: str | None) -> RuleFailure | None:
    if kind is not None and kind not in KINDS:
        return RuleFailure("kind", f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
    announced = loose_intro_kind(intro)
    if announced is None:
        return RuleFailure("kind", "intro announces no list of steps or solutions")
    if kind is not None and announced not in (kind, "either"):
        return RuleFailure("kind", f"intro announces {announced} but the item is {kind}")
    return None


def loose_variants(answer: str) -> list[str]:
    """The answer with emphasis stripped, and with a first and/or last line dropped.

    A line is dropped only where it is not a numbered item, so the list itself is
    never shortened.
    """
    stripped = strip_emphasis(answer)
    variants = []
    for text in (stripped, answer):
        lines = [line for line in text.strip().splitlines() if line.strip()]
        parsed = parse_answer(text)
        can_drop_first = (len(lines) > 2 and parsed.intro is not None
                          and not re.match(r"^\d+\.\s", lines[1]))
        can_drop_last = len(lines) > 2 and bool(parsed.tail)
        for first, last in itertools.product((False, True), repeat=2):
            if (first and not can_drop_first) or (last and not can_drop_last):
                continue
            kept = lines[1 if first else 0:len(lines) - (1 if last else 0)]
            variants.append("\n".join(kept))
    return list(dict.fromkeys(variants))


def check_answer_loose(answer: str, kind: str | None,
                       bounds: PatternParams) -> list[RuleFailure]:
    """The rules the answer breaks under loose scoring; empty when it passes loose."""
    best: list[RuleFailure] | None = None
    for variant in loose_variants(answer) or [answer]:
        failures = [f for f in check_answer(variant, kind, bounds) if f.rule != "kind"]
        kind_failure = loose_kind_failure(parse_answer(variant).intro, kind)
        if kind_failure:
            failures.append(kind_failure)
        if best is None or len(failures) < len(best):
            best = failures
        if not best:
            break
    return best or []


def conforms_loose(answer: str, kind: str | None, bounds: PatternParams) -> bool:
    return not check_answer_loose(answer, kind, bounds)
