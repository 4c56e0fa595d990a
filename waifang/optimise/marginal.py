"""Prices of the coupling rows: the LP relaxation's duals, computed once from sparse arrays.

The LP duals are the classic shadow prices. They are what the Lagrangian bound and the
reduced costs use, but at an integer capacity limit the relaxation is degenerate and its dual
can overstate (or understate) what one more slot is worth to the integer plan; the honest
one-sided marginal values of +1 slot and +1 % budget, from warm-started re-solves, live in
:func:`marginal_values`.
"""

from __future__ import annotations

import numpy as np

from waifang.optimise.highs_arrays import solve_arrays
from waifang.optimise.problem import Problem


def relaxation_prices(problem: Problem, time_limit: float | None = None) -> np.ndarray | None:
    """Shadow prices (>= 0) of every coupling row in the LP relaxation, or None when the LP
    did not finish (time limit) or is infeasible."""
    c = problem.coupling
    if problem.n_candidates == 0:
        return np.zeros(c.n_rows)
    sol = solve_arrays(problem.profit, problem.account, c.A, c.b, time_limit=time_limit)
    return sol.coupling_prices if sol.ok else None
