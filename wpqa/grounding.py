"""A cheap grounding check that needs no LLM.

`grounding_score(answer, source_text)` is the share of the answer's content words that
also occur in the source section. Stop words and the pattern's own wording ("follow these
steps", "possible solutions") do not count, and words are compared by a light stem
("clicks", "clicked" and "clicking" all meet "click"), so an answer that rephrases the
section's steps scores near 1 and one that invents steps scores low. The generate stage
rejects LLM answers under `generate.min_grounding` as `ungrounded`; the evaluation reuses
the score for endpoint models.
"""
from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9][a-z0-9'’_.-]*[a-z0-9]|[a-z0-9]")

STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each either else
etc every few for from further had has have having he her here hers him his how i if in
into is it its itself just least less let like may me might more most must my no nor not
now of off on once only or other our ours out over own per same shall she should so some
such than that the their theirs them then there these they this those through thus to too
under until up upon us very via was we were what when where whether which while who whom
why will with within without would yes yet you your yours
""".split())
# The pattern's fixed wording: an intro or note line says these whatever the source says.
PATTERN_WORDS = frozenset("""
follow following steps step possible solution solutions problem note here these
""".split())


def stem(word: str) -> str:
    """A light suffix stem, enough to match inflections of the same word."""
    word = word.replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2]:  # "stopp(ed)" -> "stop"
        word = word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """Stems of the words that carry meaning, in order (repeats kept)."""
    tokens = _WORD.findall(text.lower())
    return [stem(t) for t in tokens if t not in STOP_WORDS and t not in PATTERN_WORDS]


def grounding_score(answer: str, source_text: str) -> float:
    """Share of the answer's content words found in the source section (0.0 to 1.0).

    Leading list numbers ("1.") are not words; an answer with no content words scores 0.
    """
    answer = re.sub(r"(?m)^\s*\d+[.)]\s+", "", answer)
    words = content_words(answer)
    if not words:
        return 0.0
    source = set(content_words(source_text))
    return sum(1 for w in words if w in source) / len(words)
