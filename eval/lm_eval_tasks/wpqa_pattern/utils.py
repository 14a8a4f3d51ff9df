"""Scoring for the wpqa_pattern lm-evaluation-harness tasks.

Imports the pattern checkers from the wpqa package, so the harness scores answers with
exactly the code that gates the dataset and the eval stage (install wpqa in the same
environment: `pip install -e .` in the project).
"""
from __future__ import annotations

from wpqa.pattern import DEFAULT_BOUNDS, check_answer
from eval.loose import check_answer_loose


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """strict: every pattern rule passes; loose: the IFEval-style loose check passes."""
    answer = (results[0] if results else "").strip()
    kind = doc.get("kind") or None
    return {"strict": float(not check_answer(answer, kind, DEFAULT_BOUNDS)),
            "loose": float(not check_answer_loose(answer, kind, DEFAULT_BOUNDS))}
