"""The optimised policy inside the simulator: plans, compliance, budget, hours, bad input."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from waifang.optimise.policy import OptimisedPolicy, region_costs, team_hours
from waifang.scenarios.cli import main
from waifang.scenarios.optimised import run_optimised
from waifang.scenarios.runner import build_portfolio, run_replication
from waifang.scenarios.schema import load_scenario, scenario_from_dict
from waifang.sim.rng import replication_seeds
from waifang.sim.state import DELINQUENT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

OPTIMISED = Path(__file__).parent / "data" / "optimised.toml"


def _raw():
    return tomllib.loads(OPTIMISED.read_text())


def _run(name, changes=None):
    """Replication 0 of one optimised policy of the test scenario, with its plans.

    ``result.extra["queued_under_min_dpd"]`` counts, from what the policy saw each morning
    (before the day's requests), the queued visits of delinquent accounts below the rules'
    ``visit_min_dpd``: the visits the lender cancels that morning, counted apart from the
    engine (only the main run calls the optimised policy; training and probe branches run
    its base ladder)."""
    raw = _raw()
    index = [p["name"] for p in raw["policies"]].index(name)
    raw["policies"][index]["optimiser"].update(changes or {})
    scenario = scenario_from_dict(raw, OPTIMISED)
    portfolio_seed, run_seed = replication_seeds(scenario.seed, 0)
    portfolio = build_portfolio(scenario, np.random.default_rng(portfolio_seed))
    rules, departures = scenario.rules_for(index)
    under = []
    plain_call = OptimisedPolicy.__call__

    def watched(self, view, day):
        queued = view.visit_queued & (view.status == DELINQUENT)
        under.append(int((queued & (view.dpd < rules.visit_min_dpd)).sum()))
        return plain_call(self, view, day)

    OptimisedPolicy.__call__ = watched
    try:
        result = run_optimised(scenario, scenario.policies[index], portfolio, rules,
                               departures, 0, scenario.seed, run_seed, build_portfolio)
    finally:
        OptimisedPolicy.__call__ = plain_call
    assert len(under) == scenario.days  # called once a day, by the main run only
    result = dataclasses.replace(result, extra={**result.extra,
                                                "queued_under_min_dpd": sum(under)})
    return scenario, portfolio, rules, result


@pytest.fixture(scope="module")
def optimised():
    return _run("optimised")


def test_plans_keep_the_budget_and_each_regions_team_hours(optimised):
    scenario, portfolio, rules, result = optimised
    plans = result.extra["plans"]
    world = scenario.world()
    assert len(plans) == len(range(0, scenario.days, 7))
    _, hours, _ = region_costs(world)
    assert sum(p.accounts.size for p in plans) > 0
    for plan in plans:
        assert plan.cost.sum() <= 3000.0 + 1e-9
        capacity = team_hours(world, rules, min(7, world.days - plan.day))
        used = np.bincount(portfolio.region[plan.accounts], minlength=len(capacity)) * hours
        assert (used <= capacity + 1e-9).all()
        # Only accounts worth more than their cost are planned.
        assert (plan.value > plan.cost).all()


def check_no_planned_visit_refused(result):
    """Candidates come from the engine's own request-time check, so no planned visit is
    refused by a rule. A part payment while a visit waits in the queue can take the account
    back under the visit dpd (30 days per instalment): the lender then cancels the visit
    before a team leaves (``visits_cancelled``, nothing paid), so the rules refuse nothing.
    The cancellations are those the policy's own morning views show."""
    s = result.summary
    refused = {k: v for k, v in s.items() if k.startswith("blocked_visit") and v}
    assert not refused, refused
    assert s["violations"] == 0
    assert s["visits"] > 0
    assert s["visits_cancelled"] == result.extra["queued_under_min_dpd"]
    return s["visits_cancelled"]


def test_every_planned_visit_passes_the_rules(optimised):
    _, _, _, result = optimised
    check_no_planned_visit_refused(result)
    # A larger weekly budget queues more visits: this run does cancel some (2 of 76), so the
    # count is checked on real cases.
    _, _, _, busier = _run("optimised", {"budget_per_period": 4500.0})
    assert check_no_planned_visit_refused(busier) > 0


def test_visits_spend_no_more_than_the_plans(optimised):
    _, _, _, result = optimised
    s = result.summary
    assert s["cost_visit"] <= s["plan_cost"] + 1e-9
    assert s["plan_visits"] == sum(p.accounts.size for p in result.extra["plans"])


def test_predicted_and_realised_are_reported(optimised):
    _, _, _, result = optimised
    s = result.summary
    assert s["realised_plans"] > 0
    assert s["plan_realised_low"] <= s["plan_realised"] <= s["plan_realised_high"]
    assert np.isfinite(s["plan_predicted"]) and s["plan_predicted"] > 0


def test_every_other_plan_is_measured(optimised):
    """The probe measures plans 0, 2, 4, ... (realised_every = 2 by default), those with
    accounts to measure; the measured share of the predicted value is that of those plans."""
    scenario, _, _, result = optimised
    spec = scenario.policies[[p.name for p in scenario.policies].index("optimised")].optimiser
    assert spec.realised_every == 2
    plans = result.extra["plans"]
    measured = [p for k, p in enumerate(plans) if k % 2 == 0 and p.accounts.size]
    assert 0 < len(measured) < sum(p.accounts.size > 0 for p in plans)
    s = result.summary
    assert s["realised_plans"] == len(measured)
    # Plans no larger than the sample are measured whole: their predicted value exactly.
    assert all(p.accounts.size <= spec.realised_sample for p in measured)
    predicted = sum(float((p.value - p.cost).sum()) for p in measured)
    assert s["plan_predicted_sampled"] == pytest.approx(predicted, rel=1e-9)


def test_random_selection_keeps_the_budget_and_needs_no_values():
    scenario, portfolio, rules, result = _run("random_visits")
    plans = result.extra["plans"]
    assert all(p.cost.sum() <= 3000.0 + 1e-9 for p in plans)
    assert np.isnan(result.summary["plan_predicted"])
    assert result.summary["visits"] > 0


def test_zero_budget_visits_nobody():
    _, _, _, result = _run("optimised", {"budget_per_period": 0.0})
    assert result.summary["visits"] == 0
    assert result.summary["cost_visit"] == 0


def test_zero_budget_runs_and_says_so(tmp_path, capsys):
    raw = OPTIMISED.read_text().replace("budget_per_period = 3000.0",
                                        "budget_per_period = 0.0")
    raw = raw.replace("accounts = 2000", "accounts = 300").replace("days = 60", "days = 14")
    path = tmp_path / "zero.toml"
    path.write_text(raw)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "budget_per_period is 0, so it visits nobody" in err
    summary = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("policy")
    assert summary.loc["optimised", "visits"] == 0
    assert summary.loc["random_visits", "visits"] == 0


def _bad(tmp_path, capsys, edit):
    raw = OPTIMISED.read_text()
    path = tmp_path / "bad.toml"
    path.write_text(edit(raw))
    code = main(["validate", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1, err
    return err


def test_period_longer_than_the_run_is_refused(tmp_path, capsys):
    err = _bad(tmp_path, capsys, lambda s: s.replace("period_days = 7", "period_days = 90"))
    assert "policies[1].optimiser.period_days" in err
    assert "longer than the run of 60 days (got 90)" in err


def test_optimised_policy_without_field_teams_is_refused(tmp_path, capsys):
    err = _bad(tmp_path, capsys,
               lambda s: s.replace("teams = 2", "teams = 0").replace("teams = 1", "teams = 0"))
    assert "policies[1].optimiser.options" in err and "no region has field teams" in err


def test_option_without_capacity_is_refused(tmp_path, capsys):
    # Teams exist but work only after the allowed visit hours: 'visit' has no capacity.
    err = _bad(tmp_path, capsys, lambda s: s.replace(
        "teams = 2\n", "teams = 2\nstart_hour = 20.0\nend_hour = 23.0\n").replace(
        "teams = 1\n", "teams = 1\nstart_hour = 20.0\nend_hour = 23.0\n"))
    assert "'visit' has no capacity" in err


def test_unknown_option_is_refused(tmp_path, capsys):
    err = _bad(tmp_path, capsys, lambda s: s.replace(
        "period_days = 7, budget_per_period = 3000.0, training",
        'period_days = 7, budget_per_period = 3000.0, options = ["viist"], training'))
    assert "policies[2].optimiser.options[0]" in err and "viist" in err


def test_ladder_of_an_optimised_policy_may_not_ask_for_visits(tmp_path, capsys):
    def edit(s):
        head, tail = s.rsplit('{ action = "sale"', 1)
        return head + '{ action = "visit", dpd_min = 90 },\n  { action = "sale"' + tail
    err = _bad(tmp_path, capsys, edit)
    assert "policies[2].rules[4].action" in err and "chosen by the optimiser" in err


def test_scenario_rows_carry_the_plan_columns():
    scenario = load_scenario(OPTIMISED)
    raw = _raw()
    raw["days"] = 21
    raw["portfolio"]["accounts"] = 600
    scenario = scenario_from_dict(raw, OPTIMISED)
    runs = {r.policy: r for r in run_replication(scenario, 0, scenario.seed)}
    assert "plan_predicted" not in runs["rule_90dpd"].summary
    for name in ("random_visits", "optimised"):
        for column in ("plans", "plan_visits", "plan_cost", "plan_predicted", "plan_realised",
                       "plan_realised_low", "plan_realised_high"):
            assert column in runs[name].summary


def test_budget_schedule_per_period():
    from waifang.optimise.policy import OptimiserSpec

    spec = OptimiserSpec(period_days=7, budget_per_period=(500.0, 200.0, 0.0))
    assert [spec.budget(d) for d in (0, 6, 7, 14, 100)] == [500.0, 500.0, 200.0, 0.0, 0.0]
    assert not spec.visits_nobody
    assert OptimiserSpec(budget_per_period=(0.0, 0.0)).visits_nobody
    for bad in (-1.0, (100.0, -1.0), ()):
        with pytest.raises(ValueError, match="numbers from 0|greater than or equal to 0"):
            OptimiserSpec(budget_per_period=bad)


def test_plans_follow_a_budget_schedule():
    _, _, _, result = _run("optimised", {"budget_per_period": [4000.0, 0.0, 1500.0]})
    plans = result.extra["plans"]
    budgets = [4000.0, 0.0] + [1500.0] * (len(plans) - 2)
    assert plans[0].cost.sum() > 1500.0  # the first week's larger budget is used
    assert plans[1].accounts.size == 0
    for plan, budget in zip(plans, budgets, strict=True):
        assert plan.cost.sum() <= budget + 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cutting_each_region_to_its_top_candidates_loses_nothing(seed):
    from helpers import best_plan_value, random_visit_table

    from waifang.optimise.policy import top_per_region
    from waifang.optimise.problem import Capacity

    n = 400
    table = random_visit_table(np.random.default_rng(seed), n)
    hours_left = np.array([40.0, 70.0, 500.0])  # two regions bind on hours, one on budget
    budget = 20_000.0

    def best(frame):
        caps = [Capacity(str(r), "visit", hours_limit=float(hours_left[r])) for r in range(3)]
        return best_plan_value(frame, caps, budget)

    cut = top_per_region(table, hours_left, budget)
    assert len(cut) < n / 2
    assert best(cut) == pytest.approx(best(table), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_top_per_region_keeps_pandas_nlargest_rows_in_its_order(seed):
    """The cut keeps, region by region, the rows pandas' nlargest(keep="first") keeps, in the
    same order (the problem is built in this order, so ties must break the same way)."""
    from helpers import random_visit_table

    from waifang.optimise.policy import top_per_region

    rng = np.random.default_rng(seed)
    table = random_visit_table(rng, 300)
    # Many ties: values on a coarse grid.
    table["value"] = rng.integers(0, 8, len(table)) * 500.0
    table = table.sample(frac=1.0, random_state=seed)  # rows out of region order
    hours_left = np.array([40.0, 70.0, 500.0])
    budget = 20_000.0
    expected = []
    for region, rows in table.groupby("region_code", sort=True):
        cost, hours = rows["cost"].iloc[0], rows["hours"].iloc[0]
        k = int(np.floor(min(hours_left[int(region)] / hours, budget / cost) + 1e-9))
        expected.append(rows.nlargest(k, "value") if k < len(rows) else rows)
    expected = pd.concat(expected)
    cut = top_per_region(table, hours_left, budget)
    assert len(cut) < len(table)
    assert list(cut.index) == list(expected.index)


def test_the_training_book_is_drawn_at_its_own_size(tmp_path):
    """A generated scenario's training book has ``training_accounts`` accounts (at most the
    scenario's), drawn from the same segments; a tape is read whole."""
    from waifang.scenarios.optimised import training_book

    scenario = scenario_from_dict(_raw(), OPTIMISED)
    rng = np.random.default_rng(5)
    small = training_book(scenario, 500, build_portfolio, rng)
    assert len(small) == 500
    whole = training_book(scenario, 10**6, build_portfolio, np.random.default_rng(5))
    assert len(whole) == scenario.portfolio.accounts
    # Same kind of accounts: each segment's share within sampling error of the spec's.
    shares = np.array([s.share for s in scenario.portfolio.segments])
    got = np.bincount(small.segment, minlength=len(shares)) / len(small)
    assert np.all(np.abs(got - shares / shares.sum()) < 4 * np.sqrt(0.25 / len(small)))
    tape = tmp_path / "tape.csv"
    tape.write_text("account_id,balance,dpd,region\n"
                    + "".join(f"{i},{1000 + i},{30 + i % 90},{scenario.region_names()[0]}\n"
                              for i in range(40)))
    raw = _raw()
    raw["portfolio"] = {"tape": str(tape)}
    taped = scenario_from_dict(raw, OPTIMISED)
    assert len(training_book(taped, 10, build_portfolio, np.random.default_rng(5))) == 40
