"""The large-problem path: price the few coupling rows, decide most accounts by themselves.

The structure: each account takes at most one option, and only K coupling rows (budget,
capacities, quotas; K is ~100 while accounts number ~10^5) tie accounts together. Given prices
``lam >= 0`` on the coupling rows, each account independently takes the option with the best
*priced profit* ``q_j = value_j - cost_j - lam . A[:, j]`` (or nothing if all are negative),
and ``L(lam) = lam . b + sum_accounts max(0, max_j q_j)`` bounds the optimum from above for any
``lam`` (Lagrangian relaxation; its minimum equals the LP relaxation's optimum).

How the prices are found:

1. First prices from the LP of a small random sample of accounts, with every limit scaled
   to the sample (by the law of large numbers they are close to the full problem's prices).
2. Refined by minimising a smoothed ``L`` with L-BFGS-B (:mod:`waifang.optimise.lagrange`):
   one vectorised pass over all rows per step, a few seconds at a million rows. The search
   runs one temperature at a time and stops early on a rule; a lower temperature is tried
   only when the working-set LP of step 3 does not close the gap at the current prices.
3. Under these prices most accounts have a clear best (or clearly nothing). They are held at
   it; the few thousand closest calls form a working set whose LP, under the limits the held
   accounts leave over, HiGHS solves exactly from sparse arrays. If held accounts overuse a
   limit, the closest calls among them are released into the working set first.
4. The held rows plus the working LP solution are feasible for the full LP; when their value
   equals ``L`` at the working LP's duals, they are the LP optimum -- proven by the bound
   itself, not assumed. If not, the working set grows and step 3 repeats.

The LP optimum of a basic solution has at most K fractional accounts. Rounding them down and
filling what is left greedily gives an integer plan; if the gap to ``L`` is still above the
target, a MIP over the fractional accounts and the closest calls (HiGHS, the others held)
polishes it. The
reported bound is ``min L(lam)`` over the rounds (or the polish MIP's bound when it covered
the whole problem), so the gap is proven.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from waifang.optimise.clock import Deadline, OutOfTime
from waifang.optimise.greedy import best_greedy, greedy_fill
from waifang.optimise.highs_arrays import solve_arrays
from waifang.optimise.lagrange import PriceSearch
from waifang.optimise.problem import Problem
from waifang.optimise.result import (
    Result,
    Status,
    check_plan,
    lagrangian_bound,
    make_result,
    priced_profit,
)
from waifang.optimise.working_set import (
    account_margins,
    restricted_lp,
    sample_prices,
    split_accounts,
)

SOLVER_NAME = "decompose/highs"
EXACT_MAX_CANDIDATES = 200_000
log = logging.getLogger(__name__)


def solve_decomposed(
    problem: Problem,
    *,
    gap: float = 1e-4,
    time_limit: float | None = None,
    working_accounts: int = 8000,
    sample_accounts: int = 6000,
    max_rounds: int = 10,
    growth: float = 1.5,
    polish_accounts: int = 1500,
    seed: int = 0,
    start: np.ndarray | None = None,
    deadline: Deadline | None = None,
    prices: np.ndarray | None = None,
) -> Result:
    """Solve by pricing the coupling rows (see the module docstring); returns a checked Result.

    Parameters
    ----------
    gap : relative gap target between the plan and the proven bound.
    time_limit : seconds for the whole solve; the MIP polish uses what is left.
    working_accounts : closest-call accounts in the first working-set LP (the set grows by
        ``growth`` each round while the LP optimum is unproven). Problems with no more
        accounts than this (or than ``sample_accounts``) get the full LP at once.
    max_rounds, growth : limits of the working-set loop.
    polish_accounts : closest-call accounts the MIP polish may change (with the LP's
        fractional ones); the whole problem when there are no more accounts than this.
    sample_accounts : accounts in the random sample that gives the first prices.
    seed : seeds the sample, so the same problem gives the same plan.
    start : a feasible plan (chosen rows) to keep as the floor; with a time limit and no start,
        the better greedy plan is the floor.
    deadline : a wall-clock deadline already running (overrides ``time_limit``); every phase
        draws on it, and when it passes the best plan so far is returned with status
        ``time_limit``.
    prices : first prices of the coupling rows (e.g. the previous point of a frontier:
        ``result.shadow_prices``) instead of the sample LP's; only where to start the
        search, so the bound and the plan are as valid as from a cold start.
    """
    clock = Deadline(time_limit) if deadline is None else deadline
    t0 = clock.start
    c = problem.coupling  # built here (and timed as build) if not yet
    build_seconds = time.perf_counter() - t0
    if problem.n_candidates == 0:
        return make_result(problem, Status.OPTIMAL, [], bound=0.0, solver=SOLVER_NAME, seconds=0.0)
    floor = _floor(problem, start, clock)
    zero = np.zeros(len(c.b))
    try:
        found = _relaxation_phase(
            problem, gap, clock, working_accounts, sample_accounts, max_rounds, growth, seed, prices
        )
    except OutOfTime:
        found = None
    if found is None or found[0] is None:
        if found is None or clock.expired():  # no LP finished in time: the floor plan
            prices = zero if found is None else found[2]
            return _timed_out_result(problem, floor, prices, gap, build_seconds, t0)
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
    lp, best_bound, best_prices, size = found
    deadline = clock.at
    return _integer_phase(
        problem,
        lp,
        best_bound,
        best_prices,
        size,
        gap,
        clock,
        deadline,
        floor,
        polish_accounts,
        build_seconds,
    )


def _floor(problem: Problem, start, clock: Deadline) -> np.ndarray | None:
    """The plan the result never falls below: ``start``, or with a time limit the better
    greedy plan (computed inside the limit); None when there is none or it is infeasible."""
    if start is None:
        if clock.limit is None:
            return None
        start = best_greedy(problem)
    start = np.asarray(start, dtype=np.int64)
    return None if check_plan(problem, start) else start


def _timed_out_result(problem, floor, prices, gap, build_seconds, t0) -> Result:
    """No LP finished in time: the floor plan, bounded at the best prices found."""
    bound = lagrangian_bound(problem, prices)
    return make_result(
        problem,
        Status.FEASIBLE if floor is not None else Status.NO_SOLUTION,
        floor,
        bound=bound,
        solver=SOLVER_NAME,
        seconds=time.perf_counter() - t0 - build_seconds,
        build_seconds=build_seconds,
        gap_tolerance=gap,
        message="time limit reached before the LP relaxation: greedy's plan"
        if floor is not None
        else "time limit reached before any plan was found",
        timed_out=True,
    )


def _relaxation_phase(
    problem, gap, clock, working_accounts, sample_accounts, max_rounds, growth, seed, warm=None
):
    """Prices and the working-set LP loop. Returns (lp, bound, prices, size) with ``lp`` the
    best LP point as (rows, x), or (None, inf, prices, size) when the LP is infeasible.
    Raises OutOfTime when no LP finished in time."""
    t0 = clock.start
    c = problem.coupling
    p = problem.profit
    n_acc = problem.n_accounts
    rng = np.random.default_rng(seed)
    lp_tolerance = max(gap / 10, 1e-9)  # the LP only needs to serve the integer gap target
    search = None
    if n_acc <= max(working_accounts, sample_accounts):
        prices, size = np.zeros(len(c.b)), n_acc
    else:
        if warm is not None and len(warm) == len(c.b):
            sampled = np.where(np.isfinite(c.b), np.maximum(np.asarray(warm, float), 0.0), 0.0)
        else:
            sampled = sample_prices(problem, sample_accounts, rng, clock)
        # The first temperature only; the next ones run while the working-set LP leaves
        # the gap open (below). A temperature stops when the bound gains less than a tenth
        # of the LP tolerance over the search's last few evaluations.
        search = PriceSearch(problem, sampled, tolerance=lp_tolerance / 10, deadline=clock)
        prices = _refine(search)
        size = working_accounts
        _log_search(problem, search, prices, t0)

    best_bound, best_prices, lp, best_primal = np.inf, prices, None, -np.inf
    if size < n_acc:
        best_bound = lagrangian_bound(problem, prices)
    for round_ in range(max_rounds):
        close, fixed = split_accounts(problem, priced_profit(problem, prices), size)
        try:  # the first LP may take all the time left: without it there is only the floor
            found = restricted_lp(problem, close, fixed, clock, 0.6 if lp is not None else 1.0)
        except OutOfTime:
            if lp is None:
                raise
            break
        if found is None:
            if size >= n_acc:
                break
            size = n_acc  # only a minimum quota can make it infeasible: try everything
            continue
        rows, x, new_prices = found
        primal = float(p[fixed].sum() + p[rows] @ x)
        if primal > best_primal:
            best_primal, lp = primal, (np.concatenate([fixed, rows]), np.r_[np.ones(len(fixed)), x])
        bound = lagrangian_bound(problem, new_prices)
        if bound < best_bound:
            best_bound, best_prices = bound, new_prices
        prices = new_prices
        log.debug(
            "round %d: %d fixed, %d working columns, LP %.8g, bound %.8g (%.2fs)",
            round_,
            len(fixed),
            len(rows),
            best_primal,
            best_bound,
            time.perf_counter() - t0,
        )
        if best_bound - best_primal <= lp_tolerance * max(1.0, abs(best_bound)):
            break
        if size >= n_acc:
            break  # the full LP: its value is the optimum up to solver tolerance
        if clock.limit is not None and clock.elapsed() > 0.5 * clock.limit:
            break  # keep half the time for the integer plan; the bound stays valid
        if search is not None and not search.done:
            # Sharper prices pick the close calls better than a larger working set does.
            prices = _refine(search)
            _log_search(problem, search, prices, t0)
            bound = lagrangian_bound(problem, prices)
            if bound < best_bound:
                best_bound, best_prices = bound, prices
            continue
        size = min(n_acc, int(size * growth))
    if lp is None:
        return None, np.inf, best_prices, size
    return lp, best_bound, best_prices, size


def _refine(search: PriceSearch) -> np.ndarray:
    """The search's next temperature; its best prices so far when the time runs out."""
    try:
        return search.next_round()
    except OutOfTime:
        return search.prices


