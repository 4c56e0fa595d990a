"""Common random numbers where they matter: an account's luck is its own.

Two policies run on the same seed see the same borrower luck, so an account the two policies
treat the same way must end the same way under both, whatever the policies did to other
accounts; and an action with no effect must leave every other figure unchanged. Both fail as
soon as a random stream is consumed in an order or amount that depends on the policy (a
sequential stream for contact outcomes did exactly that: one extra visit shifted every later
call's luck).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, PortfolioSpec, World, resolve_rules
from waifang.sim.compliance import ACTION_CODE
from waifang.sim.engine import simulate
from waifang.sim.portfolio import generate_portfolio
from waifang.sim.spec import (
    BehaviourSpec,
    CallCentreSpec,
    ContactSpec,
    RegionSpec,
    ResourcesSpec,
    Shift,
    TreatmentsSpec,
    VisitSpec,
)

REGIONS = ("north", "east", "south", "west", "central")

LADDER = (
    LadderRule(action="sms", dpd_min=1, dpd_max=20, every_days=3),
    LadderRule(action="ivr", dpd_min=5, dpd_max=30, every_days=4, attempts=2),
    LadderRule(action="call", dpd_min=10, dpd_max=120, every_days=2, attempts=2),
    LadderRule(action="freeze", dpd_min=30, dpd_max=179),
    LadderRule(action="legal", dpd_min=120, dpd_max=179, every_days=30, min_balance=4000),
    LadderRule(action="agency", dpd_min=150, dpd_max=179, every_days=30),
    LadderRule(action="agency", charged_off=True, dpd_min=1, dpd_max=60, every_days=30),
    LadderRule(action="sale", dpd_min=0, every_days=1, min_balance=1e9),  # asks, sells none
)


def generous(days: int, behaviour: BehaviourSpec | None = None, **treatments) -> World:
    """Capacity that never binds: what one account gets cannot depend on another's demand."""
    resources = ResourcesSpec(
        call_centre=CallCentreSpec(shifts=(Shift(start_hour=9, end_hour=21, agents=2000),)),
        regions=tuple(RegionSpec(name=n, teams=500) for n in REGIONS),
        legal_capacity=1_000_000,
        agency_capacity=1_000_000,
    )
    return World(
        days=days,
        charge_off_dpd=150,
        behaviour=behaviour or BehaviourSpec(),
        treatments=TreatmentsSpec(**treatments),
        resources=resources,
    )


def book(n: int, seed: int):
    return generate_portfolio(PortfolioSpec(accounts=n), REGIONS, np.random.default_rng(seed))


def run(world, portfolio, policy, preset="cn", seed=7):
    rules, _ = resolve_rules(preset)
    return simulate(world, portfolio, policy, rules, seed=np.random.SeedSequence(seed))


def outcome(result) -> dict[str, np.ndarray]:
    s, b = result.extra["state"], result.extra["borrowers"]
    return {
        "collected_cents": s.collected_cents,
        "balance_cents": s.balance_cents,
        "written_off_cents": s.written_off_cents,
        "status": s.status,
        "dpd": s.dpd,
        "complaints": s.complaints,
        "promise_due": s.promise_due,
        "cured_ever": b.cured_ever,
        "charged_off_ever": b.charged_off_ever,
    }


VISIT_FIGURES = {
    "visits",
    "cost_visit",
    "cost_total",
    "cost_npv",
    "net_npv",
    "net_value",
    "net_npv_without_cover",
    "net_value_without_cover",
    "blocked",
    "visits_dropped",
    "visits_waiting",
    "visits_called_off",
}


