"""Marginal values checked by re-solving (issue 10 item 2, issue 13 item 5).

Every value the optimiser reports for one more slot or 1 % more budget -- from
``marginal_values``, in the frontier's columns and in the reason lines -- is compared with an
independent re-solve: scipy's MILP on a model written from the raw table, once as given and
once with the limit raised. Degenerate integer limits (where the LP dual is off) are kept,
and counted, so the test cannot pass by skipping them.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from optimise_cases import milp_optimum, random_problem

from waifang.optimise.explain import explain
from waifang.optimise.frontier import budget_frontier
from waifang.optimise.marginal import marginal_values
from waifang.optimise.problem import Capacity, make_problem
from waifang.optimise.solve import solve


def _independent_gain(frame, caps, budget, row):
    """Optimum with the row's limit raised minus the optimum as given, by scipy's MILP."""
    base = milp_optimum(frame, caps, budget)
    if row == "budget":
        return milp_optimum(frame, caps, budget * 1.01) - base
    region, option = row[len("capacity[") : row.index("]")].split("/")
    changed = [
        replace(c, limit=c.limit + 1) if (c.region, c.option) == (region, option) else c
        for c in caps
    ]
    return milp_optimum(frame, changed, budget) - base


def test_marginal_values_match_independent_re_solves_degenerate_cases_included():
    checked = degenerate = positive = 0
    for seed in range(8):
        frame, caps, budget, problem = random_problem(seed, n_accounts=30, n_options=3)
        result = solve(problem, gap=1e-9)
        found = marginal_values(problem, result)
        assert "budget" in found
        for row, m in found.items():
            expected = _independent_gain(frame, caps, budget, row)
            assert m.value >= 0
            assert m.value == pytest.approx(expected, abs=1e-6), (seed, row)
            step = 0.01 * budget if row == "budget" else 1.0
            assert m.per_unit == pytest.approx(expected / step, abs=1e-6)
            checked += 1
            positive += expected > 1e-6
            # Where the LP dual misprices one more unit, the case is degenerate: kept.
            degenerate += abs(m.lp_price * step - expected) > 1e-6 * max(1.0, expected)
    assert checked >= 20 and positive >= 8
    assert degenerate >= 10, "the degenerate integer limits must be among those checked"


def _slot_case():
    """Two visits, net 100 and 60, one slot, and a budget for one visit: both limits bind."""
    frame = pd.DataFrame(
        {
            "account_id": ["a", "b"],
            "option": ["visit", "visit"],
            "region": ["north", "north"],
            "value": [110.0, 70.0],
            "cost": [10.0, 10.0],
        }
    )
    caps = [Capacity("north", "visit", limit=1)]
    return frame, caps, 10.0, make_problem(frame, caps, budget=10.0)


def test_a_slot_the_budget_cannot_use_is_worth_nothing_and_the_reason_says_so():
    """By hand: a second slot adds nothing (the budget still pays for one visit), 1 % more
    budget (0.1) buys nothing either; whatever the LP's degenerate duals say."""
    frame, caps, budget, problem = _slot_case()
    result = solve(problem, gap=1e-9)
    found = marginal_values(problem, result, rows=["budget", "capacity[north/visit].count"])
    assert found["capacity[north/visit].count"].value == 0.0
    assert found["budget"].value == 0.0
    line = explain(problem, result, marginals=found)[0]
    assert line.startswith("chosen: ")
    assert "[re-solved: 1 % more budget adds 0.00, 0 per unit]" in line


def test_a_slot_worth_its_neighbour():
    """With budget for both, one more slot adds b's net value 60 exactly (by hand)."""
    frame, caps, _, _ = _slot_case()
    problem = make_problem(frame, caps, budget=100.0)
    result = solve(problem, gap=1e-9)
    found = marginal_values(problem, result)
    assert found["capacity[north/visit].count"].value == pytest.approx(60.0)
    line = explain(problem, result, marginals=found)[1]  # b, rejected for want of a slot
    assert "slot price north/visit" in line
    assert "[re-solved: one more slot adds 60.00]" in line


@pytest.mark.parametrize("seed", [3, 11])
def test_frontier_values_and_reason_lines_match_re_solves(seed):
    frame, caps, _, problem = random_problem(seed, n_accounts=25, n_options=3)
    option = caps[0].option
    budgets = [float(np.round(problem.cost.sum() * s, 1)) for s in (0.1, 0.6)]
    table = budget_frontier(problem, budgets, option=option, gap=1e-9, marginals=True)
    regions = [c.region for c in caps if c.option == option and c.limit is not None]
    assert regions
    for _, point in table.iterrows():
        budget = point["budget"]
        gain = _independent_gain(frame, caps, budget, "budget")
        assert point["budget_value"] == pytest.approx(gain / (0.01 * budget), abs=1e-6)
        for region in regions:
            expected = _independent_gain(frame, caps, budget, f"capacity[{region}/{option}].count")
            assert point[f"slot_value[{region}]"] == pytest.approx(expected, abs=1e-6)
    # The reason lines cite the same re-solved values.
    result = solve(problem.with_budget(budgets[1]), gap=1e-9)
    found = marginal_values(problem.with_budget(budgets[1]), result)
    lines = explain(problem.with_budget(budgets[1]), result, marginals=found)
    cited = 0
    for line in lines:
        for where, amount in re.findall(
            r"slot price (\S+) [^\[]*\[re-solved: one more slot "
            r"adds ([0-9,.]+)\]",
            line,
        ):
            region, opt = where.split("/")
            expected = _independent_gain(frame, caps, budgets[1], f"capacity[{region}/{opt}].count")
            assert float(amount.replace(",", "")) == pytest.approx(expected, abs=0.006)
            cited += 1
    assert cited > 0
