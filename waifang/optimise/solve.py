"""One front door: choose a backend for the problem's size and solve it.

``backend="auto"`` uses the readable pulp model up to :data:`PULP_MAX_CANDIDATES` rows and
the decomposition (sparse arrays to HiGHS) above; an explicit non-HiGHS ``solver`` always goes
through pulp, which is how CBC, GLPK, Gurobi or CPLEX plug in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from waifang.errors import InputError
from waifang.optimise.clock import Deadline
from waifang.optimise.decompose import solve_decomposed
from waifang.optimise.problem import Problem
from waifang.optimise.pulp_model import PulpModel, solve_pulp
from waifang.optimise.result import Result

PULP_MAX_CANDIDATES = 20_000
BACKENDS = ("auto", "pulp", "decompose")


def solve(
    problem: Problem,
    *,
    backend: str = "auto",
    solver: str = "highs",
    gap: float = 1e-4,
    time_limit: float | None = None,
    hook: Callable[[PulpModel], None] | None = None,
    start: np.ndarray | None = None,
    prices: np.ndarray | None = None,
) -> Result:
    """Solve ``problem``; see :func:`~waifang.optimise.pulp_model.solve_pulp` and
    :func:`~waifang.optimise.decompose.solve_decomposed` for what each backend does.

    ``time_limit`` is wall-clock seconds for the whole call (build, prices, LPs, MIP, duals),
    counted from here. A limit too short for the gap target gives the best plan found with
    status ``time_limit`` and a valid bound; that plan is never worse than greedy's (or than
    ``start``, a feasible plan as chosen rows, e.g. the previous point of a frontier), which
    is also the MIP's start. ``prices`` (one per coupling row, e.g. a previous result's
    ``shadow_prices``) start the decomposition's price search; the pulp backend ignores them.

    Example
    -------
    Three visits worth 900, 700 and 500 at 300 each; two slots and a budget of 1,000:

    >>> import pandas as pd
    >>> from waifang.optimise.problem import Capacity, make_problem
    >>> candidates = pd.DataFrame({"account_id": ["a", "b", "c"], "option": ["visit"] * 3,
    ...                            "region": ["north"] * 3, "value": [900.0, 700.0, 500.0],
    ...                            "cost": [300.0] * 3})
    >>> problem = make_problem(candidates, [Capacity("north", "visit", 2)], budget=1_000)
    >>> result = solve(problem, gap=1e-4)
    >>> result.status.value, result.objective, result.gap
    ('optimal', 1000.0, 0.0)
    >>> problem.account_ids[problem.account[result.chosen]].tolist()
    ['a', 'b']
    """
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}, got '{backend}'")
    if gap is None or not 0 <= gap < 1:
        raise InputError(f"gap must lie in [0, 1), got {gap!r}")
    if time_limit is not None and not time_limit > 0:
        raise InputError(f"time limit must be positive seconds, got {time_limit!r}")
    deadline = Deadline(time_limit)
    if backend == "auto":
        large = problem.n_candidates > PULP_MAX_CANDIDATES
        backend = "decompose" if large and solver.lower() == "highs" and hook is None else "pulp"
    if backend == "decompose":
        if hook is not None:
            raise InputError("a model hook needs the pulp backend (--backend pulp)")
        if solver.lower() != "highs":
            raise InputError(f"the decompose backend solves with HiGHS, not '{solver}'")
        return solve_decomposed(problem, gap=gap, start=start, deadline=deadline, prices=prices)
    return solve_pulp(problem, solver=solver, gap=gap, hook=hook, start=start, deadline=deadline)
