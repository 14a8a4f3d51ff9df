"""Reference scores, bootstrap intervals and paired tests, checked against hand computations."""
from __future__ import annotations

import math

import pytest

from wpqa.pattern import format_answer
from eval import metrics

REFERENCE = format_answer("steps", ["Go to Plugins in the dashboard.", "Click Add New Plugin.",
                                    "Search for the plugin by name."], task="install a plugin")


# ------------------------------------------------------------------ answer scores

def test_token_f1_by_hand():
    # pred {click, add, new} vs ref {click, add, new, plugin}: P 3/3, R 3/4 -> F1 6/7
    assert metrics.token_f1("Click Add New", "Click Add New Plugin.") == pytest.approx(6 / 7)
    assert metrics.token_f1("", "anything") == 0.0
    assert metrics.token_f1("nothing shared", "other words") == 0.0


def test_step_recall_counts_reference_steps_matched_above_the_threshold():
    answer = format_answer("steps", ["Open Plugins in the dashboard.", "Click Add New Plugin.",
                                     "Restart the server."], task="install a plugin")
    # ref 1 "go to plugins in the dashboard" vs "open plugins in the dashboard": F1 8/11 = 0.73
    # ref 2 matches exactly; ref 3 "search for the plugin by name" matches nothing above 0.5
    assert metrics.step_recall(answer, REFERENCE, 0.5) == pytest.approx(2 / 3)
    assert metrics.step_recall(answer, REFERENCE, 0.9) == pytest.approx(1 / 3)
    assert metrics.step_recall("no list at all", REFERENCE, 0.5) == 0.0
    assert metrics.step_recall(answer, "no steps in the reference", 0.5) == 1.0


def test_step_count_error_is_the_absolute_difference():
    two = format_answer("steps", ["Go to Plugins.", "Click Add New."], task="install a plugin")
    assert metrics.step_count_error(two, REFERENCE) == 1
    assert metrics.step_count_error(REFERENCE, REFERENCE) == 0
    assert metrics.step_count_error("prose only", REFERENCE) == 3


def test_rouge_l_by_hand():
    # reference "the cat sat on the mat" (6), answer "the cat on the mat" (5):
    # LCS 5 -> P 5/5, R 5/6, F = 2PR/(P+R) = 10/11
    assert metrics.rouge_l("the cat on the mat", "the cat sat on the mat") == pytest.approx(10 / 11)
    assert metrics.rouge_l(REFERENCE, REFERENCE) == pytest.approx(1.0)
    assert metrics.rouge_l("zebra", REFERENCE) == 0.0


# ------------------------------------------------------------------ statistics

def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    # Resampling [0, 1, 1, 1] four times: the number of ones k ~ Binomial(4, 3/4), so the
    # resampled mean k/4 has CDF 1/256, 13/256, 67/256, 175/256, 1 at k = 0..4. The 2.5%
    # quantile is k=1 (CDF 0.051 is the first >= 0.025), the 97.5% quantile k=4.
    interval = metrics.bootstrap_interval([0, 1, 1, 1], resamples=4000, seed=7)
    assert interval.mean == 0.75
    assert (interval.low, interval.high) == (0.25, 1.0)


def test_bootstrap_interval_is_seeded_and_narrows_with_more_questions():
    few = metrics.bootstrap_interval([0, 1] * 5, resamples=2000, seed=1)
    assert few == metrics.bootstrap_interval([0, 1] * 5, resamples=2000, seed=1)
    many = metrics.bootstrap_interval([0, 1] * 200, resamples=2000, seed=1)
    assert many.high - many.low < few.high - few.low
    assert many.low < 0.5 < many.high


def test_mcnemar_exact_by_hand():
    # a passes and b fails on 5 questions, never the other way: p = 2 * (1/2)^5 = 0.0625
    a = [True] * 5 + [True, False, False]
    b = [False] * 5 + [True, False, False]
    assert metrics.mcnemar_exact(a, b) == (5, 0, pytest.approx(0.0625))
    # 6 vs 2 discordant: p = 2 * (C(8,0)+C(8,1)+C(8,2)) / 2^8 = 2 * 37/256
    a = [True] * 6 + [False] * 2
    b = [False] * 6 + [True] * 2
    assert metrics.mcnemar_exact(a, b)[2] == pytest.approx(74 / 256)
    assert metrics.mcnemar_exact([True, False], [True, False]) == (0, 0, 1.0)


def test_paired_bootstrap_by_hand():
    # Per-question differences a - b = [1, 1, 1, 0]: the resampled mean difference is
    # k/4 with k ~ Binomial(4, 3/4); its 95% interval is [0.25, 1.0] (as above). Under the
    # re-centred null, |d* - 0.75| >= 0.75 only when d* = 0, probability 1/256 = 0.0039.
    a, b = [1, 1, 1, 0], [0, 0, 0, 0]
    interval, p = metrics.paired_bootstrap(a, b, resamples=20000, seed=3)
    assert interval.mean == 0.75 and (interval.low, interval.high) == (0.25, 1.0)
    assert p == pytest.approx(1 / 256, abs=0.0015)
    same, p_same = metrics.paired_bootstrap([0.3, 0.5], [0.3, 0.5], resamples=500, seed=3)
    assert same.mean == 0.0 and p_same == 1.0


def test_paired_permutation_by_hand():
    # differences [1, 2, 3]: the 8 sign patterns sum to +-6, +-4, +-2, 0, 0; |sum| >= 6
    # for 2 of them -> p = 2/8
    assert metrics.paired_permutation([1, 2, 3], [0, 0, 0], resamples=100, seed=0) == 0.25
    # 4 questions all +0.3: 2 of 16 patterns as extreme -> 0.125 (a bootstrap would say ~0)
    assert metrics.paired_permutation([0.5] * 4, [0.2] * 4, resamples=100, seed=0) == 0.125
    # ties drop out: only the two non-zero differences (+1, -1) count -> every pattern as extreme
    assert metrics.paired_permutation([1, 0, 0.5], [0, 1, 0.5], resamples=100, seed=0) == 1.0
    assert metrics.paired_permutation([0.4, 0.4], [0.4, 0.4], resamples=100, seed=0) == 1.0
    # many questions: sampled patterns, never exactly zero
    p = metrics.paired_permutation([1.0] * 30, [0.0] * 30, resamples=999, seed=0)
    assert p == pytest.approx(1 / 1000)


def test_compare_uses_mcnemar_for_pass_fail_and_the_permutation_test_otherwise():
    a, b = [1, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0]
    binary = metrics.compare(a, b, resamples=1000, seed=0)
    assert binary.test == "mcnemar_exact" and binary.p_value == pytest.approx(0.0625)
    assert binary.diff == pytest.approx(5 / 6)
    scores = metrics.compare([0.9, 0.8, 0.7], [0.1, 0.2, 0.3], resamples=1000, seed=0)
    assert scores.test == "paired_permutation" and scores.p_value == 0.25
    assert scores.low > 0 and math.isclose(scores.diff, 0.6)


def test_paired_bootstrap_refuses_unpaired_results():
    with pytest.raises(ValueError, match="equal"):
        metrics.paired_bootstrap([1, 0], [1], resamples=100, seed=0)
