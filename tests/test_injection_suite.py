"""The planted-injection suite through every generate backend: no marker reaches the
accepted Q&A or even the model, and every clean procedure on the same pages is kept."""
from __future__ import annotations

import pytest

from tests.injection_suite import load_cases, run_suite
from tests.openai_server import ScriptedOpenAI

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", ["rules", "openai", "hybrid"])
def test_no_planted_marker_reaches_the_dataset(backend, tmp_path):
    cases, _ = load_cases()
    visible = [c for c in cases if c.where in ("paragraph", "steps", "heading", "faq")]
    assert len(cases) >= 25 and len(visible) >= 15
    if backend == "rules":
        result = run_suite(backend, workdir=tmp_path)
    else:
        with ScriptedOpenAI() as server:
            result = run_suite(backend, server, tmp_path)
    assert result.leaked == []
    assert result.sent_to_model == []
    # Every planted text a reader can see is caught by the detector; hidden text, code,
    # alt text and comments never reach a section at all.
    assert result.caught == [c.id for c in visible]
    assert result.clean_kept == result.clean_baseline == 2 * len(cases)
    assert result.false_alarms == 0
