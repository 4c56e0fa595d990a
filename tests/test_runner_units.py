"""The runner's bookkeeping, checked in this process on the fake engine (fast enough to run for
each mutant of ``waifang/scenarios/runner.py``): a whole replication is its policies' units,
progress counts every unit once, a resumed run does only the missing work, a tape is checked
before any work, and the tables keep every column and count of the runs they were built from."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import fake_engine
import numpy as np
import pandas as pd
import pytest

from waifang.errors import InputError
from waifang.scenarios import execution, runner
from waifang.scenarios.execution import PolicyRun, Unit
from waifang.scenarios.runner import run_scenario, run_units, tabulate
from waifang.scenarios.schema import load_scenario
from waifang.sim.results import DAILY_COLUMNS, SUMMARY_COLUMNS
from waifang.sim.rules import RULES

SMALL = Path(__file__).parent / "data" / "small.toml"


@pytest.fixture
def fake(monkeypatch):
    """The fake engine, counting its runs."""
    calls = []

    def simulate(*args, **kwargs):
        calls.append(kwargs["seed"])
        return fake_engine.simulate(*args, **kwargs)

    monkeypatch.setattr(execution, "_engine", lambda: (fake_engine.generate_portfolio, simulate))
    return calls


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "units.toml"
    path.write_text(SMALL.read_text().replace("days = 60", "days = 4"))
    return load_scenario(path)


def test_a_replication_is_its_policies_units(fake, scenario):
    whole = runner.run_replication(scenario, 2, seed=9)
    assert [run.policy for run in whole] == ["ladder", "digital_only", "early_visits_allowed"]
    assert {run.replication for run in whole} == {2}
    for index, run in enumerate(whole):
        unit = execution.run_unit(scenario, 9, 2, index)
        assert run.summary == unit.summary
        assert run.blocked_by_rule == unit.blocked_by_rule
    # Another replication is other luck.
    assert runner.run_replication(scenario, 3, seed=9)[0].summary != whole[0].summary


def test_run_options_default_to_the_scenarios_and_are_checked(scenario):
    assert runner.check_run_options(scenario, None, None, 1) == (7, 2)  # small.toml's
    assert runner.check_run_options(scenario, 0, 1, 4) == (0, 1)
    for args, message in (((-1, None, 1), "--seed: must be in 0..9223372036854775807 (got -1)"),
                          ((None, 0, 1),
                           "--replications: must be in 1..10,000, the scenario's cap (got 0)"),
                          ((None, None, 0), "--workers: must be at least 1 (got 0)")):
        with pytest.raises(InputError) as err:
            runner.check_run_options(scenario, *args)
        assert str(err.value) == message


def test_progress_counts_every_unit_once_in_order(fake, scenario):
    seen, times = [], []

    def progress(done, total, run):
        seen.append((done, total, run.policy, run.replication))
        times.append(datetime.now(timezone.utc))
        # A plain run hands over the PolicyRun itself (its numbers; no sweep point to name).
        assert isinstance(run, PolicyRun) and not hasattr(run, "point")
        assert set(run.summary) >= set(SUMMARY_COLUMNS)

    results = run_scenario(scenario, replications=2, seed=3, progress=progress)
    assert [s[:2] for s in seen] == [(k, 6) for k in range(1, 7)]
    assert sorted(s[2:] for s in seen) == sorted(
        (p, r) for p in results.policies for r in range(2))
    assert len(fake) == 6
    assert (results.seed, results.replications, results.workers) == (3, 2, 1)
    assert results.scheduler is None
    # Started before the first unit finished, finished after the last.
    assert results.started <= times[0] <= times[-1] <= results.finished


def test_a_sweeps_progress_names_the_point(fake, scenario):
    seen = []
    runs = run_units([scenario, scenario], seed=1, replications=1,
                     progress=lambda done, total, run: seen.append((done, total, run)))
    assert [(d, t) for d, t, _ in seen] == [(k, 6) for k in range(1, 7)]
    assert sorted((r.point, r.replication, r.policy) for _, _, r in seen) == sorted(
        (k, 0, p) for k in (0, 1) for p in ("ladder", "digital_only", "early_visits_allowed"))
    # Per point, its runs in (replication, policy) order; both points equal (same seed).
    assert [[r.policy for r in point] for point in runs] == [
        ["ladder", "digital_only", "early_visits_allowed"]] * 2
    assert [r.summary for r in runs[0]] == [r.summary for r in runs[1]]


class Kept:
    """A checkpoint in memory: what it holds, what it was told to keep."""

    def __init__(self, held):
        self.held, self.saved, self.started = held, [], []

    def start(self, fp, *, resume):
        self.started.append((fp["seed"], fp["replications"], resume))
        return dict(self.held) if resume else {}

    def save(self, unit, run):
        self.saved.append(unit)


def test_a_resumed_run_does_only_the_missing_work(fake, scenario):
    whole = run_units([scenario], seed=4, replications=2)[0]
    units = execution.all_units(1, 2, 3)
    assert len(fake) == 6
    # Kept: the first two units, and one of a replication this run does not have.
    foreign = PolicyRun("ladder", 5, {}, {}, {}, 0, ())
    held = {units[0]: whole[0], units[1]: whole[1], Unit(0, 5, 0): foreign}
    checkpoint = Kept(held)
    seen = []
    resumed = run_units([scenario], seed=4, replications=2, checkpoint=checkpoint, resume=True,
                        progress=lambda done, total, run: seen.append((done, total)))[0]
    assert checkpoint.started == [(4, 2, True)]
    assert len(fake) == 6 + 4  # only the four missing units ran
    assert checkpoint.saved == units[2:]
    assert seen == [(3, 6), (4, 6), (5, 6), (6, 6)]
    assert [(r.policy, r.replication) for r in resumed] == [
        (r.policy, r.replication) for r in whole]
    assert [r.summary for r in resumed] == [r.summary for r in whole]
    # Without resume, everything runs again and is kept.
    again = Kept(held)
    run_units([scenario], seed=4, replications=2, checkpoint=again)
    assert again.started == [(4, 2, False)] and again.saved == units and len(fake) == 16
    # run_scenario hands its checkpoint on, and resumes only when asked.
    fresh = Kept(held)
    run_scenario(scenario, seed=4, replications=2, checkpoint=fresh)
    assert fresh.started == [(4, 2, False)] and fresh.saved == units and len(fake) == 22
    resumed = Kept(held)
    results = run_scenario(scenario, seed=4, replications=2, checkpoint=resumed, resume=True)
    assert resumed.started == [(4, 2, True)] and resumed.saved == units[2:]
    assert len(fake) == 26
    assert results.summary["net_npv"].tolist() == run_scenario(
        scenario, seed=4, replications=2).summary["net_npv"].tolist()


def test_a_tape_is_read_before_any_work(fake, tmp_path):
    (tmp_path / "tape.csv").write_text(
        "account_id,balance,dpd,region,segment\n1,100,10,city,low\n2,900,95,country,low\n")
    text = SMALL.read_text().replace("accounts = 3000", 'tape = "tape.csv"')
    good = tmp_path / "good.toml"
    good.write_text(text)
    runner.check_tape(load_scenario(good))  # the tape's segments are the rules'
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('every_days = 3 }', 'every_days = 3, segments = ["vip"] }', 1)
                   .replace('name = "ladder"', 'name = "first"', 1))
    scenario = load_scenario(bad)
    with pytest.raises(InputError, match=rf"^{bad}: policies\[0\]: .*'vip'"):
        runner.check_tape(scenario)
    with pytest.raises(InputError, match="policies\\[0\\]"):
        run_scenario(scenario, replications=1)
    assert fake == []


def run(policy, replication, *, blocked=None, extra=None, daily_extra=None, audit=None):
    summary = {c: float(replication) for c in SUMMARY_COLUMNS}
    summary.update(extra or {})
    daily = {c: np.arange(3) + replication for c in reversed(DAILY_COLUMNS)}
    daily.update(daily_extra or {})
    return PolicyRun(policy, replication, summary, daily, blocked or {}, 0, ("d",), audit)


def test_tables_keep_every_column_and_count(scenario):
    audit = {"account": np.array([4, 5]), "day": np.array([1, 2])}
    runs = [
        run("digital_only", 1, blocked={"contact_hours": 2}),
        run("ladder", 1, blocked={"contact_hours": 5, "visit_min_dpd": 1}, extra={"zz": 1.5},
            daily_extra={"b_extra": np.ones(3), "a_extra": np.zeros(3)}, audit=audit),
        run("ladder", 0, blocked={"contact_hours": 3}, extra={"zz": 2.5, "aa": 0.5},
            daily_extra={"b_extra": np.ones(3), "a_extra": np.zeros(3)}),
        run("digital_only", 0),
        run("early_visits_allowed", 0),
        run("early_visits_allowed", 1),
    ]
    results = tabulate(scenario, runs, seed=1, replications=2, workers=3, scheduler="tcp://x")
    s = results.summary
    # Rows in the scenario's policy order, replications ascending.
    assert list(zip(s["policy"], s["replication"], strict=True)) == [
        ("ladder", 0), ("ladder", 1), ("digital_only", 0), ("digital_only", 1),
        ("early_visits_allowed", 0), ("early_visits_allowed", 1)]
    # Contract columns in order, then the extra ones by name.
    assert list(s.columns) == ["policy", "replication", *SUMMARY_COLUMNS, "aa", "zz"]
    assert s["zz"].tolist()[:2] == [2.5, 1.5]
    d = results.daily
    assert list(d.columns) == ["policy", "replication", *DAILY_COLUMNS, "a_extra", "b_extra"]
    assert len(d) == 6 * 3
    assert d.loc[d["policy"] == "ladder", "replication"].tolist() == [0, 0, 0, 1, 1, 1]
    # Blocked: every (policy, rule), summed over replications and per replication.
    b = results.blocked_by_rule.set_index(["policy", "rule"])
    assert len(b) == 3 * len(RULES)
    assert b.loc[("ladder", "contact_hours"), "blocked"] == 8
    assert b.loc[("ladder", "contact_hours"), "blocked_per_replication"] == 4.0
    assert b.loc[("ladder", "visit_min_dpd"), "blocked_per_replication"] == 0.5
    assert b.loc[("digital_only", "contact_hours"), "blocked"] == 2
    assert b.loc[("early_visits_allowed", "contact_hours"), "blocked"] == 0
    assert b["blocked"].dtype.kind == "i"
    # The audit log of the one run that kept it, labelled with its run.
    a = results.audit
    assert list(a.columns) == ["policy", "replication", "account", "day"]
    assert a.values.tolist() == [["ladder", 1, 4, 1], ["ladder", 1, 5, 2]]
    # Departures from the runs when not given.
    assert results.departures == {p: ("d",) for p in results.policies}
    assert (results.workers, results.scheduler) == (3, "tcp://x")
    assert results.comparison["champion"].eq("ladder").all()
    assert tabulate(scenario, runs[:1], seed=1, replications=1).audit is None


def test_t_interval_at_another_level_and_on_nothing():
    from scipy import stats

    values = np.array([2.0, 4.0, 9.0])
    mean, low, high = runner.t_interval(values, level=0.8)
    half = stats.t.ppf(0.9, 2) * values.std(ddof=1) / math.sqrt(3)
    assert (mean, low, high) == pytest.approx((5.0, 5.0 - half, 5.0 + half))
    mean, low, high = runner.t_interval(np.array([]))
    assert math.isnan(mean) and math.isnan(low) and math.isnan(high)


def test_compare_takes_every_numeric_metric_and_counts_its_values():
    summary = pd.DataFrame({
        "policy": ["a", "a", "b", "b", "b"],
        "replication": [0, 1, 0, 1, 2],
        "net": [1.0, 3.0, 2.0, 5.0, 11.0],
        "note": ["x", "y", "x", "y", "z"],  # not a number: not a metric
        "count": [1, 1, 2, 2, 2],
    })
    table = runner.compare(summary, champion="a")
    assert list(table["metric"]) == ["net", "count"] * 2
    t = table.set_index(["policy", "metric"])
    assert t.loc[("b", "net"), "n"] == 3 and t.loc[("a", "net"), "n"] == 2
    assert t.loc[("b", "net"), "std"] == pytest.approx(np.std([2.0, 5.0, 11.0], ddof=1))
    assert t.loc[("b", "count"), "std"] == 0.0
    # Paired on the replications both ran: (2 - 1, 5 - 3).
    assert t.loc[("b", "net"), "diff_vs_champion"] == pytest.approx(1.5)
    assert str(table["replications_needed"].dtype) == "Int64"
    one = runner.compare(summary[summary["replication"] == 0], champion="a").set_index(
        ["policy", "metric"])
    assert math.isnan(one.loc[("b", "net"), "std"]) and one.loc[("b", "net"), "n"] == 1


def test_an_optimised_policys_replication_is_its_unit_on_the_same_seed():
    # The optimiser's training and plans draw from the run's seed: a whole replication gives
    # the numbers its units give, run after run (no draw left to fresh entropy).
    import tomllib

    from waifang.scenarios.schema import scenario_from_dict

    path = Path(__file__).parent / "data" / "optimised.toml"
    raw = tomllib.loads(path.read_text())
    raw["days"] = 14
    raw["portfolio"]["accounts"] = 300
    scenario = scenario_from_dict(raw, path)
    index = next(i for i, p in enumerate(scenario.policies) if p.optimiser is not None)
    whole = runner.run_replication(scenario, 0, 11)[index]
    unit = execution.run_unit(scenario, 11, 0, index)
    assert whole.policy == unit.policy
    assert whole.summary.keys() == unit.summary.keys()
    np.testing.assert_equal(whole.summary, unit.summary)  # NaN (plan columns) equal to NaN


def test_the_results_name_the_scheduler_they_ran_on(fake, scenario, monkeypatch):
    # The Dask test (test_scenario_runner.py) checks this on a real cluster; here the units
    # run in this process, the address handed on and recorded.
    real = execution.execute
    asked = []

    def here(scenarios, units, seed, *, workers=1, scheduler=None, on_done=None):
        asked.append(scheduler)
        return real(scenarios, units, seed, on_done=on_done)

    monkeypatch.setattr(execution, "execute", here)
    results = run_scenario(scenario, replications=1, scheduler="tcp://127.0.0.1:1")
    assert asked == ["tcp://127.0.0.1:1"]
    assert results.scheduler == "tcp://127.0.0.1:1"
