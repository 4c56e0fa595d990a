"""Every rule of every preset is re-checked: in the full audit log and as actions happen.

1. For each rule of each preset, a breach planted in a clean log is counted by the
   independent re-check (:func:`waifang.sim.audit.check_audit`), exactly once.
2. For each rule, an engine whose enforcement of that rule is removed (a planted bug) reports
   the breaches in the default "counts" audit mode too, by rule.
3. Random ladders, presets and overrides on small books: the full audit log holds 0 breaches.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from helpers import examples, flat_portfolio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import waifang.sim.compliance as compliance_module
import waifang.sim.resources as resources_module
from waifang.sim import PRESETS, LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.audit import check_audit
from waifang.sim.compliance import ACTION_CODE, AuditLog
from waifang.sim.engine import simulate
from waifang.sim.rules import RULES, ComplianceRules
from waifang.sim.spec import (
    BehaviourSpec,
    CallCentreSpec,
    ContactSpec,
    RegionSpec,
    ResourcesSpec,
    Shift,
    TreatmentsSpec,
)

VETTED = World()
UNVETTED = World(resources=ResourcesSpec(agency_vetted=False))


# ------------------------------------------------------------------ 1. planted in a log
def _portfolio():
    p = flat_portfolio(10, dpd=50)
    p.vulnerable[9] = True
    return p


def _row(account, day, action, hour, until=None, connected=False, dpd=50, flags=0, collectors=0):
    return {
        "account": account,
        "day": day,
        "hour": hour,
        "until": hour if until is None else until,
        "action": ACTION_CODE[action],
        "outcome": 0,
        "connected": connected,
        "dpd": dpd,
        "flags": flags,
        "collectors": collectors,
    }


def clean_rows() -> list[dict]:
    """One lawful action of each kind, under every preset."""
    return [
        _row(0, 0, "sms", 10.0),
        _row(1, 0, "call", 9.0, 10.0),
        _row(2, 0, "ivr", 11.0),
        _row(3, 0, "visit_notice", 0.0),
        _row(9, 0, "visit_notice", 0.0),
        _row(3, 20, "visit", 10.0, 11.0, dpd=120, collectors=2),
        _row(4, 0, "legal", 9.0),
        _row(5, 0, "agency", 9.0),
        _row(5, 0, "agency_contact", 14.5),
    ]


def as_log(rows: list[dict]) -> dict[str, np.ndarray]:
    types = {
        "account": np.int64,
        "day": np.int32,
        "hour": np.float32,
        "until": np.float32,
        "action": np.int8,
        "outcome": np.int8,
        "connected": bool,
        "dpd": np.int16,
        "flags": np.int8,
        "collectors": np.int8,
    }
    assert set(types) == set(AuditLog.COLUMNS)
    return {c: np.array([r[c] for r in rows], dtype=t) for c, t in types.items()}


def _edit(action: str, **changes) -> Callable[[list[dict], ComplianceRules], None]:
    def plant(rows, rules):
        row = next(r for r in rows if r["action"] == ACTION_CODE[action])
        for key, value in changes.items():
            row[key] = value(row, rules) if callable(value) else value

    return plant


def _add_calls(count: int, days=None, connected=False):
    def plant(rows, rules):
        for k in range(count):
            day = 0 if days is None else days(k)
            rows.append(_row(1, day, "call", 12.0, 13.0, connected=connected))

    return plant


def _quiet(rows, rules):
    rows[1]["connected"] = True
    rows.append(_row(1, rules.quiet_days_after_conversation, "call", 9.0, 10.0))


# rule -> (active under these rules?, plant the breach)
PLANTS: dict[str, tuple[Callable[[ComplianceRules], bool], Callable]] = {
    "contact_hours": (
        lambda r: r.contact_end_hour < 24,
        _edit("call", hour=lambda row, r: r.contact_end_hour, until=lambda row, r: 24.0),
    ),
    "attempts_per_day": (
        lambda r: r.max_attempts_per_day is not None,
        lambda rows, r: _add_calls(r.max_attempts_per_day)(rows, r),
    ),
    "connected_per_day": (
        lambda r: r.max_connected_per_day is not None,
        lambda rows, r: (
            _edit("call", connected=True)(rows, r),
            _add_calls(r.max_connected_per_day, connected=True)(rows, r),
        ),
    ),
    "attempts_per_7_days": (
        lambda r: r.max_attempts_per_7_days is not None,
        lambda rows, r: _add_calls(r.max_attempts_per_7_days, days=lambda k: 1 + k % 6)(rows, r),
    ),
    "quiet_after_conversation": (
        lambda r: r.quiet_days_after_conversation is not None,
        _quiet,
    ),
    "no_contact_hardship": (lambda r: r.no_contact_hardship, _edit("sms", flags=2)),
    "visit_hours": (
        lambda r: r.visit_start_hour > 0,
        _edit("visit", hour=lambda row, r: r.visit_start_hour - 0.5),
    ),
    "visit_min_dpd": (
        lambda r: r.visit_min_dpd > 0,
        _edit("visit", dpd=lambda row, r: r.visit_min_dpd - 1),
    ),
    "visit_gap": (
        lambda r: r.visit_min_gap_days > 1,
        lambda rows, r: rows.append(
            _row(3, 20 + r.visit_min_gap_days - 1, "visit", 10.0, 11.0, dpd=150, collectors=2)
        ),
    ),
    "visit_vulnerable": (lambda r: r.no_visit_vulnerable, _edit("visit", account=9)),
    "visit_disputed": (lambda r: r.no_visit_disputed, _edit("visit", flags=1)),
    "visit_hardship": (
        lambda r: r.no_visit_hardship or r.no_contact_hardship,
        _edit("visit", flags=2),
    ),
    "visit_collectors": (
        lambda r: r.min_collectors_per_visit > 1,
        _edit("visit", collectors=lambda row, r: r.min_collectors_per_visit - 1),
    ),
    "visit_notice": (
        lambda r: r.first_visit_notice_days > 0,
        _edit("visit_notice", day=lambda row, r: 20 - r.first_visit_notice_days + 1),
    ),
    "third_party": (lambda r: True, lambda rows, r: rows.append(_row(6, 3, "third_party", 0.0))),
    "unvetted_agency": (lambda r: r.vetted_agencies_only, lambda rows, r: None),
    "legal_disputed": (lambda r: r.no_legal_disputed, _edit("legal", flags=1)),
    "legal_vulnerable": (lambda r: r.no_legal_vulnerable, _edit("legal", flags=4)),
    "agency_disputed": (lambda r: r.no_agency_disputed, _edit("agency_contact", flags=1)),
}

CASES = [
    (preset, rule)
    for preset, rules in sorted(PRESETS.items())
    for rule in RULES
    if PLANTS[rule][0](rules)
]


def test_every_rule_has_a_plant():
    assert set(PLANTS) == set(RULES)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_the_clean_log_is_clean(preset):
    rules = PRESETS[preset]
    assert check_audit(as_log(clean_rows()), rules, _portfolio(), VETTED) == []
    assert check_audit(as_log(clean_rows()), rules, _portfolio(), UNVETTED) == [
        check_audit(as_log(clean_rows()), rules, _portfolio(), UNVETTED)[0]
    ]  # only the unvetted agency (its placement and its call)


@pytest.mark.parametrize(("preset", "rule"), CASES)
def test_a_planted_breach_is_counted(preset, rule):
    rules = PRESETS[preset]
    rows = clean_rows()
    PLANTS[rule][1](rows, rules)
    world = UNVETTED if rule == "unvetted_agency" else VETTED
    found = {b.rule: b.count for b in check_audit(as_log(rows), rules, _portfolio(), world)}
    assert found == {rule: 2 if rule == "unvetted_agency" else 1}


# ------------------------------------------------------------------ 2. counts mode
# Everything at once, so that every rule refuses something: calls round the clock, IVR, SMS,
# visits from 30 dpd by one-collector teams in one region, hardship plans, legal and agency,
# complaints that open disputes, vulnerable borrowers, third-party contact.
SINK_POLICY = PolicySpec(
    name="sink",
    rules=(
        LadderRule(action="call", dpd_min=1, attempts=12),
        LadderRule(action="ivr", dpd_min=1, attempts=3),
        LadderRule(action="sms", dpd_min=1),
        LadderRule(action="visit", dpd_min=30),
        LadderRule(action="visit", dpd_min=100, during_hardship=True),
        LadderRule(action="third_party", dpd_min=60),
        LadderRule(action="hardship", dpd_min=100, dpd_max=100),
        LadderRule(action="legal", dpd_min=60, during_hardship=True),
        LadderRule(action="agency", dpd_min=60, during_hardship=True),
    ),
)


def sink_world(vetted: bool = True, collectors: int = 2) -> World:
    regions = (
        RegionSpec(
            name="north", teams=20, start_hour=6, end_hour=23, collectors_per_team=collectors
        ),
    )
    return World(
        days=30,
        behaviour=BehaviourSpec(dispute_share=0.5, dispute_days=5),
        treatments=TreatmentsSpec(
            call=ContactSpec(cost=1.0, connect_probability=0.5, complaint_probability=0.05)
        ),
        resources=ResourcesSpec(
            call_centre=CallCentreSpec(
                shifts=(Shift(start_hour=0, end_hour=24, agents=500),), attempts_per_hour=100
            ),
            regions=regions,
            agency_vetted=vetted,
        ),
    )


def sink_run(preset, world=None, audit="counts", seed=3):
    rng = np.random.default_rng(seed)
    p = flat_portfolio(
        400, dpd=rng.integers(1, 170, 400), vulnerable_share=0.15, seed=seed, regions=("north",)
    )
    rules, _ = resolve_rules(preset)
    policy = LadderPolicy(SINK_POLICY, p.segment_names)
    world = world or sink_world()
    result = simulate(world, p, policy, rules, seed=np.random.SeedSequence(seed), audit=audit)
    return result, rules, p, world


def _drop_rule(monkeypatch, rule):
    original = compliance_module._first_refusal

    def lenient(n, checks):
        return original(n, [(r, refused) for r, refused in checks if r != rule])

    monkeypatch.setattr(compliance_module, "_first_refusal", lenient)


def _plant_engine_bug(monkeypatch, rule):
    """Remove the engine's enforcement of ``rule``, as a bug would."""
    if rule == "contact_hours":
        monkeypatch.setattr(compliance_module, "in_contact_hours", lambda *a: True)
        monkeypatch.setattr(resources_module, "in_contact_hours", lambda *a: True)
    elif rule == "visit_hours":
        original = resources_module.FieldRegion.__init__

        def late_teams(self, ctx, code, spec):
            original(self, ctx, code, spec)
            # The teams' hours, not the rules': a trip may begin before the rules' start or
            # end after their end.
            self.start, self.end = spec.start_hour, spec.end_hour

        monkeypatch.setattr(resources_module.FieldRegion, "__init__", late_teams)
        _drop_rule(monkeypatch, rule)
    elif rule in ("third_party", "unvetted_agency"):

        def perform_anyway(self, action, idx, hour, reason):
            self.audit.record(self.day, action, idx, hour, np.zeros(idx.size, np.int8))

        monkeypatch.setattr(compliance_module.Compliance, "block_all", perform_anyway)
    else:
        _drop_rule(monkeypatch, rule)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_the_sink_makes_every_active_rule_refuse_and_breaks_none(preset):
    result, rules, p, world = sink_run(preset, audit="full")
    assert result.violations == 0 and check_audit(result.audit, rules, p, world) == []
    # Collectors and vetting are refused only in worlds built for it (see below); a team
    # plans its trips inside the allowed hours, so the visit-hours check never refuses.
    for rule, (active, _) in PLANTS.items():
        if active(rules) and rule not in ("visit_collectors", "unvetted_agency", "visit_hours"):
            assert result.blocked_by_rule[rule] > 0, rule


