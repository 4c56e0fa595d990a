"""The smoothed-price search and its warm start (issue 10 item 6), against an independent LP.

The LP relaxation's optimum comes from scipy's HiGHS on a dense model written from the raw
table (``optimise_cases.lp_optimum``), not from the problem's coupling matrix. Any prices give
a bound at or above it; good prices give one just above it.
"""

from __future__ import annotations

import numpy as np
from optimise_cases import lp_optimum, milp_optimum

from waifang.optimise.decompose import solve_decomposed
from waifang.optimise.lagrange import PriceSearch, smoothed_prices
from waifang.optimise.problem import make_problem
from waifang.optimise.result import check_plan, lagrangian_bound
from waifang.optimise.synthetic import synthetic_instance


def _instance(seed, budget_scale=1.0, exact=lp_optimum, accounts=1200):
    inst = synthetic_instance(accounts, n_regions=4, seed=seed, segments=False)
    budget = inst.budget * budget_scale
    problem = make_problem(inst.candidates, inst.capacities, budget)
    return problem, exact(inst.candidates, list(inst.capacities), budget)


def test_the_search_ends_just_above_the_lp_optimum():
    problem, lp = _instance(1)
    prices = smoothed_prices(problem, np.zeros(problem.coupling.n_rows))
    bound = lagrangian_bound(problem, prices)
    assert bound >= lp * (1 - 1e-9)  # a bound, whatever the prices
    assert bound <= lp * (1 + 2e-5)  # and a good one
    assert lagrangian_bound(problem, np.zeros_like(prices)) > lp * (1 + 1e-2)  # not trivially


def test_the_stopping_rule_stops_earlier_and_one_temperature_at_a_time():
    problem, lp = _instance(3)
    start = np.zeros(problem.coupling.n_rows)
    full = PriceSearch(problem, start)
    while not full.done:
        full.next_round()
    ruled = PriceSearch(problem, start, tolerance=1e-5)
    prices = ruled.next_round()
    assert not ruled.done  # one temperature only
    assert ruled.evaluations < full.evaluations
    assert lp * (1 - 1e-9) <= lagrangian_bound(problem, prices) <= lp * (1 + 1e-4)


def test_a_warm_started_point_is_as_valid_and_as_good_as_a_cold_one():
    problem, _ = _instance(4, exact=lambda *a: None, accounts=500)
    small = dict(working_accounts=100, sample_accounts=80)  # so the search runs at all
    first = solve_decomposed(problem, gap=1e-4, **small)
    nxt, best = _instance(4, budget_scale=1.1, exact=milp_optimum, accounts=500)
    cold = solve_decomposed(nxt, gap=1e-4, **small)
    warm = solve_decomposed(nxt, gap=1e-4, prices=first.shadow_prices, **small)
    for result in (cold, warm):
        assert not check_plan(nxt, result.chosen)
        assert result.objective <= best * (1 + 1e-9)
        assert result.bound >= best * (1 - 1e-9)  # a valid bound on the integer optimum
        assert result.gap <= 1e-4
    assert warm.objective >= cold.objective - 1e-4 * cold.bound
