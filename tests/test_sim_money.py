"""Money is conserved per account, and the same seed gives the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import examples, flat_portfolio, run_ladder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, PortfolioSpec, World, resolve_rules
from waifang.sim.engine import simulate
from waifang.sim.portfolio import generate_portfolio
from waifang.sim.spec import (
    AgencySpec,
    BehaviourSpec,
    LegalSpec,
    ResourcesSpec,
    TreatmentsSpec,
)
from waifang.sim.state import CHARGED_OFF

LADDER = PolicySpec(
    name="ladder",
    rules=(
        LadderRule(action="sms", dpd_min=1, dpd_max=15, every_days=3),
        LadderRule(action="call", dpd_min=16, dpd_max=89, every_days=2, attempts=2),
        LadderRule(action="freeze", dpd_min=30),
        LadderRule(action="hardship", dpd_min=60, dpd_max=60),
        LadderRule(action="visit", dpd_min=90, every_days=10, min_balance=500),
        LadderRule(action="legal", dpd_min=100, every_days=30),
        LadderRule(action="agency", dpd_min=140, every_days=30),
        LadderRule(action="sale", dpd_min=0),
    ),
)


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hazard=st.floats(0.0, 0.2),
    instalment=st.floats(0.05, 1.0),
    settlement=st.floats(0.1, 1.0),
    sale=st.floats(0.0, 1.0),
    judgement=st.floats(0.0, 1.0),
    agency_hazard=st.floats(0.0, 0.05),
    court_days=st.floats(1.0, 60.0),
    seed=st.integers(0, 2**20),
)
def test_every_cent_is_collected_written_off_or_outstanding(
    hazard, instalment, settlement, sale, judgement, agency_hazard, court_days, seed
):
    """Opening balance = collected + written off + outstanding, exactly, for every account.

    Interest and fees are not modelled, so nothing else enters a balance.
    """
    world = World(
        days=70,
        charge_off_dpd=120,
        behaviour=BehaviourSpec(
            base_hazard=(hazard,) * 6,
            instalment_share=instalment,
            settlement_share=settlement,
            settlement_min_dpd=40,
        ),
        treatments=TreatmentsSpec(
            sale_price=sale,
            legal=LegalSpec(judgement_recovery=judgement),
            agency=AgencySpec(daily_hazard=agency_hazard),
        ),
        resources=ResourcesSpec(court_delay_days=court_days),
    )
    rng = np.random.default_rng(seed)
    n = 300
    portfolio = flat_portfolio(n, dpd=rng.integers(1, 119, n), seed=seed)
    portfolio = type(portfolio)(
        **{
            **portfolio.__dict__,
            "balance": np.round(rng.lognormal(7, 1, n), 2),
            "ability": rng.random(n).astype(np.float32),
        }
    )
    rules, _ = resolve_rules("cn")
    result = simulate(
        world, portfolio, LadderPolicy(LADDER, ("all",)), rules, seed=np.random.SeedSequence(seed)
    )
    s = result.extra["state"]
    assert np.all(s.balance_cents >= 0) and np.all(s.collected_cents >= 0)
    assert np.array_equal(s.opening_cents, np.rint(portfolio.balance * 100).astype(np.int64))
    assert np.array_equal(
        s.opening_cents, s.collected_cents + s.written_off_cents + s.balance_cents
    )
    charged_left = s.balance_cents[s.status == CHARGED_OFF].sum()
    summary = result.summary
    assert round(summary["written_off"] * 100) == s.written_off_cents.sum() + charged_left
    assert round(summary["collected"] * 100) == s.collected_cents.sum()
    assert abs(result.daily["collected"].sum() - summary["collected"]) < 1e-6 * max(
        1.0, summary["collected"]
    )
    assert summary["net_npv"] == summary["collected_npv"] - summary["cost_npv"]
    # Costs are discounted from the day they were spent (day 0 at face, later ones less).
    assert summary["cost_npv"] <= summary["cost_total"] * (1 + 1e-12)
    horizon = (1 + world.economics.discount_rate) ** (-world.days / 365)
    assert summary["cost_npv"] >= summary["cost_total"] * horizon * (1 - 1e-12)


def _baseline_run(seed: int, policy=LADDER, accounts: int = 3000):
    world = World(days=60)
    names = tuple(r.name for r in world.resources.regions)
    portfolio = generate_portfolio(
        PortfolioSpec(accounts=accounts), names, np.random.default_rng(seed)
    )
    return run_ladder(world, portfolio, policy, audit="counts", seed=seed)


def test_same_seed_same_numbers_other_seed_other_numbers():
    a, b, c = _baseline_run(4), _baseline_run(4), _baseline_run(5)
    assert a.summary == b.summary
    for key in a.daily:
        assert np.array_equal(a.daily[key], b.daily[key])
    assert a.summary["collected"] != c.summary["collected"]


def test_policies_share_borrower_luck():
    """Common random numbers: with no actions, two policies that ask for nothing the rules
    allow see identical borrowers, day by day."""
    nothing = PolicySpec(name="nothing")
    forbidden = PolicySpec(name="forbidden", rules=(LadderRule(action="third_party"),))
    a, b = _baseline_run(9, nothing), _baseline_run(9, forbidden)
    assert b.summary["blocked_third_party"] > 0
    for key in ("collected", "cure_rate", "chargeoff_rate"):
        assert a.summary[key] == b.summary[key]


def test_terminal_value_counts_cured_and_likely_cures_only():
    from waifang.sim.engine import terminal_value_cents
    from waifang.sim.state import CURRENT, DELINQUENT, AccountState

    p = flat_portfolio(4, dpd=np.array([0, 10, 170, 100]), balance=100.0)
    state = AccountState.from_portfolio(p, 0.0, 0.0)
    state.status[:] = [CURRENT, DELINQUENT, DELINQUENT, CHARGED_OFF]
    world = World()
    first = 0.9995  # bucket 1-30 cures before charge-off this often in the card data
    last = 0.0931  # bucket 151-180 (README: the money columns)
    expected = 0.9 * 10_000 * (1 + first + last)
    assert terminal_value_cents(state, world) == pytest.approx(expected)
