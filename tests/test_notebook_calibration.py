"""The calibration notebook runs top to bottom on the public API and shows the held-out fit."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "calibration.ipynb"
DATA = ROOT.parent / "shared/data/credit_card_monthly_status/credit_record.csv"


def test_calibration_notebook_executes(tmp_path):
    if not DATA.exists():
        pytest.skip(f"shared data not found at {DATA}")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )
    client.execute()
    outputs = [
        out
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    ]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    text = "".join(out.get("text", "") for out in outputs)
    assert "all within tolerance: True" in text
    assert "bandwidth 200: jump" in text
    assert sum("image/png" in out.get("data", {}) for out in outputs) >= 3
    source = "".join(cell.source for cell in notebook.cells)
    for name in ("calibrate(", "recovery_uplift(", "simulate("):
        assert name in source
