"""What one simulated run returns: flat records that become tidy tables at the edge.

Column names are contracts (DESIGN.md section 4): extend, don't rename.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from waifang.sim.rules import RULES
from waifang.sim.spec import BUCKETS, TREATMENTS

COVER_COLUMNS: tuple[str, ...] = (
    "cover_premiums",
    "cover_claims",
    "cover_recoveries_passed",
    "cover_transferred",
    "cover_claimed_accounts",
    "net_npv_without_cover",
    "net_value_without_cover",
)
"""Risk transfer (waifang.sim.cover): what the lender paid and received under its contracts,
and its net had the contract lines been left out of the same run."""

SUMMARY_COLUMNS: tuple[str, ...] = (
    "collected",
    "collected_npv",
    "cost_total",
    "net_npv",
    "terminal_value",
    "net_value",
    "recovery_rate",
    "cure_rate",
    "chargeoff_rate",
    "visits",
    "complaints",
    "violations",
    "blocked",
    "opening_balance",
    "written_off",
    "outstanding",
    "accounts",
    "calls_performed",
    "calls_dropped",
    "visits_dropped",
    "visits_waiting",
    "legal_cases",
    "legal_waiting",
    "agency_placements",
    "agency_waiting",
    "departures",
    *(f"cost_{t}" for t in TREATMENTS if t != "third_party"),
    "cost_complaints",
    *(f"blocked_{r}" for r in RULES),
    "visits_called_off",
    "visits_cancelled",
    "agency_contacts",
    "cost_npv",
    *COVER_COLUMNS,
)
"""Metrics of one (policy, replication), in currency units and counts. A policy under
risk-transfer contracts adds ``cover_premiums[<contract>]``, ``cover_claims[<contract>]`` and
``cover_recoveries_passed[<contract>]`` per contract (empty for the other policies)."""

COST_SUMS: frozenset[str] = frozenset({"cost_total", "cost_npv"})
"""Summary columns starting ``cost_`` that are sums of the cost lines, not lines."""


def is_cost_line(column: str) -> bool:
    """Whether ``column`` is one of the cost lines (``cost_<treatment>``, ``cost_complaints``)
    that ``cost_total`` adds up."""
    return column.startswith("cost_") and column not in COST_SUMS

DAILY_COLUMNS: tuple[str, ...] = (
    "day",
    *(f"bucket_{b}" for b in BUCKETS),
    "current",
    "charged_off",
    "closed",
    "payments",
    "collected",
    *(f"actions_{t}" for t in TREATMENTS),
    "blocked",
    "actions_agency_contact",
    "actions_visit_notice",
    "cost",
    *(
        f"{pool}_{what}"
        for pool, done in (("legal", "filed"), ("agency", "placed"))
        for what in (
            "requested", done, "waiting", "dropped", "utilisation", "mean_wait_days", "left_queue"
        )
    ),
    "cover_premiums",
    "cover_claims",
    "cover_recoveries_passed",
)
"""Per-day columns: bucket counts at the end of the day, payments, performed actions, costs,
the courts' and agencies' use. Each region's field teams add ``visits_<what>[<region>]``
columns after these (see :meth:`waifang.sim.resources.Usage.columns`)."""


MONEY_COLUMNS: frozenset[str] = frozenset(
    {
        "collected",
        "collected_npv",
        "cost_total",
        "net_npv",
        "terminal_value",
        "net_value",
        "opening_balance",
        "written_off",
        "outstanding",
        "cost",
        *(c for c in SUMMARY_COLUMNS if c.startswith("cost_")),
    }
)
"""Summary and daily columns in currency (``cost_<treatment>`` included)."""


def is_money(column: str) -> bool:
    """Whether ``column`` of the summary or daily table is an amount of money."""
    return (column in MONEY_COLUMNS or column.startswith("cost_")
            or (column.startswith("cover_") and column != "cover_claimed_accounts")
            or column.endswith("_without_cover"))


def round_money(frame):
    """``frame`` (a DataFrame) with its money columns rounded to cents, as the engine keeps
    balances: a sum of cents carried in float64 reads ``16889.5``, not ``16889.49999999998``,
    and a discounted amount is stated to the cent. Rounded before any statistic is taken,
    so the comparison agrees with the written summary."""
    frame = frame.copy()
    for column in frame.columns:
        if is_money(column) and frame[column].dtype.kind == "f":
            frame[column] = frame[column].round(2)
    return frame


@dataclass(frozen=True)
class RunResult:
    """One policy run on one replication."""

    summary: dict[str, float]
    """Values for :data:`SUMMARY_COLUMNS`."""
    daily: dict[str, np.ndarray]
    """Arrays for :data:`DAILY_COLUMNS`, one entry per day."""
    blocked_by_rule: dict[str, int]
    """Blocked actions counted by the rule that blocked them (all rules, zeros included)."""
    violations: int
    """Actions performed in breach of a rule (always 0 unless the engine is wrong): the
    engine's post-checks of every performed call and visit, plus, with a full audit log, an
    independent re-check of every logged action (:func:`waifang.sim.audit.check_audit`)."""
    departures: tuple[str, ...] = ()
    """Rules loosened against their preset."""
    audit: dict[str, np.ndarray] | None = None
    """Full audit log when asked for: columns account (index), day, hour, action, outcome
    (0 performed, k > 0 blocked by ``RULES[k - 1]``)."""
    extra: dict[str, object] = field(default_factory=dict)
    """Anything else worth keeping (per-account arrays for tests, timings)."""
