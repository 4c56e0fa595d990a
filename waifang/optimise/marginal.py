"""Prices of the coupling rows: the LP relaxation's duals, computed once from sparse arrays.

The LP duals are the classic shadow prices. They are what the Lagrangian bound and the
reduced costs use, but at an integer capacity limit the relaxation is degenerate and its dual
can overstate (or understate) what one more slot is worth to the integer plan; the honest
one-sided marginal values of +1 slot and +1 % budget, from warm-started re-solves, live in
:func:`marginal_values`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from waifang.errors import InputError
from waifang.optimise.highs_arrays import solve_arrays
from waifang.optimise.problem import Capacity, Problem
from waifang.optimise.result import Result


def relaxation_prices(problem: Problem, time_limit: float | None = None) -> np.ndarray | None:
    """Shadow prices (>= 0) of every coupling row in the LP relaxation, or None when the LP
    did not finish (time limit) or is infeasible."""
    c = problem.coupling
    if problem.n_candidates == 0:
        return np.zeros(c.n_rows)
    sol = solve_arrays(problem.profit, problem.account, c.A, c.b, time_limit=time_limit)
    return sol.coupling_prices if sol.ok else None


@dataclass(frozen=True)
class Marginal:
    """What one more unit of a limit is worth to the integer plan, found by re-solving.

    ``value`` is the gain in net value when the row's limit rises by ``step`` (one slot, or
    1 % of the budget), both solves warm-started from the plan and run to the same gap;
    ``per_unit`` is ``value / step``; ``lp_price`` the LP relaxation's dual, for contrast
    (at integer limits the LP is degenerate and its dual can be far off either way).
    """

    row: str
    step: float
    value: float
    per_unit: float
    lp_price: float


BUDGET_STEP = 0.01  # +1 % of the budget


def marginal_values(
    problem: Problem,
    result: Result,
    *,
    rows: Sequence[str] | None = None,
    backend: str = "auto",
    solver: str = "highs",
    gap: float = 1e-9,
    time_limit: float | None = None,
) -> dict[str, Marginal]:
    """One-sided marginal values of +1 slot (count rows) and +1 % budget, by re-solving.

    ``rows`` are coupling row names (default: the budget when finite and every count row the
    plan fills to within one slot, or whose LP price is positive). The problem is re-solved
    once as it is and once per row with the limit raised, each from ``result``'s plan (still
    feasible when a limit rises, so no re-solve can come out worse) and to the same ``gap``,
    so the difference is the integer problem's own; ``time_limit`` applies to each re-solve.
    """
    from waifang.optimise.solve import solve  # solve -> backends -> marginal: import late

    c = problem.coupling
    if rows is None:
        rows = _binding_rows(problem, result)
    index = {name: k for k, name in enumerate(c.names)}
    unknown = [r for r in rows if r not in index or c.kinds[index[r]] not in ("budget", "count")]
    if unknown:
        raise InputError(f"no marginal value for row(s) {', '.join(unknown)}")
    if not rows or not result.status.has_plan:
        return {}

    def value_of(p: Problem) -> float:
        return solve(
            p, backend=backend, solver=solver, gap=gap, time_limit=time_limit, start=result.chosen
        ).objective

    base = value_of(problem)
    out = {}
    for name in rows:
        k = index[name]
        if c.kinds[k] == "budget":
            step = BUDGET_STEP * problem.budget
            changed = problem.with_budget(problem.budget + step)
        else:
            step = 1.0
            changed = problem.with_capacities(_one_more_slot(problem, name))
        gain = max(value_of(changed) - base, 0.0)
        per_unit = gain / step if step > 0 else float("nan")
        out[name] = Marginal(name, step, gain, per_unit, float(result.shadow_prices[k]))
    return out


def _binding_rows(problem: Problem, result: Result) -> list[str]:
    c = problem.coupling
    used = np.asarray(c.A[:, result.chosen].sum(axis=1)).ravel()
    rows = []
    for k, (name, kind) in enumerate(zip(c.names, c.kinds, strict=True)):
        if kind == "budget" and np.isfinite(c.b[k]) and c.b[k] > 0:
            rows.append(name)
        elif kind == "count" and (used[k] > c.b[k] - 1 - 1e-9 or result.shadow_prices[k] > 0):
            rows.append(name)
    return rows


def _one_more_slot(problem: Problem, row: str) -> list[Capacity]:
    """The capacities with the count limit of ``row`` (``capacity[region/option].count``)
    one higher."""
    return [
        replace(cap, limit=cap.limit + 1)
        if f"{cap.label}.count" == row and cap.limit is not None
        else cap
        for cap in problem.capacities
    ]
