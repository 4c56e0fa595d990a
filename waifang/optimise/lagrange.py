"""Prices of the coupling rows by minimising a smoothed Lagrangian dual with L-BFGS-B.

The Lagrangian bound ``L(lam) = lam . b + sum_accounts max(0, max_j q_j)`` with
``q = profit - A^T lam`` is convex and piecewise linear. Replacing each account's max by a
log-sum-exp at temperature ``tau`` (nothing counts as an option with ``q = 0``),

    L_tau(lam) = lam . b + sum_accounts tau * log(1 + sum_j exp(q_j / tau)),

gives a smooth function with ``L <= L_tau <= L + tau * log(1 + options) * accounts``, whose
gradient ``b - A w`` (``w`` = the softmax weights) costs one pass over the rows. Minimising it
for a falling ``tau`` puts the prices within a hair of the LP relaxation's duals; whatever
prices come out, ``L`` at them is a valid bound (it is recomputed exactly by the caller).

What keeps a million-row search to a few seconds:

* each pass works on the rows grouped by how many options their account has, one dense
  block per group (no gathers, no ``reduceat``), with the exponentials in float32. ``L``
  itself (the maxima and ``lam . b``) is summed in float64; float32 only touches the
  smoothing term and the weights, whose rounding (~1e-7 relative) is far below what the
  search resolves;
* each temperature's search runs in prices scaled by the square root of their curvature:
  the budget row touches every account, a capacity row a thirtieth of them, and unscaled
  L-BFGS-B spends most of its steps on that imbalance (1 M rows: 40 evaluations instead
  of 66 to come within 1e-6 of the LP bound);
* a stopping rule: a temperature's search ends when ``L`` (the true bound at the search's
  points) improved by less than ``tolerance`` (relative) over its last
  :data:`WINDOW` evaluations. :class:`PriceSearch` runs one temperature at a time, so the
  decomposition lowers the temperature only while its working-set LP has not closed the
  gap (see :mod:`waifang.optimise.decompose`).
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.sparse as sp

from waifang.optimise.clock import Deadline, OutOfTime
from waifang.optimise.problem import Problem

TEMPERATURES = (0.02, 0.005, 0.001)
"""Temperatures of the search, as fractions of the median positive net value."""
MEMORY = 50
"""L-BFGS-B's memory (pairs of steps kept): with ~150 prices more than the default 10 pays."""
WINDOW = 8
"""Evaluations over which the stopping rule measures the progress of ``L``."""


class _Stop(Exception):
    """Raised from inside L-BFGS-B when the stopping rule says the search has converged."""


class SmoothedDual:
    """``L_tau`` and its gradient over every account, rows grouped by options per account.

    Rows are scaled to currency units (each coupling row divided by its largest
    coefficient, ``scale``); rows with an infinite limit are left out (``finite``).
    """

    def __init__(self, problem: Problem, scale: np.ndarray, finite: np.ndarray):
        starts = problem.account_starts
        counts = np.diff(np.r_[starts, problem.n_candidates])
        order = np.argsort(counts, kind="stable")
        self.groups: list[tuple[int, int, int]] = []  # (first row, accounts, rows each)
        pieces = []
        offset = 0
        for k in np.unique(counts[counts > 0]).tolist():
            members = order[counts[order] == k]
            pieces.append((starts[members][:, None] + np.arange(k)).ravel())
            self.groups.append((offset, len(members), k))
            offset += len(members) * k
        rows = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        self.p = problem.profit[rows]
        # K x rows in CSC: its transpose (rows x K, CSR) gives q without a copy.
        self.A = (sp.diags(1.0 / scale) @ problem.coupling.A[finite][:, rows]).tocsc()
        del rows
        self.b = problem.coupling.b[finite] / scale
        self._A_squared = sp.csc_matrix(
            (self.A.data**2, self.A.indices, self.A.indptr), shape=self.A.shape, copy=False
        )
        self.last_w = np.zeros(len(self.p), dtype=np.float32)
        self.last_bound = np.inf

    def __call__(self, z: np.ndarray, tau: float) -> tuple[float, np.ndarray]:
        """``L_tau(z)`` and its gradient; ``L(z)`` is kept in :attr:`last_bound`."""
        q = self.p - self.A.T @ z
        w = np.empty(len(q), dtype=np.float32)
        inv = 1.0 / tau
        top_sum = 0.0
        log_sum = 0.0
        for first, n, k in self.groups:
            Q = q[first : first + n * k].reshape(n, k)
            top = np.maximum(Q[:, 0], 0.0)
            for i in range(1, k):
                np.maximum(top, Q[:, i], out=top)
            E = w[first : first + n * k].reshape(n, k)
            np.subtract(Q, top[:, None], out=E, casting="same_kind")
            E *= np.float32(inv)
            np.exp(E, out=E)
            total = np.exp((top * -inv).astype(np.float32))  # the "nothing" option
            for i in range(k):
                total += E[:, i]
            top_sum += float(top.sum())
            log_sum += float(np.log(total).sum(dtype=np.float64))
            E /= total[:, None]
        self.last_w = w
        self.last_bound = float(z @ self.b + top_sum)
        return self.last_bound + tau * log_sum, self.b - self.A @ w

    def curvature(self, tau: float) -> np.ndarray:
        """Gauss-Newton diagonal of ``L_tau``'s Hessian at the last point evaluated,
        ``A^2 (w - w^2) / tau`` (an account's cross terms between its options left out)."""
        w = self.last_w.astype(np.float64)
        return (self._A_squared @ (w - w * w)) / tau


