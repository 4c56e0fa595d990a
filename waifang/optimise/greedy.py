"""The greedy rule a collections team would use without an optimiser, and a greedy filler.

:func:`greedy` ranks candidates by net value per unit of cost and takes each one that still
fits (its account untouched, the budget and every capacity with room left). It is the
baseline the optimiser must never lose to, and the repair step of the large path uses
:func:`greedy_fill` to top up a rounded plan.

Both ignore *minimum* quotas (a greedy plan may miss them); maximum quotas and shares are
respected like any other limit.
"""

from __future__ import annotations

import numpy as np

from waifang.optimise.problem import Problem
from waifang.optimise.result import check_plan

_TOL = 1e-9


def greedy(problem: Problem, rule: str = "ratio") -> np.ndarray:
    """Chosen rows of a greedy rule, taking each candidate that still fits, best first.

    ``rule="ratio"`` ranks by net value per unit of cost, ``(value - cost) / cost`` (the
    classic knapsack heuristic); ``rule="net"`` ranks by net value ``value - cost``.
    """
    p = problem.profit
    if rule == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(problem.cost > 0, p / problem.cost, np.inf)
    elif rule == "net":
        ratio = p
    else:
        raise ValueError(f"rule must be 'ratio' or 'net', got {rule!r}")
    rows = np.flatnonzero(p > 0)
    # Highest ratio first; ties broken by larger net value, then row order (deterministic).
    order = rows[np.lexsort((rows, -p[rows], -ratio[rows]))]
    return greedy_fill(problem, np.zeros(0, dtype=np.int64), candidates=order, presorted=True)


def greedy_fill(
    problem: Problem,
    chosen: np.ndarray,
    *,
    candidates: np.ndarray,
    order_key: np.ndarray | None = None,
    presorted: bool = False,
) -> np.ndarray:
    """Add candidate rows (best ``order_key`` first, only those with ``value > cost``) to
    ``chosen`` while each fits the limits left over; returns the sorted enlarged plan."""
    chosen = np.asarray(chosen, dtype=np.int64)
    candidates = np.asarray(candidates, dtype=np.int64)
    if not presorted:
        order = np.argsort(-np.asarray(order_key), kind="stable")
        candidates = candidates[order]
    candidates = candidates[problem.profit[candidates] > 0]
    c = problem.coupling
    A = c.A
    residual = (c.b - np.asarray(A[:, chosen].sum(axis=1)).ravel()).tolist()
    taken = np.zeros(problem.n_accounts, dtype=bool)
    taken[problem.account[chosen]] = True
    taken_l = taken.tolist()
    account = problem.account[candidates].tolist()
    indptr, indices, data = A.indptr, A.indices, A.data
    # Python lists: per-element access on them is several times faster than on numpy arrays.
    starts = indptr[candidates].tolist()
    stops = indptr[candidates + 1].tolist()
    idx_l, val_l = indices.tolist(), data.tolist()
    added = []
    for pos, j in enumerate(candidates.tolist()):
        a = account[pos]
        if taken_l[a]:
            continue
        lo, hi = starts[pos], stops[pos]
        fits = True
        for e in range(lo, hi):
            v = val_l[e]
            if v > 0 and residual[idx_l[e]] - v < -_TOL * max(1.0, abs(residual[idx_l[e]])):
                fits = False
                break
        if not fits:
            continue
        for e in range(lo, hi):
            residual[idx_l[e]] -= val_l[e]
        taken_l[a] = True
        added.append(j)
    return np.sort(np.concatenate([chosen, np.asarray(added, dtype=np.int64)]))


def best_greedy(problem: Problem) -> np.ndarray:
    """The better of the two greedy rules' plans that is feasible (minimum quotas can defeat
    both: then the empty plan, which may be infeasible too). The floor every backend keeps and
    the start it gives its MIP."""
    best = np.zeros(0, dtype=np.int64)
    best_value = -np.inf
    for rule in ("ratio", "net"):
        plan = greedy(problem, rule=rule)
        value = float(problem.profit[plan].sum())
        if value > best_value and not check_plan(problem, plan):
            best, best_value = plan, value
    return best
