"""Multi-period selection: a ``period`` column, capacities and budgets per period, and at
most one option per account over the whole horizon.

Every optimum is compared with an independent model written here from the raw table (dense
arrays, brute force or scipy's MILP), never with ``problem.coupling``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from optimise_cases import backend_params, period_frame
from scipy.optimize import Bounds, LinearConstraint, milp

from waifang.errors import InputError
from waifang.optimise.decompose import solve_decomposed
from waifang.optimise.greedy import best_greedy, greedy
from waifang.optimise.problem import Capacity, make_problem
from waifang.optimise.result import check_plan
from waifang.optimise.solve import solve
from waifang.scenarios.cli import main


def period_limits(rng, frame):
    """Capacities per (region, option, period) and a few over the whole horizon; budgets
    per period."""
    caps = []
    for (region, option, period), part in frame.groupby(["region", "option", "period"]):
        if rng.random() < 0.6:
            caps.append(Capacity(region, option, limit=float(rng.integers(0, len(part) + 1)),
                                 hours_limit=float(np.round(rng.uniform(0, part["hours"].sum()),
                                                            1)),
                                 period=int(period)))
    for (region, option), part in frame.groupby(["region", "option"]):
        if rng.random() < 0.5:
            caps.append(Capacity(region, option, limit=float(rng.integers(0, len(part) // 2 + 1))))
    periods = sorted(frame["period"].unique())
    period_budgets = {int(p): float(np.round(rng.uniform(50, 300), 1))
                      for p in periods if rng.random() < 0.7}
    budget = float(np.round(rng.uniform(0.2, 0.6) * frame["cost"].sum() / 3, 1))
    return caps, budget, period_budgets


def dense(frame, caps, budget, period_budgets):
    """The model as dense arrays, from the raw table, in the frame's row order."""
    profit = (frame["value"] - frame["cost"]).to_numpy(float)
    cost = frame["cost"].to_numpy(float)
    hours = frame["hours"].to_numpy(float)
    rows, ub = [], []
    for acc in frame["account_id"].unique():  # one option in one period per account
        rows.append((frame["account_id"] == acc).to_numpy(float))
        ub.append(1.0)
    rows.append(cost)
    ub.append(budget)
    for p, b in period_budgets.items():
        rows.append(cost * (frame["period"] == p).to_numpy())
        ub.append(b)
    for cap in caps:
        sel = ((frame["region"] == cap.region) & (frame["option"] == cap.option)).to_numpy()
        if cap.period is not None:
            sel = sel & (frame["period"] == cap.period).to_numpy()
        if cap.limit is not None:
            rows.append(sel.astype(float))
            ub.append(cap.limit)
        if cap.hours_limit is not None:
            rows.append(sel * hours)
            ub.append(cap.hours_limit)
    return profit, np.array(rows), np.array(ub)


def brute(frame, caps, budget, period_budgets):
    profit, A, ub = dense(frame, caps, budget, period_budgets)
    groups = [np.flatnonzero(frame["account_id"].to_numpy() == a)
              for a in frame["account_id"].unique()]
    best = 0.0
    for pick in itertools.product(*[[None, *g] for g in groups]):
        x = np.zeros(len(profit))
        x[[j for j in pick if j is not None]] = 1
        if np.all(A @ x <= ub + 1e-9):
            best = max(best, float(profit @ x))
    return best


def scipy_optimum(frame, caps, budget, period_budgets):
    profit, A, ub = dense(frame, caps, budget, period_budgets)
    res = milp(-profit, constraints=LinearConstraint(A, -np.inf, ub),
               integrality=np.ones(len(profit)), bounds=Bounds(0, 1))
    assert res.success
    return -res.fun


def independent_check(frame, caps, budget, period_budgets, plan_rows):
    """The plan (rows of ``frame``) against the dense model: feasible or not."""
    profit, A, ub = dense(frame, caps, budget, period_budgets)
    x = np.zeros(len(profit))
    x[plan_rows] = 1
    return bool(np.all(A @ x <= ub + 1e-6))


