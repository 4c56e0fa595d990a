"""A tiny stand-in for the simulator, for testing the scenario layer on its own.

``simulate`` returns a RunResult with every contract column, computed deterministically from
the portfolio, the policy's rungs and the run seed, so that tabulation, intervals, files and
the CLI can be checked exactly without the real engine.
"""

from __future__ import annotations

import numpy as np

from waifang.sim.results import DAILY_COLUMNS, SUMMARY_COLUMNS, RunResult
from waifang.sim.rules import RULES
from waifang.sim.state import Portfolio


def generate_portfolio(spec, region_names, rng) -> Portfolio:
    n = spec.accounts
    return Portfolio(
        account_id=np.arange(n, dtype=np.int64),
        balance=rng.lognormal(8, 0.8, n),
        credit_limit=np.full(n, 10_000.0),
        dpd=rng.integers(1, 180, n).astype(np.int16),
        region=rng.integers(0, len(region_names), n).astype(np.int16),
        segment=rng.integers(0, len(spec.segments), n).astype(np.int16),
        risk_score=np.full(n, 600, np.float32),
        prior_delinquencies=np.zeros(n, np.int16),
        other_debts=np.zeros(n, np.int16),
        guarantee=np.zeros(n, bool),
        vulnerable=np.zeros(n, bool),
        contactable=np.ones(n, bool),
        address_verified=np.ones(n, bool),
        ability=rng.random(n).astype(np.float32),
        willingness=rng.random(n).astype(np.float32),
        strategic=np.zeros(n, bool),
        region_names=tuple(region_names),
        segment_names=tuple(s.name for s in spec.segments),
    )


def simulate(world, portfolio, policy, rules, *, seed, departures=(), audit="counts"):
    rng = np.random.default_rng(seed)
    luck = rng.random()  # the same for every policy of a replication (common random numbers)
    rungs = len(policy.spec.rules)
    opening = float(portfolio.balance.sum())
    collected = opening * (0.1 + 0.01 * rungs + 0.05 * luck)
    summary = {c: 0.0 for c in SUMMARY_COLUMNS}
    blocked = {r: 0 for r in RULES}
    blocked["visit_min_dpd"] = 10 * rungs if rules.visit_min_dpd > 60 else 0
    summary.update(
        collected=collected,
        collected_npv=collected * 0.98,
        cost_total=100.0 * rungs,
        cost_sms=60.0 * rungs,
        cost_call=40.0 * rungs,
        cost_npv=99.0 * rungs,
        net_npv=collected * 0.98 - 99.0 * rungs,
        recovery_rate=collected / opening,
        visits=float(rungs),
        accounts=float(len(portfolio)),
        opening_balance=opening,
        blocked=float(sum(blocked.values())),
        blocked_visit_min_dpd=float(blocked["visit_min_dpd"]),
        departures=float(len(departures)),
    )
    days = world.days
    daily = {c: np.zeros(days, np.int64) for c in DAILY_COLUMNS}
    daily["day"] = np.arange(1, days + 1)
    daily["bucket_1-30"] = np.linspace(len(portfolio), 0, days).astype(np.int64)
    audit_log = None
    if audit == "full":
        audit_log = {
            "account": np.arange(3),
            "day": np.ones(3, np.int16),
            "hour": np.full(3, 9, np.int8),
            "action": np.zeros(3, np.int8),
            "outcome": np.zeros(3, np.int8),
        }
    return RunResult(
        summary=summary,
        daily=daily,
        blocked_by_rule=blocked,
        violations=0,
        departures=tuple(departures),
        audit=audit_log,
    )
