"""Per-answer scores and the statistics over them: intervals and paired tests.

Scores compare one answer with its reference: ROUGE-L (the `rouge-score` package, the
implementation the summarisation literature reports), the step-count error and the step
recall (the share of reference steps that some predicted step matches with a token F1
at or above a threshold). Statistics work on per-question values, so every model is
judged on the same questions: a percentile bootstrap interval for a mean, a paired
bootstrap interval for the difference between two models, and a paired test: the exact
McNemar test when the per-question result is pass/fail (strict conformance with one
sample per question), else a sign-flip permutation test.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from wpqa.pattern import parse_answer

_TOKEN = re.compile(r"[a-z0-9]+")
CONFIDENCE = 0.95


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric tokens, as ROUGE tokenizes (no stemming)."""
    return _TOKEN.findall(text.lower())


def token_f1(predicted: str, reference: str) -> float:
    """SQuAD-style token F1 between two short texts (bags of tokens)."""
    pred, ref = tokens(predicted), tokens(reference)
    if not pred or not ref:
        return 0.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def list_items(answer: str) -> list[str]:
    """The numbered items of an answer, as the pattern checker parses them."""
    return [text for _, text in parse_answer(answer).items]


def step_count_error(answer: str, reference: str) -> int:
    """|predicted items - reference items|: 0 when the model lists as many steps."""
    return abs(len(list_items(answer)) - len(list_items(reference)))


def step_recall(answer: str, reference: str, threshold: float) -> float:
    """Share of reference steps matched by some predicted step with token F1 >= threshold.

    A reference without numbered steps has nothing to recall and scores 1.0.
    """
    ref_steps, pred_steps = list_items(reference), list_items(answer)
    if not ref_steps:
        return 1.0
    matched = sum(1 for ref in ref_steps
                  if any(token_f1(pred, ref) >= threshold for pred in pred_steps))
    return matched / len(ref_steps)


_ROUGE = None


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F-measure of the answer against the reference (0..1)."""
    global _ROUGE
    if _ROUGE is None:
        from rouge_score import rouge_scorer

        _ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return float(_ROUGE.score(reference, answer)["rougeL"].fmeasure)


# ------------------------------------------------------------------- statistics

@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedResult:
    """Model a minus model b on the same questions."""

    diff: float
    low: float
    high: float
    p_value: float
    test: str  # "mcnemar_exact" | "paired_permutation"


def _resampled_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    return values[picks].mean(axis=1)


def _percentiles(means: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2
    # inverted_cdf keeps the bounds on values a resample can really take
    low, high = np.quantile(means, [tail, 1 - tail], method="inverted_cdf")
    return float(low), float(high)


def bootstrap_interval(values: Sequence[float], resamples: int, seed: int) -> Interval:
    """The mean with its 95% percentile bootstrap interval over questions (seeded)."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        raise ValueError("bootstrap_interval: no values")
    low, high = _percentiles(_resampled_means(array, resamples, seed))
    return Interval(float(array.mean()), low, high)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], resamples: int,
                     seed: int) -> tuple[Interval, float]:
    """Mean of a - b per question, its 95% interval, and a two-sided p-value.

    The p-value is the share of resampled mean differences, re-centred on zero (the
    null of no difference), at least as far from zero as the observed difference;
    (count + 1) / (resamples + 1) so it is never exactly zero.
    """
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_arr.shape != b_arr.shape or a_arr.size == 0:
        raise ValueError(f"paired_bootstrap: need equal, non-empty per-question results, "
                         f"got {a_arr.size} and {b_arr.size}")
    diffs = a_arr - b_arr
    observed = float(diffs.mean())
    means = _resampled_means(diffs, resamples, seed)
    low, high = _percentiles(means)
    extreme = int(np.sum(np.abs(means - observed) >= abs(observed) - 1e-12))
    p_value = 1.0 if observed == 0 else (extreme + 1) / (resamples + 1)
    return Interval(observed, low, high), min(1.0, p_value)


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int, float]:
    """Exact (binomial) McNemar test on paired pass/fail results.

    Returns (a passes where b fails, b passes where a fails, two-sided p-value).
    """
    if len(a) != len(b):
        raise ValueError(f"mcnemar_exact: {len(a)} vs {len(b)} results")
    only_a = sum(1 for x, y in zip(a, b) if x and not y)
    only_b = sum(1 for x, y in zip(a, b) if y and not x)
    n = only_a + only_b
    if n == 0:
        return only_a, only_b, 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2 ** n
    return only_a, only_b, min(1.0, 2 * tail)


EXACT_PERMUTATION_MAX_N = 16  # up to 2^16 sign patterns are enumerated; beyond, sampled


def paired_permutation(a: Sequence[float], b: Sequence[float], resamples: int,
                       seed: int) -> float:
    """Two-sided sign-flip permutation test of the mean per-question difference a - b.

    Under the null the sign of each question's difference is a coin flip; the p-value is
    the share of sign patterns whose mean is at least as far from zero as the observed.
    Exact (every pattern) for up to 16 questions that differ, else `resamples` random
    patterns with the observed one counted in. Unlike a bootstrap p-value it stays honest
    on a handful of questions (4 questions all in one direction: p = 2/16).
    """
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    diffs = diffs[diffs != 0]  # ties carry no sign information
    if diffs.size == 0:
        return 1.0
    observed = abs(diffs.sum()) - 1e-9
    if diffs.size <= EXACT_PERMUTATION_MAX_N:
        patterns = np.array(np.meshgrid(*[[1.0, -1.0]] * diffs.size)).reshape(diffs.size, -1).T
        return float(np.mean(np.abs(patterns @ diffs) >= observed))
    rng = np.random.default_rng(seed)
    signs = rng.choice([1.0, -1.0], size=(resamples, diffs.size))
    extreme = int(np.sum(np.abs(signs @ diffs) >= observed))
    return (extreme + 1) / (resamples + 1)


def compare(a: Sequence[float], b: Sequence[float], resamples: int, seed: int) -> PairedResult:
    """Paired comparison of two models' per-question results.

    The interval of the difference is the paired bootstrap. The p-value is the exact
    McNemar test when every per-question result is pass/fail (0 or 1), else the paired
    sign-flip permutation test.
    """
    interval, _ = paired_bootstrap(a, b, resamples, seed)
    if all(x in (0.0, 1.0) for x in [*a, *b]):
        _, _, p_value = mcnemar_exact([bool(x) for x in a], [bool(y) for y in b])
        return PairedResult(interval.mean, interval.low, interval.high, p_value, "mcnemar_exact")
    p_value = paired_permutation(a, b, resamples, seed)
    return PairedResult(interval.mean, interval.low, interval.high, p_value, "paired_permutation")