def _log_search(problem, search, prices, t0) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "smoothed prices: bound %.8g after %d evaluations (%.2fs)",
            lagrangian_bound(problem, prices),
            search.evaluations,
            time.perf_counter() - t0,
        )


def _integer_phase(
    problem,
    lp,
    best_bound,
    best_prices,
    size,
    gap,
    clock,
    deadline,
    floor,
    polish_accounts,
    build_seconds,
):
    """Round the LP point, fill, polish, and fall back on the exact MIP; the checked result."""
    t0 = clock.start
    p = problem.profit
    n_acc = problem.n_accounts
    rows, x = lp
    chosen = rows[x > 1 - 1e-7]
    q = priced_profit(problem, best_prices)
    # Fill what rounding left over from the accounts the LP considered, best priced first.
    in_lp = np.zeros(n_acc, dtype=bool)
    in_lp[problem.account[rows]] = True
    fill = np.flatnonzero(in_lp[problem.account])
    chosen = greedy_fill(problem, chosen, candidates=fill, order_key=q[fill])
    objective = float(p[chosen].sum())
    broken = bool(check_plan(problem, chosen))  # rounding down can miss a minimum quota
    # When the LP saw every account the problem is small: polish all of it (a global bound).
    polish_size = n_acc if size >= n_acc else polish_accounts
    for _ in range(3):  # polish a wider set of close calls until the gap target is met
        rel_gap = (best_bound - objective) / max(abs(best_bound), 1.0)
        if not (broken or rel_gap > gap):
            break
        if not clock.can_start_mip(min(1.0, polish_size / n_acc)):
            break
        polished, mip_bound, whole = _polish(
            problem, rows, x, chosen, q, gap, best_bound, deadline, polish_size
        )
        if whole:  # nothing was held fixed: the polish MIP was the whole problem
            best_bound = min(best_bound, mip_bound)
        if polished is not None and (broken or p[polished].sum() > objective):
            chosen, objective = polished, float(p[polished].sum())
            broken = bool(check_plan(problem, chosen))
        if whole:
            break
        polish_size *= 2
    message = ""
    if _gap(best_bound, objective) > gap or broken:
        chosen, objective, best_bound, message = _exact_fallback(
            problem, chosen, objective, best_bound, broken, gap, clock, floor
        )
    if floor is not None and (broken or p[floor].sum() > objective):
        chosen, objective = floor, float(p[floor].sum())
        message = "; ".join(filter(None, [message, "greedy's plan was better: kept"]))
    return make_result(
        problem,
        Status.FEASIBLE,
        chosen,
        bound=best_bound,
        solver=SOLVER_NAME,
        seconds=time.perf_counter() - t0 - build_seconds,
        build_seconds=build_seconds,
        shadow_prices=best_prices,
        gap_tolerance=gap,
        message=message,
        # With a limit, only the clock stops the search short of the gap target.
        timed_out=clock.limit is not None,
    )


