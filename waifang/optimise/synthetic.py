"""Synthetic visit-selection instances for the benchmark, the notebook and the tests.

Accounts are spread over regions with log-normal balances; each account is eligible for
3-4 treatments (field ``visit``, ``legal``, ``agency``, agent ``call``) whose expected extra
recovery is ``balance x uplift`` with a random, option-specific uplift, and whose cost depends
on the option and region. Capacities and the budget are set *below* what the unconstrained
best plan would use, so that every one of them binds. All figures are assumptions chosen to
look like a late-stage (90+ dpd) book, not estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from waifang.optimise.problem import Capacity

OPTIONS = ("visit", "legal", "agency", "call")
# Mean uplift in recovery (share of balance) and base cost per option (assumptions).
_UPLIFT = {"visit": 0.16, "legal": 0.12, "agency": 0.07, "call": 0.025}
_COST = {"visit": 380.0, "legal": 450.0, "agency": 90.0, "call": 15.0}


@dataclass(frozen=True)
class Instance:
    """A candidates table with capacities and a budget, ready for ``make_problem``."""

    candidates: pd.DataFrame
    capacities: tuple[Capacity, ...]
    budget: float


def synthetic_instance(
    n_accounts: int,
    *,
    n_regions: int = 30,
    options: tuple[str, ...] = OPTIONS,
    tightness: float = 0.6,
    seed: int = 0,
    segments: bool = True,
    budget_share: float = 0.99,
    drop_share: float | None = None,
) -> Instance:
    """A random instance of ``n_accounts x len(options)`` candidate rows (3 or 4 options per
    account) in which the budget and every capacity bind.

    ``tightness`` scales the budget and capacities against the unconstrained best plan.
    ``drop_share`` is the share of non-visit rows dropped (default 0.12 with four options,
    else none): 0.5833 gives 2.25 rows per account, 0.5 gives 2.5.
    """
    rng = np.random.default_rng(seed)
    k = len(options)
    region_of_account = rng.integers(0, n_regions, n_accounts)
    balance = rng.lognormal(mean=8.6, sigma=0.9, size=n_accounts)
    region_cost = rng.uniform(0.7, 1.5, n_regions)  # travel: remote regions cost more
    acc = np.repeat(np.arange(n_accounts), k)
    opt = np.tile(np.arange(k), n_accounts)
    reg = region_of_account[acc]
    uplift = np.array([_UPLIFT[o] for o in options])[opt] * rng.gamma(2.0, 0.5, len(acc))
    value = np.round(balance[acc] * uplift, 2)
    base = np.array([_COST[o] for o in options])[opt]
    travel = np.where(np.asarray(options)[opt] == "visit", region_cost[reg], 1.0)
    cost = np.round(base * travel * rng.uniform(0.8, 1.2, len(acc)), 2)
    hours = np.where(
        np.asarray(options)[opt] == "visit", np.round(rng.uniform(1.5, 5.0, len(acc)), 1), 0.0
    )
    # Drop a few rows so accounts have 3 or 4 options (compliance, missing addresses...).
    if drop_share is None:
        drop_share = 0.12 if k == 4 else 0.0
    keep = rng.random(len(acc)) > drop_share
    keep[np.flatnonzero(opt == 0)] = True  # every account stays eligible for something
    acc, opt, reg, value, cost, hours = (x[keep] for x in (acc, opt, reg, value, cost, hours))
    width = len(str(max(n_accounts - 1, 1)))
    ids = np.char.add("A", np.char.zfill(acc.astype(str), width))
    frame = pd.DataFrame(
        {
            "account_id": ids,
            "option": np.asarray(options, dtype=object)[opt],
            "region": np.char.add("R", np.char.zfill(reg.astype(str), 2)),
            "value": value,
            "cost": cost,
            "hours": hours,
        }
    )
    if segments:
        frame["segment"] = np.where(balance[acc] > np.median(balance), "high", "low")

    # The unconstrained best plan: each account's best positive net value.
    profit = value - cost
    order = np.lexsort((-profit, acc))
    first = np.ones(len(order), dtype=bool)
    first[1:] = acc[order][1:] != acc[order][:-1]
    best = order[first & (profit[order] > 0)]
    capacities = []
    capacity_cost = 0.0  # cost of filling every count limit with its most profitable accounts
    for r in range(n_regions):
        for o in range(k):
            sel = best[(reg[best] == r) & (opt[best] == o)]
            # Costly field work is scarcer than the budget alone would make it.
            share = tightness * {"visit": 0.45, "legal": 0.3}.get(options[o], 1.0)
            limit = max(1.0, np.floor(share * len(sel)))
            hours_limit = None
            if options[o] == "visit":  # about the hours of `limit` average visits
                hours_limit = max(1.0, np.round(0.93 * limit * hours[sel].mean(), 1))
            top = sel[np.argsort(-profit[sel], kind="stable")[: int(limit)]]
            capacity_cost += cost[top].sum()
            capacities.append(
                Capacity(f"R{r:02d}", options[o], limit=float(limit), hours_limit=hours_limit)
            )
    # Below what the capacities alone would spend, so the budget binds too.
    budget = float(np.round(budget_share * capacity_cost, 2))
    return Instance(frame, tuple(capacities), budget)
