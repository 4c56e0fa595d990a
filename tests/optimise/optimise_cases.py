"""Shared helpers of the optimise tests: the backends, small random instances, and an
independent model of them (dense arrays from the raw table, solved by scipy).

A distinct module name (not ``conftest``) so that ``from optimise_cases import ...`` cannot
resolve to another folder's conftest once the branches merge.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from waifang.optimise.problem import Capacity, make_problem
from waifang.optimise.pulp_model import solver_available

# (backend, solver) pairs; a pulp solver that is not installed is skipped, as in pulp's own
# solver_common tests.
BACKENDS = [("pulp", "highs"), ("pulp", "cbc"), ("decompose", "highs")]


def backend_params():
    params = []
    for backend, solver in BACKENDS:
        marks = []
        if backend == "pulp" and not solver_available(solver):
            marks.append(pytest.mark.skip(reason=f"pulp solver {solver} not installed"))
        params.append(pytest.param((backend, solver), id=f"{backend}-{solver}", marks=marks))
    return params


def random_frame(rng, n_accounts, n_options=3, n_regions=2, hours=True, segments=False):
    """A random candidates table; some accounts lack some options."""
    rows = []
    for a in range(n_accounts):
        region = f"r{rng.integers(n_regions)}"
        for o in range(n_options):
            if o > 0 and rng.random() < 0.2:
                continue
            rows.append(
                dict(
                    account_id=f"acc{a}",
                    option=f"opt{o}",
                    region=region,
                    value=float(np.round(rng.uniform(0, 100), 1)),
                    cost=float(np.round(rng.uniform(1, 40), 1)),
                    hours=float(np.round(rng.uniform(0.5, 3), 1)) if hours else 0.0,
                    segment=f"s{rng.integers(2)}",
                )
            )
    frame = pd.DataFrame(rows)
    if not hours:
        frame = frame.drop(columns="hours")
    if not segments:
        frame = frame.drop(columns="segment")
    return frame


def random_capacities(rng, frame, p_limit=0.6, hours=True):
    caps = []
    for (region, option), part in frame.groupby(["region", "option"]):
        if rng.random() > p_limit:
            continue  # no row in K.csv: unlimited
        limit = float(rng.integers(0, max(1, len(part))))
        hours_limit = None
        if hours and "hours" in frame and rng.random() < 0.5:
            hours_limit = float(np.round(rng.uniform(0, part["hours"].sum()), 1))
        caps.append(Capacity(region, option, limit=limit, hours_limit=hours_limit))
    return caps


def random_problem(seed, n_accounts=5, n_options=3, n_regions=2, budget_share=0.4, **kw):
    rng = np.random.default_rng(seed)
    frame = random_frame(rng, n_accounts, n_options, n_regions, **kw)
    caps = random_capacities(rng, frame, hours="hours" in frame)
    budget = float(np.round(budget_share * frame["cost"].sum() / n_options, 1))
    return frame, caps, budget, make_problem(frame, caps, budget)


# ---- an independent formulation, written from the raw table, not from problem.coupling ----


def dense_model(frame, caps, budget):
    """Objective and constraints as dense arrays, in the frame's own row order."""
    n = len(frame)
    profit = (frame["value"] - frame["cost"]).to_numpy(float)
    rows, ub = [], []
    for acc in frame["account_id"].unique():
        rows.append((frame["account_id"] == acc).to_numpy(float))
        ub.append(1.0)
    rows.append(frame["cost"].to_numpy(float))
    ub.append(budget)
    for cap in caps:
        sel = ((frame["region"] == cap.region) & (frame["option"] == cap.option)).to_numpy()
        if cap.limit is not None:
            rows.append(sel.astype(float))
            ub.append(cap.limit)
        if cap.hours_limit is not None:
            rows.append(sel * frame["hours"].to_numpy(float))
            ub.append(cap.hours_limit)
    return profit, np.array(rows).reshape(-1, n), np.array(ub)


def milp_optimum(frame, caps, budget):
    profit, A, ub = dense_model(frame, caps, budget)
    res = milp(
        -profit,
        constraints=LinearConstraint(A, -np.inf, ub),
        integrality=np.ones(len(profit)),
        bounds=Bounds(0, 1),
    )
    assert res.success
    return -res.fun


def lp_optimum(frame, caps, budget):
    profit, A, ub = dense_model(frame, caps, budget)
    res = linprog(-profit, A_ub=A, b_ub=ub, bounds=(0, 1), method="highs")
    assert res.status == 0
    return -res.fun


def brute_force(frame, caps, budget):
    """Best objective over every assignment (each account: nothing or one of its rows)."""
    profit, A, ub = dense_model(frame, caps, budget)
    groups = [
        np.flatnonzero(frame["account_id"].to_numpy() == a) for a in frame["account_id"].unique()
    ]
    best = 0.0
    for pick in itertools.product(*[[None, *g] for g in groups]):
        x = np.zeros(len(profit))
        x[[j for j in pick if j is not None]] = 1
        if np.all(A @ x <= ub + 1e-9):
            best = max(best, float(profit @ x))
    return best


def period_frame(rng, n_accounts, n_periods=3, options=("visit", "legal"), n_regions=2,
                 hourless=()):
    """Candidates over ``n_periods`` weeks; some (option, period) rows missing. Options in
    ``hourless`` take no team hours (as legal action)."""
    rows = []
    for a in range(n_accounts):
        region = f"r{rng.integers(n_regions)}"
        base = rng.uniform(50, 400)
        for option in options:
            for p in range(n_periods):
                if rng.random() < 0.25:
                    continue
                rows.append(dict(account_id=f"a{a}", option=option, region=region, period=p,
                                 value=float(np.round(base * rng.uniform(0.5, 1.3), 1)),
                                 cost=float(np.round(rng.uniform(20, 120), 1)),
                                 hours=0.0 if option in hourless else
                                 float(np.round(rng.uniform(0.5, 3), 1))))
    return pd.DataFrame(rows)
