"""What a solve returns: a status enum, a frozen result, and our own check of the plan.

Every backend ends in :func:`make_result`, which re-checks the plan against the problem's
constraints with our code (a solver's "optimal" flag is not proof) and derives each
candidate's reduced cost from the shadow prices, so all backends report duals the same way.

Duals are those of the LP relaxation (``x`` in [0, 1] instead of {0, 1}): the shadow price of a
coupling row is how much the relaxation's optimum rises per unit of extra right-hand side. For
an integer plan they are the standard, approximate, marginal values; the tests check them by
re-solving the relaxation with budget + epsilon.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import pandas as pd

from waifang.optimise.problem import Problem

FEASIBILITY_TOL = 1e-6
# "Proven optimal": bound - objective within this relative gap plus an absolute 1e-6 (HiGHS's
# default absolute MIP gap), the tolerance a MIP solver proves optimality to.
OPTIMAL_GAP = 1e-9


class Status(enum.Enum):
    """Outcome of a solve, decided from our own check of the plan and bound, never from a
    solver's word alone.

    ``optimal`` means proven optimal: the checked gap between the plan and the proven bound is
    within :data:`OPTIMAL_GAP` (solver tolerance). A solve that stopped because it reached a
    looser ``gap`` target is ``feasible``: a checked plan, at most ``gap`` short of the best
    possible. ``time_limit`` is a checked plan with a valid bound whose gap is still above the
    target when the time ran out (the best plan found, never worse than greedy's).
    """

    OPTIMAL = "optimal"  #: proven optimal (gap within solver tolerance)
    FEASIBLE = "feasible"  #: a checked plan within the gap target, or the message says why not
    TIME_LIMIT = "time_limit"  #: the time limit came before the gap target: best plan found
    INFEASIBLE = "infeasible"  #: no plan satisfies the constraints (only quotas can cause it)
    NO_SOLUTION = "no_solution"  #: the solver stopped without a plan we could verify

    @property
    def has_plan(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE, Status.TIME_LIMIT)


@dataclass(frozen=True, eq=False)
class Result:
    """A solved plan with its bound and prices; arrays are read-only.

    Attributes
    ----------
    chosen : sorted indices of the chosen candidate rows of the problem.
    objective : sum of ``value - cost`` over the chosen rows (recomputed by us).
    bound : a proven upper bound on the best possible objective.
    gap : ``(bound - objective) / max(|bound|, 1)``.
    shadow_prices : LP-relaxation dual of every coupling row (``problem.coupling.names``);
        entry 0 is the budget's price per unit of currency.
    account_prices : LP dual of each account's "at most one option" row.
    reduced_costs : per candidate, ``value - cost - prices . column - account price``; zero or
        negative at an LP optimum, zero for rows the relaxation picks.
    message : what went wrong when there is no plan, or notes on the plan.
    """

    status: Status
    chosen: np.ndarray
    objective: float
    bound: float
    gap: float
    solver: str
    seconds: float
    build_seconds: float
    constraint_names: tuple[str, ...]
    shadow_prices: np.ndarray
    account_prices: np.ndarray
    reduced_costs: np.ndarray
    message: str = ""

    @property
    def budget_price(self) -> float:
        """Shadow price of the budget: extra net value per extra unit of budget."""
        return float(self.shadow_prices[0])

    @property
    def capacity_prices(self) -> dict[str, float]:
        """Shadow price of every capacity row, by name (``capacity[region/option].count``)."""
        return {
            name: float(price)
            for name, price in zip(self.constraint_names, self.shadow_prices, strict=True)
            if name.startswith("capacity[")
        }

    @property
    def duals(self) -> dict[str, float]:
        """Shadow price of every coupling row, by name, budget first."""
        return dict(zip(self.constraint_names, map(float, self.shadow_prices), strict=True))

    def summary(self) -> dict:
        """The JSON-able figures of the result (what ``PLAN.json`` holds)."""
        return {
            "status": self.status.value,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "solver": self.solver,
            "seconds": round(self.seconds, 4),
            "build_seconds": round(self.build_seconds, 4),
            "n_chosen": int(len(self.chosen)),
            "budget_price": self.budget_price,
            "duals": self.duals,
            "duals_note": "shadow prices of the LP relaxation (x in [0, 1])",
            "message": self.message,
        }


def check_plan(problem: Problem, chosen: np.ndarray, tol: float = FEASIBILITY_TOL) -> list[str]:
    """Every way ``chosen`` breaks the problem's constraints, as readable lines (empty: feasible).

    The tolerance is relative to each row's scale (max of 1 and |rhs|).
    """
    chosen = np.asarray(chosen, dtype=np.int64)
    problems: list[str] = []
    if len(chosen) and (chosen.min() < 0 or chosen.max() >= problem.n_candidates):
        return ["plan refers to candidate rows that do not exist"]
    if len(np.unique(chosen)) != len(chosen):
        problems.append("plan lists a candidate twice")
    accounts, counts = np.unique(problem.account[chosen], return_counts=True)
    for a in accounts[counts > 1][:5]:
        problems.append(f"account {problem.account_ids[a]} gets more than one option")
    c = problem.coupling
    used = np.asarray(c.A[:, chosen].sum(axis=1)).ravel()
    over = used - c.b > tol * np.maximum(1.0, np.abs(c.b))
    for k in np.flatnonzero(over)[:10]:
        problems.append(f"{c.names[k]}: uses {used[k]:,.4f} > limit {c.b[k]:,.4f}")
    return problems


def plan_objective(problem: Problem, chosen: np.ndarray) -> float:
    return float(problem.profit[np.asarray(chosen, dtype=np.int64)].sum())


def priced_profit(problem: Problem, shadow_prices: np.ndarray) -> np.ndarray:
    """``value - cost - shadow_prices . A[:, j]`` per candidate: its profit after paying for
    the budget and capacity it uses at their shadow prices."""
    return problem.profit - problem.coupling.A.T @ np.asarray(shadow_prices, dtype=np.float64)


def account_best(problem: Problem, q: np.ndarray) -> np.ndarray:
    """Per account, ``max(0, max over its rows of q)``: the dual-feasible account price."""
    if problem.n_candidates == 0:
        return np.zeros(0)
    return np.maximum(np.maximum.reduceat(q, problem.account_starts), 0.0)


def lagrangian_bound(problem: Problem, shadow_prices: np.ndarray) -> float:
    """Upper bound on the (LP and integer) optimum valid for any non-negative prices."""
    prices = np.maximum(np.asarray(shadow_prices, dtype=np.float64), 0.0)
    b = problem.coupling.b
    finite = np.isfinite(b)
    if np.any(prices[~finite] > 0):
        return float("inf")
    q = priced_profit(problem, prices)
    return float(prices[finite] @ b[finite] + account_best(problem, q).sum())


def make_result(
    problem: Problem,
    status: Status,
    chosen: np.ndarray | None,
    *,
    bound: float,
    solver: str,
    seconds: float,
    build_seconds: float = 0.0,
    shadow_prices: np.ndarray | None = None,
    gap_tolerance: float = 1e-4,
    message: str = "",
    timed_out: bool = False,
) -> Result:
    """Check the plan, compute objective, gap and reduced costs, and freeze the result.

    A plan that fails our feasibility check turns the status into ``NO_SOLUTION`` with the
    violations in ``message``, whatever the solver said. For a checked plan the status is set
    from the checked gap (see :class:`Status`): ``optimal`` within :data:`OPTIMAL_GAP`,
    ``feasible`` within ``gap_tolerance``, else ``time_limit`` when ``timed_out`` (the
    deadline stopped the search) or ``feasible`` with the message saying why.
    """
    names = problem.coupling.names
    prices = np.zeros(len(names)) if shadow_prices is None else np.asarray(shadow_prices, float)
    prices = np.where(np.abs(prices) < 1e-12, 0.0, prices)
    q = priced_profit(problem, prices)
    pi = account_best(problem, q)
    reduced = q - pi[problem.account] if problem.n_candidates else q
    if chosen is None or not status.has_plan:
        chosen = []  # whatever values a solver left behind are not a plan
    chosen_arr = np.sort(np.asarray(chosen, dtype=np.int64))
    objective = float("nan")
    gap = float("nan")
    if status.has_plan:
        violations = check_plan(problem, chosen_arr)
        if violations:
            status = Status.NO_SOLUTION
            message = "solver's plan rejected by our check: " + "; ".join(violations)
            chosen_arr = np.zeros(0, dtype=np.int64)
        else:
            objective = plan_objective(problem, chosen_arr)
            bound = max(bound, objective)  # a bound below a checked plan is rounding noise
            gap = (bound - objective) / max(abs(bound), 1.0)
            status = plan_status(bound, objective, gap_tolerance, timed_out)
    for arr in (chosen_arr, prices, pi, reduced):
        arr.setflags(write=False)
    return Result(
        status=status,
        chosen=chosen_arr,
        objective=objective,
        bound=float(bound),
        gap=float(gap),
        solver=solver,
        seconds=float(seconds),
        build_seconds=float(build_seconds),
        constraint_names=names,
        shadow_prices=prices,
        account_prices=pi,
        reduced_costs=reduced,
        message=message,
    )


def plan_status(bound: float, objective: float, gap_tolerance: float, timed_out: bool) -> Status:
    """The status word of a checked plan (see :class:`Status`)."""
    slack = bound - objective
    if slack <= OPTIMAL_GAP * abs(bound) + 1e-6:
        return Status.OPTIMAL
    gap = slack / max(abs(bound), 1.0)
    if gap <= gap_tolerance * (1 + 1e-9) + 1e-12 or not timed_out:
        return Status.FEASIBLE
    return Status.TIME_LIMIT


def plan_frame(problem: Problem, result: Result) -> pd.DataFrame:
    """The chosen rows as a table: ``account_id, option, region, period, value, cost``
    (``period`` 0 when the candidates had none)."""
    rows = result.chosen
    return pd.DataFrame(
        {
            "account_id": problem.account_ids[problem.account[rows]],
            "option": np.asarray(problem.options, dtype=object)[problem.option[rows]],
            "region": np.asarray(problem.regions, dtype=object)[problem.region[rows]],
            "period": problem.period[rows],
            "value": problem.value[rows],
            "cost": problem.cost[rows],
        }
    )