def _gap(bound: float, objective: float) -> float:
    return (bound - objective) / max(abs(bound), 1.0)


def _exact_fallback(problem, chosen, objective, bound, broken, gap, clock, floor=None):
    """When the priced bound cannot close the gap: the better greedy plan if it beats the
    polished one, then the exact MIP over every row from that start, within the time left.
    Without a time limit the exact MIP is tried only up to :data:`EXACT_MAX_CANDIDATES` rows
    (beyond, plain HiGHS may not finish); the message says so.
    Returns (plan, objective, bound, message)."""
    p = problem.profit
    plan = best_greedy(problem) if floor is None else floor
    if not check_plan(problem, plan) and (broken or p[plan].sum() > objective):
        chosen, objective, broken = plan, float(p[plan].sum()), False
    if _gap(bound, objective) <= gap and not broken:
        return chosen, objective, bound, ""
    if clock.limit is None and problem.n_candidates > EXACT_MAX_CANDIDATES:
        return (
            chosen,
            objective,
            bound,
            (
                f"the priced bound left a gap of {_gap(bound, objective):.2e}; the exact MIP is "
                f"not tried above {EXACT_MAX_CANDIDATES:,} rows without a time limit"
            ),
        )
    if not clock.can_start_mip():
        return chosen, objective, bound, "time limit too near to start the exact MIP"
    remaining = clock.remaining()
    c = problem.coupling
    sol = solve_arrays(
        p,
        problem.account,
        c.A,
        c.b,
        integer=True,
        time_limit=remaining,
        mip_gap=max(gap * 0.5, 1e-9),
        start=np.isin(np.arange(problem.n_candidates), chosen).astype(np.float64),
    )
    if np.isfinite(sol.mip_bound):
        bound = min(bound, sol.mip_bound)  # the whole problem: a global bound
    if sol.ok:
        plan = np.flatnonzero(sol.x > 0.5)
        if not check_plan(problem, plan) and (broken or p[plan].sum() > objective):
            chosen, objective = plan, float(p[plan].sum())
    return chosen, objective, bound, ""


