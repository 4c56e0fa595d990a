"""Hand a sparse selection model straight to HiGHS (highspy), without a modelling layer.

The model is: maximise ``p . x`` subject to "at most one option per account" on the given rows,
``A x <= b`` for the coupling rows, and ``0 <= x <= 1`` (continuous or binary). Columns are
built as CSC arrays with scipy and passed in one call, which is what keeps large models cheap.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

_COLWISE = 1  # HighsMatrixFormat::kColwise
_banner_silenced = False
_MINIMIZE = 1  # ObjSense::kMinimize


@dataclass(frozen=True)
class ArraySolution:
    """What HiGHS returned, in the maximisation sense of the model."""

    ok: bool  # an optimal (LP) or feasible (MIP) point is available
    infeasible: bool
    x: np.ndarray
    objective: float
    coupling_prices: np.ndarray  # shadow prices of the coupling rows, >= 0
    account_prices: np.ndarray  # shadow prices of the one-option rows of multi-column accounts
    mip_bound: float  # proven upper bound of a MIP (inf for an LP or when unknown)
    model_status: str


def silence_banner() -> None:
    """Swallow the copyright banner HiGHS prints to fd 1 when the first ``Highs`` of a process
    is made (``output_flag`` cannot be set before the constructor runs), so that a command's
    stdout holds only its own output. Later ``Highs`` objects print nothing."""
    global _banner_silenced
    if _banner_silenced:
        return
    _banner_silenced = True
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no real fd 1 (an embedded interpreter): leave it be
        highspy.Highs()
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def enforce_time_limit(h: highspy.Highs, seconds: float) -> float:
    """Stop ``h`` ``seconds`` from now, as promptly as HiGHS allows.

    HiGHS's own ``time_limit`` is checked between phases, and a MIP can overrun it by most of
    a second on ten thousand columns (symmetry detection, probing). So the limit is also
    enforced from the simplex, interior-point and MIP interrupt callbacks, and symmetry
    detection (of little use on these problems, whose values are continuous) is off.
    """
    seconds = float(max(seconds, 0.01))
    h.setOptionValue("time_limit", seconds)
    h.setOptionValue("mip_detect_symmetry", False)
    end = time.perf_counter() + seconds

    def stop(event) -> None:
        if time.perf_counter() >= end:
            event.interrupt()

    h.cbSimplexInterrupt += stop
    h.cbIpmInterrupt += stop
    h.cbMipInterrupt += stop
    return end


def solve_arrays(
    profit: np.ndarray,
    account: np.ndarray,
    A: sp.spmatrix,
    b: np.ndarray,
    *,
    integer: bool = False,
    time_limit: float | None = None,
    mip_gap: float = 1e-6,
    start: np.ndarray | None = None,
    threads: int | None = None,
    algorithm: str = "choose",
) -> ArraySolution:
    """Solve the model over candidate columns ``profit`` whose accounts are ``account``.

    ``account`` must be sorted; ``A`` has one column per candidate. Rows of ``A`` with an
    infinite ``b`` are dropped by the caller or passed as free rows.
    """
    n = len(profit)
    accounts, local, counts = np.unique(account, return_inverse=True, return_counts=True)
    # An account with a single column needs no "one option" row: the bound x <= 1 does it.
    multi = counts[local] > 1
    row_of = np.cumsum(counts > 1) - 1
    m_acc = int((counts > 1).sum())
    one = sp.csc_matrix(
        (np.ones(int(multi.sum())), (row_of[local[multi]], np.flatnonzero(multi))),
        shape=(m_acc, n),
    )
    M = sp.vstack([one, sp.csc_matrix(A)], format="csc")
    M.sort_indices()
    k = A.shape[0]
    row_upper = np.concatenate([np.ones(m_acc), np.where(np.isfinite(b), b, highspy.kHighsInf)])
    row_lower = np.full(m_acc + k, -highspy.kHighsInf)
    silence_banner()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    end = None if time_limit is None else enforce_time_limit(h, time_limit)
    if integer:
        h.setOptionValue("mip_rel_gap", float(mip_gap))
    else:
        h.setOptionValue("solver", algorithm)
    integrality = np.full(n, 1 if integer else 0, dtype=np.int32)
    h.passModel(
        n,
        m_acc + k,
        M.nnz,
        _COLWISE,
        _MINIMIZE,
        0.0,
        -np.asarray(profit, dtype=np.float64),
        np.zeros(n),
        np.ones(n),
        row_lower,
        row_upper,
        M.indptr.astype(np.int32),
        M.indices.astype(np.int32),
        M.data.astype(np.float64),
        integrality,
    )
    if integer and start is not None:
        idx = np.arange(n, dtype=np.int32)
        h.setSolution(n, idx, np.asarray(start, dtype=np.float64))
    h.run()
    optimal = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    if integer and start is not None and optimal and not _consistent(h, profit):
        # Seen with highspy 1.16: given a start, the MIP presolve can end "Optimal" with an
        # objective no column vector attains while handing back the start itself (a 14-account
        # instance: 595.1 claimed, 571.9 returned, 590.9 the optimum). Without presolve the
        # same start gives the optimum, so solve again that way rather than trust either.
        h.setOptionValue("presolve", "off")
        if end is not None:  # the same deadline (the interrupt callbacks keep it too)
            h.setOptionValue("time_limit", max(end - time.perf_counter(), 0.01))
        h.setSolution(n, np.arange(n, dtype=np.int32), np.asarray(start, dtype=np.float64))
        h.run()
    status = h.getModelStatus()
    name = h.modelStatusToString(status)
    sol = h.getSolution()
    info = h.getInfo()
    infeasible = status == highspy.HighsModelStatus.kInfeasible
    x = np.asarray(sol.col_value, dtype=np.float64) if n else np.zeros(0)
    if integer:
        ok = bool(sol.value_valid) and len(x) == n and not infeasible
        bound = -float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else np.inf
        prices_c = np.zeros(k)
        prices_a = np.zeros(m_acc)
    else:
        ok = status == highspy.HighsModelStatus.kOptimal
        bound = np.inf
        duals = np.asarray(sol.row_dual, dtype=np.float64) if ok else np.zeros(m_acc + k)
        # HiGHS minimises -profit: the max-sense shadow price of a <= row is minus its dual.
        prices_a = np.maximum(-duals[:m_acc], 0.0)
        prices_c = np.maximum(-duals[m_acc:], 0.0)
    objective = float(np.asarray(profit) @ x) if ok else float("nan")
    return ArraySolution(ok, infeasible, x, objective, prices_c, prices_a, bound, name)


def _consistent(h: highspy.Highs, profit: np.ndarray) -> bool:
    """Whether the solution HiGHS hands back attains the objective it reports (no solution at
    all counts as consistent: there is nothing to contradict)."""
    sol = h.getSolution()
    if not sol.value_valid:
        return True
    claimed = -float(h.getInfo().objective_function_value)
    attained = float(np.asarray(profit, dtype=np.float64) @ np.asarray(sol.col_value))
    return abs(claimed - attained) <= 1e-7 * max(1.0, abs(claimed))