class PriceSearch:
    """The smoothed-dual search, one temperature at a time (see the module docstring).

    ``start``: first prices (>= 0, one per coupling row). ``tolerance``: the stopping rule's
    relative progress of ``L``; 0 runs each temperature to L-BFGS-B's own convergence.
    ``deadline``: checked at every evaluation; when it passes, :meth:`next_round` raises
    :class:`OutOfTime` and :attr:`prices` keeps the best prices found so far.
    """

    def __init__(
        self,
        problem: Problem,
        start: np.ndarray,
        *,
        temperatures: tuple[float, ...] = TEMPERATURES,
        tolerance: float = 0.0,
        max_iterations: int = 300,
        deadline: Deadline | None = None,
    ):
        c = problem.coupling
        self._finite = np.isfinite(c.b)
        # Each row in currency units: divide by its largest coefficient (cost ~ 400, hours ~ 3).
        scale = np.asarray(abs(c.A[self._finite]).max(axis=1).todense()).ravel()
        scale[scale == 0] = 1.0
        self._scale = scale
        p = problem.profit
        positive = p[p > 0]
        self._unit = float(np.median(positive)) if len(positive) else 1.0
        self._dual = SmoothedDual(problem, scale, self._finite)
        self._temperatures = list(temperatures)
        self._tolerance = tolerance
        self._max_iterations = max_iterations
        self._deadline = deadline
        self._n_rows = c.n_rows
        self._z = np.maximum(np.asarray(start, dtype=np.float64)[self._finite], 0.0) * scale
        self._best = (np.inf, self._z)
        self.evaluations = 0

    @property
    def done(self) -> bool:
        """Whether every temperature has been searched."""
        return not self._temperatures

    @property
    def prices(self) -> np.ndarray:
        """The prices with the lowest ``L`` found so far (the start before any search)."""
        prices = np.zeros(self._n_rows)
        prices[self._finite] = self._best[1] / self._scale
        return prices

    def next_round(self) -> np.ndarray:
        """Search at the next temperature from the best prices so far; returns
        :attr:`prices`. Raises OutOfTime when the deadline passes (prices kept)."""
        if self.done:
            return self.prices
        tau = self._temperatures.pop(0) * self._unit
        z = self._best[1]
        d = self._scaling(z, tau)
        history: list[float] = []

        def evaluate(y, d):
            x = np.maximum(y / d, 0.0)
            value, gradient = self._evaluate(x, tau)
            history.append(self._dual.last_bound)
            if self._tolerance > 0 and len(history) > WINDOW:
                before, now = min(history[:-WINDOW]), min(history)
                if before - now <= self._tolerance * max(abs(now), 1.0):
                    raise _Stop
            return value, gradient / d

        try:
            scipy.optimize.minimize(
                evaluate,
                z * d,
                args=(d,),
                jac=True,
                method="L-BFGS-B",
                bounds=[(0.0, None)] * len(z),
                options={"maxiter": self._max_iterations, "maxcor": MEMORY},
            )
        except _Stop:
            pass
        return self.prices

    def _evaluate(self, z: np.ndarray, tau: float) -> tuple[float, np.ndarray]:
        if self._deadline is not None:
            self._deadline.check()
        self.evaluations += 1
        out = self._dual(z, tau)
        if self._dual.last_bound < self._best[0]:
            self._best = (self._dual.last_bound, z.copy())
        return out

    def _scaling(self, z: np.ndarray, tau: float) -> np.ndarray:
        """Square root of each price's curvature at ``z`` (one evaluation), floored at a
        thousandth of the median so that a price no account is near cannot blow up."""
        self._evaluate(z, tau)
        d = np.sqrt(np.maximum(self._dual.curvature(tau), 0.0))
        positive = d[d > 0]
        floor = 1e-3 * float(np.median(positive)) if len(positive) else 1.0
        return np.maximum(d, floor)


def smoothed_prices(
    problem: Problem,
    start: np.ndarray,
    *,
    temperatures: tuple[float, ...] = TEMPERATURES,
    max_iterations: int = 300,
    deadline: Deadline | None = None,
    tolerance: float = 0.0,
) -> np.ndarray:
    """Prices near the minimiser of the Lagrangian bound, from ``start`` (>= 0): every
    temperature of :class:`PriceSearch` in turn.

    ``temperatures`` are fractions of the median positive net value (the problem's scale).
    Rows with an infinite limit keep price 0. When the ``deadline`` passes, the best prices
    found so far are returned (any non-negative prices give a valid bound).
    """
    search = PriceSearch(
        problem,
        start,
        temperatures=temperatures,
        tolerance=tolerance,
        max_iterations=max_iterations,
        deadline=deadline,
    )
    try:
        while not search.done:
            search.next_round()
    except OutOfTime:
        pass
    return search.prices