@pytest.mark.parametrize(("preset", "rule"), CASES)
def test_counts_mode_catches_an_engine_that_stops_enforcing(monkeypatch, preset, rule):
    world = sink_world(
        vetted=rule != "unvetted_agency", collectors=1 if rule == "visit_collectors" else 2
    )
    clean, rules, _, _ = sink_run(preset, world)
    assert clean.violations == 0
    assert clean.blocked_by_rule[rule] > 0 or rule == "visit_hours"
    _plant_engine_bug(monkeypatch, rule)
    broken, rules, p, _ = sink_run(preset, world)
    breaches = broken.extra["breaches_by_rule"]
    assert broken.violations > 0 and breaches.get(rule, 0) > 0, breaches


# ------------------------------------------------------------------ 3. property
@settings(max_examples=examples(10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    preset=st.sampled_from(sorted(PRESETS)),
    rungs=st.lists(
        st.tuples(
            st.sampled_from(
                ["sms", "ivr", "call", "visit", "legal", "agency", "hardship", "freeze"]
            ),
            st.integers(1, 150),
            st.integers(1, 5),
            st.integers(1, 6),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
    overrides=st.fixed_dictionaries(
        {},
        optional={
            "max_attempts_per_day": st.integers(0, 6),
            "max_attempts_per_7_days": st.integers(0, 12),
            "quiet_days_after_conversation": st.integers(0, 7),
            "contact_start_hour": st.sampled_from([7.0, 8.0, 9.5]),
            "contact_end_hour": st.sampled_from([18.0, 20.5, 22.0]),
            "visit_min_dpd": st.integers(0, 120),
            "visit_min_gap_days": st.integers(0, 40),
            "first_visit_notice_days": st.integers(0, 10),
            "no_contact_hardship": st.booleans(),
            "no_legal_vulnerable": st.booleans(),
        },
    ),
    seed=st.integers(0, 2**16),
)
def test_random_ladders_leave_no_breach_in_the_full_log(preset, rungs, overrides, seed):
    rules, departures = resolve_rules(preset, overrides)
    ladder = PolicySpec(
        name="random",
        rules=tuple(
            LadderRule(
                action=action,
                dpd_min=dpd_min,
                every_days=every,
                attempts=attempts,
                during_hardship=during,
            )
            for action, dpd_min, every, attempts, during in rungs
        ),
    )
    rng = np.random.default_rng(seed)
    p = flat_portfolio(200, dpd=rng.integers(1, 170, 200), vulnerable_share=0.1, seed=seed)
    world = sink_world().model_copy(
        update={
            "days": 20,
            "resources": sink_world().resources.model_copy(
                update={"regions": tuple(RegionSpec(name=n) for n in p.region_names)}
            ),
        }
    )
    result = simulate(
        world,
        p,
        LadderPolicy(ladder, p.segment_names),
        rules,
        seed=np.random.SeedSequence(seed),
        departures=departures,
        audit="full",
    )
    assert check_audit(result.audit, rules, p, world) == []
    assert result.violations == 0, result.extra["breaches_by_rule"]
