"""Legal action and agency placement as options beside the visit (issue 6 item 3).

Their values come from the simulator as the visit's do, and are checked the same way
(against one-account-at-a-time brute force on the whole book, with the real courts and
agency); the plans keep the budget, the free court and agency places and the rules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import test_optimised_policy as top
from helpers import best_plan_value, one_at_a_time, random_visit_table
from test_fork_values import SMALL, _pooled_se, _z

from waifang.optimise.options import free_places, top_visits
from waifang.optimise.problem import Capacity
from waifang.optimise.values import LEVELS, ValueModel, treatment_effects
from waifang.scenarios.cli import main
from waifang.scenarios.runner import build_portfolio
from waifang.scenarios.schema import load_scenario
from waifang.sim.eligible import escalation_allowed
from waifang.sim.fork import checkpoints
from waifang.sim.policy import LadderPolicy

OPTIONS = ["visit", "legal", "agency"]
_RAW = top._raw


def _raw_without_legal():
    raw = _RAW()
    # An agency that collects well enough to be worth a placement (the default's share,
    # after its contingency fee, is worth less than the ladder's own calls).
    raw.setdefault("treatments", {})["agency"] = {"daily_hazard": 0.02}
    for policy in raw["policies"][1:]:
        policy["rules"] = [r for r in policy["rules"] if r["action"] != "legal"]
    return raw


def _run_options(changes, raw=_raw_without_legal):
    saved = top._raw
    top._raw = raw
    try:
        return top._run("optimised", {"options": OPTIONS, **changes})
    finally:
        top._raw = saved


@pytest.fixture(scope="module")
def with_options():
    return _run_options({})


@pytest.mark.parametrize("option", ["legal", "agency"])
def test_pooled_escalation_values_agree_with_one_account_at_a_time(option):
    scenario = load_scenario(SMALL)
    portfolio = build_portfolio(scenario, np.random.default_rng(1)).subset(np.arange(600))
    rules, _ = scenario.rules_for(0)
    spec = scenario.policies[0]
    base = LadderPolicy(spec.model_copy(update={"rules": tuple(
        r for r in spec.rules if r.action not in ("visit", "legal"))}), portfolio.segment_names)
    world = scenario.world()
    (cp,) = checkpoints(world, portfolio, base, rules, seed=np.random.SeedSequence(5), days=[8])
    every = np.arange(cp.n)
    allowed = every[(cp.view.dpd >= 60) & escalation_allowed(rules, cp.view, every, 8, option)]
    assert allowed.size > 40
    effects = treatment_effects(cp, allowed, base, option=option, reps=6, horizon=None,
                                seed=np.random.SeedSequence(77))
    model = ValueModel.fit(effects.frame(), levels=LEVELS[-3:], min_accounts=15)
    picked = np.random.default_rng(0).choice(allowed, 10, replace=False)
    # The whole book, the real courts and agency, one account treated at a time.
    brute = one_at_a_time(cp, base, picked, option)
    brute += effects.cost[np.searchsorted(allowed, picked)][:, None]
    frame = effects.frame().set_index("account").loc[picked].reset_index()
    value, se, level = model.predict(frame)
    assert np.abs(brute).sum() > 0  # the option does something
    assert abs(_z(value, _pooled_se(model, frame, se, level), brute)) < 3


def test_plans_with_escalations_keep_the_budget_the_places_and_the_rules(with_options):
    scenario, portfolio, rules, result = with_options
    world = scenario.world()
    plans = result.extra["plans"]
    chosen = {o: 0 for o in OPTIONS}
    for plan in plans:
        assert plan.options is not None and len(plan.options) == plan.accounts.size
        assert len(np.unique(plan.accounts)) == plan.accounts.size  # one option per account
        assert plan.cost.sum() <= 3000.0 + 1e-9
        fee = world.treatments.legal.fee
        assert np.allclose(plan.cost[plan.options == "legal"], fee)
        assert np.allclose(plan.cost[plan.options == "agency"], 0.0)
        for o in OPTIONS:
            chosen[o] += int((plan.options == o).sum())
    assert chosen["visit"] > 0 and chosen["agency"] > 0
    s = result.summary
    assert s["plan_agency"] == chosen["agency"] and s["plan_legal"] == chosen["legal"]
    assert s["agency_placements"] >= chosen["agency"] > 0
    # Nothing refused by any rule; visits cancelled by the lender counted as its views show.
    blocked = {k: v for k, v in s.items() if k.startswith("blocked_") and v}
    assert not blocked, blocked
    top.check_no_planned_visit_refused(result)


def test_agency_places_bound_the_plans():
    def small_agency():
        raw = _raw_without_legal()
        raw.setdefault("resources", {})["agency_capacity"] = 6
        return raw

    scenario, portfolio, rules, result = _run_options({}, raw=small_agency)
    plans = result.extra["plans"]
    placed = [int((p.options == "agency").sum()) for p in plans]
    assert sum(placed) > 6 and max(placed) <= 6  # places free up as placed accounts pay
    # Every planned placement found a place on its day: none waited, all were made.
    assert result.summary["agency_waiting"] == 0
    assert result.summary["agency_placements"] == sum(placed)


def test_free_places_count_cases_and_placements():
    scenario = load_scenario(SMALL)
    portfolio = build_portfolio(scenario, np.random.default_rng(1)).subset(np.arange(400))
    rules, _ = scenario.rules_for(0)
    spec = scenario.policies[0]
    agency = spec.rules[0].model_copy(update={"action": "agency", "dpd_min": 60,
                                              "dpd_max": 179, "every_days": 30})
    ladder = LadderPolicy(spec.model_copy(update={"rules": (*spec.rules, agency)}),
                          portfolio.segment_names)
    world = scenario.world()
    (cp,) = checkpoints(world, portfolio, ladder, rules, seed=np.random.SeedSequence(3),
                        days=[40])
    view = cp.view
    assert view.in_legal.any() and (view.placed_until >= 40).any()
    cases = sum(1 for i in range(cp.n) if view.in_legal[i] and view.status[i] in (0, 2))
    placed = sum(1 for i in range(cp.n) if view.placed_until[i] >= 40)
    free = free_places(view, 40, world)
    assert free == {"legal": world.resources.legal_capacity - cases,
                    "agency": world.resources.agency_capacity - placed}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cutting_visits_beside_escalations_loses_nothing(seed):
    rng = np.random.default_rng(seed)
    n = 300
    visits = random_visit_table(rng, n)
    legal = visits.sample(frac=0.5, random_state=seed).assign(
        option="legal", cost=800.0, hours=0.0)
    legal["value"] = 800.0 + rng.exponential(500.0, len(legal))
    agency = visits.sample(frac=0.5, random_state=seed + 10).assign(option="agency", cost=0.0,
                                                                   hours=0.0)
    agency["value"] = rng.exponential(300.0, len(agency))
    table = pd.concat([visits, legal, agency], ignore_index=True)
    hours_left = np.array([40.0, 70.0, 500.0])
    budget = 20_000.0
    free = {"legal": 4.0, "agency": 7.0}

    def best(frame):
        caps = [Capacity(str(r), "visit", hours_limit=float(hours_left[r])) for r in range(3)]
        caps += [Capacity(None, "legal", limit=free["legal"]),
                 Capacity(None, "agency", limit=free["agency"])]
        return best_plan_value(frame, caps, budget)

    cut = top_visits(table, hours_left, budget, free)
    assert (cut["option"] == "visit").sum() < n / 2
    assert best(cut) == pytest.approx(best(table), rel=1e-9)


def _options_text(extra_resources: str) -> str:
    """The test scenario with the optimised policy offered legal and agency (and its ladder
    without legal), plus ``extra_resources`` lines in a [resources] table."""
    text = top.OPTIMISED.read_text()
    head, tail = text.split('name = "optimised"', 1)
    tail = tail.replace("period_days = 7, budget_per_period = 3000.0, training",
                        'period_days = 7, budget_per_period = 3000.0, options = ["visit", '
                        '"legal", "agency"], training')
    tail = tail.replace('  { action = "legal", dpd_min = 120, dpd_max = 179, every_days = 30, '
                        'min_balance = 20000.0 },\n', "")
    text = head + 'name = "optimised"' + tail
    return text.replace("[resources.call_centre]", f"[resources]\n{extra_resources}\n\n"
                        "[resources.call_centre]")


@pytest.mark.parametrize("extra, message", [
    ("legal_capacity = 0", "'legal' has no capacity: resources.legal_capacity is 0"),
    ("agency_capacity = 0", "'agency' has no capacity: resources.agency_capacity is 0"),
    ("agency_vetted = false", "'agency' has no capacity: the rules allow only vetted agencies"),
])
def test_an_escalation_option_without_capacity_is_refused(tmp_path, capsys, extra, message):
    path = tmp_path / "bad.toml"
    path.write_text(_options_text(""))
    assert main(["validate", str(path)]) == 0  # the file itself is good
    capsys.readouterr()
    path.write_text(_options_text(extra))
    code = main(["validate", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1, err
    assert "policies[2].optimiser.options" in err and message in err


@pytest.mark.parametrize("option", ["legal", "agency"])
def test_escalation_candidates_are_exactly_those_the_engine_accepts(option):
    """Ask the engine (a one-day branch with open courts and agency) for the option on every
    delinquent account, and on the candidates only: it performs exactly the candidates."""
    from waifang.optimise.options import escalation_candidates

    scenario = load_scenario(SMALL)
    portfolio = build_portfolio(scenario, np.random.default_rng(4)).subset(np.arange(1500))
    rules, _ = scenario.rules_for(0)
    rules = rules.model_copy(update={"no_legal_vulnerable": True})
    spec = scenario.policies[0]
    ladder = LadderPolicy(spec, portfolio.segment_names)  # some already filed or placed
    world = scenario.world()
    (cp,) = checkpoints(world, portfolio, ladder, rules, seed=np.random.SeedSequence(9),
                        days=[40])
    view = cp.view
    table = escalation_candidates(view, 40, option, 0, world, rules, None,
                                  scenario.region_names())
    chosen = table["account"].to_numpy()
    everyone = np.flatnonzero(view.status == 0)
    assert 0 < chosen.size < everyone.size
    refused = np.setdiff1d(everyone, chosen)
    if option == "legal":  # the refusals include accounts the rules protect
        assert (view.vulnerable[refused] & ~view.in_legal[refused]).any()
    quiet = LadderPolicy(spec.model_copy(update={"rules": ()}), portfolio.segment_names)

    def performed(accounts):
        branch = cp.branch(quiet, extra={option: accounts}, until=41,
                           seed=np.random.SeedSequence(1), unlimited_escalation=True)
        return branch.performed.get(option, 0)

    assert performed(chosen) == chosen.size
    assert performed(everyone) == chosen.size
