"""Small builders shared by the simulator tests."""

from __future__ import annotations

import os

import numpy as np

from waifang.sim.spec import BehaviourSpec
from waifang.sim.state import Portfolio

EXPLORE_FACTOR = 10

# A book in which nobody pays by their own hand and nothing charged off recovers: whatever is
# collected was collected by a treatment.
NO_PAYMENTS = BehaviourSpec(
    base_hazard=(0.0,) * 6,
    chargeoff_recovery_daily=0.0,
    redefault_daily=0.0,
    income_shock_daily=0.0,
)


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
