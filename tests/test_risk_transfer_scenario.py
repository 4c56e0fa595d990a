"""The shipped risk_transfer scenario, shrunk, end to end: the summary's cover columns, the
report's contract and spread tables, and the comparison's 5th percentile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from waifang.scenarios.cli import main
from waifang.scenarios.cover_report import contract_table

SHIPPED = Path(__file__).resolve().parent.parent / "waifang" / "scenarios"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("risk_transfer")
    text = (SHIPPED / "risk_transfer.toml").read_text()
    for old, new in (
        ('include = ["baseline.toml"]', f'include = ["{SHIPPED / "baseline.toml"}"]'),
        ("accounts = 50_000", "accounts = 1_500"),
        ("replications = 8", "replications = 3"),
    ):
        assert old in text
        text = text.replace(old, new)
    path = folder / "risk_transfer.toml"
    path.write_text(text)
    out = folder / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    return (pd.read_csv(out / "summary.csv"), pd.read_csv(out / "comparison.csv"),
            (out / "report.html").read_text())


def test_the_shipped_scenario_validates_by_name(capsys):
    assert main(["validate", "risk_transfer"]) == 0
    assert "sweep: 2 points" in capsys.readouterr().out


def test_each_policy_pays_and_receives_what_its_contract_says(run):
    summary, _, _ = run
    by = summary.set_index(["policy", "replication"]).sort_index()
    ladder, guarantee = by.loc["ladder"], by.loc["guarantee"]
    assert (ladder[["cover_premiums", "cover_claims", "cover_transferred"]] == 0).all().all()
    assert (guarantee["cover_premiums"] > 0).all() and (guarantee["cover_claims"] > 0).all()
    assert (guarantee["cover_recoveries_passed"] > 0).all()
    assert (guarantee["cover_transferred"] == 0).all()  # the lender keeps the accounts
    flow = by.loc["forward_flow"]
    assert (flow["cover_transferred"] > 0).all() and (flow["cover_premiums"] == 0).all()
    # The guarantee runs the champion's ladder: without its contract lines, the same run.
    np.testing.assert_array_equal(guarantee["net_value_without_cover"], ladder["net_value"])
    np.testing.assert_array_equal(guarantee["collected"], ladder["collected"])
    # Visits only where no claim was paid: fewer visits.
    assert (by.loc["guarantee_unclaimed_visits", "visits"] < guarantee["visits"]).all()
    # The per-contract columns hold the policy's totals; empty for the other policies.
    for column in ("cover_premiums", "cover_claims", "cover_recoveries_passed"):
        np.testing.assert_array_equal(guarantee[f"{column}[guarantee_90]"], guarantee[column])
        assert ladder[f"{column}[guarantee_90]"].isna().all()


def test_the_report_shows_loss_ratio_lender_net_and_spread(run):
    summary, comparison, report = run
    table = contract_table(summary).set_index(["policy", "contract"])
    g = summary[summary.policy == "guarantee"]
    premiums = g["cover_premiums"].sum() / len(g)
    insurer_net_loss = (g["cover_claims"] - g["cover_recoveries_passed"]).sum() / len(g)
    row = table.loc[("guarantee", "guarantee_90")]
    assert row["loss_ratio"] == pytest.approx(insurer_net_loss / premiums, rel=1e-12)
    assert row["lender_net"] == pytest.approx(
        (g["cover_claims"] - g["cover_premiums"] - g["cover_recoveries_passed"]).mean(),
        rel=1e-12)
    assert np.isnan(table.loc[("forward_flow", "forward_flow_120"), "loss_ratio"])
    assert ("ladder", "guarantee_90") not in table.index
    assert "Risk transfer by contract" in report and "loss_ratio" in report
    assert "Spread over replications" in report
    # p05 of three replications lies a tenth of the way from the lowest to the second lowest.
    for metric in ("net_value", "net_npv"):
        values = np.sort(summary.loc[summary.policy == "guarantee", metric].to_numpy())
        p05 = comparison.set_index(["policy", "metric"]).loc[("guarantee", metric), "p05"]
        assert p05 == pytest.approx(values[0] + 0.1 * (values[1] - values[0]), rel=1e-12)
        assert values[0] < p05 < values[1]
