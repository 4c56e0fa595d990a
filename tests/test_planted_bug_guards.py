"""Guards for bugs that once passed the whole suite (issue #13's planted bugs): breathing
space stopping legal and agency escalation, common luck for accounts a policy never touches,
the frontier's slot price sign, and duplicate region names. Each test was checked by planting
its bug by hand (``python tests/planted_bugs.py``) and watching it fail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import flat_portfolio

from waifang.optimise.frontier import budget_frontier
from waifang.optimise.problem import Capacity, make_problem
from waifang.optimise.solve import solve
from waifang.scenarios.cli import main
from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.audit import check_audit
from waifang.sim.compliance import ACTION_CODE
from waifang.sim.engine import simulate
from waifang.sim.spec import TreatmentsSpec


def _performed(log, action):
    return (log["outcome"] == 0) & (log["action"] == ACTION_CODE[action])


# ------------------------------------------------------------------ breathing space (uk_fca)


@pytest.mark.parametrize("audit", ["full", "counts"])
def test_breathing_space_stops_legal_filings_and_agency_placements(audit):
    """Under uk_fca a hardship plan is breathing space: no contact and no escalation. The
    plans' days come from the log's own hardship records (a plan started on day h covers
    h .. h + hardship_days - 1); no legal filing or agency placement may fall in one."""
    plan_days = 12
    world = World(days=40, charge_off_dpd=180, treatments=TreatmentsSpec(hardship_days=plan_days))
    rng = np.random.default_rng(5)
    n = 400
    portfolio = flat_portfolio(n, dpd=rng.integers(60, 170, n), seed=5)
    policy = PolicySpec(
        name="escalate",
        rules=(
            # Escalation asked first, every day, also for accounts on a plan.
            LadderRule(action="legal", dpd_min=60, during_hardship=True),
            LadderRule(action="agency", dpd_min=60, during_hardship=True),
            LadderRule(action="hardship", dpd_min=60, every_days=7, max_balance=10_000),
        ),
    )
    rules, _ = resolve_rules("uk_fca")
    full = simulate(
        world, portfolio, LadderPolicy(policy, portfolio.segment_names), rules,
        seed=np.random.SeedSequence(8), audit="full",
    )
    log = full.audit
    plans = _performed(log, "hardship")
    on_plan = np.zeros((n, world.days), bool)
    for a, h in zip(log["account"][plans], log["day"][plans], strict=True):
        on_plan[a, h : h + plan_days] = True
    assert on_plan.any()
    for action in ("legal", "agency"):
        done = _performed(log, action)
        assert done.any(), f"no {action} at all: the test would pass on nothing"
        during = on_plan[log["account"][done], log["day"][done]]
        assert not during.any(), f"{int(during.sum())} {action} actions during breathing space"
    assert full.blocked_by_rule["no_contact_hardship"] > 0
    assert check_audit(log, rules, portfolio, world) == []
    # The default audit mode (counts only) reports the same: no breach, the same blocks.
    if audit == "counts":
        counts = simulate(
            world, portfolio, LadderPolicy(policy, portfolio.segment_names), rules,
            seed=np.random.SeedSequence(8),
        )
        assert counts.violations == 0
        assert counts.summary == full.summary


def test_the_audit_checker_flags_escalation_during_breathing_space():
    """Negative control for the checker behind ``violations`` in full-audit runs."""
    rules, _ = resolve_rules("uk_fca")
    portfolio = flat_portfolio(3)
    log = {
        "account": np.array([0, 1, 2]),
        "day": np.array([4, 4, 4], np.int32),
        "hour": np.full(3, 9.0, np.float32),
        "until": np.full(3, 9.0, np.float32),
        "action": np.array([ACTION_CODE["legal"], ACTION_CODE["agency"], ACTION_CODE["legal"]],
                           np.int8),
        "outcome": np.zeros(3, np.int8),
        "connected": np.zeros(3, bool),
        "dpd": np.full(3, 100, np.int16),
        "flags": np.array([2, 2, 0], np.int8),  # 2: on a hardship plan
    }
    breaches = check_audit(log, rules, portfolio)
    assert [(b.rule, b.count) for b in breaches] == [("no_contact_hardship", 2)]


# ------------------------------------------------------------------ common luck


def test_accounts_a_policy_never_touches_end_identically():
    """Common random numbers where they matter: a policy that calls only large balances must
    not change what happens to the small ones, day for day, on the same seed. A random stream
    whose consumption depends on which accounts are active breaks this."""
    n = 1500
    rng = np.random.default_rng(3)
    portfolio = flat_portfolio(n, dpd=rng.integers(1, 150, n), seed=3)
    portfolio = type(portfolio)(
        **{**portfolio.__dict__, "balance": np.round(rng.lognormal(7.5, 1.0, n), 2),
           "ability": rng.random(n).astype(np.float32)}
    )
    world = World(days=60)
    rules, _ = resolve_rules("cn")
    threshold = float(np.median(portfolio.balance))
    quiet = PolicySpec(name="quiet")
    busy = PolicySpec(
        name="busy",
        rules=(
            LadderRule(action="call", dpd_min=1, attempts=3, min_balance=threshold),
            LadderRule(action="sms", dpd_min=1, min_balance=threshold),
        ),
    )
    runs = [
        simulate(world, portfolio, LadderPolicy(p, ("all",)), rules,
                 seed=np.random.SeedSequence(77), audit="full")
        for p in (quiet, busy)
    ]
    touched = np.zeros(n, bool)
    touched[runs[1].audit["account"]] = True
    untouched = ~touched
    assert touched.sum() > 100 and untouched.sum() > 100
    a, b = (r.extra["state"] for r in runs)
    # The busy policy changed the accounts it touched...
    assert not np.array_equal(a.collected_cents[touched], b.collected_cents[touched])
    # ... and nothing else.
    for name in ("collected_cents", "written_off_cents", "status", "dpd", "chargeoff_day"):
        x, y = getattr(a, name)[untouched], getattr(b, name)[untouched]
        assert np.array_equal(x, y), f"{name} differs on {int((x != y).sum())} untouched accounts"
    ca, cb = (r.extra["borrowers"] for r in runs)
    assert np.array_equal(ca.cure_day[untouched], cb.cure_day[untouched])


# ------------------------------------------------------------------ frontier prices


def test_frontier_slot_price_is_the_gain_from_one_more_slot():
    """Four visits, two slots, budget to spare: one more slot buys the third-best visit
    (net 300 - 100 = 200), so the slot is worth +200 and the budget nothing."""
    frame = pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d"],
            "option": ["visit"] * 4,
            "region": ["north"] * 4,
            "value": [500.0, 400.0, 300.0, 200.0],
            "cost": [100.0] * 4,
        }
    )
    problem = make_problem(frame, [Capacity("north", "visit", 2)], budget=10_000)
    table = budget_frontier(problem, [10_000.0], option="visit", gap=1e-9)
    row = table.iloc[0]
    more = solve(make_problem(frame, [Capacity("north", "visit", 3)], budget=10_000), gap=1e-9)
    gain = more.objective - row["net_value"]
    assert gain == pytest.approx(200.0)
    assert row["slot_price[north]"] == pytest.approx(gain)
    assert row["budget_price"] == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------ cross-field validation


def test_two_regions_with_one_name_are_refused_by_validate_and_run(tmp_path, capsys):
    text = (
        (pytest.importorskip("pathlib").Path(__file__).parent / "data" / "small.toml")
        .read_text()
        .replace('name = "country"', 'name = "city"')
    )
    path = tmp_path / "twins.toml"
    path.write_text(text)
    for argv in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "o")]):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "twins.toml" in err[0] and "city" in err[0], err
    assert not (tmp_path / "o" / "summary.csv").exists()


def test_the_audit_checker_counts_attempts_over_the_daily_cap():
    """Negative control: seven call attempts in a day under cn (cap 6) is one too many."""
    rules, _ = resolve_rules("cn")
    portfolio = flat_portfolio(2)
    n = 7 + 6
    log = {
        "account": np.array([0] * 7 + [1] * 6),
        "day": np.full(n, 3, np.int32),
        "hour": np.arange(n, dtype=np.float32) % 7 + 9.0,
        "until": np.arange(n, dtype=np.float32) % 7 + 10.0,
        "action": np.full(n, ACTION_CODE["call"], np.int8),
        "outcome": np.zeros(n, np.int8),
        "connected": np.zeros(n, bool),
        "dpd": np.full(n, 40, np.int16),
        "flags": np.zeros(n, np.int8),
    }
    assert [(b.rule, b.count) for b in check_audit(log, rules, portfolio)] == [
        ("attempts_per_day", 1)
    ]


def test_greedy_fill_takes_the_best_first():
    """The repair step of the large path tops a plan up best ``order_key`` first."""
    from waifang.optimise.greedy import greedy_fill

    frame = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "option": ["visit"] * 3,
            "region": ["north"] * 3,
            "value": [300.0, 900.0, 600.0],
            "cost": [100.0] * 3,
        }
    )
    problem = make_problem(frame, [Capacity("north", "visit", 1)], budget=10_000)
    chosen = greedy_fill(problem, np.zeros(0, np.int64), candidates=np.arange(3),
                         order_key=problem.profit)
    assert problem.account_ids[problem.account[chosen]].tolist() == ["b"]
