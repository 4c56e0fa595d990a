"""Reference values: with treatments off and a constant hazard the engine is an absorbing chain.

Every delinquent account pays (and cures) with the same daily probability h or moves one day
further past due; at the charge-off dpd it is absorbed as charged off. The test builds that
chain's transition matrix itself and compares the engine's counts with it.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import flat_portfolio

from waifang.sim import LadderPolicy, PolicySpec, World, resolve_rules
from waifang.sim.engine import simulate
from waifang.sim.spec import BehaviourSpec

H = 0.012
CHARGE_OFF = 180


def constant_hazard_world(days: int) -> World:
    return World(
        days=days,
        charge_off_dpd=CHARGE_OFF,
        behaviour=BehaviourSpec(
            base_hazard=(H,) * 6,
            ability_weight=0.0,
            willingness_weight=0.0,
            cure_share_low=1.0,
            cure_share_high=1.0,
            settlement_max_ability=0.0,
            redefault_daily=0.0,
            income_shock_daily=0.0,
            chargeoff_recovery_daily=0.0,
        ),
    )


def run(portfolio, days, seed=11):
    rules, _ = resolve_rules("cn")
    policy = LadderPolicy(PolicySpec(name="nothing"), portfolio.segment_names)
    return simulate(
        constant_hazard_world(days), portfolio, policy, rules, seed=np.random.SeedSequence(seed)
    )


def chain_occupancy(start_dpd: np.ndarray, days: int) -> np.ndarray:
    """Expected share in each state after each day: states dpd 1..c-1, paid, charged off."""
    c = CHARGE_OFF
    size = c + 1  # index d for dpd d (1..c-1), c - 1 + 1 = paid at index c, charged off at 0
    paid, charged = c, 0
    P = np.zeros((size, size))
    for d in range(1, c):
        P[d, paid] = H
        P[d, d + 1 if d + 1 < c else charged] = 1 - H
    P[paid, paid] = 1.0
    P[charged, charged] = 1.0
    pi = np.bincount(start_dpd, minlength=size).astype(float) / start_dpd.size
    out = []
    for _ in range(days):
        pi = pi @ P
        out.append(pi)
    return np.array(out)


def test_share_paying_before_charge_off_is_one_minus_survival():
    n = 20_000
    result = run(flat_portfolio(n, dpd=1), days=CHARGE_OFF + 5)
    status = result.extra["status_counts"]
    paid_share = (status["current"] + status["closed"]) / n
    expected = 1 - (1 - H) ** (CHARGE_OFF - 1)  # dpd 1 .. 179: 179 days at risk
    sd = np.sqrt(expected * (1 - expected) / n)
    assert abs(paid_share - expected) < 4 * sd, (paid_share, expected)
    assert status["charged_off"] / n == pytest.approx(1 - paid_share)
    assert result.summary["chargeoff_rate"] == pytest.approx(status["charged_off"] / n)


def test_bucket_occupancy_follows_the_absorbing_chain():
    n = 30_000
    rng = np.random.default_rng(5)
    start = rng.integers(1, 160, n).astype(np.int16)
    days = 120
    result = run(flat_portfolio(n, dpd=start), days=days)
    expected = chain_occupancy(start.astype(np.int64), days)
    edges = [(1 + 30 * k, 31 + 30 * k) for k in range(6)]
    names = ["1-30", "31-60", "61-90", "91-120", "121-150", "151-180"]
    for day in (0, 9, 30, 59, 90, 119):
        for name, (lo, hi) in zip(names, edges, strict=True):
            p = expected[day, lo : min(hi, CHARGE_OFF)].sum()
            observed = result.daily[f"bucket_{name}"][day]
            sd = np.sqrt(n * p * (1 - p)) + 1e-9
            assert abs(observed - n * p) <= 5 * sd + 1, (day, name, observed, n * p)
        p_paid = expected[day, CHARGE_OFF]
        paid = result.daily["current"][day] + result.daily["closed"][day]
        assert abs(paid - n * p_paid) <= 5 * np.sqrt(n * p_paid * (1 - p_paid)) + 1
        p_co = expected[day, 0]
        assert abs(result.daily["charged_off"][day] - n * p_co) <= (
            5 * np.sqrt(n * p_co * (1 - p_co)) + 1
        )


def test_a_wrong_hazard_is_detected():
    """The occupancy check above can fail: a chain with another h does not match."""
    n = 20_000
    result = run(flat_portfolio(n, dpd=1), days=60)
    unpaid = result.daily["bucket_31-60"][50] + result.daily["bucket_61-90"][50]
    wrong = n * (1 - 1.2 * H) ** 51
    assert abs(unpaid - wrong) > 5 * np.sqrt(wrong)
