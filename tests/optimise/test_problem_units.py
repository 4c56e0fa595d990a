"""The frozen problem against the table it came from: every column of every candidate row, and
every coupling row (budgets, capacities by region, option and period, quotas) written again
from the raw table by hand, row by row, not from ``problem.coupling``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from optimise_cases import random_frame

from waifang.optimise.problem import Capacity, Problem, Quota, make_problem


def instance(seed):
    """A random table with hours, segments and periods, and constraints of every kind."""
    rng = np.random.default_rng(seed)
    frame = random_frame(rng, 12, n_options=3, n_regions=3, segments=True)
    frame = frame.loc[rng.permutation(len(frame))].reset_index(drop=True)  # not by account
    frame["period"] = rng.integers(0, 3, len(frame))
    frame = frame.drop_duplicates(["account_id", "option", "period"]).reset_index(drop=True)
    periods = sorted(set(frame["period"]))
    caps = []
    for (region, option), part in frame.groupby(["region", "option"]):
        if rng.random() < 0.5:
            caps.append(Capacity(region, option, limit=float(rng.integers(0, 4)),
                                 hours_limit=float(rng.integers(1, 6)) if rng.random() < 0.5
                                 else None))
        if rng.random() < 0.3:
            caps.append(Capacity(region, option, limit=1.0,
                                 period=int(rng.choice(sorted(set(part["period"]))))))
    caps.append(Capacity(None, "opt1", limit=3.0, hours_limit=4.0))
    caps.append(Capacity(None, "opt0", limit=2.0, period=int(periods[-1])))
    quotas = [Quota("s0", "opt0", max_count=4.0, min_share=0.1),
              Quota("s1", "opt0", min_count=1.0, max_share=0.9)]
    budget = float(frame["cost"].sum() / 2)
    period_budgets = {int(p): 40.0 + p for p in periods[:2]}
    problem = make_problem(frame, caps, budget, quotas=quotas, period_budgets=period_budgets)
    return frame, caps, quotas, budget, period_budgets, problem


def expected_rows(frame, caps, quotas, budget, period_budgets):
    """name -> (coefficients per frame row, right-hand side), from the table alone."""
    cost = frame["cost"].to_numpy(float)
    hours = frame["hours"].to_numpy(float)
    out = {"budget": (cost, budget)}
    for p, b in sorted(period_budgets.items()):
        out[f"budget[{p}]"] = (np.where(frame["period"] == p, cost, 0.0), b)
    for cap in caps:
        sel = (frame["option"] == cap.option).to_numpy()
        if cap.region is not None:
            sel = sel & (frame["region"] == cap.region).to_numpy()
        if cap.period is not None:
            sel = sel & (frame["period"] == cap.period).to_numpy()
        region = "*" if cap.region is None else cap.region
        tail = "" if cap.period is None else f"/{cap.period}"
        label = f"capacity[{region}/{cap.option}{tail}]"
        if cap.limit is not None:
            out[f"{label}.count"] = (sel.astype(float), cap.limit)
        if cap.hours_limit is not None:
            out[f"{label}.hours"] = (sel * hours, cap.hours_limit)
    for q in quotas:
        of_option = (frame["option"] == q.option).to_numpy()
        in_seg = (frame["segment"] == q.segment).to_numpy().astype(float)
        label = f"quota[{q.segment}/{q.option}]"
        if q.max_count is not None:
            out[f"{label}.max_count"] = (of_option * in_seg, q.max_count)
        if q.min_count is not None:
            out[f"{label}.min_count"] = (-(of_option * in_seg), -q.min_count)
        if q.max_share is not None:
            out[f"{label}.max_share"] = (of_option * (in_seg - q.max_share), 0.0)
        if q.min_share is not None:
            out[f"{label}.min_share"] = (of_option * (q.min_share - in_seg), 0.0)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_every_row_and_every_coupling_row_is_the_tables(seed):
    frame, caps, quotas, budget, period_budgets, problem = instance(seed)
    # Each problem row is one table row: find it by (account, option, period).
    where = {(a, o, int(p)): i for i, (a, o, p) in
             enumerate(zip(frame["account_id"], frame["option"], frame["period"], strict=True))}
    rows = np.array([where[(problem.account_ids[problem.account[j]],
                            problem.options[problem.option[j]], int(problem.period[j]))]
                     for j in range(problem.n_candidates)])
    assert sorted(rows) == list(range(len(frame)))  # every table row, once
    assert (np.diff(problem.account) >= 0).all()  # sorted by account
    assert list(problem.account_ids) == sorted(frame["account_id"].unique())
    table = frame.loc[rows]
    for column in ("value", "cost", "hours"):
        np.testing.assert_array_equal(getattr(problem, column), table[column].to_numpy(float))
    assert [problem.regions[r] for r in problem.region] == table["region"].tolist()
    assert [problem.segments[s] for s in problem.segment] == table["segment"].tolist()
    np.testing.assert_array_equal(problem.profit, (table["value"] - table["cost"]).to_numpy())
    assert problem.periods == tuple(sorted(set(frame["period"])))
    assert problem.has_periods and problem.has_hours and problem.n_excluded == 0
    assert problem.account_starts.tolist() == [
        int(np.flatnonzero(problem.account == a)[0]) for a in range(problem.n_accounts)]
    assert [problem.label(j) for j in range(3)] == [
        f"{a}/{o}" for a, o in zip(table["account_id"][:3], table["option"][:3], strict=True)]

    expected = expected_rows(frame, caps, quotas, budget, period_budgets)
    coupling = problem.coupling
    assert coupling.names[0] == "budget"
    assert sorted(coupling.names) == sorted(expected)
    assert len(set(coupling.names)) == coupling.n_rows == coupling.A.shape[0]
    A = coupling.A.toarray()
    assert A.shape == (len(expected), problem.n_candidates)
    for k, name in enumerate(coupling.names):
        coef, rhs = expected[name]
        np.testing.assert_allclose(A[k], coef[rows], err_msg=name)
        assert coupling.b[k] == pytest.approx(rhs), name
        kind = ("budget" if name == "budget" else "period_budget" if name.startswith("budget[")
                else name.rsplit(".", 1)[1] if name.startswith("capacity") else "quota")
        assert coupling.kinds[k] == kind, name
        key = coupling.capacity_keys[k]
        if kind in ("count", "hours"):
            cap = next(c for c in caps
                       if name.startswith(c.label + ".") and name.count("/") == c.label.count("/"))
            assert key == (-1 if cap.region is None else problem.regions.index(cap.region),
                           problem.options.index(cap.option),
                           -1 if cap.period is None else cap.period), name
        else:
            assert key is None, name
    assert not coupling.b.flags.writeable


def test_a_problem_built_without_periods_puts_every_row_in_period_0():
    ints = np.array([0, 0, 1])
    problem = Problem(account_ids=np.array(["a", "b"]), options=("visit",), regions=("n",),
                      segments=(), account=ints, option=np.zeros(3, int),
                      region=np.zeros(3, int), segment=np.full(3, -1),
                      value=np.array([5.0, 6.0, 7.0]), cost=np.ones(3), hours=np.zeros(3),
                      budget=10.0)
    assert problem.period.tolist() == [0, 0, 0] and problem.periods == (0,)
    assert not problem.period.flags.writeable
    assert problem.coupling.b.tolist() == [10.0]


def test_another_budget_or_capacities_keep_the_rest():
    frame = pd.DataFrame({"account_id": ["a", "a", "b"], "option": ["visit", "legal", "visit"],
                          "region": ["n", "n", "s"], "value": [9.0, 5.0, 7.0],
                          "cost": [2.0, 1.0, 2.0], "hours": [1.0, 0.0, 2.0]})
    problem = make_problem(frame, [Capacity("n", "visit", limit=1)], budget=3)
    cheaper = problem.with_budget(2.5)
    assert cheaper.budget == 2.5 and cheaper.coupling.b[0] == 2.5
    assert cheaper.capacities == problem.capacities
    np.testing.assert_array_equal(cheaper.value, problem.value)
    wider = problem.with_capacities([Capacity("s", "visit", hours_limit=1.5)])
    assert wider.budget == 3 and wider.coupling.names == ("budget", "capacity[s/visit].hours")
    np.testing.assert_array_equal(wider.coupling.A.toarray()[1], [0.0, 0.0, 2.0])
    assert problem.coupling.names == ("budget", "capacity[n/visit].count")
    from waifang.errors import InputError

    with pytest.raises(InputError, match="unknown region 'w'"):
        problem.with_capacities([Capacity("w", "visit", limit=1)])
    twice = [Capacity("n", "visit", limit=1), Capacity("s", "visit", limit=2),
             Capacity("n", "visit", hours_limit=3.0)]
    with pytest.raises(InputError, match=r"^capacity 3 \(n, visit\): repeats capacity 1$"):
        problem.with_capacities(twice)
    with pytest.raises(InputError, match="budget must be a non-negative number, got -1"):
        problem.with_budget(-1)


@pytest.mark.parametrize("periods", [False, True], ids=["plain", "with_periods"])
def test_a_table_with_no_rows_is_an_empty_problem_that_chooses_nothing(periods):
    # E.g. every candidate filtered away upstream: no error, nothing to choose.
    columns = {"account_id": str, "option": str, "region": str, "value": float, "cost": float}
    if periods:
        columns["period"] = int
    frame = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})
    problem = make_problem(frame, budget=5.0)
    assert (problem.n_candidates, problem.n_accounts) == (0, 0)
    assert problem.coupling.names == ("budget",) and problem.coupling.A.shape == (1, 0)
    from waifang.optimise.solve import solve

    result = solve(problem)
    assert result.objective == 0.0 and len(result.chosen) == 0


def test_quota_bounds_are_checked_at_their_edges():
    frame = pd.DataFrame({"account_id": ["a", "b", "c"], "option": ["visit"] * 3,
                          "region": ["n"] * 3, "value": [9.0, 5.0, 7.0], "cost": [1.0] * 3,
                          "segment": ["x", "y", "x"]})
    from waifang.errors import InputError

    # Shares of exactly 0 and 1 are allowed; just outside is refused, naming the quota.
    ok = make_problem(frame, budget=3, quotas=[Quota("x", min_share=0.0, max_share=1.0)])
    assert ok.coupling.names[1:] == ("quota[x/visit].max_share", "quota[x/visit].min_share")
    # The cheapest two accounts cost exactly the budget: a min_count of 2 is feasible.
    fits = make_problem(frame, budget=2.0, quotas=[Quota("x", min_count=2.0)])
    assert fits.coupling.b.tolist() == [2.0, -2.0]
    from waifang.errors import InfeasibleError

    with pytest.raises(InfeasibleError, match="min_count 2 needs at least 2.00 but the budget "
                                              "is 1.99"):
        make_problem(frame, budget=1.99, quotas=[Quota("x", min_count=2.0)])
    for bad, message in (
        (Quota("x", min_share=-0.01), r"^quota 1 \(segment x, option visit\): min_share must "
                                      r"lie in \[0, 1\], got -0.01$"),
        (Quota("x", max_share=1.5), r"max_share must lie in \[0, 1\], got 1.5$"),
        (Quota("x", option="legal"), r"^quota 1 \(segment x, option legal\): unknown option "
                                     r"'legal'$"),
        (Quota("z"), r"^quota 1 \(segment z, option visit\): unknown segment 'z'$"),
    ):
        with pytest.raises(InputError, match=message):
            make_problem(frame, budget=3, quotas=[bad])
