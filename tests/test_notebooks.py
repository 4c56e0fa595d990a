"""The notebooks run top to bottom on the public API, and the outputs stored in them (so a
reader sees the analysis without running it) are those the current code produces.

Each notebook is executed once here. When the code's numbers change on purpose, refresh the
stored outputs with ``python notebooks/refresh.py`` (it also strips volatile metadata).
(The frontier notebook's own assertions are in tests/optimise/test_notebook.py.)
"""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
_spec = importlib.util.spec_from_file_location("notebook_refresh", FOLDER / "refresh.py")
refresh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refresh)

_executed: dict[str, object] = {}


def executed(name: str):
    """Notebook ``name`` executed by the current code (once per test session)."""
    if name not in _executed:
        _executed[name] = refresh.execute(name)
    return _executed[name]


def _outputs(notebook) -> list[list[dict]]:
    return [list(cell.get("outputs", [])) for cell in notebook.cells if cell.cell_type == "code"]


def _text(notebook) -> str:
    return "".join(
        out.get("text", "") + out.get("data", {}).get("text/plain", "")
        for cell in _outputs(notebook) for out in cell
    )


def _image(data: str):
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(base64.b64decode(data)), format="png")


def assert_same_outputs(stored, fresh, name: str) -> None:
    """Text and tables exactly; charts pixel by pixel within a small tolerance (antialiasing
    may differ between library builds, the picture may not)."""
    import numpy as np

    hint = f"{name}.ipynb: stored outputs are stale; run `python notebooks/refresh.py {name}`"
    stored_cells, fresh_cells = _outputs(stored), _outputs(fresh)
    assert len(stored_cells) == len(fresh_cells), hint
    for index, (old, new) in enumerate(zip(stored_cells, fresh_cells, strict=True)):
        where = f"{hint} (code cell {index})"
        assert [o["output_type"] for o in old] == [o["output_type"] for o in new], where
        for a, b in zip(old, new, strict=True):
            assert a.get("text") == b.get("text"), where
            assert sorted(a.get("data", {})) == sorted(b.get("data", {})), where
            for kind, value in a.get("data", {}).items():
                if kind == "image/png":
                    x, y = _image(value), _image(b["data"][kind])
                    assert x.shape == y.shape, where
                    assert float(np.abs(x - y).mean()) < 0.01, where
                else:
                    assert value == b["data"][kind], f"{where}: {kind} differs"


@pytest.mark.parametrize("name", refresh.NOTEBOOKS)
def test_stored_outputs_are_those_of_the_current_code(name):
    stored = nbformat.read(FOLDER / f"{name}.ipynb", as_version=4)
    assert any(_outputs(stored)), f"{name}.ipynb is stored without outputs"
    # No volatile metadata: what refresh.py strips is not there.
    assert stored.metadata == refresh.normalise(nbformat.from_dict(stored)).metadata
    for cell in stored.cells:
        assert not cell.metadata, f"{name}.ipynb: cell metadata {dict(cell.metadata)}"
    fresh = executed(name)
    errors = [o for cell in _outputs(fresh) for o in cell if o["output_type"] == "error"]
    assert not errors, errors
    assert_same_outputs(stored, fresh, name)


def test_the_comparison_check_can_fail():
    """A stored table that differs by one digit is caught."""
    stored = nbformat.read(FOLDER / "visit_budget_sweep.ipynb", as_version=4)
    changed = nbformat.from_dict(stored)
    for cell in changed.cells:
        for output in cell.get("outputs", []):
            if "text/plain" in output.get("data", {}):
                text = output["data"]["text/plain"]
                digit = next(c for c in text if c.isdigit())
                output["data"]["text/plain"] = text.replace(digit, str((int(digit) + 1) % 10), 1)
                break
    with pytest.raises(AssertionError, match="stored outputs are stale"):
        assert_same_outputs(stored, changed, "visit_budget_sweep")


def test_policy_comparison_notebook_says_what_it_should():
    notebook = executed("policy_comparison")
    text = _text(notebook)
    assert "departures: {'early_visits_allowed'" in text
    assert any("image/png" in out.get("data", {}) for cell in _outputs(notebook) for out in cell)
    source = "".join(cell.source for cell in notebook.cells)
    for name in ("run_scenario", "scenario_from_dict", "BASELINE"):
        assert name in source


def test_visit_budget_sweep_notebook_uses_the_sweep_and_draws_the_frontier():
    notebook = executed("visit_budget_sweep")
    source = "".join(cell.source for cell in notebook.cells)
    for name in ("sweep_from_dict", "run_sweep", "frontier", "end_hour", "min_balance"):
        assert name in source
    text = _text(notebook)
    assert "12 points; the visit rung is policies[0].rules[6].min_balance" in text
    assert "better_for_sure" in text and "visits_dropped" in text
    images = [out for cell in _outputs(notebook) for out in cell
              if "image/png" in out.get("data", {})]
    assert len(images) == 1


def test_visit_optimisation_notebook_shows_the_closed_loop():
    notebook = executed("visit_optimisation")
    text = _text(notebook)
    assert "eligible accounts; mean net effect of a visit" in text
    assert "predicted" in text and "realised" in text
    images = [out for cell in _outputs(notebook) for out in cell
              if "image/png" in out.get("data", {})]
    # values, the plan on regions x weeks, a four-week plan, predicted vs realised
    assert len(images) >= 4
    assert "four-week plans" in text and "bias_share" in text
    source = "".join(cell.source for cell in notebook.cells)
    for name in ("treatment_effects", "ValueModel", "run_optimised", "run_scenario",
                 "horizon_periods", "plan_bias"):
        assert name in source


def test_calibration_notebook_shows_the_held_out_fit_and_the_uplift():
    data = FOLDER.parent.parent / "shared/data/credit_card_monthly_status/credit_record.csv"
    if not data.exists():
        pytest.skip(f"shared data not found at {data}")
    notebook = executed("calibration")
    text = _text(notebook)
    assert "all within tolerance: True" in text
    assert "bandwidth 200: jump" in text and "visit lift implied" in text
    images = [o for cell in _outputs(notebook) for o in cell if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # transition matrices, occupancy, discontinuity
    source = "".join(cell.source for cell in notebook.cells)
    for name in ("calibrate(", "recovery_uplift(", "simulate("):
        assert name in source
