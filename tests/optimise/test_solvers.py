"""One suite over every backend: hand-solved cases, brute force, an independent MILP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from optimise_cases import brute_force, lp_optimum, milp_optimum, random_problem

from waifang.optimise.problem import Capacity, Exclusions, Quota, make_problem
from waifang.optimise.result import Status, check_plan


def frame(rows):
    return pd.DataFrame(rows, columns=["account_id", "option", "region", "value", "cost"])


def test_budget_picks_best_pair_not_best_ratio(backend):
    # Net values 90, 60, 50 at costs 10, 5, 5 and budget 10: either a alone (90) or b and c
    # together (60 + 50 = 110). By hand: b + c.
    f = frame(
        [["a", "visit", "n", 100, 10], ["b", "visit", "n", 65, 5], ["c", "visit", "n", 55, 5]]
    )
    p = make_problem(f, [], budget=10)
    r = backend(p)
    assert r.status is Status.OPTIMAL
    assert sorted(p.account_ids[p.account[r.chosen]]) == ["b", "c"]
    assert r.objective == pytest.approx(110)
    assert r.bound >= r.objective - 1e-6


def test_one_option_per_account_and_capacity(backend):
    # Account a: visit 100-30=70 or legal 60-10=50; b: visit 80-30=50. One visit slot in n.
    # Best: a legal (50) + b visit (50) = 100 beats a visit (70) + nothing for b.
    f = frame(
        [["a", "visit", "n", 100, 30], ["a", "legal", "n", 60, 10], ["b", "visit", "n", 80, 30]]
    )
    p = make_problem(f, [Capacity("n", "visit", limit=1)], budget=1000)
    r = backend(p)
    got = {(p.account_ids[p.account[j]], p.options[p.option[j]]) for j in r.chosen}
    assert got == {("a", "legal"), ("b", "visit")}
    assert r.objective == pytest.approx(100)


def test_hours_limit_and_unlimited_pair(backend):
    # Visits take 3 and 2 hours with 4 hours available: only one fits, the better (a: 50).
    # Region s has no capacity row, so both its agency rows are taken.
    f = pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d"],
            "option": ["visit", "visit", "agency", "agency"],
            "region": ["n", "n", "s", "s"],
            "value": [80, 60, 30, 25],
            "cost": [30, 30, 5, 5],
            "hours": [3, 2, 0, 0],
        }
    )
    p = make_problem(f, [Capacity("n", "visit", hours_limit=4)], budget=1000)
    r = backend(p)
    assert sorted(p.account_ids[p.account[r.chosen]]) == ["a", "c", "d"]
    assert r.objective == pytest.approx(50 + 25 + 20)


def test_exclusions_remove_candidates(backend):
    f = frame(
        [["a", "visit", "n", 100, 10], ["a", "legal", "n", 90, 10], ["b", "visit", "n", 50, 10]]
    )
    p = make_problem(
        f,
        [],
        budget=100,
        exclusions=Exclusions(accounts=frozenset({"b"}), pairs=frozenset({("a", "visit")})),
    )
    assert p.n_excluded == 2
    r = backend(p)
    assert [p.label(j) for j in r.chosen] == ["a/legal"]


def test_min_quota_forces_a_segment(backend):
    f = frame(
        [["a", "visit", "n", 100, 10], ["b", "visit", "n", 40, 10], ["c", "visit", "n", 90, 10]]
    )
    f["segment"] = ["x", "y", "x"]
    p = make_problem(
        f, [Capacity("n", "visit", limit=2)], budget=100, quotas=[Quota("y", "visit", min_count=1)]
    )
    r = backend(p)
    # Without the quota: a + c = 170; with it: a + b = 120.
    assert sorted(p.account_ids[p.account[r.chosen]]) == ["a", "b"]
    assert r.objective == pytest.approx(120)


def test_max_share_quota(backend):
    f = frame([[f"a{i}", "visit", "n", 100 - i, 10] for i in range(4)])
    f["segment"] = ["x", "x", "x", "y"]
    p = make_problem(f, [], budget=1000, quotas=[Quota("x", "visit", max_share=0.5)])
    r = backend(p)
    segs = p.segment[r.chosen]
    # At most half the visits in x: best is one x (the best, 90) and the one y (87).
    assert (segs == p.segments.index("x")).sum() <= 0.5 * len(r.chosen)
    assert r.objective == pytest.approx(90 + 87)


@pytest.mark.parametrize("seed", range(12))
def test_random_against_brute_force_and_milp(backend, seed):
    f, caps, budget, p = random_problem(seed, n_accounts=5)
    r = backend(p)
    assert r.status is Status.OPTIMAL
    assert check_plan(p, r.chosen) == []
    best = brute_force(f, caps, budget)
    assert r.objective == pytest.approx(best, abs=1e-6)
    assert milp_optimum(f, caps, budget) == pytest.approx(best, abs=1e-6)
    assert r.bound >= best - 1e-6


@pytest.mark.parametrize("seed", range(3))
def test_medium_against_independent_milp(backend, seed):
    f, caps, budget, p = random_problem(100 + seed, n_accounts=150, n_options=4, n_regions=3)
    r = backend(p, gap=1e-6)
    opt = milp_optimum(f, caps, budget)
    assert r.objective <= opt + 1e-6
    assert r.objective >= opt - 1e-5 * abs(opt) - 1e-6
    assert r.bound >= opt - 1e-6 * abs(opt)
    assert check_plan(p, r.chosen) == []


def test_backends_agree_on_a_decomposed_size():
    """Large enough that the decomposition holds accounts fixed and polishes a sub-MIP."""
    from waifang.optimise.decompose import solve_decomposed
    from waifang.optimise.solve import solve
    from waifang.optimise.synthetic import synthetic_instance

    inst = synthetic_instance(1200, n_regions=3, seed=5)
    p = make_problem(inst.candidates, inst.capacities, inst.budget)
    small_sets = solve_decomposed(
        p, gap=1e-4, working_accounts=200, sample_accounts=300, polish_accounts=100
    )
    reference = solve(p, backend="pulp", solver="highs", gap=1e-5)
    assert check_plan(p, small_sets.chosen) == []
    assert small_sets.bound >= reference.objective - 1e-6 * reference.objective
    assert reference.bound >= small_sets.objective - 1e-6 * reference.objective
    assert small_sets.objective >= reference.objective * (1 - 1e-3)
    # 'optimal' only when proven (gap at solver tolerance); within the 1e-4 target 'feasible'.
    assert small_sets.gap <= 1e-4
    proven = small_sets.bound - small_sets.objective <= 1e-6 + 1e-9 * abs(small_sets.bound)
    assert small_sets.status is (Status.OPTIMAL if proven else Status.FEASIBLE)
    assert np.all(small_sets.reduced_costs <= 1e-6 * np.abs(p.profit).max() + 1e-6)
    # The decomposition's bound is the LP optimum (proven to within gap / 10), checked
    # against an LP written independently from the raw table, or, where that could not close
    # the gap and the exact MIP ran, the MIP's own bound: between the optimum and the LP's.
    lp = lp_optimum(inst.candidates, inst.capacities, inst.budget)
    assert small_sets.bound <= lp * (1 + 1e-5)
    if small_sets.bound < lp - 1e-6 * lp:
        assert small_sets.bound >= reference.objective - 1e-6 * reference.objective
        assert small_sets.gap <= 1e-4


def test_infeasible_quota_reported(backend):
    f = frame([["a", "visit", "n", 100, 10], ["b", "visit", "n", 40, 10]])
    f["segment"] = ["x", "y"]
    p = make_problem(
        f,
        [Capacity("n", "visit", limit=1)],
        budget=100,
        quotas=[Quota("x", "visit", min_count=1), Quota("y", "visit", min_count=1)],
    )
    r = backend(p)
    assert r.status is Status.INFEASIBLE
    assert len(r.chosen) == 0