def _polish(problem, rows, x, plan, q, gap, bound, deadline, size):
    """MIP over the accounts the LP left fractional plus the ``size`` closest calls under
    priced profits ``q``; every other account keeps its choice in ``plan`` (a feasible
    integer plan, also the MIP's start, so the result is never worse).
    Returns (plan or None, MIP bound, whether the MIP was the whole problem)."""
    c = problem.coupling
    n_acc = problem.n_accounts
    open_acc = np.zeros(n_acc, dtype=bool)
    frac = (x > 1e-7) & (x < 1 - 1e-7)
    open_acc[problem.account[rows[frac]]] = True
    if size >= n_acc:
        open_acc[:] = True
    else:
        _, margin = account_margins(problem, q)
        open_acc[np.argpartition(margin, size)[:size]] = True
    held = plan[~open_acc[problem.account[plan]]]
    sub = np.flatnonzero(open_acc[problem.account])
    whole = len(sub) == problem.n_candidates
    residual = c.b - np.asarray(c.A[:, held].sum(axis=1)).ravel()
    fixed_value = problem.profit[held].sum()
    # The global gap target as an absolute slack, relative to the sub-problem's size.
    sub_gap = max(gap * max(abs(bound), 1.0) / max(bound - fixed_value, 1.0) * 0.5, 1e-9)
    remaining = None if deadline is None else deadline - time.perf_counter()
    sol = solve_arrays(
        problem.profit[sub],
        problem.account[sub],
        c.A[:, sub],
        residual,
        integer=True,
        time_limit=remaining,
        mip_gap=sub_gap,
        start=np.isin(sub, plan).astype(np.float64),
    )
    if not sol.ok:
        return None, sol.mip_bound, whole
    return np.concatenate([held, sub[sol.x > 0.5]]), sol.mip_bound, whole
