"""The runner: intervals and paired differences computed exactly, common random numbers,
and the same tables whatever executes the replications (1 worker, a process pool, Dask)."""

from __future__ import annotations

import math
from pathlib import Path

import fake_engine
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from waifang.errors import InputError
from waifang.scenarios import execution, runner
from waifang.scenarios.runner import compare, run_scenario, t_interval
from waifang.scenarios.schema import load_scenario
from waifang.sim.results import DAILY_COLUMNS, SUMMARY_COLUMNS
from waifang.sim.rules import RULES

DATA = Path(__file__).parent / "data"


def test_t_interval_matches_the_textbook_formula():
    values = np.array([10.0, 12.0, 9.0, 15.0])
    mean, low, high = t_interval(values)
    half = stats.t.ppf(0.975, 3) * values.std(ddof=1) / 2.0
    assert mean == 11.5
    assert low == pytest.approx(11.5 - half)
    assert high == pytest.approx(11.5 + half)
    mean, low, high = t_interval(np.array([3.0]))
    assert mean == 3.0 and math.isnan(low) and math.isnan(high)


def test_compare_pairs_each_policy_with_the_champion_by_replication():
    summary = pd.DataFrame(
        {
            "policy": ["a", "a", "a", "b", "b", "b"],
            "replication": [0, 1, 2, 0, 1, 2],
            "net_npv": [100.0, 200.0, 300.0, 101.0, 203.0, 302.0],
        }
    )
    table = compare(summary, champion="a").set_index(["policy", "metric"])
    b = table.loc[("b", "net_npv")]
    assert b["mean"] == pytest.approx(202.0)
    assert b["diff_vs_champion"] == pytest.approx(2.0)  # differences 1, 3, 2
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert b["diff_ci_low"] == pytest.approx(2.0 - half)
    assert b["diff_ci_high"] == pytest.approx(2.0 + half)
    # The paired interval is far narrower than the unpaired spread of the means.
    assert b["diff_ci_high"] - b["diff_ci_low"] < (b["ci_high"] - b["ci_low"]) / 10
    a = table.loc[("a", "net_npv")]
    assert (a["diff_vs_champion"], a["diff_ci_low"], a["diff_ci_high"]) == (0.0, 0.0, 0.0)


def test_tables_from_a_fake_engine(monkeypatch, small_path):
    monkeypatch.setattr(execution, "_engine", lambda: (fake_engine.generate_portfolio,
                                                   fake_engine.simulate))
    scenario = load_scenario(small_path)
    results = run_scenario(scenario, replications=3)
    assert list(results.summary.columns[:2]) == ["policy", "replication"]
    assert list(results.summary.columns[2:]) == list(SUMMARY_COLUMNS)
    assert len(results.summary) == 3 * 3
    assert results.summary["policy"].tolist()[:3] == ["ladder"] * 3
    assert list(results.daily.columns) == ["policy", "replication", *DAILY_COLUMNS]
    assert len(results.daily) == 3 * 3 * scenario.days
    assert set(results.blocked_by_rule["rule"]) == set(RULES)
    # The fake's "luck" is drawn from the run seed: common to the policies of a replication,
    # so a paired difference only sees the policies' own effect (1 % of the opening balance
    # per rung, the ladder having 6 rungs and digital_only 2).
    s = results.summary.set_index(["policy", "replication"])
    diff = (s.loc["digital_only", "recovery_rate"] - s.loc["ladder", "recovery_rate"]).to_numpy()
    np.testing.assert_allclose(diff, -0.04, atol=1e-12)
    assert results.departures["early_visits_allowed"] == (
        "visit_min_dpd: 60 is looser than the cn preset (90)",
    )
    assert results.departures["ladder"] == ()


def test_bad_run_options_are_input_errors(small_path):
    scenario = load_scenario(small_path)
    for kwargs, key in (({"replications": 0}, "--replications"), ({"workers": 0}, "--workers"),
                        ({"seed": -1}, "--seed")):
        with pytest.raises(InputError, match=key):
            run_scenario(scenario, **kwargs)


# ------------------------------------------------------------------ the real engine


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    text = (DATA / "small.toml").read_text()
    text = text.replace("accounts = 3000", "accounts = 800").replace("days = 60", "days = 30")
    path = tmp_path_factory.mktemp("tiny") / "tiny.toml"
    path.write_text(text)
    scenario = load_scenario(path)
    return scenario, run_scenario(scenario, workers=1)


def test_real_engine_meets_the_contract(tiny):
    scenario, results = tiny
    assert list(results.summary.columns[2:]) == list(SUMMARY_COLUMNS)
    assert results.violations == 0
    assert (results.summary["accounts"] == 800).all()
    # Common random numbers: every policy of a replication starts from the same portfolio.
    opening = results.summary.groupby("replication")["opening_balance"].nunique()
    assert (opening == 1).all()
    assert results.summary.groupby("policy")["opening_balance"].nunique().max() == 2


def test_process_pool_gives_identical_tables(tiny):
    scenario, serial = tiny
    parallel = run_scenario(scenario, workers=2)
    pd.testing.assert_frame_equal(serial.summary, parallel.summary)
    pd.testing.assert_frame_equal(serial.daily, parallel.daily)
    pd.testing.assert_frame_equal(serial.comparison, parallel.comparison)


def test_dask_cluster_gives_identical_tables(tiny):
    distributed = pytest.importorskip("distributed")
    scenario, serial = tiny
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        on_dask = run_scenario(scenario, scheduler=cluster.scheduler_address)
    assert on_dask.scheduler == cluster.scheduler_address
    pd.testing.assert_frame_equal(serial.summary, on_dask.summary)
    pd.testing.assert_frame_equal(serial.daily, on_dask.daily)


def test_unreachable_scheduler_is_an_input_error(tiny, monkeypatch):
    scenario, _ = tiny
    from waifang.scenarios import execution

    monkeypatch.setattr(runner, "DASK_CONNECT_TIMEOUT", "1s")
    with pytest.raises(InputError, match="--scheduler: cannot connect"):
        execution._on_dask([scenario], [execution.Unit(0, 0, 0)], 1, "tcp://127.0.0.1:1", None)


def test_an_engine_result_missing_a_contract_column_is_a_loud_bug(monkeypatch, small_path):
    def simulate(*args, **kwargs):
        result = fake_engine.simulate(*args, **kwargs)
        del result.summary["net_npv"]
        return result

    monkeypatch.setattr(execution, "_engine", lambda: (fake_engine.generate_portfolio, simulate))
    with pytest.raises(RuntimeError, match=r"lacks \['net_npv'\]"):
        run_scenario(load_scenario(small_path), replications=1)
