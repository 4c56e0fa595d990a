"""``waifang visit-budgets``: the challengers' visit budgets are the champion's own spending
per planning period, derived by running it, never typed in (issue 6 item 6: "no more spent
on visits than the champion")."""

from __future__ import annotations

import math
import re
import sys

import numpy as np
import pandas as pd
import pytest
from test_optimised_policy import OPTIMISED, _raw

from waifang.scenarios.cli import main
from waifang.scenarios.schema import scenario_from_dict
from waifang.scenarios.visit_budgets import budget_schedule, champion_schedule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _scenario_raw():
    raw = _raw()
    raw["replications"] = 2
    return raw


def test_schedule_by_hand():
    spend = pd.DataFrame([[150.0, 250.0, 0.0], [250.0, 351.0, 99.0]])
    assert budget_schedule(spend) == (200.0, 300.0, 0.0)
    assert budget_schedule(spend, step=25.0) == (200.0, 300.0, 25.0)


def test_the_periods_spending_adds_up_to_the_champions_visit_cost():
    """Per replication, the periods' spending (visits counted per region and day, at the
    region's cost) is the visit cost the engine's ledger paid; each budget is the periods'
    mean rounded down; there is one per period of the run."""
    scenario = scenario_from_dict(_scenario_raw(), OPTIMISED)
    budgets, spend, ledger = champion_schedule(scenario, period_days=7)
    assert len(budgets) == math.ceil(scenario.days / 7) == spend.shape[1]
    assert spend.shape[0] == 2 and (ledger > 0).all()
    assert np.allclose(spend.sum(axis=1).to_numpy(), ledger.to_numpy(), rtol=0, atol=1e-6)
    mean = spend.mean(axis=0).to_numpy()
    assert all(m - 100 < b <= m for b, m in zip(budgets, mean, strict=True))
    assert all(b % 100 == 0 for b in budgets)
    assert sum(budgets) <= ledger.mean()


def _write(tmp_path, raw, budgets=None):
    text = OPTIMISED.read_text().replace("replications = 1", "replications = 2")
    if budgets is not None:
        text = text.replace("budget_per_period = 3000.0", f"budget_per_period = {budgets}")
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    assert tomllib.loads(text)["replications"] == raw["replications"]
    return path


def test_check_fails_until_the_printed_budgets_are_in_the_file(tmp_path, capsys):
    """The file's flat budget is not the champion's spending: --check says so for both
    challengers (exit 1); with the printed list pasted in, it passes, and both challengers'
    budgets then add up to less than the champion's mean visit cost."""
    path = _write(tmp_path, _scenario_raw())
    assert main(["visit-budgets", str(path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "differs: policies[1] (random_visits)" in out
    assert "differs: policies[2] (optimised)" in out
    listed = re.search(r"budget_per_period = \[(.*?)\]", out, re.S).group(1)
    budgets = [float(x) for x in listed.replace("\n", " ").split(",") if x.strip()]
    cost = float(re.search(r"its mean cost_visit ([\d,.]+)", out).group(1).replace(",", ""))
    assert len(budgets) == 9 and 0 < sum(budgets) <= cost
    path = _write(tmp_path, _scenario_raw(), "[" + ", ".join(map(str, budgets)) + "]")
    assert main(["visit-budgets", str(path), "--check"]) == 0
    assert "ok: every optimised policy's budget_per_period" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--period-days", "0"], "--period-days: must be at least 1 (got 0)"),
    (["--step", "0"], "--step: must be a positive number (got 0.0)"),
])
def test_bad_flags_are_one_line(tmp_path, capsys, args, message):
    path = _write(tmp_path, _scenario_raw())
    assert main(["visit-budgets", str(path), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith(message) and "\n" not in err


def test_a_scenario_without_optimised_policies_needs_a_period(capsys):
    assert main(["visit-budgets", "baseline"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--period-days" in err and "are none" in err and "\n" not in err


def test_the_variants_file_runs_the_shipped_champion_and_budgets():
    """visit_optimisation_variants.toml copies the champion's ladder and the weekly budgets of
    visit_optimisation.toml (a sweep cannot address an included file's policies): the copies
    must stay the same, and every point of its sweep must be a valid scenario whose
    `optimised` differs from the shipped one only where the point says."""
    from waifang.scenarios.run_commands import scenario_path
    from waifang.scenarios.schema import load_scenario
    from waifang.scenarios.sweep import load_sweep

    shipped = load_scenario(scenario_path("visit_optimisation"))
    variants = load_scenario(scenario_path("visit_optimisation_variants"))
    assert variants.policies[0] == shipped.policies[0]
    assert variants.policies[1].rules == shipped.policies[2].rules
    assert variants.policies[1].optimiser == shipped.policies[2].optimiser
    assert variants.seed == shipped.seed and variants.replications == shipped.replications
    assert variants.world() == shipped.world()
    sweep = load_sweep(scenario_path("visit_optimisation_variants"))
    changed = [(p.policies[1].optimiser.value_correction, p.policies[1].optimiser.horizon_periods)
               for p in sweep.scenarios]
    assert changed == [("none", 1), ("shrink", 1), ("calibrate", 1), ("none", 4)]
