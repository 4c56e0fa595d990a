"""Exact tests of small pieces: rules, random streams, the ladder, and each resource."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import flat_portfolio, run_ladder

from waifang.errors import InputError
from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.compliance import ACTION_CODE
from waifang.sim.rng import replication_seeds, stream
from waifang.sim.spec import (
    BUCKETS,
    AgencySpec,
    BehaviourSpec,
    CallCentreSpec,
    RegionSpec,
    ResourcesSpec,
    Shift,
    TreatmentsSpec,
    daily_hazard_from_roll_rate,
)
from waifang.sim.state import AccountState, LenderView


def test_resolve_rules_flags_only_loosened_overrides():
    rules, departures = resolve_rules(
        "cn", {"visit_min_dpd": 120, "max_attempts_per_day": 8, "contact_end_hour": 21.0}
    )
    assert rules.visit_min_dpd == 120 and rules.max_attempts_per_day == 8
    assert departures == ("max_attempts_per_day: 8 is looser than the cn preset (6)",)
    _, departures = resolve_rules(
        "us_reg_f", {"max_attempts_per_7_days": None, "no_visit_vulnerable": False}
    )
    assert len(departures) == 2


@pytest.mark.parametrize(
    ("preset", "overrides", "fragment"),
    [
        ("xx", None, "unknown preset 'xx'"),
        ("cn", {"visit_min_dpp": 60}, "unknown rule 'visit_min_dpp'"),
        ("cn", {"visit_min_dpd": -1}, "compliance.visit_min_dpd"),
    ],
)
def test_resolve_rules_errors_name_the_key(preset, overrides, fragment):
    with pytest.raises(InputError, match=fragment):
        resolve_rules(preset, overrides)


def test_streams_are_stable_and_independent_by_name():
    _, run = replication_seeds(42, 3)
    a = stream(run, "payments").random(3)
    b = stream(run, "payments").random(3)
    c = stream(run, "contacts").random(3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    _, other = replication_seeds(42, 4)
    assert not np.array_equal(a, stream(other, "payments").random(3))


def test_daily_hazard_inverts_the_roll_rate():
    h = daily_hazard_from_roll_rate(0.3)
    assert (1 - h) ** 30 == pytest.approx(0.3)


def _view(portfolio):
    state = AccountState.from_portfolio(portfolio, 1.0, 1.0)
    return LenderView(portfolio, state), state


def test_ladder_selects_by_dpd_cadence_balance_and_keeps_most_attempts():
    p = flat_portfolio(6, dpd=np.array([1, 3, 4, 16, 17, 95]))
    p = type(p)(**{**p.__dict__, "balance": np.array([10, 10, 10, 10, 10, 900.0])})
    view, state = _view(p)
    spec = PolicySpec(
        name="t",
        rules=(
            LadderRule(action="sms", dpd_min=1, dpd_max=15, every_days=3),
            LadderRule(action="call", dpd_min=16, dpd_max=89, attempts=2),
            LadderRule(action="call", dpd_min=17, dpd_max=17, attempts=5),
            LadderRule(action="visit", dpd_min=90, min_balance=500),
            LadderRule(action="visit", dpd_min=1, max_balance=5),
        ),
    )
    out = LadderPolicy(spec, ("all",))(view, day=0)
    assert out["sms"].tolist() == [0, 2]  # dpd 1 and 4: 0 and 3 days after dpd_min
    idx, attempts = out["call"]
    assert idx.tolist() == [3, 4] and attempts.tolist() == [2, 5]
    assert out["visit"].tolist() == [5]
    state.status[5] = 1  # cured accounts get nothing
    assert "visit" not in LadderPolicy(spec, ("all",))(view, day=0)


def test_lender_cannot_see_latent_traits():
    view, _ = _view(flat_portfolio(3))
    with pytest.raises(AttributeError, match="cannot observe 'ability'"):
        _ = view.ability
    assert np.isnan(view.revealed_ability()).all()


def test_call_centre_capacity_drops_the_rest_exactly():
    # One agent, 10 attempts an hour, 2 hours: 20 attempts a day; 100 accounts ask for one each.
    world = World(
        days=3,
        resources=ResourcesSpec(
            call_centre=CallCentreSpec(
                shifts=(Shift(start_hour=9, end_hour=11, agents=1),), attempts_per_hour=10
            )
        ),
    )
    p = flat_portfolio(100, dpd=20)
    spec = PolicySpec(name="c", rules=(LadderRule(action="call", dpd_min=1),))
    r = run_ladder(world, p, spec)
    performed = r.daily["actions_call"]
    assert performed.tolist() == [20, 20, 20]
    assert r.summary["calls_performed"] == 60
    # Each morning every account still delinquent asks for one call; all but 20 are dropped.
    delinquent = [100] + [sum(r.daily[f"bucket_{b}"][d] for b in BUCKETS) for d in (0, 1)]
    assert r.summary["calls_dropped"] == sum(k - 20 for k in delinquent)


def test_overlapping_shifts_add_up_hour_by_hour_and_an_exact_repeat_is_refused():
    # README, Bad input: shifts may overlap (a handover hour: the agents of both shifts work
    # that hour); only the same hours twice are refused. 9-11 with 1 agent and 10-12 with 2,
    # 10 attempts an agent-hour: 10 attempts at 9:00, 30 at 10:00, 20 at 11:00.
    shifts = (Shift(start_hour=9, end_hour=11, agents=1), Shift(start_hour=10, end_hour=12,
                                                                agents=2))
    world = World(
        days=2,
        resources=ResourcesSpec(call_centre=CallCentreSpec(shifts=shifts, attempts_per_hour=10)),
    )
    p = flat_portfolio(200, dpd=20)
    spec = PolicySpec(name="c", rules=(LadderRule(action="call", dpd_min=1),))
    r = run_ladder(world, p, spec)
    log = r.audit
    calls = log["action"] == ACTION_CODE["call"]
    for d in (0, 1):
        hours = log["hour"][calls & (log["day"] == d)]
        assert sorted(np.unique(hours, return_counts=True)[1].tolist()) == [10, 20, 30]
        assert (hours == 10.0).sum() == 30 and (hours == 9.0).sum() == 10
    assert r.daily["actions_call"].tolist() == [60, 60]
    with pytest.raises(ValueError, match=r"shifts\[2\].*repeats the hours 10-12 of shifts\[1\]"):
        CallCentreSpec(shifts=(*shifts, Shift(start_hour=10, end_hour=12, agents=5)))


def test_field_team_starts_only_visits_it_can_finish_in_allowed_hours():
    region = RegionSpec(
        name="north", teams=1, start_hour=6, end_hour=23, travel_hours=0.7, visit_hours=0.8
    )
    world = World(days=20, resources=ResourcesSpec(regions=(region,)))
    p = flat_portfolio(400, dpd=100, regions=("north",))
    spec = PolicySpec(name="v", rules=(LadderRule(action="visit", dpd_min=90),))
    r = run_ladder(world, p, spec)
    log = r.audit
    visits = (log["outcome"] == 0) & (log["action"] == ACTION_CODE["visit"])
    assert visits.sum() > 20
    hour, until, day = log["hour"][visits], log["until"][visits], log["day"][visits]
    assert hour.min() >= 8.0 and until.max() <= 20.0  # the cn rule, not the team's 6-23
    for d in np.unique(day):  # one team: its visits of a day never overlap
        order = np.argsort(hour[day == d])
        h, u = hour[day == d][order], until[day == d][order]
        assert np.all(h[1:] >= u[:-1] - 1e-4)
    # Demand (400 accounts) far exceeds one team: requests wait, then drop after 14 days.
    assert r.summary["visits_dropped"] > 0


def test_court_and_agency_capacity_make_requests_wait():
    # Nobody can pay, so no case is withdrawn and no placement ends early: exactly the
    # capacity is in use, and the rest waits.
    world = World(
        days=20,
        behaviour=BehaviourSpec(base_hazard=(0.0,) * 6, chargeoff_recovery_daily=0.0),
        treatments=TreatmentsSpec(agency=AgencySpec(daily_hazard=0.0)),
        resources=ResourcesSpec(legal_capacity=3, court_delay_days=200, agency_capacity=5),
    )
    p = flat_portfolio(50, dpd=150)
    spec = PolicySpec(
        name="l",
        rules=(LadderRule(action="legal", dpd_min=100), LadderRule(action="agency", dpd_min=100)),
    )
    r = run_ladder(world, p, spec, audit="counts")
    assert r.summary["legal_cases"] == 3
    assert r.summary["legal_waiting"] > 0
    assert r.summary["agency_placements"] == 5
    assert r.summary["cost_legal"] >= 3 * world.treatments.legal.fee


def test_ladder_pauses_on_a_hardship_plan_unless_told_otherwise():
    p = flat_portfolio(3, dpd=np.array([31, 31, 40]))
    view, state = _view(p)
    state.hardship_until[1] = 10
    spec = PolicySpec(
        name="t",
        rules=(
            LadderRule(action="sms", dpd_min=31, every_days=3),
            LadderRule(action="ivr", dpd_min=31, every_days=3, during_hardship=True),
        ),
    )
    out = LadderPolicy(spec, ("all",))(view, day=5)
    assert out["sms"].tolist() == [0, 2]
    assert out["ivr"][0].tolist() == [0, 1, 2]
    assert LadderPolicy(spec, ("all",))(view, day=11)["sms"].tolist() == [0, 1, 2]
