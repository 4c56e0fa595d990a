"""Tests written against the second set of planted bugs (tests/planted_bugs.py, issue 13 item
10): each pins a behaviour a realistic bug broke without any other test noticing. Small runs,
each compared with a count made from the audit log or by hand, not with the engine's formula.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import NO_PAYMENT_RATES, flat_portfolio, run_ladder

from waifang.sim import (
    LadderRule,
    PolicySpec,
    PortfolioSpec,
    World,
)
from waifang.sim.compliance import ACTION_CODE, RULE_CODE
from waifang.sim.portfolio import generate_portfolio
from waifang.sim.spec import (
    BehaviourSpec,
    ContactSpec,
    RegionSpec,
    ResourcesSpec,
    Segment,
    TreatmentsSpec,
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
    r = run_ladder(world, p, spec, overrides={"max_connected_per_day": 6})
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


# Nobody pays of their own accord (NO_PAYMENT_RATES): every payment below is one the test
# arranged.


def test_a_kept_promise_pays_on_its_due_day_and_not_before():
    # One SMS on day 0 to 80 borrowers; each promises (probability 1) to pay in
    # promise_days = 5 days and keeps it. So 80 payments on day 5 and none on any other day.
    world = World(
        days=9,
        behaviour=BehaviourSpec(**NO_PAYMENT_RATES, promise_days=5, promise_keep_base=1.0),
        treatments=TreatmentsSpec(sms=ContactSpec(cost=0.0, promise_probability=1.0)),
    )
    p = flat_portfolio(80, dpd=40)
    spec = PolicySpec(name="once", rules=(LadderRule(action="sms", dpd_min=40, dpd_max=40),))
    r = run_ladder(world, p, spec)
    expected = [0] * 9
    expected[5] = 80
    assert r.daily["payments"].tolist() == expected
    made = (r.extra["promises_made"], r.extra["promises_kept"], r.extra["promises_broken"])
    assert made == (80, 80, 0)


def test_a_dispute_blocks_legal_action_through_its_last_day():
    # Day 0: one SMS, every one a complaint that opens a dispute of dispute_days = 4 days
    # (the naive reference's reading: disputed through day 0 + 4). From day 1 the ladder asks
    # for legal action every day: refused as disputed on days 1..4, filed on day 5.
    world = World(
        days=8,
        behaviour=BehaviourSpec(**NO_PAYMENT_RATES, dispute_share=1.0, dispute_days=4),
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
    r = run_ladder(world, p, spec)
    log = r.audit
    legal = log["action"] == ACTION_CODE["legal"]
    refused = legal & (log["outcome"] == RULE_CODE["legal_disputed"])
    filed = legal & (log["outcome"] == 0)
    assert np.bincount(log["day"][refused], minlength=8).tolist() == [0, n, n, n, n, 0, 0, 0]
    assert np.bincount(log["day"][filed], minlength=8).tolist() == [0, 0, 0, 0, 0, n, 0, 0]
    hours = log["hour"][refused]  # each refusal logged at a time of the day
    assert np.isfinite(hours).all() and ((hours >= 0) & (hours < 24)).all()
    assert (log["flags"][refused] & 1).all()  # flagged disputed in the log (flag 1)
    assert not (log["flags"][filed] & 1).any()


def test_a_debt_sale_pays_the_price_rounded_to_the_nearest_cent():
    # Balances of 1000.05 (100005 cents) sold at 15 %: 15000.75 cents, so 15001 cents each.
    world = World(
        days=3, behaviour=BehaviourSpec(**NO_PAYMENT_RATES),
        treatments=TreatmentsSpec(sale_price=0.15),
    )
    n = 40
    p = flat_portfolio(n, dpd=179, balance=1000.05)  # charged off at the end of day 0
    spec = PolicySpec(name="sell", rules=(LadderRule(action="sale"),))
    r = run_ladder(world, p, spec)
    assert round(r.summary["collected"] * 100) == n * 15001
    assert r.daily["collected"].tolist() == pytest.approx([0.0, n * 150.01, 0.0])


def test_a_settlement_pays_its_share_rounded_to_the_nearest_cent():
    # Every borrower pays on day 0 (hazard 1, high willingness) and, at dpd 130 with ability
    # 0.1, settles: 55 % of 100005 cents is 55002.75, so 55003 cents each; the rest is
    # written off.
    world = World(
        days=2,
        behaviour=BehaviourSpec(
            **{**NO_PAYMENT_RATES, "base_hazard": (0.0, 0.0, 0.0, 0.0, 1.0, 1.0)},
            settlement_share=0.55,
        ),
    )
    n = 50
    p = flat_portfolio(n, dpd=130, balance=1000.05, ability=0.1, willingness=1.0)
    r = run_ladder(world, p, PolicySpec(name="nothing"))
    assert round(r.summary["collected"] * 100) == n * 55003
    assert round(r.summary["written_off"] * 100) == n * (100005 - 55003)


def test_a_judgement_recovers_its_share_of_what_is_still_owed():
    # Day 0: every borrower (dpd 100: four instalments of 8333 cents in arrears on 100000)
    # pays exactly half of them, 16666 cents, and drops to a bucket that never pays again;
    # the case filed that morning is judged days later, on what is still owed: 60 % recovery
    # x ability 0.5 of 83334 cents = 25000 cents.
    world = World(
        days=20,
        behaviour=BehaviourSpec(
            **{**NO_PAYMENT_RATES, "base_hazard": (0.0, 0.0, 0.0, 1.0, 0.0, 0.0)},
            cure_share_low=0.0,
            cure_share_high=0.0,
            partial_min=0.5,
            partial_max=0.5,
        ),
        resources=ResourcesSpec(court_delay_days=1.0),
    )
    n = 40
    p = flat_portfolio(n, dpd=100, balance=1000.0, ability=0.5, willingness=0.5)
    r = run_ladder(world, p, PolicySpec(name="sue", rules=(LadderRule(action="legal", dpd_min=1),)))
    assert r.summary["legal_cases"] == n
    assert round(r.summary["collected"] * 100) == n * (16666 + 25000)
    # Two instalments paid bring the oldest unpaid one 60 days forward: dpd 100 -> 40, and 41
    # at the end of day 0.
    assert r.daily["bucket_31-60"][0] == n


def test_segment_region_weights_follow_the_scenario_s_region_order():
    # Regions listed "south", "east", "north": the segment's weight names them; the accounts
    # land in the region named, whatever the alphabetical order of the names.
    regions = ("south", "east", "north")
    for weights, expected in (
        ({"south": 1.0, "north": 0.0}, {"south"}),
        ({"east": 1.0, "north": 1.0}, {"east", "north"}),
    ):
        segment = Segment(name="only", share=1.0, balance_median=3000.0, region_weights=weights)
        spec = PortfolioSpec(accounts=300, segments=(segment,))
        p = generate_portfolio(spec, regions, np.random.default_rng(3))
        assert {regions[k] for k in np.unique(p.region)} == expected


def test_a_first_contact_complains_at_the_channel_s_own_rate():
    # One SMS to 2000 borrowers who had no contact before: each complains with the channel's
    # probability 0.5 (the intensity applies to the contacts before this one: none). Fixed
    # seed; Binomial(2000, 0.5) lies within 1000 +- 100 with probability 1 - 1e-5.
    world = World(
        days=1,
        behaviour=BehaviourSpec(**NO_PAYMENT_RATES, complaint_intensity=1.0, dispute_share=0.0),
        treatments=TreatmentsSpec(sms=ContactSpec(cost=0.0, complaint_probability=0.5)),
    )
    p = flat_portfolio(2000, dpd=10)
    r = run_ladder(world, p, PolicySpec(name="sms", rules=(LadderRule(action="sms", dpd_min=1),)))
    assert 900 <= r.summary["complaints"] <= 1100


def test_one_seed_gives_the_same_run_twice_in_one_process_between_other_policies():
    # Income shocks frequent enough to matter; a policy run, another one, then the first
    # again: the first and the third are identical to the last number.
    world = World(days=30, behaviour=BehaviourSpec(income_shock_daily=0.05))
    p = flat_portfolio(400, dpd=20)
    a = PolicySpec(name="a", rules=(LadderRule(action="call", dpd_min=1, every_days=3),))
    b = PolicySpec(name="b", rules=(LadderRule(action="sms", dpd_min=1),))
    first = run_ladder(world, p, a, seed=5)
    run_ladder(world, p, b, seed=5)
    third = run_ladder(world, p, a, seed=5)
    assert first.summary == third.summary
    for column, values in first.daily.items():
        np.testing.assert_array_equal(values, third.daily[column], err_msg=column)


def test_a_visit_called_off_on_arrival_costs_the_travel_only():
    # README column reference: a visit called off after the team travelled costs its
    # region's travel_cost; a visit made costs visit_cost. A 9:00 call makes every borrower
    # complain and dispute, so the teams (out from 8:00) call off the visits that arrive later.
    region = RegionSpec(name="north", teams=6, travel_hours=2.0, visit_hours=0.5,
                        visit_cost=100.0, travel_cost=30.0)
    world = World(
        days=1,
        behaviour=BehaviourSpec(**NO_PAYMENT_RATES, dispute_share=1.0),
        treatments=TreatmentsSpec(call=ContactSpec(cost=0.0, complaint_probability=1.0)),
        resources=ResourcesSpec(regions=(region,)),
    )
    p = flat_portfolio(60, dpd=100, regions=("north",))
    spec = PolicySpec(
        name="v",
        rules=(LadderRule(action="call", dpd_min=1), LadderRule(action="visit", dpd_min=90)),
    )
    r = run_ladder(world, p, spec)
    made, called_off = r.summary["visits"], r.summary["visits_called_off"]
    assert made > 0 and called_off > 0
    assert r.summary["cost_visit"] == pytest.approx(100.0 * made + 30.0 * called_off)


def test_an_account_that_defaults_again_during_its_plan_stays_at_dpd_1_until_the_plan_ends():
    # Day 0: a hardship plan starts (90 days) and a promise is made (1 day); day 1 the promise
    # is kept and the account cures; from day 2 every cured account defaults again. The plan
    # still runs, so its days past due stay at 1: nobody reaches the 31-60 bucket in 45 days.
    world = World(
        days=45,
        behaviour=BehaviourSpec(
            **{**NO_PAYMENT_RATES, "redefault_daily": 1.0}, promise_days=1, promise_keep_base=1.0
        ),
        treatments=TreatmentsSpec(sms=ContactSpec(cost=0.0, promise_probability=1.0)),
    )
    n = 50
    p = flat_portfolio(n, dpd=10)
    spec = PolicySpec(
        name="plan",
        rules=(
            LadderRule(action="hardship", dpd_min=10, dpd_max=10),
            LadderRule(action="sms", dpd_min=10, dpd_max=10),
        ),
    )
    r = run_ladder(world, p, spec)
    log = r.audit
    sms = log["action"] == ACTION_CODE["sms"]
    assert sms.sum() == n and (log["flags"][sms] & 2).all()  # sent during the plan (flag 2)
    assert r.daily["current"][1] == n  # all cured on day 1
    assert r.daily["bucket_1-30"][2:].tolist() == [n] * 43  # defaulted again, at dpd 1
    assert r.daily["bucket_31-60"].sum() == 0


def test_the_audit_log_records_each_call_s_hour_slot_and_whether_it_connected():
    # README audit columns: `until` is the end of an agent's hour slot; `connected` whether the
    # call reached the borrower. Calls that always connect, then calls that never do.
    for probability in (1.0, 0.0):
        world = World(
            days=2,
            behaviour=BehaviourSpec(**NO_PAYMENT_RATES),
            treatments=TreatmentsSpec(call=ContactSpec(cost=1.0, connect_probability=probability)),
        )
        p = flat_portfolio(50, dpd=20)
        spec = PolicySpec(name="c", rules=(LadderRule(action="call", dpd_min=1),))
        r = run_ladder(world, p, spec)
        log = r.audit
        calls = (log["action"] == ACTION_CODE["call"]) & (log["outcome"] == 0)
        assert calls.sum() == 100
        np.testing.assert_array_equal(log["until"][calls], log["hour"][calls] + 1.0)
        assert (log["connected"][calls] == (probability == 1.0)).all()
        assert (log["collectors"][calls] == 0).all()  # collectors: visits only
    # A message has no slot: its `until` is its `hour`.
    r = run_ladder(World(days=1), flat_portfolio(20, dpd=20),
             PolicySpec(name="s", rules=(LadderRule(action="sms", dpd_min=1),)))
    sms = r.audit["action"] == ACTION_CODE["sms"]
    assert sms.sum() == 20
    np.testing.assert_array_equal(r.audit["until"][sms], r.audit["hour"][sms])


def test_with_no_rule_on_placements_every_requested_placement_goes_ahead():
    # cn with the dispute rule for agencies switched off (a departure): nothing is left to
    # check a placement against, so all 30 accounts are placed on day 0.
    world = World(days=1, behaviour=BehaviourSpec(**NO_PAYMENT_RATES))
    p = flat_portfolio(30, dpd=100)
    spec = PolicySpec(name="a", rules=(LadderRule(action="agency", dpd_min=1),))
    r = run_ladder(world, p, spec, overrides={"no_agency_disputed": False})
    assert r.summary["agency_placements"] == 30


def test_daily_counts_are_integers():
    # README column reference: actions, blocked and payments per day are counts (int).
    world = World(days=5)
    p = flat_portfolio(100, dpd=95)
    spec = PolicySpec(
        name="mix",
        rules=(LadderRule(action="call", dpd_min=1, attempts=8), LadderRule(action="sms")),
    )
    r = run_ladder(world, p, spec)
    counts = [c for c in r.daily if c.startswith("actions_")] + ["blocked", "payments"]
    assert r.daily["blocked"].sum() > 0
    for column in counts:
        assert np.asarray(r.daily[column]).dtype.kind in "iu", column


def test_a_frozen_line_multiplies_the_payment_hazard():
    # Base hazard 0.02 in the 31-60 bucket, x 60 while the line is frozen: 1.2, so every
    # frozen borrower pays on the day of the freeze; an unfrozen one rarely does.
    behaviour = BehaviourSpec(
        **{**NO_PAYMENT_RATES, "base_hazard": (0.0, 0.02, 0.0, 0.0, 0.0, 0.0)},
        freeze_multiplier=60.0,
    )
    world = World(days=1, behaviour=behaviour)
    p = flat_portfolio(60, dpd=40)
    frozen = run_ladder(world, p, PolicySpec(name="f", rules=(LadderRule(action="freeze"),)))
    assert frozen.daily["payments"].tolist() == [60]
    untouched = run_ladder(world, p, PolicySpec(name="nothing"))
    assert untouched.daily["payments"][0] < 10


def test_no_agency_fee_on_what_is_paid_while_breathing_space_pauses_the_placement():
    # uk_fca: day 0 the accounts are placed (dpd 30, nobody pays); day 1 a hardship plan
    # (breathing space) starts, the agency's call is refused and the placement pauses. Every
    # borrower pays that day (dpd 31: hazard 1 x willingness): no agency fee is due on any of it.
    behaviour = BehaviourSpec(**{**NO_PAYMENT_RATES, "base_hazard": (0.0, 1.0, 0.0, 0.0, 0.0, 0.0)})
    world = World(days=2, behaviour=behaviour)
    p = flat_portfolio(40, dpd=30, willingness=1.0)
    spec = PolicySpec(
        name="place",
        rules=(
            LadderRule(action="agency", dpd_min=30, dpd_max=30),
            LadderRule(action="hardship", dpd_min=31, dpd_max=31),
        ),
    )
    r = run_ladder(world, p, spec, preset="uk_fca")
    assert r.summary["agency_placements"] == 40
    assert r.daily["payments"].tolist() == [0, 40]
    refused = (r.audit["action"] == ACTION_CODE["agency_contact"]) & (r.audit["outcome"] > 0)
    assert refused.sum() == 40
    assert r.summary["cost_agency"] == 0.0


def test_income_shocks_reach_about_their_daily_share_of_borrowers():
    # income_shock_daily = 0.5: each day about half the borrowers lose income; a shock cuts
    # ability to 1 % and (ability weight 20) the payment hazard to almost nothing. Within a few
    # days nearly everyone is shocked, so payments collapse against the same book unshocked.
    behaviour = dict(
        base_hazard=(0.02,) * 6, ability_weight=20.0, redefault_daily=0.0,
        chargeoff_recovery_daily=0.0, income_shock_ability=0.01,
    )
    p = flat_portfolio(500, dpd=20)
    paid = {}
    for daily in (0.0, 0.5):
        world = World(days=30, behaviour=BehaviourSpec(**behaviour, income_shock_daily=daily))
        paid[daily] = run_ladder(world, p, PolicySpec(name="nothing")).daily["payments"].sum()
    assert paid[0.0] > 100  # about 500 x (1 - 0.98^30)
    assert paid[0.5] < 0.3 * paid[0.0]