def test_a_visit_with_no_effect_changes_no_other_figure():
    # The visit lifts nothing, promises nothing and draws no complaint; complaint intensity is
    # off because a visit does count as a recent contact (a real effect, not luck).
    world = generous(
        120,
        behaviour=BehaviourSpec(complaint_intensity=0.0),
        visit=VisitSpec(lift=0.0, promise_probability=0.0, complaint_probability=0.0),
    )
    p = book(2500, 3)
    base = PolicySpec(name="base", rules=LADDER)
    visits = PolicySpec(
        name="visits", rules=(*LADDER, LadderRule(action="visit", dpd_min=90, every_days=10))
    )
    a = run(world, p, LadderPolicy(base, p.segment_names))
    b = run(world, p, LadderPolicy(visits, p.segment_names))
    assert b.summary["visits"] > 100 and a.summary["visits"] == 0
    # The ladder's contacts drew promises and complaints that the visits could have shifted.
    assert a.summary["complaints"] > 0 and a.extra["promises_made"] > 100
    for key, value in a.summary.items():
        if key in VISIT_FIGURES or key.startswith("blocked_visit"):
            continue
        assert b.summary[key] == value, key
    for key in ("promises_made", "promises_kept", "promises_broken", "redefaults"):
        assert a.extra[key] == b.extra[key], key
    for key, column in a.daily.items():
        if key in ("actions_visit", "cost", "blocked") or key.startswith("visits_"):
            continue
        np.testing.assert_array_equal(column, b.daily[key], err_msg=key)
    for key, values in outcome(a).items():
        np.testing.assert_array_equal(values, outcome(b)[key], err_msg=key)


class MoreCallsForSome:
    """The ladder, plus extra call attempts, SMS and IVR for the accounts in ``chosen``."""

    def __init__(self, ladder: LadderPolicy, chosen: np.ndarray) -> None:
        self.ladder, self.chosen = ladder, chosen

    def __call__(self, view, day):
        requests = dict(self.ladder(view, day))
        live = self.chosen[view.status[self.chosen] == 0]
        extra = live[view.dpd[live] % 3 == 0]
        calls = requests.get("call", (np.zeros(0, np.int64), np.zeros(0, np.int16)))
        idx = np.concatenate([extra, calls[0]])  # duplicates: the first (extra) wins
        attempts = np.concatenate([np.full(extra.size, 4, np.int16), calls[1]])
        requests["call"] = (idx, attempts)
        requests["sms"] = np.union1d(requests.get("sms", np.zeros(0, np.int64)), extra)
        late = live[view.dpd[live] >= 90]
        requests["visit"] = np.union1d(requests.get("visit", np.zeros(0, np.int64)), late)
        ivr = requests.get("ivr", (np.zeros(0, np.int64), np.zeros(0, np.int16)))
        idx = np.concatenate([extra, ivr[0]])
        requests["ivr"] = (idx, np.concatenate([np.full(extra.size, 3, np.int16), ivr[1]]))
        return requests


@pytest.mark.parametrize("preset", ["cn", "us_reg_f"])
def test_accounts_treated_alike_end_alike(preset):
    """Half the accounts get many more contacts under the second policy; the other half are
    treated identically by both, so they must end identically: same payments, cures,
    charge-offs, promises and complaints, account by account."""
    world = generous(120)
    p = book(3000, 5)
    rules = (*LADDER, LadderRule(action="visit", dpd_min=90, every_days=20))
    ladder = LadderPolicy(PolicySpec(name="ladder", rules=rules), p.segment_names)
    chosen = np.arange(0, len(p), 2)
    a = run(world, p, ladder, preset)
    b = run(world, p, MoreCallsForSome(ladder, chosen), preset)
    assert b.summary["calls_performed"] > a.summary["calls_performed"] + 1000
    assert b.summary["visits"] > a.summary["visits"] > 50
    same = np.ones(len(p), bool)
    same[chosen] = False
    out_a, out_b = outcome(a), outcome(b)
    # The extra contacts changed the accounts that received them ...
    assert not np.array_equal(out_a["collected_cents"][~same], out_b["collected_cents"][~same])
    # ... and no other account.
    for key in out_a:
        np.testing.assert_array_equal(out_a[key][same], out_b[key][same], err_msg=key)
    assert out_a["cured_ever"][same].sum() > 100  # not a vacuous comparison


