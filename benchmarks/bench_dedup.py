"""Dedup and split of 100,000 synthetic Q&A vs a naive all-pairs check, on 2 cores.

Ours: the split stage's `make_splits` (review, exact + MinHash LSH dedup, groups by page,
paraphrase family, near pair and shared 13-word run, split, decontamination check with
Great Expectations). The baseline: exact Jaccard of every pair of shingle sets, run on a
random sample and scaled by the pair count (n^2/2), since on 100,000 items it would take
hours. The same sample also gives the recall of the LSH against the all-pairs truth.
The sample is the first items generated: their duplicates point back into it.

    python benchmarks/bench_dedup.py [--items 100000] [--sample 2000]

Prints the time and peak memory (the process's maximum resident set) of ours and the
ratio to the scaled baseline, in one run.
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.dedup import item_tokens, shingle_sets, similar_pairs  # noqa: E402
from curation.split import make_splits, near_params  # noqa: E402
from wpqa.params import load_params  # noqa: E402
from wpqa.records import QAPair  # noqa: E402

VERBS = ("add", "remove", "change", "enable", "disable", "update", "move", "export", "import",
         "schedule", "restore", "reset", "translate", "embed", "hide", "rename", "filter", "sort")


def synthetic_items(n: int, seed: int) -> list[QAPair]:
    """Documentation-like Q&A with injected exact duplicates (2%), near duplicates (one word
    changed, 3%), version near-misses (2%) and paraphrases (2%); ~5 items per page."""
    rng = random.Random(seed)
    vocab = [f"{a}{b}" for a in ("pl", "th", "me", "wi", "bl", "po", "ca", "us", "se", "fo", "im",
                                 "li", "ta", "co", "sh", "gr", "st", "ne", "pa", "ro")
             for b in ("ugin", "eme", "nu", "dget", "ock", "st", "che", "er", "tting", "rm", "age",
                       "nk", "g", "mment", "op", "oup", "yle", "twork", "ge", "le", "xt", "ode",
                       "ta", "mpt", "ry")]

    def sentence(words: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(words)).capitalize() + "."

    items: list[QAPair] = []
    for i in range(n):
        kind = rng.random()
        if items and kind < 0.09:
            src = items[rng.randrange(len(items))]
            if kind < 0.02:  # exact: other case and spacing
                q = QAPair(**{**src.__dict__, "id": f"x{i:06d}", "question": src.question.lower() + " ",
                              "section_id": f"s{i}"})
            elif kind < 0.05:  # near: one word of one step changed
                lines = src.answer.split("\n")
                k = rng.randrange(1, len(lines))
                words = lines[k].split(" ")
                words[-1] = rng.choice(vocab) + "."
                lines[k] = " ".join(words)
                q = QAPair(**{**src.__dict__, "id": f"x{i:06d}", "answer": "\n".join(lines),
                              "source_url": f"https://docs.example.test/page-{i // 5}/"})
            elif kind < 0.07:  # version near-miss
                q = QAPair(**{**src.__dict__, "id": f"x{i:06d}",
                              "question": src.question.replace("?", f" in version 6.{i % 9}?"),
                              "answer": src.answer + f"\nNote: This applies to version 6.{i % 9}.",
                              "source_url": f"https://docs.example.test/page-{i // 5}/"})
            else:  # paraphrase of src
                q = QAPair(**{**src.__dict__, "id": f"x{i:06d}", "origin_id": src.id,
                              "question": "What are the steps to " + src.question[9:]})
            items.append(q)
            continue
        task = f"{rng.choice(VERBS)} the {rng.choice(vocab)} {rng.choice(vocab)}"
        steps = [sentence(rng.randint(6, 14)) for _ in range(rng.randint(3, 6))]
        answer = f"To {task}, follow these steps:\n" + "\n".join(f"{k}. {s}" for k, s in enumerate(steps, 1))
        items.append(QAPair(id=f"x{i:06d}", question=f"How do I {task}?", answer=answer, kind="steps",
                            source_url=f"https://docs.example.test/page-{i // 5}/", source="synthetic",
                            section_id=f"s{i}", heading_path=["Synthetic"], content_hash="h",
                            generator="synthetic"))
    return items


def naive_pairs(sets: list, threshold: float) -> tuple[float, set]:
    """Exact Jaccard over every pair: (seconds, index pairs at or above the threshold)."""
    start = time.process_time()
    frozen = [frozenset(s.tolist()) for s in sets]
    found = set()
    for i, j in combinations(range(len(frozen)), 2):
        a, b = frozen[i], frozen[j]
        inter = len(a & b)
        if inter and inter / (len(a) + len(b) - inter) >= threshold:
            found.add((i, j))
    return time.process_time() - start, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--params", default=str(Path(__file__).resolve().parents[1] / "params.yaml"))
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 2:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    params = load_params(args.params)
    split = params.split.__class__(**{**params.split.__dict__, "test_size": 0.05})

    items = synthetic_items(args.items, params.seed)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start, cpu_start = time.perf_counter(), time.process_time()
    out = make_splits(items, {}, split, params.pattern, params.seed)
    ours = time.perf_counter() - start
    ours_cpu = time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    m = out.metrics
    print(f"ours: {args.items:,} items on {cores} cores in {ours:.1f} s wall ({ours_cpu:.1f} s CPU; "
          f"load average {os.getloadavg()[0]:.1f}), peak RSS {peak:,.0f} MiB "
          f"(data alone {rss_before:,.0f} MiB); dropped exact {m['dropped_exact_duplicate']:,}, "
          f"near {m['dropped_near_duplicate']:,}; kept near-misses {m['near_misses_kept']:,}; "
          f"train {m['train']:,}, test {m['test']:,}, groups {m['groups']:,} (largest "
          f"{m['largest_group']}), leaks {m['leaks']}")

    # The first items: their duplicates were drawn from earlier items, so the sample holds
    # real pairs for the recall figure (the time per pair does not depend on the choice).
    sample = items[:args.sample]
    sets = shingle_sets([item_tokens(q) for q in sample], split.shingle_words)
    naive_s, truth = naive_pairs(sets, split.near_dup_threshold)
    scale = (args.items * (args.items - 1)) / (args.sample * (args.sample - 1))
    naive_full = naive_s * scale
    found = {(i, j) for i, j, _ in similar_pairs(sets, near_params(split))}
    recall = len(truth & found) / len(truth) if truth else 1.0
    print(f"naive all-pairs: {args.sample:,}-item sample ({args.sample * (args.sample - 1) // 2:,} pairs) "
          f"in {naive_s:.2f} s CPU -> scaled to {args.items:,} items: {naive_full:,.0f} s "
          f"({naive_full / 3600:.1f} h)")
    print(f"LSH recall on the sample vs all pairs: {len(truth & found)}/{len(truth)} pairs "
          f"= {recall:.3f}; false pairs: {len(found - truth)}")
    print(f"ratio (CPU time, both single-threaded Python/numpy): ours is {naive_full / ours_cpu:,.0f}x "
          f"faster than the scaled all-pairs check ({naive_full / ours:,.0f}x by wall time)")


if __name__ == "__main__":
    main()
