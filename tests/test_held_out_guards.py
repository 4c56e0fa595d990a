"""Tests written against the second set of planted bugs (tests/planted_bugs.py, issue 13 item
10): each pins a behaviour a realistic bug broke without any other test noticing. Small runs,
each compared with a count made from the audit log or by hand, not with the engine's formula.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import flat_portfolio

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.compliance import ACTION_CODE, RULE_CODE
from waifang.sim.engine import simulate
from waifang.sim.spec import BehaviourSpec, ContactSpec, TreatmentsSpec


def _run(world, portfolio, rules_spec, preset="cn", seed=1, overrides=None):
    rules, _ = resolve_rules(preset, overrides)
    return simulate(
        world,
        portfolio,
        LadderPolicy(rules_spec, portfolio.segment_names),
        rules,
        seed=np.random.SeedSequence(seed),
        audit="full",
    )


def test_the_agency_s_calls_count_toward_the_daily_cap_the_lender_fills():
    # cn: at most 6 call attempts a day per debtor, lender and agency together. The lender asks
    # for 6 a day; the agency calls every placed borrower at 14:30, after the lender's sixth
    # attempt (one an hour from 9:00). Counted from the audit log: no account gets more than 6
    # call-like attempts on a day, and the agency's calls are the ones refused by the cap.
    world = World(days=6)
    p = flat_portfolio(120, dpd=100, ability=0.05, willingness=0.05)
    spec = PolicySpec(
        name="both",
        rules=(
            LadderRule(action="agency", dpd_min=1),
            LadderRule(action="call", dpd_min=1, attempts=6),
        ),
    )
    r = _run(world, p, spec, overrides={"max_connected_per_day": 6})
    log = r.audit
    performed = log["outcome"] == 0
    call_like = np.isin(log["action"], [ACTION_CODE[a] for a in ("call", "ivr", "agency_contact")])
    key = log["account"][performed & call_like] * 1000 + log["day"][performed & call_like]
    per_account_day = np.unique(key, return_counts=True)[1]
    assert per_account_day.max() == 6
    agency = log["action"] == ACTION_CODE["agency_contact"]
    capped = agency & (log["outcome"] == RULE_CODE["attempts_per_day"])
    assert capped.sum() > 50  # the cap binds on the agency's call most days
    assert r.violations == 0


# Nobody pays of their own accord: every payment below is one the test arranged.
NO_LUCK = dict(
    base_hazard=(0.0,) * 6,
    chargeoff_recovery_daily=0.0,
    income_shock_daily=0.0,
    redefault_daily=0.0,
)


def test_a_kept_promise_pays_on_its_due_day_and_not_before():
    # One SMS on day 0 to 80 borrowers; each promises (probability 1) to pay in
    # promise_days = 5 days and keeps it. So 80 payments on day 5 and none on any other day.
    world = World(
        days=9,
        behaviour=BehaviourSpec(**NO_LUCK, promise_days=5, promise_keep_base=1.0),
        treatments=TreatmentsSpec(sms=ContactSpec(cost=0.0, promise_probability=1.0)),
    )
    p = flat_portfolio(80, dpd=40)
    spec = PolicySpec(name="once", rules=(LadderRule(action="sms", dpd_min=40, dpd_max=40),))
    r = _run(world, p, spec)
    expected = [0] * 9
    expected[5] = 80
    assert r.daily["payments"].tolist() == expected


def test_a_dispute_blocks_legal_action_through_its_last_day():
    # Day 0: one SMS, every one a complaint that opens a dispute of dispute_days = 4 days
    # (the naive reference's reading: disputed through day 0 + 4). From day 1 the ladder asks
    # for legal action every day: refused as disputed on days 1..4, filed on day 5.
    world = World(
        days=8,
        behaviour=BehaviourSpec(**NO_LUCK, dispute_share=1.0, dispute_days=4),
        treatments=TreatmentsSpec(sms=ContactSpec(cost=0.0, complaint_probability=1.0)),
    )
    n = 30
    p = flat_portfolio(n, dpd=100)
    spec = PolicySpec(
        name="sue",
        rules=(
            LadderRule(action="sms", dpd_min=100, dpd_max=100),
            LadderRule(action="legal", dpd_min=101),
        ),
    )
    r = _run(world, p, spec)
    log = r.audit
    legal = log["action"] == ACTION_CODE["legal"]
    refused = legal & (log["outcome"] == RULE_CODE["legal_disputed"])
    filed = legal & (log["outcome"] == 0)
    assert np.bincount(log["day"][refused], minlength=8).tolist() == [0, n, n, n, n, 0, 0, 0]
    assert np.bincount(log["day"][filed], minlength=8).tolist() == [0, 0, 0, 0, 0, n, 0, 0]


def test_a_debt_sale_pays_the_price_rounded_to_the_nearest_cent():
    # Balances of 1000.05 (100005 cents) sold at 15 %: 15000.75 cents, so 15001 cents each.
    world = World(
        days=3, behaviour=BehaviourSpec(**NO_LUCK), treatments=TreatmentsSpec(sale_price=0.15)
    )
    n = 40
    p = flat_portfolio(n, dpd=179, balance=1000.05)  # charged off at the end of day 0
    spec = PolicySpec(name="sell", rules=(LadderRule(action="sale"),))
    r = _run(world, p, spec)
    assert round(r.summary["collected"] * 100) == n * 15001
    assert r.daily["collected"].tolist() == pytest.approx([0.0, n * 150.01, 0.0])


def test_a_settlement_pays_its_share_rounded_to_the_nearest_cent():
    # Every borrower pays on day 0 (hazard 1, high willingness) and, at dpd 130 with ability
    # 0.1, settles: 55 % of 100005 cents is 55002.75, so 55003 cents each; the rest is
    # written off.
    world = World(
        days=2,
        behaviour=BehaviourSpec(
            **{**NO_LUCK, "base_hazard": (0.0, 0.0, 0.0, 0.0, 1.0, 1.0)},
            settlement_share=0.55,
        ),
    )
    n = 50
    p = flat_portfolio(n, dpd=130, balance=1000.05, ability=0.1, willingness=1.0)
    r = _run(world, p, PolicySpec(name="nothing"))
    assert round(r.summary["collected"] * 100) == n * 55003
    assert round(r.summary["written_off"] * 100) == n * (100005 - 55003)
