"""Shared fixtures: the default pattern bounds and small records written in our own words."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from wpqa.params import load_params

ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures" / "real"

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def params():
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def bounds(params):
    return params.pattern
