"""The frontier notebook runs from top to bottom on the public API."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "visit_budget_frontier.ipynb"


def test_visit_budget_frontier_notebook_executes():
    # Executed once for the whole suite (tests/test_notebooks.py also checks that the outputs
    # stored in the notebook are these).
    from test_notebooks import executed

    nb = executed(NOTEBOOK.stem)
    text = "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "An extra field team is worth most in" in text
    # The notebook uses the functions the CLI uses, not a private copy.
    source = "".join(cell.source for cell in nb.cells)
    for name in ("load_problem", "solve", "explain", "budget_frontier"):
        assert name in source
