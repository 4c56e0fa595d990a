"""The readable model: pulp, build -> user hook -> solve -> result, for small and medium problems.

HiGHS (through highspy) is the default solver; CBC and any other solver pulp knows plug in by
name (``"cbc"``, ``"glpk"``, ``"GUROBI"``, ...). The hook receives the :class:`PulpModel` before
solving and may add constraints or change the objective; our feasibility check still uses the
problem's own constraints.

Duals are read from the LP relaxation: after the MIP, the same model is solved once more with
continuous variables.

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
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pulp

from waifang.errors import InputError
from waifang.optimise.highs_arrays import silence_banner
from waifang.optimise.problem import Problem
from waifang.optimise.result import Result, Status, lagrangian_bound, make_result

# Short names and the pulp solvers they may mean, in order of preference (pulp 3 bundles CBC
# as PULP_CBC_CMD and deprecates it for a separately installed COIN_CMD).
SOLVER_ALIASES = {
    "highs": ("HiGHS", "HiGHS_CMD"),
    "cbc": ("PULP_CBC_CMD", "COIN_CMD"),
    "glpk": ("GLPK_CMD",),
}


@dataclass
class PulpModel:
    """The pulp problem with handles a hook needs: one binary per candidate row, and the
    coupling constraints by the same names as ``problem.coupling.names``."""

    problem: Problem
    lp: pulp.LpProblem
    x: list[pulp.LpVariable]
    one_per_account: list[pulp.LpConstraint]
    coupling: dict[str, pulp.LpConstraint]


def build_pulp_model(problem: Problem) -> PulpModel:
    """Write the selection problem as a pulp model, constraint by constraint."""
    lp = pulp.LpProblem("visit_selection", pulp.LpMaximize)
    x = [_binary(lp, f"x_{j}") for j in range(problem.n_candidates)]
    profit = problem.profit
    lp += pulp.lpSum(float(profit[j]) * x[j] for j in range(problem.n_candidates)), "net_value"

    # At most one option per account.
    one_per_account = []
    for a, start in enumerate(problem.account_starts):
        stop = problem.account_starts[a + 1] if a + 1 < problem.n_accounts else problem.n_candidates
        con = pulp.lpSum(x[j] for j in range(start, stop)) <= 1
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
        terms = [(x[j], float(v)) for j, v in zip(A.indices[lo:hi], A.data[lo:hi], strict=True)]
        con = pulp.LpAffineExpression(terms) <= float(c.b[k])
        lp.addConstraint(con, f"row_{k}")
        coupling[name] = con
    return PulpModel(problem, lp, x, one_per_account, coupling)


def _binary(lp: pulp.LpProblem, name: str) -> pulp.LpVariable:
    # pulp >= 3.3 creates variables through the problem (the PuLP 4 way); older pulp directly.
    if hasattr(lp, "add_variable"):
        return lp.add_variable(name, 0, 1, cat=pulp.LpBinary)
    return pulp.LpVariable(name, 0, 1, cat=pulp.LpBinary)


def pulp_solver(
    name: str, *, gap: float | None = None, time_limit: float | None = None, msg: bool = False
) -> pulp.LpSolver:
    """A pulp solver by short name (``highs``, ``cbc``, ``glpk``) or any pulp solver name."""
    kwargs = {"msg": msg}
    if gap is not None:
        kwargs["gapRel"] = gap
    if time_limit is not None:
        kwargs["timeLimit"] = time_limit
    for full in SOLVER_ALIASES.get(name.lower(), (name,)):
        try:
            solver = pulp.getSolver(full, **kwargs)
        except pulp.PulpSolverError:
            continue
        except TypeError:
            # Some pulp solvers (GLPK) take no gapRel/timeLimit: run them without.
            solver = pulp.getSolver(full, msg=msg)
        if solver.available():
            return solver
    available = ", ".join(pulp.listSolvers(onlyAvailable=True))
    raise InputError(f"solver '{name}' is not available; installed pulp solvers: {available}")


def solver_available(name: str) -> bool:
    try:
        pulp_solver(name)
    except InputError:
        return False
    return True


def solve_pulp(
    problem: Problem,
    *,
    solver: str = "highs",
    gap: float = 1e-4,
    time_limit: float | None = None,
    hook: Callable[[PulpModel], None] | None = None,
    msg: bool = False,
) -> Result:
    """Build, hook, solve the MIP, then the LP relaxation for duals; return a checked Result."""
    t0 = time.perf_counter()
    model = build_pulp_model(problem)
    if hook is not None:
        hook(model)
    build_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    mip_solver = pulp_solver(solver, gap=gap, time_limit=time_limit, msg=msg)
    if not msg:
        silence_banner()
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(mip_solver, pulp.COIN_CMD):  # CBC: read its bound from the log
            mip_solver.optionsDict["logPath"] = os.path.join(tmp, "cbc.log")
        model.lp.solve(mip_solver)
        log_text = _read(mip_solver.optionsDict.get("logPath"))
    status_text = pulp.LpStatus[model.lp.status]
    sol_status = model.lp.sol_status
    chosen = np.flatnonzero([(v.varValue or 0.0) > 0.5 for v in model.x])
    solver_bound = _solver_bound(model, mip_solver)
    if log_text is not None:
        solver_bound = _cbc_bound(log_text, model, gap)
    if status_text == "Infeasible":
        status = Status.INFEASIBLE
    elif sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        status = Status.OPTIMAL if sol_status == pulp.LpSolutionOptimal else Status.FEASIBLE
    else:
        status = Status.NO_SOLUTION
    prices, lp_value = _relaxation_prices(model, solver, msg) if status.has_plan else (None, None)
    seconds = time.perf_counter() - t1
    bound = float("inf")
    if prices is not None:
        # Our own bound: the Lagrangian bound at the LP prices (equals the LP optimum) --
        # checked arithmetic, not a solver's word.
        bound = min(bound, lagrangian_bound(problem, prices))
    if solver_bound is not None and status.has_plan:
        bound = min(bound, solver_bound)
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
        message="" if status.has_plan else f"pulp status {status_text}",
    )


def _solver_bound(model: PulpModel, solver: pulp.LpSolver) -> float | None:
    """HiGHS's proven MIP bound, when the solver exposes one (in the max sense)."""
    highs = getattr(model.lp, "solverModel", None)
    if highs is None or not hasattr(highs, "getInfo"):
        return None
    info = highs.getInfo()
    dual_bound = getattr(info, "mip_dual_bound", None)
    if dual_bound is None or not np.isfinite(dual_bound) or abs(dual_bound) >= 1e30:
        return None
    # pulp hands HiGHS the minimisation of -objective.
    return -float(dual_bound)


