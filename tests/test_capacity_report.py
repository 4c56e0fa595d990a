"""The report shows capacity use by region, read from daily.csv's capacity columns."""

from __future__ import annotations

import pandas as pd

from waifang.scenarios.capacity import capacity_table
from waifang.scenarios.cli import main


def test_daily_csv_and_report_show_capacity_by_region(tiny_scenario_file, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(tiny_scenario_file), "--out", str(out), "--quiet"]) == 0
    daily = pd.read_csv(out / "daily.csv")
    for region in ("city", "country"):
        for what in ("requested", "performed", "waiting", "dropped", "utilisation", "called_off"):
            assert f"visits_{what}[{region}]" in daily, (what, region)
    for column in ("legal_requested", "legal_filed", "legal_waiting", "agency_utilisation"):
        assert column in daily
    # Performed visits per region add up to the visits performed, day by day.
    both = daily["visits_performed[city]"] + daily["visits_performed[country]"]
    assert (both == daily["actions_visit"]).all() and both.sum() > 0
    table = capacity_table(daily)
    ladder = table[(table.policy == "ladder") & (table.pool == "field teams city")].iloc[0]
    mine = daily[daily.policy == "ladder"]
    reps = mine.replication.nunique()
    assert ladder["done"] == mine["visits_performed[city]"].sum() / reps
    assert ladder["utilisation"] == mine["visits_utilisation[city]"].mean()
    assert 0 < ladder["utilisation"] <= 1
    assert ladder["called_off"] == mine["visits_called_off[city]"].sum() / reps
    courts = table[(table.policy == "ladder") & (table.pool == "courts")].iloc[0]
    assert pd.isna(courts["called_off"])  # courts do not travel
    for pool, prefix in (("courts", "legal"), ("agencies", "agency")):
        row = table[(table.policy == "ladder") & (table.pool == pool)].iloc[0]
        assert row["left_queue"] == mine[f"{prefix}_left_queue"].sum() / reps
    assert pd.isna(ladder["left_queue"])  # a region's visits wait or are dropped
    html = (out / "report.html").read_text()
    assert "Capacity use by region" in html and "field teams country" in html
    assert "called off" in html and "left queue" in html
