"""Compliance is hard: a policy asking for more than the rules allow is blocked, never served."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import examples, flat_portfolio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waifang.sim import PRESETS, LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.audit import check_audit
from waifang.sim.compliance import ACTION_CODE, RULE_CODE
from waifang.sim.engine import simulate
from waifang.sim.spec import CallCentreSpec, RegionSpec, ResourcesSpec, Shift

# A call centre open round the clock with room for every attempt, and plenty of field teams:
# whatever is refused below is refused by a rule, not by capacity.
GREEDY_RESOURCES = ResourcesSpec(
    call_centre=CallCentreSpec(
        shifts=(Shift(start_hour=0, end_hour=24, agents=500),), attempts_per_hour=100
    ),
    regions=tuple(
        RegionSpec(name=n, teams=20, start_hour=6, end_hour=23)
        for n in ("north", "east", "south", "west", "central")
    ),
    agency_vetted=False,
)

GREEDY = PolicySpec(
    name="greedy",
    rules=(
        LadderRule(action="call", dpd_min=1, attempts=20),
        LadderRule(action="ivr", dpd_min=1, attempts=3),
        LadderRule(action="sms", dpd_min=1),
        LadderRule(action="visit", dpd_min=30),
        LadderRule(action="third_party", dpd_min=60),
        LadderRule(action="agency", dpd_min=120),
        LadderRule(action="hardship", dpd_min=100, dpd_max=100),
    ),
)


def greedy_run(preset: str, n: int = 600, days: int = 40, seed: int = 3, overrides=None):
    rng = np.random.default_rng(seed)
    portfolio = flat_portfolio(n, dpd=rng.integers(1, 170, n), vulnerable_share=0.1, seed=seed)
    rules, departures = resolve_rules(preset, overrides)
    world = World(days=days, resources=GREEDY_RESOURCES)
    result = simulate(
        world,
        portfolio,
        LadderPolicy(GREEDY, portfolio.segment_names),
        rules,
        seed=np.random.SeedSequence(seed),
        departures=departures,
        audit="full",
    )
    return result, rules, portfolio


def per_account_day(log, action_names, extra_mask=None):
    mask = (log["outcome"] == 0) & np.isin(log["action"], [ACTION_CODE[a] for a in action_names])
    if extra_mask is not None:
        mask &= extra_mask
    key = log["account"][mask] * 10_000 + log["day"][mask]
    return np.unique(key, return_counts=True)[1] if key.size else np.zeros(1, int)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_greedy_policy_is_blocked_and_never_breaches(preset):
    result, rules, portfolio = greedy_run(preset)
    assert result.violations == 0
    assert check_audit(result.audit, rules, portfolio) == []
    blocked = result.blocked_by_rule
    assert result.summary["blocked"] == sum(blocked.values()) > 0
    for rule in ("contact_hours", "visit_min_dpd", "visit_gap", "third_party", "unvetted_agency"):
        assert blocked[rule] > 0, rule
    log = result.audit
    # Our own count from the log, independent of the engine and of check_audit.
    if rules.max_attempts_per_day is not None:
        assert blocked["attempts_per_day"] > 0
        assert per_account_day(log, ("call", "ivr")).max() <= rules.max_attempts_per_day
    if rules.max_connected_per_day is not None:
        counts = per_account_day(log, ("call", "ivr"), log["connected"])
        assert counts.max() <= rules.max_connected_per_day
    contact = (log["outcome"] == 0) & np.isin(
        log["action"], [ACTION_CODE[a] for a in ("sms", "ivr", "call")]
    )
    assert np.all(log["hour"][contact] >= rules.contact_start_hour)
    assert np.all(log["hour"][contact] < rules.contact_end_hour)
    visits = (log["outcome"] == 0) & (log["action"] == ACTION_CODE["visit"])
    assert visits.sum() == result.summary["visits"] > 0
    assert np.all(log["dpd"][visits] >= rules.visit_min_dpd)
    assert not portfolio.vulnerable[log["account"][visits]].any()
    assert np.all(log["until"][visits] <= rules.visit_end_hour)
    assert not np.any((log["outcome"] == 0) & (log["action"] == ACTION_CODE["third_party"]))
    # Blocked counts in the summary are the log's.
    for rule, code in RULE_CODE.items():
        assert blocked[rule] == int(np.count_nonzero(log["outcome"] == code))


def test_loosened_rule_is_a_departure_and_its_visits_happen():
    strict, _, _ = greedy_run("cn")
    loose, rules, _ = greedy_run("cn", overrides={"visit_min_dpd": 30})
    assert loose.departures == ("visit_min_dpd: 30 is looser than the cn preset (90)",)
    assert loose.summary["departures"] == 1
    assert loose.blocked_by_rule["visit_min_dpd"] < strict.blocked_by_rule["visit_min_dpd"]
    log = loose.audit
    visits = (log["outcome"] == 0) & (log["action"] == ACTION_CODE["visit"])
    assert np.any(log["dpd"][visits] < 90)


def test_checker_finds_a_planted_breach():
    result, rules, portfolio = greedy_run("cn", n=200, days=10)
    log = {k: v.copy() for k, v in result.audit.items()}
    calls = np.flatnonzero((log["outcome"] == 0) & (log["action"] == ACTION_CODE["call"]))
    log["hour"][calls[0]] = 23.0
    log["until"][calls[0]] = 24.0
    assert [(b.rule, b.count) for b in check_audit(log, rules, portfolio)] == [
        ("contact_hours", 1)
    ]
    visit = np.flatnonzero((log["outcome"] == 0) & (log["action"] == ACTION_CODE["visit"]))
    log["dpd"][visit[:2]] = 10
    assert ("visit_min_dpd", 2) in [(b.rule, b.count) for b in check_audit(log, rules, portfolio)]


@settings(max_examples=examples(12), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    preset=st.sampled_from(sorted(PRESETS)),
    attempts=st.integers(1, 12),
    cap=st.integers(0, 5),
    start=st.integers(0, 12),
    seed=st.integers(0, 2**16),
)
def test_caps_never_exceeded_for_any_rules(preset, attempts, cap, start, seed):
    overrides = {"max_attempts_per_day": cap, "contact_start_hour": float(start)}
    rules, departures = resolve_rules(preset, overrides)
    rng = np.random.default_rng(seed)
    portfolio = flat_portfolio(150, dpd=rng.integers(1, 120, 150), seed=seed)
    policy = PolicySpec(
        name="p",
        rules=(
            LadderRule(action="call", attempts=attempts),
            LadderRule(action="ivr", attempts=attempts),
        ),
    )
    world = World(days=15, resources=GREEDY_RESOURCES)
    result = simulate(
        world,
        portfolio,
        LadderPolicy(policy, ("all",)),
        rules,
        seed=np.random.SeedSequence(seed),
        departures=departures,
        audit="full",
    )
    assert result.violations == 0
    assert check_audit(result.audit, rules, portfolio) == []
    assert per_account_day(result.audit, ("call", "ivr")).max() <= cap or cap == 0
    if cap == 0:
        assert result.summary["calls_performed"] == 0