def _read(path: str | None) -> str | None:
    if path is None or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _cbc_bound(log_text: str, model: PulpModel, gap: float) -> float | None:
    """CBC's proven bound from its log (it minimises -objective): "best possible" when it
    stopped early, or the incumbent within its gap tolerance when the search completed."""
    objective = pulp.value(model.lp.objective)
    if objective is None:
        return None
    possible = re.findall(r"best possible (-?[0-9.eE+-]+)", log_text)
    if "Search completed" in log_text or "Result - Optimal solution found" in log_text:
        return float(objective) + gap * max(abs(float(objective)), 1.0)
    if possible:
        return -float(possible[-1])
    return None


def _relaxation_prices(model: PulpModel, solver: str, msg: bool) -> tuple[np.ndarray, float]:
    """Solve the LP relaxation of the same model; return the coupling rows' shadow prices."""
    for v in model.x:
        v.cat = pulp.LpContinuous
        v.upBound = 1
    try:
        lp_solver = pulp_solver(solver, msg=msg)
        model.lp.solve(lp_solver)
        names = model.problem.coupling.names
        raw = np.array(
            [(model.coupling[n].pi or 0.0) if n in model.coupling else 0.0 for n in names]
        )
        # Every coupling row is "<=" in a maximisation, so its true shadow price is >= 0.
        # Solvers report it either so, or (like pulp's HiGHS interface, which minimises
        # -objective) as the minimisation's dual, <= 0: the signs tell which convention.
        scale = max(1.0, float(np.abs(raw).max(initial=0.0)))
        sign = -1.0 if np.any(raw < -1e-9 * scale) else 1.0
        return np.maximum(sign * raw, 0.0), float(pulp.value(model.lp.objective) or 0.0)
    finally:
        for v in model.x:
            v.cat = pulp.LpBinary
