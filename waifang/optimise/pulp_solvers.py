"""pulp solvers by short name, with what the optimiser needs of them: a MIP start, a
wall-clock deadline, and each solver's own proven bound.

pulp implements ``warmStart`` for CBC (and CPLEX, Gurobi, Xpress) but not for its highspy
interface, and a command-line solver's time limit does not count pulp writing the model
file; both are mended here rather than in the model.
"""

from __future__ import annotations

import os
import re

import highspy
import numpy as np
import pulp

from waifang.errors import InputError
from waifang.optimise.clock import Deadline
from waifang.optimise.highs_arrays import enforce_time_limit

# Short names and the pulp solvers they may mean, in order of preference (pulp 3 bundles CBC
# as PULP_CBC_CMD and deprecates it for a separately installed COIN_CMD).
SOLVER_ALIASES = {
    "highs": ("HiGHS", "HiGHS_CMD"),
    "cbc": ("PULP_CBC_CMD", "COIN_CMD"),
    "glpk": ("GLPK_CMD",),
}


class _HiGHSWithStart(pulp.HiGHS):
    """pulp's HiGHS interface plus what it lacks: a MIP start from the variables' initial
    values (pulp implements ``warmStart`` for CBC, CPLEX, Gurobi and Xpress, not HiGHS), and a
    deadline turned into HiGHS's time limit *after* pulp's own model copy, which is slow and
    would otherwise not count."""

    def __init__(self, *, deadline: Deadline | None = None, fraction: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.deadline = deadline
        self.fraction = fraction
        self.used_start = False

    def callSolver(self, lp):
        h = lp.solverModel
        if self.deadline is not None and self.deadline.limit is not None:
            enforce_time_limit(h, self.deadline.share(self.fraction))
        given = [(v.index, v.varValue) for v in lp.variables() if v.varValue is not None]
        if not (self.mip and lp.isMIP() and given):
            h.run()
            return
        idx, val = (np.asarray(t) for t in zip(*given, strict=True))
        h.setSolution(len(idx), idx.astype(np.int32), val.astype(np.float64))
        self.used_start = True
        h.run()
        if not _claim_attained(h):
            # As in highs_arrays.solve_arrays: HiGHS 1.16 given a start can end "Optimal"
            # with an objective its returned plan does not attain; without presolve it
            # does not.
            h.setOptionValue("presolve", "off")
            h.setSolution(len(idx), idx.astype(np.int32), val.astype(np.float64))
            h.run()


def _claim_attained(h: highspy.Highs) -> bool:
    """Whether the solution HiGHS hands back attains the objective it reports."""
    sol = h.getSolution()
    if not sol.value_valid:
        return True
    lp = h.getLp()
    attained = float(np.asarray(lp.col_cost_) @ np.asarray(sol.col_value)) + lp.offset_
    claimed = float(h.getInfo().objective_function_value)
    return abs(claimed - attained) <= 1e-7 * max(1.0, abs(claimed))


def pulp_solver(
    name: str,
    *,
    gap: float | None = None,
    time_limit: float | None = None,
    msg: bool = False,
    deadline: Deadline | None = None,
    fraction: float = 1.0,
    warm_start: bool = False,
) -> pulp.LpSolver:
    """A pulp solver by short name (``highs``, ``cbc``, ``glpk``) or any pulp solver name.

    With a ``deadline``, HiGHS gets ``fraction`` of the time left when it starts to run and
    CBC ``fraction`` of the time left now; ``warm_start`` gives the variables' initial values
    as the MIP start where the solver takes one (HiGHS, CBC)."""
    kwargs = {"msg": msg}
    if gap is not None:
        kwargs["gapRel"] = gap
    on_deadline = time_limit is None and deadline is not None and deadline.limit is not None
    if on_deadline:
        time_limit = deadline.share(fraction)
    if time_limit is not None:
        kwargs["timeLimit"] = time_limit
    for full in SOLVER_ALIASES.get(name.lower(), (name,)):
        if full == "HiGHS":
            return _HiGHSWithStart(deadline=deadline, fraction=fraction, **kwargs)
        try:
            extra = {"warmStart": True} if warm_start and full in _WARM_START else {}
            cls = getattr(pulp, full, None)
            if on_deadline and isinstance(cls, type) and issubclass(cls, pulp.LpSolver_CMD):
                solver = _on_deadline(cls, deadline, fraction)(**kwargs, **extra)
            else:
                solver = pulp.getSolver(full, **kwargs, **extra)
        except pulp.PulpSolverError:
            continue
        except TypeError:
            # Some pulp solvers (GLPK) take no gapRel/timeLimit: run them without.
            solver = pulp.getSolver(full, msg=msg)
        if solver.available():
            return solver
    available = ", ".join(pulp.listSolvers(onlyAvailable=True))
    raise InputError(f"solver '{name}' is not available; installed pulp solvers: {available}")


_WARM_START = ("PULP_CBC_CMD", "COIN_CMD")


def _on_deadline(cls: type, deadline: Deadline, fraction: float) -> type:
    """``cls`` whose time limit is read off the deadline when the solver asks for it: a
    command-line solver (CBC) reads ``timeLimit`` after pulp has written the model file,
    so the writing counts against the limit instead of coming on top of it."""

    def get(self):
        return deadline.share(fraction)

    def set_(self, value):
        pass  # the deadline decides

    return type(cls.__name__, (cls,), {"timeLimit": property(get, set_)})


def solver_available(name: str) -> bool:
    try:
        pulp_solver(name)
    except InputError:
        return False
    return True


def highs_bound(model) -> float | None:
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


def read_log(path: str | None) -> str | None:
    if path is None or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def cbc_bound(log_text: str, model) -> float | None:
    """CBC's own proven bound from its log, in the max sense: the "Upper bound" of its final
    report (pulp runs CBC with ``-max``); when the search completed without one, the
    incumbent itself (proven optimal); else the last "best possible" of the progress lines
    (CBC minimises -objective internally)."""
    objective = pulp.value(model.lp.objective)
    upper = re.findall(r"^Upper bound:\s+(-?[0-9.eE+-]+)", log_text, flags=re.M)
    if upper:
        return float(upper[-1])
    if re.search(r"^Result - Optimal solution found\s*$", log_text, flags=re.M):
        return None if objective is None else float(objective)
    possible = re.findall(r"best possible (-?[0-9.eE+-]+)", log_text)
    if possible:
        return -float(possible[-1])
    return None
