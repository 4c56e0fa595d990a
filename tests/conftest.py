"""Shared fixtures: the small scenario, cut down further when a test only needs a run."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


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
