"""Borrower behaviour pinned where a mutation survived the rest of the suite (tests/MUTANTS.md):
a book of one account pays like any other, a charged-off settlement closes the account with
the rest written off, and the recent-contact count that raises complaint risk decays. Small
runs, each compared with a count made by hand or a binomial bound on a fixed seed."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import NO_PAYMENT_RATES, flat_portfolio, run_ladder

from waifang.sim import LadderRule, PolicySpec, World
from waifang.sim.spec import BehaviourSpec, ContactSpec, TreatmentsSpec

NOTHING = PolicySpec(name="nothing")


@pytest.mark.parametrize("n", [1, 2, 5])
def test_a_book_of_one_pays_like_any_other(n):
    # Everyone in arrears pays every day (hazard 1); one month behind, a payment cures.
    world = World(days=2, behaviour=BehaviourSpec(**{**NO_PAYMENT_RATES,
                                                     "base_hazard": (1.0,) * 6}))
    r = run_ladder(world, flat_portfolio(n, dpd=20), NOTHING)
    assert r.daily["payments"].tolist() == [n, 0]
    assert r.summary["cure_rate"] == 1.0
    assert r.summary["collected"] > 0


def test_a_charged_off_settlement_closes_the_account_and_writes_off_the_rest():
    # Balances of 1000.00 charged off at 180 dpd on day 0; from day 1 each charged-off account
    # settles (probability 1) at 60 %: 600.00 collected, 400.00 written off, closed, and
    # never paying again.
    n = 30
    behaviour = BehaviourSpec(**{**NO_PAYMENT_RATES, "chargeoff_recovery_daily": 1.0},
                              settlement_share=0.6)
    world = World(days=4, behaviour=behaviour)
    r = run_ladder(world, flat_portfolio(n, dpd=179, balance=1000.0), NOTHING)
    assert r.daily["charged_off"].tolist()[0] == n
    assert r.daily["payments"].tolist() == [0, n, 0, 0]
    assert r.daily["closed"].tolist()[-1] == n
    assert r.summary["collected"] == pytest.approx(n * 600.0)
    assert r.summary["written_off"] == pytest.approx(n * 400.0)
    assert r.summary["outstanding"] == 0


def test_the_recent_contact_count_decays_between_contacts():
    # An SMS on day 0 and again on day 6, to 2000 borrowers, complaint probability 0.2,
    # intensity 1 per recent contact, half-life 1 day. On day 6 the first contact counts
    # 0.5 ** 6 = 1.6 %: the second SMS's complaint probability is 0.2 * (1 + 0.0156) = 0.203,
    # so about 400 + 406 complaints in all (sd about 25). Were the count to grow instead of
    # decaying, every borrower would complain on day 6.
    world = World(
        days=7,
        behaviour=BehaviourSpec(**NO_PAYMENT_RATES, complaint_intensity=1.0, dispute_share=0.0,
                                contact_half_life_days=1.0),
        treatments=TreatmentsSpec(sms=ContactSpec(cost=0.0, complaint_probability=0.2)),
    )
    spec = PolicySpec(name="twice", rules=(LadderRule(action="sms", dpd_min=10, dpd_max=10),
                                           LadderRule(action="sms", dpd_min=16, dpd_max=16)))
    r = run_ladder(world, flat_portfolio(2000, dpd=10), spec)
    assert r.daily["actions_sms"].tolist() == [2000, 0, 0, 0, 0, 0, 2000]
    expected = 2000 * 0.2 * (1 + (1 + 0.5**6))
    assert abs(r.summary["complaints"] - expected) < 5 * np.sqrt(2 * 2000 * 0.2 * 0.8)
