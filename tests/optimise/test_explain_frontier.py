"""Reasons a risk analyst reads, and the budget frontier (API and CLI)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from optimise_cases import random_problem

from waifang.optimise.explain import explain
from waifang.optimise.frontier import budget_frontier, save_frontier, scale_capacity
from waifang.optimise.problem import Capacity, make_problem
from waifang.optimise.solve import solve
from waifang.scenarios.cli import main


def test_reason_lines_carry_the_numbers():
    f = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "option": ["visit"] * 3,
            "region": ["north"] * 3,
            "value": [1840.0, 1000.0, 500.0],
            "cost": [420.0, 420.0, 420.0],
        }
    )
    # Budget for two visits: a and b are chosen, c (net 80) is not. The LP prices the
    # budget at b's margin: (1000 - 420) / 420 per unit... only if c is the next in line --
    # here the budget is set to 840 + 210 so half of c fits in the LP: price = 80 / 420.
    p = make_problem(f, [], budget=1050)
    r = solve(p, backend="pulp", gap=1e-9)
    lam = r.budget_price
    assert lam == pytest.approx(80 / 420)
    reasons = explain(p, r)
    assert reasons[0] == (
        f"chosen: value 1,840 - cost 420 = 1,420 exceeds the budget price 420 x "
        f"{lam:.3g} = {420 * lam:.2f} (reduced cost 0.00)"
    )
    assert reasons[2].startswith("rejected: value 500 - cost 420 = 80.00")


def test_every_candidate_gets_a_reason_consistent_with_its_reduced_cost():
    _, _, _, p = random_problem(7, n_accounts=30, n_options=3)
    r = solve(p, backend="decompose", gap=1e-9)
    reasons = explain(p, r)
    assert len(reasons) == p.n_candidates
    chosen = set(r.chosen.tolist())
    for j, line in reasons.items():
        assert line.startswith("chosen: " if j in chosen else "rejected: ")
        if "reduced cost" in line:
            rc = float(line.rsplit("reduced cost ", 1)[1].rstrip(")").replace(",", ""))
            # Printed to whole units above 100, so within half a unit.
            assert rc == pytest.approx(r.reduced_costs[j], abs=0.51)


def test_frontier_is_monotone_and_more_capacity_never_hurts():
    _, _, _, p = random_problem(11, n_accounts=40, n_options=3, n_regions=2)
    option = p.capacities[0].option
    budgets = np.linspace(0, p.cost.sum() / 2, 6)
    table = budget_frontier(p, budgets, capacity_scales=[1.0, 2.0], option=option, gap=1e-9)
    assert len(table) == 12
    for _, part in table.groupby("capacity_scale"):
        values = part.sort_values("budget")["net_value"].to_numpy()
        assert np.all(np.diff(values) >= -1e-6)
        assert np.all(part["spent"] <= part["budget"] + 1e-6)
    one = table[table.capacity_scale == 1.0]["net_value"].to_numpy()
    two = table[table.capacity_scale == 2.0]["net_value"].to_numpy()
    assert np.all(two >= one - 1e-6)
    assert table["budget_price"].iloc[0] >= table["budget_price"].iloc[5] - 1e-9
    assert any(c.startswith("slot_price[") for c in table.columns)


def test_scale_capacity_only_touches_the_option():
    f = pd.DataFrame(
        {
            "account_id": ["a", "b"],
            "option": ["visit", "legal"],
            "region": ["n", "n"],
            "value": [10.0, 10.0],
            "cost": [1.0, 1.0],
            "hours": [2.0, 0.0],
        }
    )
    p = make_problem(f, [Capacity("n", "visit", 2, 4.0), Capacity("n", "legal", 3)], 10)
    q = scale_capacity(p, "visit", 1.5)
    assert q.capacities == (Capacity("n", "visit", 3, 6.0), Capacity("n", "legal", 3))


def test_frontier_cli_writes_csv_and_png(tmp_path, capsys):
    frame, caps, budget, _ = random_problem(5, n_accounts=20, n_options=3)
    c = tmp_path / "C.csv"
    k = tmp_path / "K.csv"
    frame.to_csv(c, index=False)
    pd.DataFrame(
        [
            {"region": x.region, "option": x.option, "limit": x.limit, "hours_limit": x.hours_limit}
            for x in caps
        ]
    ).to_csv(k, index=False)
    code = main(
        [
            "frontier",
            "--candidates",
            str(c),
            "--capacity",
            str(k),
            "--budgets",
            f"0:{budget * 2}:4",
            "--capacity-scales",
            "1,1.5",
            "--option",
            caps[0].option,
            "--out",
            str(tmp_path / "F.csv"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(tmp_path / "F.csv")
    assert len(table) == 8 and {"budget", "net_value", "budget_price"} <= set(table.columns)
    assert (tmp_path / "F.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code = main(
        [
            "frontier",
            "--candidates",
            str(c),
            "--capacity",
            str(k),
            "--budgets",
            "0:10:x",
            "--out",
            str(tmp_path / "G.csv"),
        ]
    )
    assert code == 1 and "--budgets N" in capsys.readouterr().err


def test_save_frontier_paths(tmp_path):
    table = pd.DataFrame(
        {
            "capacity_scale": [1.0, 1.0],
            "budget": [0.0, 1.0],
            "net_value": [0.0, 2.0],
            "budget_price": [2.0, 0.0],
        }
    )
    csv, png = save_frontier(table, tmp_path / "x.csv")
    assert csv.exists() and png == tmp_path / "x.png" and png.exists()
