"""The frontier notebook runs from top to bottom on the public API."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "visit_budget_frontier.ipynb"


def test_visit_budget_frontier_notebook_executes():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
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
