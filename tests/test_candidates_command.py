"""`waifang candidates`: the optimiser's inputs from a simulated state, read by `optimise`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from waifang.scenarios.cli import main

SMALL = Path(__file__).parent / "data" / "small.toml"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("candidates")
    text = SMALL.read_text().replace("accounts = 3000", "accounts = 1200")
    scenario = folder / "small.toml"
    scenario.write_text(text)
    out = folder / "C.csv"
    code = main(["candidates", str(scenario), "--policy", "ladder", "--day", "12", "--out",
                 str(out), "--reps", "2", "--horizon", "30", "--sample", "200"])
    assert code == 0
    return folder, scenario, out


def test_candidates_and_capacity_tables(written):
    folder, _, out = written
    table = pd.read_csv(out)
    assert list(table.columns) == ["account_id", "option", "region", "value", "value_se",
                                   "cost", "hours", "segment", "balance", "dpd"]
    assert len(table) > 20
    assert table["account_id"].is_unique
    assert (table["option"] == "visit").all()
    # Only accounts a visit may be asked for: 90+ dpd under the cn preset.
    assert (table["dpd"] >= 90).all()
    assert np.isfinite(table["value"]).all() and (table["value_se"] >= 0).all()
    # Costs and hours are the regions' own figures.
    assert set(zip(table["region"], table["cost"], table["hours"], strict=True)) <= {
        ("city", 400.0, 2.0), ("country", 250.0, 3.0)}
    capacity = pd.read_csv(folder / "C_capacity.csv")
    assert list(capacity.columns) == ["region", "option", "limit", "hours_limit"]
    # Teams x 7 days x the 12 allowed visit hours (08:00-20:00).
    assert dict(zip(capacity["region"], capacity["hours_limit"], strict=True)) == {"city": 168.0,
                                                                     "country": 84.0}


def test_optimise_reads_them_as_they_are(written, capsys):
    folder, _, out = written
    plan = folder / "plan.csv"
    code = main(["optimise", "--candidates", str(out), "--capacity",
                 str(folder / "C_capacity.csv"), "--budget", "3000", "--out", str(plan)])
    assert code == 0
    chosen = pd.read_csv(plan)
    table = pd.read_csv(out).set_index("account_id")
    assert chosen["cost"].sum() <= 3000
    assert (table.loc[chosen["account_id"], "value"].to_numpy()
            > table.loc[chosen["account_id"], "cost"].to_numpy()).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "nope", "--day", "3"], "--policy: no policy 'nope'"),
        (["--policy", "ladder", "--day", "60"], "--day: must lie in 0..59"),
        (["--policy", "ladder", "--day", "3", "--reps", "1"], "--reps: must be at least 2"),
        (["--policy", "ladder", "--day", "3", "--horizon-periods", "0"],
         "--horizon-periods: must be at least 1"),
    ],
)
def test_bad_arguments_are_one_line(written, tmp_path, capsys, args, message):
    _, scenario, _ = written
    code = main(["candidates", str(scenario), *args, "--out", str(tmp_path / "C.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "C.csv").exists()


def test_several_periods_add_a_period_column_that_optimise_reads(written, capsys):
    folder, scenario, out = written
    multi = folder / "W.csv"
    code = main(["candidates", str(scenario), "--policy", "ladder", "--day", "12", "--out",
                 str(multi), "--reps", "2", "--horizon", "30", "--sample", "200",
                 "--horizon-periods", "3"])
    assert code == 0
    table = pd.read_csv(multi)
    assert list(table.columns)[:4] == ["account_id", "option", "region", "period"]
    assert not table.duplicated(["account_id", "period"]).any()
    assert set(table["period"]) == {0, 1, 2}
    # Period 0 is the single-period table itself.
    single = pd.read_csv(out)
    now = table[table["period"] == 0].drop(columns="period").reset_index(drop=True)
    pd.testing.assert_frame_equal(now, single)
    # Later periods: accounts that are not candidates today (they reach 90 dpd meanwhile),
    # each at a dpd that still lets it reach the period before charge-off.
    later = table[table["period"] > 0]
    assert (~later["account_id"].isin(single["account_id"])).any()
    assert (later["dpd"] + 7 * later["period"] >= 90).all()
    assert (later["dpd"] + 7 * later["period"] < 180).all()
    capacity = pd.read_csv(folder / "W_capacity.csv")
    assert list(capacity.columns) == ["region", "option", "limit", "hours_limit", "period"]
    assert len(capacity) == 2 * 3
    plan = folder / "wplan.csv"
    code = main(["optimise", "--candidates", str(multi), "--capacity",
                 str(folder / "W_capacity.csv"), "--budget", "6000", "--out", str(plan)])
    assert code == 0
    chosen = pd.read_csv(plan)
    assert chosen["account_id"].is_unique and len(chosen) > 0
    rows = chosen[["account_id", "period"]].merge(table, on=["account_id", "period"])
    hours = rows.groupby(["region", "period"])["hours"].sum()
    limit = capacity.set_index(["region", "period"])["hours_limit"]
    assert (hours <= limit.loc[hours.index] + 1e-9).all()
