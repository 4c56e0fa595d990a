"""The large-problem path: price the few coupling rows, decide most accounts by themselves.

The structure: each account takes at most one option, and only K coupling rows (budget,
capacities, quotas; K is ~100 while accounts number ~10^5) tie accounts together. Given prices
``lam >= 0`` on the coupling rows, each account independently takes the option with the best
*priced profit* ``q_j = value_j - cost_j - lam . A[:, j]`` (or nothing if all are negative),
and ``L(lam) = lam . b + sum_accounts max(0, max_j q_j)`` bounds the optimum from above for any
``lam`` (Lagrangian relaxation; its minimum equals the LP relaxation's optimum).

How the prices are found -- a working-set LP:

1. Prices from a small random sample of accounts with the coupling limits scaled to the
   sample (by the law of large numbers they are close to the full problem's prices).
2. Under the current prices, accounts whose best choice clearly beats their second best are
   fixed; the few thousand closest calls form the working set, whose LP (with the limits left
   over by the fixed accounts) is solved exactly by HiGHS from sparse arrays.
3. Its duals are new prices. When ``L(prices)`` equals the value of the combined primal
   solution, that solution is the LP optimum -- proven by the bound itself, not assumed; if
   not, the working set grows and step 2 repeats.

The LP optimum of a basic solution has at most K fractional accounts. Rounding them down and
filling what is left greedily gives an integer plan; if the gap to ``L`` is still above the
target, a MIP over the working set (HiGHS, fixed accounts held) polishes it. The reported
bound is ``min L(lam)`` over the rounds, so the gap is proven.
"""

from __future__ import annotations

import time

import numpy as np

from waifang.optimise.greedy import greedy_fill
from waifang.optimise.highs_arrays import solve_arrays
from waifang.optimise.problem import Problem
from waifang.optimise.result import (
    Result,
    Status,
    account_best,
    check_plan,
    lagrangian_bound,
    make_result,
    priced_profit,
)

SOLVER_NAME = "decompose/highs"


def solve_decomposed(
    problem: Problem,
    *,
    gap: float = 1e-4,
    time_limit: float | None = None,
    working_accounts: int = 4000,
    sample_accounts: int = 6000,
    max_rounds: int = 8,
    seed: int = 0,
) -> Result:
    """Solve by pricing the coupling rows (see the module docstring); returns a checked Result.

    Parameters
    ----------
    gap : relative gap target between the plan and the proven bound.
    time_limit : seconds for the whole solve; the MIP polish uses what is left.
    working_accounts : size of the first working set (it doubles while the LP is unproven).
    sample_accounts : accounts in the random sample that gives the first prices.
    seed : seeds the sample, so the same problem gives the same plan.
    """
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    c = problem.coupling
    A = c.A
    b = c.b
    p = problem.profit
    n_acc = problem.n_accounts
    starts = problem.account_starts
    build_seconds = time.perf_counter() - t0
    if problem.n_candidates == 0:
        return make_result(
            problem, Status.OPTIMAL, [], bound=0.0, solver=SOLVER_NAME, seconds=0.0
        )

    rng = np.random.default_rng(seed)
    if n_acc <= max(working_accounts, sample_accounts):
        prices = np.zeros(len(b))
        size = n_acc
    else:
        prices = _sample_prices(problem, sample_accounts, rng)
        size = working_accounts

    best_bound, best_prices = np.inf, prices
    lp = None
    for _ in range(max_rounds):
        q = priced_profit(problem, prices)
        work, fixed_rows = _split(problem, q, size)
        lp = _working_lp(problem, work, fixed_rows)
        if lp is None:  # the fixed accounts alone break a limit: widen the working set
            if size >= n_acc:
                return make_result(
                    problem,
                    Status.INFEASIBLE,
                    None,
                    bound=float("nan"),
                    solver=SOLVER_NAME,
                    seconds=time.perf_counter() - t0,
                    build_seconds=build_seconds,
                    message="the LP relaxation is infeasible: the quotas cannot all be met",
                )
            size = min(n_acc, size * 4)
            continue
        rows_w, x_w, new_prices = lp
        primal = p[fixed_rows].sum() + p[rows_w] @ x_w
        bound = lagrangian_bound(problem, new_prices)
        if bound < best_bound:
            best_bound, best_prices = bound, new_prices
        prices = new_prices
        if best_bound - primal <= 1e-9 * max(1.0, abs(best_bound)):
            break
        if size >= n_acc:
            break  # the full LP: its value is the optimum up to solver tolerance
        size = min(n_acc, size * 2)

    if lp is None:  # never got a working LP within max_rounds: solve the full LP once
        work, fixed_rows = _split(problem, priced_profit(problem, prices), n_acc)
        lp = _working_lp(problem, work, fixed_rows)
        if lp is None:
            return make_result(
                problem, Status.INFEASIBLE, None, bound=float("nan"), solver=SOLVER_NAME,
                seconds=time.perf_counter() - t0, build_seconds=build_seconds,
                message="the LP relaxation is infeasible: the quotas cannot all be met",
            )
        best_prices = lp[2]
        best_bound = min(best_bound, lagrangian_bound(problem, best_prices))
    rows_w, x_w, _ = lp
    integral = rows_w[x_w > 1 - 1e-7]
    chosen = np.concatenate([fixed_rows, integral])
    q = priced_profit(problem, best_prices)
    chosen = greedy_fill(problem, chosen, candidates=rows_w, order_key=q[rows_w])
    objective = float(p[chosen].sum())
    rel_gap = (best_bound - objective) / max(abs(best_bound), 1.0)
    broken = bool(check_plan(problem, chosen))  # rounding down can miss a minimum quota
    if (broken or rel_gap > gap) and (deadline is None or time.perf_counter() < deadline):
        polished, mip_bound = _polish(problem, rows_w, fixed_rows, chosen, gap, best_bound, deadline)
        if len(rows_w) == problem.n_candidates:
            # Nothing was held fixed: the polish MIP was the whole problem, its bound is global.
            best_bound = min(best_bound, mip_bound)
        if polished is not None and (broken or p[polished].sum() > objective):
            chosen = polished
    return make_result(
        problem,
        Status.OPTIMAL,
        chosen,
        bound=best_bound,
        solver=SOLVER_NAME,
        seconds=time.perf_counter() - t0 - build_seconds,
        build_seconds=build_seconds,
        shadow_prices=best_prices,
        gap_tolerance=gap,
    )


