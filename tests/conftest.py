"""Shared fixtures: the small scenario, cut down further when a test only needs a run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis profiles. "ci" (the default, and what the README's test command and .ci/run use)
# is derandomised: the same examples on every run, so CI never passes or fails by chance.
# "explore" draws fresh random examples, ten times as many; run it before a release with
#     HYPOTHESIS_PROFILE=explore python -m pytest -q
# and pin whatever it finds as an @example on the test that failed.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=400, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"

# Tests import small builders from tests/helpers.py and the reference model from benchmarks/.
for path in (ROOT / "tests", ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture
def small_path() -> Path:
    return DATA / "small.toml"


@pytest.fixture
def tiny_scenario_file(tmp_path) -> Path:
    """small.toml with fewer accounts and days: for tests that need a run, not its numbers."""
    text = (DATA / "small.toml").read_text()
    text = text.replace("accounts = 3000", "accounts = 800").replace("days = 60", "days = 30")
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return path