def frame_rows(frame, problem, chosen):
    """Positions in ``frame`` of the problem's chosen rows, matched by (account, option,
    period)."""
    index = {k: i for i, k in enumerate(zip(frame["account_id"], frame["option"],
                                            frame["period"], strict=True))}
    return [index[(problem.account_ids[problem.account[j]], problem.options[problem.option[j]],
                   int(problem.period[j]))] for j in chosen]


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("seed", range(6))
def test_small_horizons_match_brute_force(seed, backend):
    rng = np.random.default_rng(100 + seed)
    frame = period_frame(rng, n_accounts=4, n_periods=2)
    caps, budget, period_budgets = period_limits(rng, frame)
    problem = make_problem(frame, caps, budget, period_budgets=period_budgets)
    name, solver = backend
    result = solve(problem, backend=name, solver=solver, gap=0)
    best = brute(frame, caps, budget, period_budgets)
    assert result.objective == pytest.approx(best, abs=1e-6)
    rows = frame_rows(frame, problem, result.chosen)
    assert independent_check(frame, caps, budget, period_budgets, rows)
    assert len({problem.account[j] for j in result.chosen}) == len(result.chosen)


@pytest.mark.parametrize("seed", range(3))
def test_decomposition_with_prices_matches_milp_over_many_accounts(seed):
    """More accounts than the working set: the priced path, with per-period rows."""
    rng = np.random.default_rng(200 + seed)
    frame = period_frame(rng, n_accounts=250, n_periods=4)
    caps, budget, period_budgets = period_limits(rng, frame)
    problem = make_problem(frame, caps, budget, period_budgets=period_budgets)
    result = solve_decomposed(problem, gap=1e-6, working_accounts=60, sample_accounts=50,
                              polish_accounts=40)
    best = scipy_optimum(frame, caps, budget, period_budgets)
    assert result.objective == pytest.approx(best, rel=2e-6, abs=1e-4)
    assert independent_check(frame, caps, budget, period_budgets,
                             frame_rows(frame, problem, result.chosen))


@pytest.mark.parametrize("seed", range(4))
def test_greedy_plans_keep_every_period_limit(seed):
    rng = np.random.default_rng(300 + seed)
    frame = period_frame(rng, n_accounts=60, n_periods=3)
    caps, budget, period_budgets = period_limits(rng, frame)
    problem = make_problem(frame, caps, budget, period_budgets=period_budgets)
    for plan in (greedy(problem, "ratio"), greedy(problem, "net"), best_greedy(problem)):
        assert len(plan) > 0
        assert independent_check(frame, caps, budget, period_budgets,
                                 frame_rows(frame, problem, plan))
        assert not check_plan(problem, plan)


def test_a_period_capacity_binds_only_its_period():
    """By hand: one account worth more in week 1, but week 1 has no slot: it goes in week 0."""
    frame = pd.DataFrame({"account_id": ["a", "a", "b"], "option": ["visit"] * 3,
                          "region": ["n"] * 3, "period": [0, 1, 0],
                          "value": [500.0, 900.0, 400.0], "cost": [100.0] * 3})
    free = solve(make_problem(frame, [], 1000), gap=0)
    assert free.objective == pytest.approx(800 + 300)
    caps = [Capacity("n", "visit", limit=0, period=1)]
    result = solve(make_problem(frame, caps, 1000), gap=0)
    assert result.objective == pytest.approx(400 + 300)
    # A horizon limit of one slot: only the best single choice (a in week 1).
    result = solve(make_problem(frame, [Capacity("n", "visit", limit=1)], 1000), gap=0)
    assert result.objective == pytest.approx(800)
    # A week-0 budget of 100: a in week 1 (800) and b in week 0 (300).
    result = solve(make_problem(frame, [], 1000, period_budgets={0: 100}), gap=0)
    assert result.objective == pytest.approx(1100)
    result = solve(make_problem(frame, [Capacity("n", "visit", limit=0, period=1)], 1000,
                                period_budgets={0: 100}), gap=0)
    assert result.objective == pytest.approx(400)


