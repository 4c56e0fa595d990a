"""Compliance without holes: whoever makes a contact, it is checked, logged and capped; a
refused action takes no capacity; a policy cannot change the world (issue 8)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import NO_PAYMENTS, flat_portfolio

from waifang.errors import InputError
from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.audit import check_audit
from waifang.sim.compliance import ACTION_CODE, RULE_CODE
from waifang.sim.engine import simulate
from waifang.sim.spec import (
    AgencySpec,
    CallCentreSpec,
    ContactSpec,
    LegalSpec,
    RegionSpec,
    ResourcesSpec,
    Shift,
    TreatmentsSpec,
    VisitSpec,
)

# Placed accounts pay part of their arrears on every day the agency calls, and only then.
AGENCY_ONLY = NO_PAYMENTS.model_copy(update={"cure_share_low": 0.0, "cure_share_high": 0.0})


def run(world, portfolio, policy, preset="cn", overrides=None, audit="full", seed=1):
    rules, _ = resolve_rules(preset, overrides)
    if not callable(policy):
        policy = LadderPolicy(PolicySpec(name="p", rules=tuple(policy)), portfolio.segment_names)
    result = simulate(
        world, portfolio, policy, rules, seed=np.random.SeedSequence(seed), audit=audit
    )
    return result, rules


def performed(log, *actions):
    return (log["outcome"] == 0) & np.isin(log["action"], [ACTION_CODE[a] for a in actions])


def test_agency_calls_count_toward_the_caps_shared_with_the_lender():
    world = World(
        days=12,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(
            call=ContactSpec(cost=1.0, connect_probability=0.0),
            agency=AgencySpec(daily_hazard=0.0),
        ),
    )
    p = flat_portfolio(60, dpd=100)
    ladder = [LadderRule(action="agency", dpd_min=1), LadderRule(action="call", dpd_min=1)]
    # Two call attempts a day across lender and agency: the lender's one call leaves room for
    # the agency's; with one a day, the agency's call is refused.
    roomy, rules = run(world, p, ladder, overrides={"max_attempts_per_day": 2})
    assert roomy.summary["agency_contacts"] == 60 * 12
    tight, rules = run(world, p, ladder, overrides={"max_attempts_per_day": 1})
    log = tight.audit
    assert tight.summary["agency_contacts"] == 0
    refused = (log["action"] == ACTION_CODE["agency_contact"]) & (
        log["outcome"] == RULE_CODE["attempts_per_day"]
    )
    assert refused.sum() == 60 * 12 == tight.blocked_by_rule["attempts_per_day"]
    assert tight.violations == 0 and check_audit(log, rules, p, world) == []


def test_agency_conversations_start_the_quiet_period_for_the_lender():
    world = World(
        days=10,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(agency=AgencySpec(connect_probability=1.0, daily_hazard=0.0)),
    )
    p = flat_portfolio(40, dpd=100)
    ladder = [LadderRule(action="agency", dpd_min=1), LadderRule(action="call", dpd_min=1)]
    result, rules = run(world, p, ladder, preset="us_reg_f")
    log = result.audit
    # Day 0: the lender calls at 09:00 (no answer or an answer), the agency at 14:30 talks
    # to everyone; then 6 quiet days for both.
    agency = performed(log, "agency_contact")
    assert np.array_equal(np.unique(log["day"][agency]), [0, 7])
    assert result.blocked_by_rule["quiet_after_conversation"] > 0
    assert check_audit(log, rules, p, world) == [] and result.violations == 0


def test_breathing_space_pauses_a_placement_and_its_fee():
    days = 8
    world = World(
        days=days,
        # Borrowers pay on their own too (a quarter of the days), so paused accounts do pay:
        # on those payments the agency earns nothing. Each payment is one instalment (dpd 30
        # back); 10 are due, so no account can cure in 8 days and leave the ladder.
        behaviour=AGENCY_ONLY.model_copy(
            update={"base_hazard": (0.25,) * 6, "partial_min": 0.05, "partial_max": 0.05}
        ),
        treatments=TreatmentsSpec(agency=AgencySpec(daily_hazard=1.0)),
        charge_off_dpd=360,
    )
    p = flat_portfolio(40, dpd=300, balance=10_000.0)
    half = np.arange(0, 40, 2)

    def policy(view, day):
        if day == 0:
            return {"agency": np.arange(40)}
        if day == 1:
            return {"hardship": half}
        return {}

    result, rules = run(world, p, policy, preset="uk_fca")
    log = result.audit
    # From day 1 the agency's calls to accounts in breathing space are refused ...
    agency = performed(log, "agency_contact")
    in_space = np.isin(log["account"], half)
    assert not np.any(agency & in_space & (log["day"] >= 1))
    assert result.blocked_by_rule["no_contact_hardship"] == 20 * (days - 1)
    # ... they go on paying by themselves ...
    first_day, _ = run(world.model_copy(update={"days": 1}), p, policy, preset="uk_fca")
    day0 = first_day.extra["state"].collected_cents
    collected = result.extra["state"].collected_cents
    assert day0[half].min() > 0 and collected[half].sum() > day0[half].sum()
    # ... and the agency's fee is its share of what placed, unpaused accounts paid: all the
    # others paid, and day 0 of those in breathing space.
    others = np.setdiff1d(np.arange(40), half)
    fee = 0.25 * (collected[others].sum() + day0[half].sum()) / 100.0
    assert result.summary["cost_agency"] == pytest.approx(fee, rel=1e-12)
    assert result.violations == 0 and check_audit(log, rules, p, world) == []


def test_disputes_pause_agency_and_stop_legal():
    world = World(
        days=6,
        behaviour=NO_PAYMENTS.model_copy(update={"dispute_share": 1.0}),
        treatments=TreatmentsSpec(
            call=ContactSpec(cost=1.0, connect_probability=1.0, complaint_probability=1.0),
            legal=LegalSpec(judgement_recovery=0.0),
        ),
    )
    p = flat_portfolio(30, dpd=100)

    def policy(view, day):
        if day == 0:
            return {"agency": np.arange(15)}
        if day == 1:
            return {"call": (np.arange(30), np.ones(30, np.int16))}
        return {"legal": np.arange(30), "agency": np.arange(15, 30)}

    result, rules = run(world, p, policy)
    # Day 0: placed and called by the agency. Day 1 09:00: every call draws a complaint and
    # every complaint a dispute: the agency's calls stop, no case is filed, nobody new is
    # placed.
    assert result.summary["agency_contacts"] == 15
    assert result.summary["legal_cases"] == 0 and result.summary["agency_placements"] == 15
    assert result.blocked_by_rule["legal_disputed"] == 30 * 4
    assert result.blocked_by_rule["agency_disputed"] == 15 * 5 + 15 * 4
    assert result.violations == 0 and check_audit(result.audit, rules, p, world) == []
    # Loosened, the same requests go ahead.
    loose, _ = run(
        world, p, policy, overrides={"no_legal_disputed": False, "no_agency_disputed": False}
    )
    assert loose.summary["legal_cases"] == 30 and loose.summary["agency_contacts"] > 15


def test_uk_fca_files_no_case_against_a_vulnerable_borrower():
    world = World(days=3, behaviour=NO_PAYMENTS)
    p = flat_portfolio(200, dpd=150, vulnerable_share=0.3, seed=4)
    result, rules = run(world, p, [LadderRule(action="legal", dpd_min=1)], preset="uk_fca")
    vulnerable = int(p.vulnerable.sum())
    assert 30 < vulnerable < 90
    assert result.summary["legal_cases"] == 200 - vulnerable
    assert result.blocked_by_rule["legal_vulnerable"] == vulnerable * 3
    filed = performed(result.audit, "legal")
    assert not p.vulnerable[result.audit["account"][filed]].any()
    cn, _ = run(world, p, [LadderRule(action="legal", dpd_min=1)], preset="cn")
    assert cn.summary["legal_cases"] == 200


def test_refused_calls_take_no_agent_time():
    """Regulation F: the largest balances, in their quiet week, head the queue; the agents
    skip them and call the next accounts instead of idling (issue 8: 6 idle days)."""
    world = World(
        days=7,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(call=ContactSpec(cost=1.0, connect_probability=1.0)),
        resources=ResourcesSpec(
            call_centre=CallCentreSpec(
                shifts=(Shift(start_hour=9, end_hour=10, agents=1),), attempts_per_hour=10
            )
        ),
    )
    p = flat_portfolio(100, dpd=20)
    p.balance[:] = np.arange(100, 0, -1) * 100.0  # account 0 is the largest
    result, rules = run(world, p, [LadderRule(action="call", dpd_min=1)], preset="us_reg_f")
    assert result.daily["actions_call"].tolist() == [10] * 7
    log = result.audit
    calls = performed(log, "call")
    for day in range(7):  # day d calls the d-th ten by balance
        got = np.sort(log["account"][calls & (log["day"] == day)])
        assert got.tolist() == list(range(10 * day, 10 * day + 10))
    assert result.violations == 0 and check_audit(log, rules, p, world) == []


def test_charged_off_accounts_go_to_legal_and_agency_by_a_rung():
    world = World(days=40, charge_off_dpd=60, behaviour=NO_PAYMENTS)
    p = flat_portfolio(50, dpd=59)
    rungs = [
        LadderRule(action="legal", charged_off=True, dpd_min=1, dpd_max=1),
        LadderRule(action="agency", charged_off=True, dpd_min=10, dpd_max=40, every_days=10),
    ]
    result, _ = run(world, p, rungs, audit="counts")
    log_days = result.daily
    assert result.summary["chargeoff_rate"] == 1.0
    assert result.summary["legal_cases"] == 50
    assert log_days["actions_legal"][1] == 50  # the day after the charge-off
    assert log_days["actions_agency"][10] == 50  # 10 days after it
    with pytest.raises(ValueError, match="charged_off applies to legal and agency"):
        LadderRule(action="call", charged_off=True)


def test_a_visit_called_off_after_travel_costs_the_travel():
    world = World(
        days=1,
        behaviour=NO_PAYMENTS.model_copy(update={"dispute_share": 1.0}),
        treatments=TreatmentsSpec(
            call=ContactSpec(cost=0.0, connect_probability=1.0, complaint_probability=1.0)
        ),
        resources=ResourcesSpec(
            call_centre=CallCentreSpec(shifts=(Shift(start_hour=9, end_hour=10, agents=100),)),
            regions=(
                RegionSpec(
                    name="north", teams=400, travel_hours=2.0, visit_cost=300.0, travel_cost=80.0
                ),
            ),
        ),
    )
    p = flat_portfolio(300, dpd=120, regions=("north",))

    def policy(view, day):
        return {"visit": np.arange(300), "call": (np.arange(300), np.ones(300, np.int16))}

    result, rules = run(world, p, policy)
    s = result.summary
    # Teams leave at 08:00; everyone disputes at 09:00: a team that arrives later calls off.
    called_off = s["visits_called_off"]
    assert 100 < called_off < 300 and s["visits"] > 20
    assert s["visits"] + called_off <= 300
    assert s["cost_visit"] == s["visits"] * 300.0 + called_off * 80.0
    assert s["blocked_visit_disputed"] == called_off
    # The region's daily column counts them on the day they happened.
    assert result.daily["visits_called_off[north]"].tolist() == [called_off]
    assert result.violations == 0 and check_audit(result.audit, rules, p, world) == []


def test_costs_are_counted_on_the_day_they_are_spent():
    world = World(days=5, behaviour=NO_PAYMENTS)
    p = flat_portfolio(100, dpd=10)

    def policy(view, day):
        if day == 2:
            return {"sms": np.arange(100), "hardship": np.arange(10)}
        return {}

    result, _ = run(world, p, policy, audit="counts")
    t = world.treatments
    expected = [0.0, 0.0, 100 * t.sms.cost + 10 * t.hardship_cost, 0.0, 0.0]
    assert result.daily["cost"].tolist() == pytest.approx(expected)
    assert result.daily["cost"].sum() == pytest.approx(result.summary["cost_total"])


@pytest.mark.parametrize("column", ["dpd", "status", "balance_cents", "vulnerable", "region"])
def test_a_policy_cannot_change_the_world(column):
    world = World(days=3)
    p = flat_portfolio(20, dpd=50)
    before = p.vulnerable.copy(), p.region.copy()

    def meddler(view, day):
        getattr(view, column)[:] = 1
        return {}

    with pytest.raises(InputError, match="read-only"):
        run(world, p, meddler, audit="counts")
    assert np.array_equal(p.vulnerable, before[0]) and np.array_equal(p.region, before[1])

    def in_place(view, day):
        dpd = view.dpd
        dpd += 1
        return {}

    with pytest.raises(InputError, match="lender view"):
        run(world, p, in_place, audit="counts")


def test_capacity_columns_add_up_and_courts_obey_littles_law():
    """Per region the visit queue balances day by day; the courts, filled at a steady rate,
    hold on average (filings per day) x (mean days in court) cases: Little's law, L = lambda W.
    A court whose cases took 1.5 times as long would be rejected by the same check."""
    days, per_day, delay, capacity = 240, 40, 20.0, 100_000
    world = World(
        days=days,
        charge_off_dpd=720,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(
            legal=LegalSpec(judgement_recovery=0.0),
            visit=VisitSpec(complaint_probability=0.0, promise_probability=0.0),
        ),
        resources=ResourcesSpec(court_delay_days=delay, legal_capacity=capacity),
    )
    n = days * per_day
    p = flat_portfolio(n, dpd=100)

    def policy(view, day):
        fresh = np.arange(day * per_day, (day + 1) * per_day)  # lambda = 40 filings a day
        visits = np.arange(0, n, 97)
        return {"legal": fresh, "visit": visits} if day % 10 == 0 else {"legal": fresh}

    result, _ = run(world, p, policy, audit="counts")
    d = result.daily
    assert d["legal_filed"].tolist() == [per_day] * days
    in_court = d["legal_utilisation"] * capacity  # cases running after the day's filings
    steady = in_court[100:]  # well past the longest delays of the first filings
    # Gamma(4) delays rounded to whole days (at least 1): mean ~ delay; each case's days in
    # court are i.i.d., so the daily count is Poisson-like with mean lambda W (M/G/inf).
    expected = per_day * delay
    sd_of_mean = np.sqrt(expected / (steady.size / (2 * delay)))  # ~independent blocks of 2W
    assert abs(steady.mean() - expected) < 4 * sd_of_mean, (steady.mean(), expected)
    assert abs(steady.mean() - per_day * delay * 1.5) > 4 * sd_of_mean
    # The visit queue of each region balances: what waits tonight waited yesterday or came
    # in today, less what was visited, dropped or left the queue.
    for region in p.region_names:
        req, done = d[f"visits_requested[{region}]"], d[f"visits_performed[{region}]"]
        wait, drop = d[f"visits_waiting[{region}]"], d[f"visits_dropped[{region}]"]
        before = np.concatenate([[0], wait[:-1]])
        assert np.all(wait <= before + req - done - drop)
        assert done.sum() > 0 and np.all(d[f"visits_utilisation[{region}]"] <= 1.0)
    total = sum(d[f"visits_performed[{r}]"] for r in p.region_names)
    assert np.array_equal(total, d["actions_visit"])
