"""comparison.csv says how sure it is: the unpaired interval (what the difference's interval
would be without common random numbers), the replications a +-1 % interval needs, and the
printed table's marks of significance, each checked against scipy computed independently."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from waifang.scenarios.cli import main
from waifang.scenarios.runner import compare
from waifang.scenarios.statistics import replications_needed, welch_interval


@pytest.mark.parametrize("sizes", [(5, 5), (3, 8), (20, 4)])
def test_welch_interval_is_scipys(sizes):
    rng = np.random.default_rng(sum(sizes))
    a = rng.normal(100.0, 7.0, sizes[0])
    b = rng.normal(90.0, 2.0, sizes[1])
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert welch_interval(a, b) == pytest.approx((expected.low, expected.high), rel=1e-12)


def test_welch_interval_edges():
    assert all(math.isnan(x) for x in welch_interval(np.array([1.0]), np.array([1.0, 2.0])))
    assert welch_interval(np.array([3.0, 3.0]), np.array([1.0, 1.0, 1.0])) == (2.0, 2.0)


def _half_width(sd: float, n: int) -> float:
    low, high = stats.t.interval(0.95, n - 1, loc=0.0, scale=sd / math.sqrt(n))
    return (high - low) / 2


@pytest.mark.parametrize("seed", range(6))
def test_replications_needed_is_the_smallest_n_that_reaches_one_percent(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(1000.0, rng.uniform(5.0, 80.0), int(rng.integers(2, 12)))
    n = replications_needed(values)
    sd, target = values.std(ddof=1), 0.01 * abs(values.mean())
    assert n >= 2
    assert _half_width(sd, n) <= target
    if n > 2:
        assert _half_width(sd, n - 1) > target


def test_replications_needed_edges():
    assert math.isnan(replications_needed(np.array([5.0])))
    assert replications_needed(np.array([5.0, 5.0, 5.0])) == 2
    assert math.isnan(replications_needed(np.array([-1.0, 1.0])))  # mean 0: never within 1 %


def test_compare_adds_the_columns_and_pairing_shows_its_worth():
    rng = np.random.default_rng(3)
    luck = rng.normal(0.0, 50.0, 6)  # common to both policies: what pairing removes
    summary = pd.DataFrame(
        {
            "policy": ["a"] * 6 + ["b"] * 6,
            "replication": list(range(6)) * 2,
            "net_npv": np.concatenate([1000.0 + luck, 1010.0 + luck + rng.normal(0, 1, 6)]),
        }
    )
    table = compare(summary, champion="a").set_index(["policy", "metric"])
    b = table.loc[("b", "net_npv")]
    a_values, b_values = summary.net_npv[:6].to_numpy(), summary.net_npv[6:].to_numpy()
    expected = stats.ttest_ind(b_values, a_values, equal_var=False).confidence_interval()
    assert (b["unpaired_diff_ci_low"], b["unpaired_diff_ci_high"]) == pytest.approx(
        (expected.low, expected.high)
    )
    assert b["unpaired_diff_ci_high"] - b["unpaired_diff_ci_low"] > 10 * (
        b["diff_ci_high"] - b["diff_ci_low"]
    )
    assert b["replications_needed"] == replications_needed(b_values)
    a = table.loc[("a", "net_npv")]
    assert (a["unpaired_diff_ci_low"], a["unpaired_diff_ci_high"]) == (0.0, 0.0)


def test_printed_table_marks_exactly_the_significant_differences(small_path, tmp_path, capsys):
    out = tmp_path / "out"
    # A copy of the champion under another name: its paired differences are exactly 0, so the
    # unmarked branch is checked whatever the other policies' numbers are.
    text = small_path.read_text()
    start = text.index('[[policies]]\nname = "ladder"')
    ladder = text[start : text.index("[[policies]]", start + 1)]
    scenario = tmp_path / "small.toml"
    scenario.write_text(text + "\n" + ladder.replace('name = "ladder"', 'name = "ladder_copy"'))
    assert main(["run", str(scenario), "--out", str(out), "--replications", "3"]) == 0
    printed = capsys.readouterr().out
    comparison = pd.read_csv(out / "comparison.csv").set_index(["policy", "metric"])
    assert "* the paired difference is significant at 95 %" in printed
    marks = []
    for policy in ("digital_only", "early_visits_allowed", "ladder_copy"):
        line = next(line for line in printed.splitlines() if f" {policy} " in line)
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        # cells: policy, collected, cost, net NPV, Δ net NPV, net value, Δ net value, ...
        for cell, metric in ((cells[4], "net_npv"), (cells[6], "net_value")):
            row = comparison.loc[(policy, metric)]
            expected = row["diff_ci_low"] > 0 or row["diff_ci_high"] < 0
            assert cell.endswith("*") == expected, (policy, metric, cell)
            marks.append(expected)
    assert any(marks)  # the small scenario has both kinds, so both branches are checked
    assert not all(marks)
