"""Prices of the coupling rows by minimising a smoothed Lagrangian dual with L-BFGS-B.

The Lagrangian bound ``L(lam) = lam . b + sum_accounts max(0, max_j q_j)`` with
``q = profit - A^T lam`` is convex and piecewise linear. Replacing each account's max by a
log-sum-exp at temperature ``tau`` (nothing counts as an option with ``q = 0``),

    L_tau(lam) = lam . b + sum_accounts tau * log(1 + sum_j exp(q_j / tau)),

gives a smooth function with ``L <= L_tau <= L + tau * log(1 + options) * accounts``, whose
gradient ``b - A w`` (``w`` = the softmax weights) costs one pass over the rows. Minimising it
for a falling ``tau`` puts the prices within a hair of the LP relaxation's duals in a few
seconds at a million rows; whatever prices come out, ``L`` at them is a valid bound.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

from waifang.optimise.clock import Deadline, OutOfTime
from waifang.optimise.problem import Problem


def smoothed_prices(
    problem: Problem,
    start: np.ndarray,
    *,
    temperatures: tuple[float, ...] = (0.02, 0.005, 0.001),
    max_iterations: int = 300,
    deadline: Deadline | None = None,
) -> np.ndarray:
    """Prices near the minimiser of the Lagrangian bound, from ``start`` (>= 0).

    ``temperatures`` are fractions of the median positive net value (the problem's scale).
    Rows with an infinite limit keep price 0. When the ``deadline`` passes, the best prices
    of the last finished round are returned (any non-negative prices give a valid bound).
    """
    c = problem.coupling
    finite = np.isfinite(c.b)
    A = c.A[finite]
    # Each row in currency units: divide by its largest coefficient (cost ~ 400, hours ~ 3...).
    scale = np.asarray(abs(A).max(axis=1).todense()).ravel()
    scale[scale == 0] = 1.0
    At = A.T.multiply(1.0 / scale).tocsr()
    b = c.b[finite] / scale
    p = problem.profit
    starts = problem.account_starts
    account = problem.account
    positive = p[p > 0]
    unit = float(np.median(positive)) if len(positive) else 1.0

    def value_and_gradient(z, tau):
        if deadline is not None:
            deadline.check()
        q = p - At @ z
        top = np.maximum(np.maximum.reduceat(q, starts), 0.0)
        e = np.exp((q - top[account]) / tau)
        total = np.add.reduceat(e, starts) + np.exp(-top / tau)
        weights = e / total[account]
        value = z @ b + np.sum(top + tau * np.log(total))
        return value, b - At.T @ weights

    z = np.maximum(np.asarray(start, dtype=np.float64)[finite], 0.0) * scale
    for t in temperatures:
        try:
            res = scipy.optimize.minimize(
                value_and_gradient,
                z,
                args=(t * unit,),
                jac=True,
                method="L-BFGS-B",
                bounds=[(0.0, None)] * len(z),
                options={"maxiter": max_iterations},
            )
        except OutOfTime:
            break  # keep the prices of the last finished round
        z = np.maximum(res.x, 0.0)
    prices = np.zeros(len(c.b))
    prices[finite] = z / scale
    return prices
