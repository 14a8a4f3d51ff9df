"""Fuzzing the two doors bad input comes through: the params file and the candidate rows.

Whatever a user types into params.yaml ends as parsed params or one ParamsError that names
a dotted key; whatever a broken backend writes as a candidate row ends as a candidate or a
quarantine row with a reason. Never another exception, never a row lost.
"""
from __future__ import annotations

import copy
import re

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from curation.validate import parse_candidates  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from wpqa.params import ParamsError, parse_params  # noqa: E402

BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


def _paths(tree, prefix=()):
    """Every dotted path to a leaf (or list) of the shipped params."""
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _paths(value, prefix + (key,))
        else:
            yield prefix + (key,)


PATHS = sorted(_paths(BASE))
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**6, max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _set(tree, path, value):
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.sampled_from(PATHS), ODD_VALUES), min_size=1, max_size=3),
       extra=st.one_of(st.none(), st.text(min_size=1, max_size=12)))
def test_any_params_file_parses_or_names_its_bad_key(edits, extra):
    raw = copy.deepcopy(BASE)
    for path, value in edits:
        _set(raw, path, value)
    if extra is not None and extra not in raw:
        raw[extra] = 1  # a misnamed top-level key must not be accepted in silence
    try:
        parse_params(raw)
    except ParamsError as err:
        message = str(err)
        assert "\n" not in message.strip() and ":" in message
        named = [".".join(p) for p, _ in edits] + ([extra] if extra is not None else [])
        # the message opens with a dotted key and names the one the user got wrong (a
        # cross-field rule, "base.hidden_size … multiple of base.heads", names both)
        assert re.match(r"^('[^']*'|\"[^\"]*\"|\S+): ", message), message
        assert any(key in message or repr(key) in message for key in named), message
    else:
        assert extra is None or extra in BASE


GOOD_ROW = {"id": "a1", "question": "How do I save a draft?",
            "answer": "To save a draft, follow these steps:\n1. Open the post.\n2. Click Save draft.",
            "kind": "steps", "source_url": "https://docs.example.test/p/", "source": "documentation",
            "section_id": "s1", "heading_path": ["Page", "Save a draft"], "content_hash": "h1",
            "generator": "rules-v2"}
ROW_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                       st.text(max_size=30), st.lists(st.text(max_size=5), max_size=3),
                       st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))
ROWS = st.one_of(
    st.fixed_dictionaries({}, optional={k: st.one_of(st.just(v), ROW_VALUES) for k, v in GOOD_ROW.items()}),
    ROW_VALUES)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(ROWS, max_size=8))
def test_any_candidate_row_is_read_or_quarantined_with_a_reason(rows):
    candidates, malformed = parse_candidates(rows)
    assert len(candidates) + len(malformed) == len(rows)
    for row in malformed:
        assert row["failed_rules"] == ["malformed_row"] and row["reasons"]
    for qa in candidates:
        assert isinstance(qa.question, str) and isinstance(qa.answer, str)
