"""Small builders shared by the simulator tests."""

from __future__ import annotations

import os

import numpy as np

from waifang.sim.spec import BehaviourSpec
from waifang.sim.state import Portfolio

EXPLORE_FACTOR = 10

# A book in which nobody pays by their own hand and nothing charged off recovers: whatever is
# collected was collected by a treatment. The rates as keywords, to build a BehaviourSpec
# with other settings beside them (``BehaviourSpec(**NO_PAYMENT_RATES, promise_days=5)``).
NO_PAYMENT_RATES = dict(
    base_hazard=(0.0,) * 6,
    chargeoff_recovery_daily=0.0,
    redefault_daily=0.0,
    income_shock_daily=0.0,
)
NO_PAYMENTS = BehaviourSpec(**NO_PAYMENT_RATES)


def examples(n: int) -> int:
    """Hypothesis examples for a property test: ``n`` under the default derandomised "ci"
    profile, ten times as many under ``HYPOTHESIS_PROFILE=explore`` (see tests/conftest.py)."""
    return n * EXPLORE_FACTOR if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else n


def flat_portfolio(
    n: int,
    dpd: np.ndarray | int = 1,
    *,
    balance: float = 1000.0,
    regions: tuple[str, ...] = ("north", "east", "south", "west", "central"),
    ability: float = 0.5,
    willingness: float = 0.5,
    vulnerable_share: float = 0.0,
    seed: int = 0,
) -> Portfolio:
    """``n`` identical borrowers (average ability and willingness) spread over ``regions``."""
    rng = np.random.default_rng(seed)
    return Portfolio(
        account_id=np.arange(1, n + 1, dtype=np.int64),
        balance=np.full(n, balance),
        credit_limit=np.full(n, balance * 1.25),
        dpd=np.broadcast_to(np.asarray(dpd, dtype=np.int16), (n,)).copy(),
        region=(np.arange(n) % len(regions)).astype(np.int16),
        segment=np.zeros(n, np.int16),
        risk_score=np.full(n, 600, np.float32),
        prior_delinquencies=np.zeros(n, np.int16),
        other_debts=np.zeros(n, np.int16),
        guarantee=np.zeros(n, bool),
        vulnerable=rng.random(n) < vulnerable_share,
        contactable=np.ones(n, bool),
        address_verified=np.ones(n, bool),
        ability=np.full(n, ability, np.float32),
        willingness=np.full(n, willingness, np.float32),
        strategic=np.zeros(n, bool),
        region_names=regions,
        segment_names=("all",),
    )


def run_ladder(world, portfolio, rules_spec, preset="cn", audit="full", seed=1, overrides=None):
    """Simulate ``rules_spec`` (a PolicySpec) on ``portfolio`` under ``preset`` with
    ``overrides``, full audit log by default."""
    from waifang.sim import LadderPolicy, resolve_rules
    from waifang.sim.engine import simulate

    rules, _ = resolve_rules(preset, overrides)
    return simulate(
        world,
        portfolio,
        LadderPolicy(rules_spec, portfolio.segment_names),
        rules,
        seed=np.random.SeedSequence(seed),
        audit=audit,
    )


def one_at_a_time(cp, base, picked, option="visit", reps=6):
    """Brute force at checkpoint ``cp``: for each account of ``picked``, its value when
    ``option`` treats it alone (the whole book, the real teams) minus its value untreated,
    on each of ``reps`` seeds; an array (accounts x seeds)."""
    seeds = [np.random.SeedSequence(1000 + k) for k in range(reps)]
    control = [cp.branch(base, seed=s).value for s in seeds]
    return np.array([[cp.branch(base, extra={option: np.array([i])}, seed=s).value[i] - c[i]
                      for s, c in zip(seeds, control, strict=True)] for i in picked])


def random_visit_table(rng, n):
    """One visit candidate for each of ``n`` accounts spread over three regions (columns
    ``account, region_code, option, value, cost, hours``): cost and hours by region, value
    above cost."""
    import pandas as pd

    region = rng.integers(0, 3, n)
    cost = np.array([300.0, 220.0, 410.0])[region]
    hours = np.array([2.0, 3.5, 1.8])[region]
    return pd.DataFrame({"account": np.arange(n), "region_code": region, "option": "visit",
                         "value": cost + rng.exponential(400.0, n), "cost": cost,
                         "hours": hours})


def best_plan_value(frame, caps, budget):
    """The optimum of a table like :func:`random_visit_table`'s (any options) under the
    capacities ``caps`` (regions named "0", "1", "2") and ``budget``, solved exactly."""
    from waifang.optimise.problem import make_problem
    from waifang.optimise.solve import solve

    frame = frame.assign(account_id=frame["account"].astype(str),
                         region=frame["region_code"].astype(str))
    problem = make_problem(frame[["account_id", "option", "region", "value", "cost", "hours"]],
                           caps, budget)
    return solve(problem, gap=0.0).objective
