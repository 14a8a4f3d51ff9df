"""Evidence per step: the passage of the source section that says what each step says.

One grounding share per answer (`wpqa.grounding`) cannot tell an answer whose every step
comes from the page from one that copies three steps and invents a fourth. Here each step
of a list answer is aligned on its own with the passages of its source (the grounding
source: page title, heading path and section text), split into sentences and lines (a
list item is a line). A step is supported by the passage, or the run of up to
`MAX_JOINED` adjacent passages, that holds the largest share of the step's content words
(light stems, stop words left out, as in the grounding score); at `min_support` or more
the step carries that span, as character offsets into the source text, else it has none.

The generate gate keeps the spans of every accepted item (`evidence` in the Q&A rows, one
`[start, end]` or null per step) and rejects an LLM item with an unsupported step
(`unsupported_step`), or drops the step, as `generate.unsupported_step` says; the review
report shows each step's evidence beside it; the eval stage reports the share of each
model's answer steps supported by the item's source section (`<model>_step_support`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from wpqa.grounding import content_words
from wpqa.pattern import parse_answer

# Within a line, a passage ends after a sentence's end mark followed by a capital (or a
# digit or an opening quote): "wp-config.php file" and "e.g. this" do not split.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”')]?\s+(?=[A-Z0-9\"“(])")
_MARKER = re.compile(r"\s*(?:\d+[.)]|[-*•])\s+")  # a list item's number or bullet
MAX_JOINED = 3       # a step may merge up to three adjacent sentences of the page
MIN_SUPPORT = 0.6    # share of the step's content words its passage must hold


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    support: float   # share of the step's content words found in source[start:end]


def passages(source: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of each line of `source` (a list item is a line), with
    spaces and the item's number or bullet trimmed."""
    spans = []
    for line in re.finditer(r"[^\n]+", source):
        marker = _MARKER.match(line.group(0))
        start = line.start() + (marker.end() if marker else 0)
        cut = start
        for match in [*_SENTENCE_END.finditer(source, start, line.end()), None]:
            end = match.start() if match else line.end()
            piece = source[cut:end]
            if piece.strip():
                left = cut + len(piece) - len(piece.lstrip())
                spans.append((left, cut + len(piece.rstrip())))
            if match:
                cut = match.end()
    return spans


def _share(step_words: list[str], passage_words: set[str]) -> float:
    return sum(1 for w in step_words if w in passage_words) / len(step_words)


def step_span(step: str, source: str, units: list[tuple[int, int]] | None = None,
              min_support: float = MIN_SUPPORT) -> Span | None:
    """The shortest best-supporting run of passages for one step, or None."""
    step_words = content_words(step)
    if not step_words:
        return None
    units = passages(source) if units is None else units
    unit_words = [set(content_words(source[a:b])) for a, b in units]
    best: Span | None = None
    for i in range(len(units)):
        joined: set[str] = set()
        for j in range(i, min(i + MAX_JOINED, len(units))):
            joined |= unit_words[j]
            share = round(_share(step_words, joined), 4)
            span = Span(units[i][0], units[j][1], share)
            # the best share; of equal shares, the shortest passage
            if best is None or (share, span.start - span.end) > (best.support,
                                                                 best.start - best.end):
                best = span
    return best if best is not None and best.support >= min_support else None


def answer_steps(answer: str) -> list[str]:
    """The numbered items of a list answer, in order."""
    return [text for _, text in parse_answer(answer).items]


def step_spans(answer: str, source: str, min_support: float = MIN_SUPPORT) -> list[Span | None]:
    """One span (or None: unsupported) per step of `answer`."""
    units = passages(source)
    return [step_span(step, source, units, min_support) for step in answer_steps(answer)]


def step_support(answer: str, source: str, min_support: float = MIN_SUPPORT) -> float | None:
    """Share of the answer's steps that the source supports; None for an answer with none."""
    spans = step_spans(answer, source, min_support)
    if not spans:
        return None
    return sum(span is not None for span in spans) / len(spans)


def evidence_rows(spans: list[Span | None]) -> list[list[int] | None]:
    """The spans as stored in a Q&A row: `[start, end]` per step, null when unsupported."""
    return [[span.start, span.end] if span else None for span in spans]
