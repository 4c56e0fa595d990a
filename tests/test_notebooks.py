"""The policy-comparison notebook runs top to bottom on the public API.

(The frontier notebook has its own test in tests/optimise/test_notebook.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "policy_comparison.ipynb"


def test_policy_comparison_notebook_executes(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code"
               for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    text = "".join(out.get("text", "") for out in outputs)
    assert "departures: {'early_visits_allowed'" in text
    assert any("image/png" in out.get("data", {}) for out in outputs)
    source = "".join(cell.source for cell in notebook.cells)
    for name in ("run_scenario", "scenario_from_dict", "BASELINE"):
        assert name in source