def _sample_prices(problem: Problem, size: int, rng: np.random.Generator) -> np.ndarray:
    """LP prices of a random sample of accounts, with every limit scaled to the sample."""
    n_acc = problem.n_accounts
    pick = np.zeros(n_acc, dtype=bool)
    pick[rng.choice(n_acc, size=size, replace=False)] = True
    rows = np.flatnonzero(pick[problem.account])
    fraction = size / n_acc
    sol = solve_arrays(
        problem.profit[rows], problem.account[rows], problem.coupling.A[:, rows],
        problem.coupling.b * fraction,
    )
    return sol.coupling_prices if sol.ok else np.zeros(len(problem.coupling.b))


def _split(problem: Problem, q: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``size`` accounts with the closest calls under prices (working set), and the best
    row of every other account whose best is worth taking (fixed as chosen)."""
    n_acc = problem.n_accounts
    starts = problem.account_starts
    top = account_best(problem, q)  # max(0, best q)
    # Second best among {nothing, the other rows}: mask each account's (first) best row.
    is_top = q == top[problem.account]
    first_top = np.zeros(len(q), dtype=bool)
    top_rows = np.flatnonzero(is_top)
    if len(top_rows):
        _, first = np.unique(problem.account[top_rows], return_index=True)
        first_top[top_rows[first]] = True
    masked = np.where(first_top, -np.inf, q)
    second = np.maximum.reduceat(masked, starts)
    has_row_top = np.zeros(n_acc, dtype=bool)
    has_row_top[problem.account[first_top]] = True
    second = np.where(has_row_top, np.maximum(second, 0.0), second)  # nothing is an option
    margin = top - second
    if size >= n_acc:
        work = np.ones(n_acc, dtype=bool)
    else:
        work = np.zeros(n_acc, dtype=bool)
        work[np.argpartition(margin, size)[:size]] = True
    fixed_rows = np.flatnonzero(first_top & (q > 0) & ~work[problem.account])
    work_acc = np.flatnonzero(work)
    return work_acc, fixed_rows


def _working_lp(problem: Problem, work_acc: np.ndarray, fixed_rows: np.ndarray):
    """Solve the LP of the working accounts under the limits the fixed rows leave over."""
    c = problem.coupling
    in_work = np.zeros(problem.n_accounts, dtype=bool)
    in_work[work_acc] = True
    rows_w = np.flatnonzero(in_work[problem.account])
    residual = c.b - np.asarray(c.A[:, fixed_rows].sum(axis=1)).ravel()
    sol = solve_arrays(problem.profit[rows_w], problem.account[rows_w], c.A[:, rows_w], residual)
    if not sol.ok:
        return None
    return rows_w, np.clip(sol.x, 0.0, 1.0), sol.coupling_prices


def _polish(problem, rows_w, fixed_rows, start_chosen, gap, bound, deadline):
    """MIP over the working accounts with the fixed accounts held: (plan or None, its bound)."""
    c = problem.coupling
    residual = c.b - np.asarray(c.A[:, fixed_rows].sum(axis=1)).ravel()
    start = np.isin(rows_w, start_chosen).astype(np.float64)
    fixed_value = problem.profit[fixed_rows].sum()
    # Absolute slack the global gap target allows, expressed relative to the sub-MIP.
    sub_bound = max(bound - fixed_value, 1.0)
    sub_gap = max(gap * max(abs(bound), 1.0) / sub_bound * 0.5, 1e-9)
    remaining = None if deadline is None else deadline - time.perf_counter()
    sol = solve_arrays(
        problem.profit[rows_w],
        problem.account[rows_w],
        c.A[:, rows_w],
        residual,
        integer=True,
        time_limit=remaining,
        mip_gap=sub_gap,
        start=start,
    )
    if not sol.ok:
        return None, sol.mip_bound
    return np.concatenate([fixed_rows, rows_w[sol.x > 0.5]]), sol.mip_bound