def test_same_call_luck_whichever_hour_the_call_is_made():
    """An account's n-th call attempt of a day has the same outcome whether the call centre
    reaches it at 09:00 or hours later (here: one agent, a queue of larger balances ahead)."""
    quiet = generous(1, call=ContactSpec(cost=1.0, connect_probability=0.5))
    crowded = quiet.model_copy(
        update={
            "resources": quiet.resources.model_copy(
                update={
                    "call_centre": CallCentreSpec(
                        shifts=(Shift(start_hour=9, end_hour=21, agents=1),),
                        attempts_per_hour=60,
                    )
                }
            )
        }
    )
    p = book(1000, 9)
    policy = LadderPolicy(
        PolicySpec(name="c", rules=(LadderRule(action="call", dpd_min=1),)), p.segment_names
    )
    rules, _ = resolve_rules("cn")
    seed = np.random.SeedSequence(3)
    a = simulate(quiet, p, policy, rules, seed=seed, audit="full").audit
    b = simulate(crowded, p, policy, rules, seed=seed, audit="full").audit
    call = ACTION_CODE["call"]
    done_a = (a["action"] == call) & (a["outcome"] == 0)
    done_b = (b["action"] == call) & (b["outcome"] == 0)
    hours_b = np.unique(b["hour"][done_b])
    assert hours_b.size > 5 and np.unique(a["hour"][done_a]).size == 1  # spread vs one hour
    answered_a = dict(zip(a["account"][done_a], a["connected"][done_a], strict=True))
    answered_b = dict(zip(b["account"][done_b], b["connected"][done_b], strict=True))
    assert 300 < len(answered_b) < len(answered_a)
    assert 0.3 < np.mean(list(answered_b.values())) < 0.7
    assert all(answered_a[k] == v for k, v in answered_b.items())


class ExtraFor:
    """The ladder, plus one more action for the accounts in ``chosen`` on some days."""

    def __init__(self, ladder, chosen: np.ndarray, action: str, attempts: int, every: int):
        self.ladder, self.chosen = ladder, chosen
        self.action, self.attempts, self.every = action, attempts, every

    def __call__(self, view, day):
        requests = dict(self.ladder(view, day))
        if day % self.every:
            return requests
        extra = self.chosen[np.isin(view.status[self.chosen], (0, 2))]
        old = requests.get(self.action)
        if self.action in ("call", "ivr"):
            old = old if old is not None else (np.zeros(0, np.int64), np.zeros(0, np.int16))
            idx = np.concatenate([extra, old[0]])
            att = np.concatenate([np.full(extra.size, self.attempts, np.int16), old[1]])
            requests[self.action] = (idx, att)
        else:
            requests[self.action] = extra if old is None else np.union1d(old, extra)
        return requests


@settings(max_examples=examples(6), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    preset=st.sampled_from(["cn", "us_reg_f", "uk_fca", "us_ma"]),
    action=st.sampled_from(["sms", "ivr", "call", "visit", "legal", "agency", "freeze"]),
    attempts=st.integers(1, 4),
    every=st.integers(1, 7),
    share=st.floats(0.1, 0.9),
    seed=st.integers(0, 2**16),
)
def test_untouched_accounts_keep_their_luck(preset, action, attempts, every, share, seed):
    """Whatever extra action a second policy takes on some accounts, on whatever days, the
    accounts it does not touch end exactly as under the first policy."""
    world = generous(60)
    p = book(800, seed)
    rules = (*LADDER, LadderRule(action="visit", dpd_min=90, every_days=20))
    ladder = LadderPolicy(PolicySpec(name="ladder", rules=rules), p.segment_names)
    chosen = np.flatnonzero(np.random.default_rng(seed).random(len(p)) < share)
    a = run(world, p, ladder, preset, seed=seed)
    b = run(world, p, ExtraFor(ladder, chosen, action, attempts, every), preset, seed=seed)
    same = np.ones(len(p), bool)
    same[chosen] = False
    out_a, out_b = outcome(a), outcome(b)
    for key in out_a:
        np.testing.assert_array_equal(out_a[key][same], out_b[key][same], err_msg=key)
