"""Tests written against the second set of planted bugs (tests/planted_bugs.py, issue 13 item
10): each pins a behaviour a realistic bug broke without any other test noticing. Small runs,
each compared with a count made from the audit log or by hand, not with the engine's formula.
"""

from __future__ import annotations

import numpy as np
from helpers import flat_portfolio

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.compliance import ACTION_CODE, RULE_CODE
from waifang.sim.engine import simulate


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
