"""The readable model: pulp, build -> user hook -> solve -> result, for small and medium problems.

HiGHS (through highspy) is the default solver; CBC and any other solver pulp knows plug in by
name (``"cbc"``, ``"glpk"``, ``"GUROBI"``, ...). The hook receives the :class:`PulpModel` before
solving and may add constraints or change the objective; our feasibility check still uses the
problem's own constraints.

Duals are read from the LP relaxation: after the MIP, the problem's relaxation is solved from
sparse arrays by HiGHS (or, when a hook changed the model, the same pulp model once more with
continuous variables).

``time_limit`` is wall time for the whole call: the pulp build, the MIP and the dual solve share
one deadline. The better greedy plan is the MIP's start (CBC through pulp's ``warmStart``;
HiGHS through ``setSolution``, which pulp's HiGHS interface lacks) and the floor of the
result: a limit too short for the MIP gives that plan with status ``time_limit`` and a valid
bound, never no plan.

Example
-------
Two slots for three visits: the budget is slack (price 0) and a third slot would add the
third visit's 500 - 300 = 200.

>>> import pandas as pd
>>> from waifang.optimise.problem import Capacity, make_problem
>>> from waifang.optimise.pulp_model import solve_pulp
>>> candidates = pd.DataFrame({"account_id": ["a", "b", "c"], "option": ["visit"] * 3,
...                            "region": ["north"] * 3, "value": [900.0, 700.0, 500.0],
...                            "cost": [300.0] * 3})
>>> problem = make_problem(candidates, [Capacity("north", "visit", 2)], budget=1_000)
>>> result = solve_pulp(problem, solver="highs", gap=1e-6)
>>> result.status.value, result.objective, result.budget_price
('optimal', 1000.0, 0.0)
>>> result.duals["capacity[north/visit].count"]
200.0
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pulp

from waifang.optimise.clock import Deadline, OutOfTime
from waifang.optimise.greedy import best_greedy
from waifang.optimise.highs_arrays import silence_banner
from waifang.optimise.marginal import relaxation_prices
from waifang.optimise.problem import Problem
from waifang.optimise.pulp_solvers import (  # noqa: F401 -- solver_available is re-exported
    SOLVER_ALIASES,
    cbc_bound,
    highs_bound,
    pulp_solver,
    read_log,
    solver_available,
)
from waifang.optimise.result import Result, Status, check_plan, lagrangian_bound, make_result

# Share of the time left that the MIP gets; the rest is kept for the dual solve.
MIP_SHARE = 0.85


@dataclass
class PulpModel:
    """The pulp problem with handles a hook needs: one binary per candidate row, and the
    coupling constraints by the same names as ``problem.coupling.names``."""

    problem: Problem
    lp: pulp.LpProblem
    x: list[pulp.LpVariable]
    one_per_account: list[pulp.LpConstraint]
    coupling: dict[str, pulp.LpConstraint]


def build_pulp_model(problem: Problem, deadline: Deadline | None = None) -> PulpModel:
    """Write the selection problem as a pulp model, constraint by constraint.

    With a ``deadline`` the build checks the clock as it goes and raises
    :class:`~waifang.optimise.clock.OutOfTime` when it passes."""
    lp = pulp.LpProblem("visit_selection", pulp.LpMaximize)
    x = []
    for j in range(problem.n_candidates):
        if deadline is not None and j % 2000 == 0:
            deadline.check()
        x.append(_binary(lp, f"x_{j}"))
    # Expressions from (variable, coefficient) pairs: several times faster than lpSum.
    lp += pulp.LpAffineExpression(zip(x, problem.profit.tolist(), strict=True)), "net_value"

    # At most one option per account.
    one_per_account = []
    bounds = np.append(problem.account_starts, problem.n_candidates).tolist()
    for a in range(problem.n_accounts):
        if deadline is not None and a % 2000 == 0:
            deadline.check()
        con = pulp.LpAffineExpression([(v, 1.0) for v in x[bounds[a] : bounds[a + 1]]]) <= 1
        lp.addConstraint(con, f"one_option_{a}")
        one_per_account.append(con)

    # Budget, capacities (count and hours) and quotas: one row each of problem.coupling.
    c = problem.coupling
    A = c.A.tocsr()
    coupling = {}
    for k, name in enumerate(c.names):
        if not np.isfinite(c.b[k]):
            continue  # an infinite budget is no constraint
        lo, hi = A.indptr[k], A.indptr[k + 1]
        idx, val = A.indices[lo:hi].tolist(), A.data[lo:hi].tolist()
        terms = [(x[j], v) for j, v in zip(idx, val, strict=True)]
        con = pulp.LpAffineExpression(terms) <= float(c.b[k])
        lp.addConstraint(con, f"row_{k}")
        coupling[name] = con
    return PulpModel(problem, lp, x, one_per_account, coupling)


def _binary(lp: pulp.LpProblem, name: str) -> pulp.LpVariable:
    # pulp >= 3.3 creates variables through the problem (the PuLP 4 way); older pulp directly.
    if hasattr(lp, "add_variable"):
        return lp.add_variable(name, 0, 1, cat=pulp.LpBinary)
    return pulp.LpVariable(name, 0, 1, cat=pulp.LpBinary)


def solve_pulp(
    problem: Problem,
    *,
    solver: str = "highs",
    gap: float = 1e-4,
    time_limit: float | None = None,
    hook: Callable[[PulpModel], None] | None = None,
    msg: bool = False,
    start: np.ndarray | None = None,
    deadline: Deadline | None = None,
) -> Result:
    """Build, hook, solve the MIP from a start, then the LP relaxation for duals; return a
    checked Result.

    ``start`` (chosen rows; default the better greedy plan) is the MIP's start and the floor
    of the result. ``time_limit`` (or a ``deadline`` already running) bounds the whole call.
    """
    deadline = Deadline(time_limit) if deadline is None else deadline
    t0 = time.perf_counter()
    floor = best_greedy(problem) if start is None else np.asarray(start, dtype=np.int64)
    if check_plan(problem, floor):
        floor = None  # a start that breaks a (minimum quota) limit is no floor
    prices = None
    if hook is None:
        # The LP duals first, from sparse arrays (fast): they give the bound even when the
        # MIP runs out of time, and they do not depend on the MIP solver.
        t_lp = time.perf_counter()
        prices = relaxation_prices(problem, time_limit=deadline.share(0.5))
        deadline.note_lp(time.perf_counter() - t_lp)
    t_build = time.perf_counter()
    try:
        model = build_pulp_model(problem, deadline)
        if hook is not None:
            hook(model)
    except OutOfTime:
        when = "time limit reached while building the model"
        if hook is not None:
            floor = None  # the hook's rules are unknown: greedy's plan may break them
        return _floor_result(problem, floor, prices, gap, time.perf_counter() - t0, when)
    build_seconds = time.perf_counter() - t0
    # Handing the model to the solver (pulp copies it to HiGHS, or writes CBC's file) costs
    # about what building it did; then the MIP's own set-up cannot be interrupted.
    left = deadline.remaining()
    if left is not None and left < deadline.mip_setup + (time.perf_counter() - t_build):
        when = "too little time left to start the MIP"
        if hook is not None:
            floor = None
        return _floor_result(problem, floor, prices, gap, time.perf_counter() - t0, when)
    t1 = time.perf_counter()
    if floor is not None:
        chosen_start = np.zeros(problem.n_candidates, dtype=bool)
        chosen_start[floor] = True
        for j, v in enumerate(model.x):
            v.setInitialValue(1 if chosen_start[j] else 0)
        if hook is not None and not _satisfies(model):
            floor = None  # greedy knows nothing of the hook's rules: no start, no floor
            for v in model.x:
                v.varValue = None
    mip_solver = pulp_solver(
        solver, gap=gap, msg=msg, deadline=deadline, fraction=MIP_SHARE, warm_start=True
    )
    if not msg:
        silence_banner()
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(mip_solver, pulp.COIN_CMD):  # CBC: read its bound from the log
            mip_solver.optionsDict["logPath"] = os.path.join(tmp, "cbc.log")
        model.lp.solve(mip_solver)
        log_text = read_log(mip_solver.optionsDict.get("logPath"))
    status_text = pulp.LpStatus[model.lp.status]
    sol_status = model.lp.sol_status
    chosen = np.flatnonzero([(v.varValue or 0.0) > 0.5 for v in model.x])
    proven = highs_bound(model)
    # With a limit, only the clock stops the search short of the gap target.
    timed_out = deadline.limit is not None
    if log_text is not None:
        proven = cbc_bound(log_text, model)
    if status_text == "Infeasible":
        status = Status.INFEASIBLE
    elif sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        status = Status.FEASIBLE  # make_result sets the word from the checked gap
        if check_plan(problem, chosen):
            status = Status.NO_SOLUTION
    else:
        status = Status.NO_SOLUTION
    note = ""
    if floor is not None and status is not Status.INFEASIBLE:
        if not status.has_plan or problem.profit[floor].sum() > problem.profit[chosen].sum():
            note = f"the solver's plan ({status_text}) was no better than greedy's: greedy's kept"
            chosen, status = floor, Status.FEASIBLE
    if hook is not None and status.has_plan and not deadline.expired():
        prices = _relaxation_prices(model, solver, msg, deadline.share(1.0))
    seconds = time.perf_counter() - t1
    bound = _bound(problem, prices, proven if status.has_plan else None)
    if prices is None and status.has_plan:
        note = "; ".join(filter(None, [note, "no time left for the LP duals: prices are 0"]))
    return make_result(
        problem,
        status,
        chosen,
        bound=bound,
        solver=f"pulp/{mip_solver.name}",
        seconds=seconds,
        build_seconds=build_seconds,
        shadow_prices=prices,
        gap_tolerance=gap,
        message=note if status.has_plan else f"pulp status {status_text}",
        timed_out=timed_out,
    )


def _bound(problem: Problem, prices: np.ndarray | None, solver_bound: float | None) -> float:
    """The best valid bound: our own Lagrangian bound at the LP prices (checked arithmetic,
    not a solver's word; at zero prices when there are none) and the solver's proven bound."""
    bound = lagrangian_bound(
        problem, np.zeros(problem.coupling.n_rows) if prices is None else prices
    )
    if solver_bound is not None:
        bound = min(bound, solver_bound)
    return bound


def _floor_result(problem, floor, prices, gap, seconds, when: str) -> Result:
    """The time ran out before the solver started: the floor plan, bounded at the LP prices
    (or at zero prices, valid if loose)."""
    if floor is None:
        return make_result(
            problem,
            Status.NO_SOLUTION,
            None,
            bound=float("inf"),
            solver="pulp",
            seconds=seconds,
            message=f"{when}, and greedy's plan breaks a minimum quota",
        )
    return make_result(
        problem,
        Status.FEASIBLE,
        floor,
        bound=_bound(problem, prices, None),
        shadow_prices=prices,
        solver="pulp",
        seconds=seconds,
        gap_tolerance=gap,
        message=f"{when}: greedy's plan",
        timed_out=True,
    )


def _satisfies(model: PulpModel) -> bool:
    """Whether the variables' current values satisfy every constraint of the (hooked) model."""
    constraints = model.lp.constraints
    constraints = constraints() if callable(constraints) else constraints.values()
    return all(con.valid(1e-6) for con in constraints)


def _relaxation_prices(
    model: PulpModel, solver: str, msg: bool, time_limit: float | None = None
) -> np.ndarray | None:
    """Solve the LP relaxation of the same (hooked) model; return the coupling rows' shadow
    prices, or None when it did not finish."""
    for v in model.x:
        v.cat = pulp.LpContinuous
        v.upBound = 1
    try:
        lp_solver = pulp_solver(solver, msg=msg, time_limit=time_limit)
        model.lp.solve(lp_solver)
        if model.lp.sol_status != pulp.LpSolutionOptimal:
            return None
        names = model.problem.coupling.names
        raw = np.array(
            [(model.coupling[n].pi or 0.0) if n in model.coupling else 0.0 for n in names]
        )
        # Every coupling row is "<=" in a maximisation, so its true shadow price is >= 0.
        # Solvers report it either so, or (like pulp's HiGHS interface, which minimises
        # -objective) as the minimisation's dual, <= 0: the signs tell which convention.
        scale = max(1.0, float(np.abs(raw).max(initial=0.0)))
        sign = -1.0 if np.any(raw < -1e-9 * scale) else 1.0
        return np.maximum(sign * raw, 0.0)
    finally:
        for v in model.x:
            v.cat = pulp.LpBinary
