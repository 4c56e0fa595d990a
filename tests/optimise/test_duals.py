"""Shadow prices checked by re-solving the LP relaxation with a perturbed right-hand side."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from optimise_cases import lp_optimum, random_problem

from waifang.optimise.result import Status


def _derivatives(f, x, eps):
    """Left and right difference quotients of f at x."""
    f0 = f(x)
    return (f0 - f(x - eps)) / eps, (f(x + eps) - f0) / eps


@pytest.mark.parametrize("seed", range(8))
def test_budget_price_matches_budget_plus_epsilon(backend, seed):
    frame, caps, budget, problem = random_problem(seed, n_accounts=12, n_options=3)
    left, right = _derivatives(lambda b: lp_optimum(frame, caps, b), budget, 1e-3)
    if abs(left - right) > 1e-6 * max(1.0, abs(right)):
        pytest.skip("LP degenerate at this budget: the price is not unique")
    result = backend(problem)
    assert result.status is Status.OPTIMAL
    assert result.budget_price == pytest.approx(right, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_capacity_prices_match_limit_plus_epsilon(backend, seed):
    frame, caps, budget, problem = random_problem(seed, n_accounts=12, n_options=3)
    result = backend(problem)
    checked = 0
    for i, cap in enumerate(caps):
        for field, suffix in (("limit", "count"), ("hours_limit", "hours")):
            if getattr(cap, field) is None or getattr(cap, field) < 1e-3:
                continue

            def lp_at(x, i=i, field=field):
                changed = list(caps)
                changed[i] = replace(changed[i], **{field: x})
                return lp_optimum(frame, changed, budget)

            left, right = _derivatives(lp_at, getattr(cap, field), 1e-3)
            if abs(left - right) > 1e-6 * max(1.0, abs(right)):
                continue  # degenerate: any price between left and right is a valid dual
            price = result.duals[f"capacity[{cap.region}/{cap.option}].{suffix}"]
            assert price == pytest.approx(right, rel=1e-5, abs=1e-6)
            checked += 1
    if not checked:
        pytest.skip("no non-degenerate capacity in this instance")


def test_reduced_costs_are_dual_feasible_and_zero_on_lp_support(backend):
    frame, caps, budget, problem = random_problem(3, n_accounts=20, n_options=3)
    result = backend(problem)
    scale = max(1.0, np.abs(problem.profit).max())
    assert np.all(result.reduced_costs <= 1e-7 * scale)
    # Complementary slackness on the account side: an account with a positive price has a
    # row with zero reduced cost (the row the relaxation picks).
    for a in np.flatnonzero(result.account_prices > 1e-7 * scale):
        rows = np.flatnonzero(problem.account == a)
        assert np.min(np.abs(result.reduced_costs[rows])) <= 1e-7 * scale
    # Strong duality: the bound from these prices equals the LP optimum.
    lp = lp_optimum(frame, caps, budget)
    prices_bound = result.shadow_prices @ problem.coupling.b + result.account_prices.sum()
    assert prices_bound == pytest.approx(lp, rel=1e-6)
