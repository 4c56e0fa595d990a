"""Regression tests for defects found in review: each fails on the code before its fix."""

from __future__ import annotations

import numpy as np
from helpers import NO_PAYMENTS, flat_portfolio
from scipy import stats

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.audit import check_audit
from waifang.sim.compliance import in_contact_hours
from waifang.sim.engine import simulate
from waifang.sim.rng import keyed_uniform
from waifang.sim.spec import (
    AgencySpec,
    BehaviourSpec,
    CallCentreSpec,
    ContactSpec,
    LegalSpec,
    RegionSpec,
    ResourcesSpec,
    Shift,
    TreatmentsSpec,
)
from waifang.sim.state import DELINQUENT

ALL_CURE_TODAY = BehaviourSpec(
    base_hazard=(1.0,) * 6,
    cure_share_low=1.0,
    cure_share_high=1.0,
    settlement_max_ability=0.0,
    income_shock_daily=0.0,
)


def run(world, portfolio, *rules, preset="cn", audit="counts", seed=1):
    compliance, _ = resolve_rules(preset)
    policy = LadderPolicy(PolicySpec(name="p", rules=rules), ("all",))
    return simulate(
        world, portfolio, policy, compliance, seed=np.random.SeedSequence(seed), audit=audit
    )


def test_visits_never_meet_a_dispute_opened_earlier_the_same_day():
    """Many complaints from calls: a second complaint must not move a dispute's start."""
    world = World(
        days=25,
        treatments=TreatmentsSpec(
            call=ContactSpec(cost=1.0, connect_probability=0.9, lift=0.0, complaint_probability=0.3)
        ),
        resources=ResourcesSpec(
            call_centre=CallCentreSpec(shifts=(Shift(start_hour=8, end_hour=20, agents=50),)),
            regions=(RegionSpec(name="north", teams=30),),
        ),
        behaviour=BehaviourSpec(dispute_share=0.5, dispute_days=1, base_hazard=(0.001,) * 6),
    )
    p = flat_portfolio(400, dpd=120, regions=("north",))
    r = run(
        world, p, LadderRule(action="call", attempts=6), LadderRule(action="visit"), audit="full"
    )
    rules, _ = resolve_rules("cn")
    assert r.summary["visits"] > 0 and r.summary["blocked_visit_disputed"] > 0
    assert check_audit(r.audit, rules, p) == []
    assert r.violations == 0


def test_reg_f_no_further_calls_on_the_day_of_a_conversation():
    world = World(
        days=10,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(call=ContactSpec(cost=1.0, connect_probability=1.0)),
    )
    p = flat_portfolio(50, dpd=20)
    r = run(world, p, LadderRule(action="call", attempts=5), preset="us_reg_f", audit="full")
    # Every call connects: one call on day 0, then 6 quiet days, then one on day 7.
    assert r.daily["actions_call"].tolist() == [50, 0, 0, 0, 0, 0, 0, 50, 0, 0]
    assert r.blocked_by_rule["quiet_after_conversation"] > 0


def test_cured_accounts_are_not_judged_and_cases_are_filed_once():
    world = World(days=12, behaviour=ALL_CURE_TODAY, resources=ResourcesSpec(court_delay_days=4.0))
    p = flat_portfolio(40, dpd=150, balance=1000.0)
    r = run(world, p, LadderRule(action="legal", dpd_min=1))
    fee = world.treatments.legal.fee
    # Everyone is served at 09:00 and cures that evening: the cases are withdrawn, no
    # judgement money, no lawyers' share.
    assert r.summary["legal_cases"] == 40
    assert r.summary["cost_legal"] == 40 * fee
    stuck = World(
        days=20,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(legal=LegalSpec(judgement_recovery=0.0)),
        resources=ResourcesSpec(court_delay_days=2.0),
    )
    r = run(stuck, flat_portfolio(10, dpd=100), LadderRule(action="legal", dpd_min=1))
    assert r.summary["legal_cases"] == 10  # judged cases are not filed again


def test_debt_sale_proceeds_carry_no_agency_or_legal_fee():
    world = World(
        days=40,
        charge_off_dpd=60,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(
            agency=AgencySpec(daily_hazard=0.0), legal=LegalSpec(judgement_recovery=0.0)
        ),
    )
    p = flat_portfolio(30, dpd=50)
    r = run(
        world,
        p,
        LadderRule(action="agency", dpd_min=1),
        LadderRule(action="legal"),
        LadderRule(action="sale"),
    )
    assert r.summary["collected"] > 0  # the sale
    assert r.summary["cost_agency"] == 0
    assert r.summary["cost_legal"] == r.summary["legal_cases"] * world.treatments.legal.fee


def test_no_account_stays_delinquent_at_dpd_zero_after_a_plan():
    world = World(days=40, behaviour=BehaviourSpec(redefault_daily=0.2))
    p = flat_portfolio(500, dpd=60)
    r = run(world, p, LadderRule(action="hardship", dpd_min=60, dpd_max=60))
    s = r.extra["state"]
    assert not np.any((s.status == DELINQUENT) & (s.dpd == 0))
    assert r.daily["current"][-1] == r.extra["status_counts"]["current"]


def test_an_account_that_cures_today_does_not_re_default_tonight():
    world = World(days=1, behaviour=ALL_CURE_TODAY.model_copy(update={"redefault_daily": 0.5}))
    r = run(world, flat_portfolio(2000, dpd=10))
    assert r.daily["current"][0] == 2000


def test_agency_slot_is_freed_when_the_account_cures():
    world = World(
        days=10,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(agency=AgencySpec(daily_hazard=1.0)),
        resources=ResourcesSpec(agency_capacity=5),
    )
    world = world.model_copy(
        update={
            "behaviour": NO_PAYMENTS.model_copy(
                update={"cure_share_low": 1.0, "cure_share_high": 1.0}
            )
        }
    )
    r = run(world, flat_portfolio(50, dpd=20), LadderRule(action="agency", dpd_min=1))
    assert r.summary["agency_placements"] > 5


def test_plans_last_exactly_their_days():
    days, plan = 6, 3
    world = World(days=days, behaviour=NO_PAYMENTS, treatments=TreatmentsSpec(hardship_days=plan))
    rules, _ = resolve_rules("cn")

    def plan_on_day_zero(view, day):  # any callable is a policy
        return {"hardship": np.array([0])} if day == 0 else {}

    r = simulate(
        world, flat_portfolio(1, dpd=40), plan_on_day_zero, rules, seed=np.random.SeedSequence(1)
    )
    assert int(r.extra["state"].dpd[0]) == 40 + days - plan


def test_an_agent_hour_must_end_within_the_contact_hours():
    rules, _ = resolve_rules("cn", {"contact_end_hour": 20.5})
    assert in_contact_hours(19.0, 20.0, rules)
    assert not in_contact_hours(20.0, 21.0, rules)
    assert in_contact_hours(20.0, None, rules)  # an instant message at 20:00 is fine


def test_keyed_uniforms_do_not_depend_on_who_else_draws():
    key = np.uint64(12345)
    alone = keyed_uniform(key, np.array([7]), day=3)
    crowd = keyed_uniform(key, np.array([1, 7, 99]), day=3)
    assert alone[0] == crowd[1]
    assert keyed_uniform(key, np.array([7]), day=4)[0] != alone[0]
    assert keyed_uniform(key, np.array([7]), day=3, lane=1)[0] != alone[0]
    sample = keyed_uniform(key, np.arange(200_000), day=0)
    assert stats.kstest(sample, "uniform").pvalue > 1e-4
    assert abs(np.corrcoef(sample[:-1], sample[1:])[0, 1]) < 0.01
