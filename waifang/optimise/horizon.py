"""Planning several periods (weeks) at once: which week to visit whom.

A plan over a horizon of ``H`` periods has one candidate row per (account, period): period 0
is the plan's own period (the accounts a visit may be asked for today), period ``w`` starts
``w x period_days`` days later. The optimiser takes at most one row per account over the
horizon, under each period's budget and each (region, period)'s team hours; only period 0's
visits are dispatched, and the next plan looks again (a rolling horizon).

What a later row assumes about the account's path, and how it is valued:

- *Eligible then*: the engine's request-time check asked of the later day on the path where
  the account pays nothing meanwhile (its dpd grows, no visit, dispute or hardship plan
  starts; :func:`waifang.sim.eligible.visit_allowed` with ``ahead``); an account that would
  reach charge-off first is not a candidate.
- *Worth then*: the value model's estimate for the features it will have on that path (a
  higher dpd band, fewer days left; :func:`waifang.optimise.values.features` with
  ``ahead``), times ``p``, the chance it is still delinquent then (it may pay first:
  :class:`~waifang.optimise.values.PayHazard`, fitted on the training run).
- *Cost*: a later row reserves the visit's full cost and team hours in its period (the plan
  for that period is a reservation; whether it is spent is decided when that period comes).
  A visit planned for an account that has paid meanwhile is never made and costs nothing,
  so the row's ``value`` counts that cost back: ``value = p x gross + (1 - p) x cost``, so
  that ``value - cost = p x (gross - cost)``, the expected net value of planning it then.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from waifang.optimise.values import PayHazard, ValueModel, candidate_frame, valued
from waifang.sim.eligible import visit_allowed
from waifang.sim.rules import ComplianceRules
from waifang.sim.spec import World
from waifang.sim.state import DELINQUENT, LenderView


def later_candidates(
    view: LenderView,
    day: int,
    ahead: int,
    world: World,
    rules: ComplianceRules,
    model: ValueModel,
    hazard: PayHazard,
    region_names: tuple[str, ...],
) -> pd.DataFrame:
    """The candidates of the period starting ``ahead`` days after ``day`` (see the module
    docstring), with the columns of :func:`waifang.optimise.policy.candidates` plus ``stay``
    (the chance the account is still delinquent then)."""
    from waifang.optimise.policy import region_costs

    cost, hours, collectors = region_costs(world)
    delinquent = np.flatnonzero(view.status == DELINQUENT)
    delinquent = delinquent[view.dpd[delinquent].astype(np.int64) + ahead < world.charge_off_dpd]
    region = view.region[delinquent]
    ok = visit_allowed(rules, view, delinquent, day, collectors[region], ahead=ahead)
    idx = delinquent[ok]
    region = view.region[idx]
    gross, gross_se, _, raw = valued(model, view, idx, day, world.days, ahead=ahead)
    stay = hazard.stay(view.dpd[idx], ahead, day)
    return candidate_frame(view, idx, "visit", region_names, region,
                           value=stay * gross + (1 - stay) * cost[region],
                           value_raw=stay * raw + (1 - stay) * cost[region],
                           value_se=stay * gross_se, cost=cost[region], hours=hours[region],
                           stay=stay)


def top_per_region_period(
    table: pd.DataFrame, hours_left: dict[int, np.ndarray], budgets: dict[int, float],
    extra: int = 0,
) -> pd.DataFrame:
    """Each (region, period)'s rows cut to those an optimal plan could use, exactly.

    Within a (region, period) every row has the same cost and hours, so at most ``k_w`` of
    them fit (its hours, its period's budget) and the region can use at most ``K = sum_w
    k_w`` over the horizon. If an optimal plan took a row outside the ``K`` most valuable of
    its (region, period), one of those ``K`` (distinct accounts, at most ``K - 1`` of them
    chosen elsewhere) is unchosen and could replace it at no loss. Keeping the top ``K`` of
    every (region, period) therefore keeps an optimum. ``extra`` accounts more are kept when
    up to that many accounts may take another option (legal, agency) instead.
    """
    keep = []
    total = sum(budgets.values())
    for region, rows in table.groupby("region_code", sort=True):
        per_period = dict(tuple(rows.groupby("period", sort=True)))
        uniform = all(np.ptp(p["cost"]) == 0 and np.ptp(p["hours"]) == 0
                      for p in per_period.values())
        if not uniform:
            keep.append(rows)
            continue
        k_total = extra
        for w, part in per_period.items():
            c, h = float(part["cost"].iloc[0]), float(part["hours"].iloc[0])
            fits = min(hours_left[w][int(region)] / h if h > 0 else np.inf,
                       min(budgets[w], total) / c if c > 0 else np.inf)
            k_total += len(part) if not np.isfinite(fits) else int(np.floor(fits + 1e-9))
        for part in per_period.values():
            keep.append(part.nlargest(k_total, "value") if k_total < len(part) else part)
    return pd.concat(keep) if keep else table
