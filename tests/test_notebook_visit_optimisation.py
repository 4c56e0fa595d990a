"""The visit-optimisation notebook runs top to bottom on the public API."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "visit_optimisation.ipynb"


def test_visit_optimisation_notebook_executes(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code"
               for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    text = "".join(out.get("text", "") for out in outputs)
    assert "eligible accounts; mean net effect of a visit" in text
    assert "predicted" in text and "realised" in text
    assert sum("image/png" in out.get("data", {}) for out in outputs) >= 3
    source = "".join(cell.source for cell in notebook.cells)
    for name in ("treatment_effects", "ValueModel", "run_optimised", "run_scenario"):
        assert name in source
