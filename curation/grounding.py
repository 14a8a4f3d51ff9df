"""How much of an answer its source section supports (provisional; issue 4 owns this module).

`grounding_score(answer, source_text)` is the share of the answer's content words (not
stop words, not list numbers) that also occur in the source section text.
"""
from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an and are as at be by can do for from how i if in is it of on or the "
                  "to you your with this that these follow steps step here possible solutions "
                  "problem note".split())


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and not w.isdigit()]


def grounding_score(answer: str, source_text: str) -> float:
    """Share of the answer's content words found in the source (0.0 when it has none)."""
    words = content_words(answer)
    if not words:
        return 0.0
    source = set(content_words(source_text))
    return sum(1 for w in words if w in source) / len(words)
