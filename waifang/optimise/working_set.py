"""The working-set LP of the decomposition: which accounts are close calls under given
prices, which are held at their best row, and the exact HiGHS LP over the close ones.

Used by :mod:`waifang.optimise.decompose`; every LP draws on the solve's
:class:`~waifang.optimise.clock.Deadline`.
"""

from __future__ import annotations

import time

import numpy as np

from waifang.optimise.clock import Deadline, OutOfTime
from waifang.optimise.highs_arrays import solve_arrays
from waifang.optimise.problem import Problem
from waifang.optimise.result import account_best

LP_ALGORITHM = "simplex"


def sample_prices(
    problem: Problem, size: int, rng: np.random.Generator, clock: Deadline
) -> np.ndarray:
    """LP prices of a random sample of accounts, with every limit scaled to the sample
    (zeros when the LP did not finish within its share of the time)."""
    n_acc = problem.n_accounts
    pick = np.zeros(n_acc, dtype=bool)
    pick[rng.choice(n_acc, size=size, replace=False)] = True
    rows = np.flatnonzero(pick[problem.account])
    sol = solve_arrays(
        problem.profit[rows],
        problem.account[rows],
        problem.coupling.A[:, rows],
        problem.coupling.b * (size / n_acc),
        time_limit=clock.share(0.2),
    )
    return sol.coupling_prices if sol.ok else np.zeros(len(problem.coupling.b))


def split_accounts(problem: Problem, q: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Under priced profits ``q``: the ``size`` accounts with the closest calls (a boolean mask
    over accounts), and the best row of every other account whose best pays (held chosen)."""
    n_acc = problem.n_accounts
    first_top, margin = account_margins(problem, q)
    close = np.ones(n_acc, dtype=bool)
    if size < n_acc:
        close[:] = False
        close[np.argpartition(margin, size)[:size]] = True
    fixed = np.flatnonzero(first_top & (q > 0) & ~close[problem.account])
    fixed = _release_overuse(problem, fixed, close, margin)
    return close, fixed


def account_margins(problem: Problem, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each account's best row under priced profits ``q`` (a row mask, first row on ties) and
    its margin: best minus second best, where taking nothing counts as an option worth 0."""
    top = account_best(problem, q)  # max(0, best q)
    first_top = np.zeros(len(q), dtype=bool)
    top_rows = np.flatnonzero(q == top[problem.account])
    if len(top_rows):
        _, first = np.unique(problem.account[top_rows], return_index=True)
        first_top[top_rows[first]] = True
    second = np.maximum.reduceat(np.where(first_top, -np.inf, q), problem.account_starts)
    has_row_top = np.zeros(problem.n_accounts, dtype=bool)
    has_row_top[problem.account[first_top]] = True
    second = np.where(has_row_top, np.maximum(second, 0.0), second)
    return first_top, top - second


def _release_overuse(problem, fixed, close, margin, slack=1.25, extra=20):
    """Move held accounts into the close set (``close`` is updated) until the held rows leave
    every limit with room: on each overused row, the closest calls go first."""
    c = problem.coupling
    by_row = _row_major(problem)
    for _ in range(3):
        residual = c.b - np.asarray(c.A[:, fixed].sum(axis=1)).ravel()
        over = np.flatnonzero(residual < 0)
        if not len(over):
            break
        is_fixed = np.zeros(problem.n_candidates, dtype=bool)
        is_fixed[fixed] = True
        for k in over:
            lo, hi = by_row.indptr[k], by_row.indptr[k + 1]
            cols, coef = by_row.indices[lo:hi], by_row.data[lo:hi]
            keep = is_fixed[cols] & (coef > 0)
            cols, coef = cols[keep], coef[keep]
            order = np.argsort(margin[problem.account[cols]], kind="stable")
            need = np.searchsorted(np.cumsum(coef[order]), -residual[k] * slack) + 1 + extra
            close[problem.account[cols[order[:need]]]] = True
        fixed = fixed[~close[problem.account[fixed]]]
    return fixed


def _row_major(problem: Problem):
    """The coupling matrix by rows, cached on the (read-only) problem."""
    cache = problem.__dict__.setdefault("_decompose_cache", {})
    if "csr" not in cache:
        cache["csr"] = problem.coupling.A.tocsr()
    return cache["csr"]


def restricted_lp(problem: Problem, close, fixed, clock: Deadline, share: float = 0.6):
    """LP relaxation over the close accounts, under the limits the held rows leave over:
    (rows, x, coupling prices), or None if infeasible; OutOfTime if it did not finish."""
    c = problem.coupling
    rows = np.flatnonzero(close[problem.account])
    residual = c.b - np.asarray(c.A[:, fixed].sum(axis=1)).ravel()
    t_lp = time.perf_counter()
    sol = solve_arrays(
        problem.profit[rows],
        problem.account[rows],
        c.A[:, rows],
        residual,
        algorithm=LP_ALGORITHM,
        time_limit=clock.share(share),
    )
    if sol.ok:  # the time a MIP over every row would need to set up, scaled from this LP
        clock.note_lp((time.perf_counter() - t_lp) * problem.n_candidates / max(len(rows), 1))
    if not sol.ok and not sol.infeasible:
        raise OutOfTime
    if not sol.ok:
        return None
    return rows, np.clip(sol.x, 0.0, 1.0), sol.coupling_prices