def test_bad_periods_are_refused_with_one_line():
    frame = pd.DataFrame({"account_id": ["a", "a"], "option": ["visit"] * 2,
                          "region": ["n"] * 2, "period": [0, 0],
                          "value": [500.0, 900.0], "cost": [100.0] * 2})
    duplicate = r"duplicate \(account_id, option, period\) = \(a, visit, 0\)"
    with pytest.raises(InputError, match=duplicate):
        make_problem(frame, [], 1000)
    bad = frame.assign(period=[0, 1.5])
    with pytest.raises(InputError, match="row 3, column 'period'"):
        make_problem(bad, [], 1000)
    ok = frame.assign(period=[0, 1])
    with pytest.raises(InputError, match="unknown period 4"):
        make_problem(ok, [Capacity("n", "visit", limit=1, period=4)], 1000)
    with pytest.raises(InputError, match="the candidates have no 'period'"):
        make_problem(ok.drop(columns="period").iloc[:1], [Capacity("n", "visit", 1, period=0)])


def test_cli_reads_periods_in_candidates_and_capacities(tmp_path, capsys):
    rng = np.random.default_rng(7)
    frame = period_frame(rng, n_accounts=30, n_periods=3)
    frame.to_csv(tmp_path / "C.csv", index=False)
    caps = pd.DataFrame({"region": ["r0", "r0", "r1", "r1"], "option": ["visit"] * 4,
                         "limit": [2, 1, 3, ""], "hours_limit": ["", "", "", 4.0],
                         "period": [0, 1, "", 2]})
    caps.to_csv(tmp_path / "K.csv", index=False)
    out = tmp_path / "plan.csv"
    assert main(["optimise", "--candidates", str(tmp_path / "C.csv"), "--capacity",
                 str(tmp_path / "K.csv"), "--budget", "2000", "--gap", "0", "--out",
                 str(out), "--reasons", str(tmp_path / "reasons.csv")]) == 0
    plan = pd.read_csv(out)
    reasons = pd.read_csv(tmp_path / "reasons.csv")
    assert len(reasons) == len(frame)
    chosen = reasons[reasons["chosen"]]
    assert set(zip(chosen.account_id, chosen.period, strict=True)) == set(
        zip(plan.account_id, plan.period, strict=True))
    assert plan["account_id"].is_unique and len(plan) > 0
    merged = plan[["account_id", "option", "period"]].merge(
        frame, on=["account_id", "option", "period"], validate="1:1")
    visits = merged[merged["option"] == "visit"]
    assert (visits[(visits.region == "r0") & (visits.period == 0)].shape[0]) <= 2
    assert (visits[(visits.region == "r0") & (visits.period == 1)].shape[0]) <= 1
    assert (visits[visits.region == "r1"].shape[0]) <= 3
    assert visits[(visits.region == "r1") & (visits.period == 2)]["hours"].sum() <= 4.0 + 1e-9
    assert merged["cost"].sum() <= 2000 + 1e-6
    caps_k = [Capacity("r0", "visit", 2, period=0), Capacity("r0", "visit", 1, period=1),
              Capacity("r1", "visit", 3), Capacity("r1", "visit", hours_limit=4.0, period=2)]
    best = scipy_optimum(frame, caps_k, 2000, {})
    assert (merged["value"] - merged["cost"]).sum() == pytest.approx(best, abs=1e-6)
    # A capacity period no candidate has, or a period column without candidate periods.
    caps.assign(period=[0, 1, "", 9]).to_csv(tmp_path / "K2.csv", index=False)
    assert main(["optimise", "--candidates", str(tmp_path / "C.csv"), "--capacity",
                 str(tmp_path / "K2.csv"), "--budget", "2000", "--out", str(out)]) == 1
    assert "K2.csv: row 5, column 'period': no candidate is in period 9" in capsys.readouterr().err
    frame.drop(columns="period").drop_duplicates(["account_id", "option"]).to_csv(
        tmp_path / "C1.csv", index=False)
    assert main(["optimise", "--candidates", str(tmp_path / "C1.csv"), "--capacity",
                 str(tmp_path / "K.csv"), "--budget", "2000", "--out", str(out)]) == 1
    assert "has a 'period' column but the candidates have none" in capsys.readouterr().err
