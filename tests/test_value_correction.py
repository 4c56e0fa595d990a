"""Correcting the plans' optimism (issue 6 item 5): shrinkage of cell estimates toward their
parent cells and a cross-fitted linear recalibration, checked on books whose true values are
known; and the bias table the run's report shows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from waifang.optimise.values import ValueModel
from waifang.scenarios.plan_bias import plan_bias

LEVELS = (("cell",), ())


def _book(rng, n, cells, truth, noise):
    """``n`` accounts in ``cells`` cells; gross effect = true ratio of the cell x balance +
    noise (per unit of balance, sd ``noise``)."""
    cell = rng.integers(0, cells, n)
    balance = rng.lognormal(8.5, 0.6, n)
    gross = (truth[cell] + rng.normal(0, noise, n)) * balance
    return pd.DataFrame({"cell": cell, "balance": balance, "gross": gross}), truth[cell]


@pytest.mark.parametrize("seed", range(3))
def test_corrections_bring_noisy_cells_closer_to_the_truth(seed):
    """Every cell has the same true ratio: the spread of the cell estimates is all noise,
    so the corrected values (shrunk, recalibrated) are nearer the truth and the accounts
    with the highest estimates are far less overrated."""
    rng = np.random.default_rng(seed)
    truth = np.full(40, 0.05)
    train, _ = _book(rng, 2000, 40, truth, 0.4)
    test, true_ratio = _book(rng, 4000, 40, truth, 0.0)
    true_value = true_ratio * test["balance"].to_numpy()
    errors, overrating = {}, {}
    fits = {
        "plain": ValueModel.fit(train, levels=LEVELS, min_accounts=5),
        "shrink": ValueModel.fit(train, levels=LEVELS, min_accounts=5, shrink=True),
        "calibrate": ValueModel.fit_calibrated(train, levels=LEVELS, min_accounts=5,
                                               seed=np.random.SeedSequence(seed)),
    }
    for name, model in fits.items():
        value, _, _ = model.predict(test)
        errors[name] = float(np.mean((value - true_value) ** 2))
        top = value > np.quantile(value, 0.9)
        overrating[name] = float(value[top].sum() / true_value[top].sum() - 1)
    assert errors["shrink"] < 0.5 * errors["plain"]
    assert errors["calibrate"] < 0.5 * errors["plain"]
    assert overrating["plain"] > 0.3  # the winner's curse, uncorrected
    assert overrating["shrink"] < overrating["plain"] / 2
    assert overrating["calibrate"] < overrating["plain"] / 2
    # The recalibration slope of pure noise is near 0, the shrinkage weights near 0.
    assert abs(fits["calibrate"].calibration[1]) < 0.35
    assert fits["shrink"].spread[0] < 0.2 * np.var(
        fits["plain"].tables[0]["ratio"].to_numpy())


def test_corrections_leave_well_measured_differences_alone():
    """Cells that truly differ, each measured on many accounts with little noise: the
    corrections change next to nothing."""
    rng = np.random.default_rng(9)
    truth = np.linspace(-0.05, 0.2, 10)
    train, _ = _book(rng, 5000, 10, truth, 0.02)
    test, _ = _book(rng, 1000, 10, truth, 0.0)
    plain = ValueModel.fit(train, levels=LEVELS, min_accounts=5).predict(test)[0]
    shrunk = ValueModel.fit(train, levels=LEVELS, min_accounts=5, shrink=True).predict(test)[0]
    calibrated_model = ValueModel.fit_calibrated(train, levels=LEVELS, min_accounts=5)
    calibrated = calibrated_model.predict(test)[0]
    scale = np.abs(plain).mean()
    assert np.abs(shrunk - plain).max() < 0.01 * scale
    assert abs(calibrated_model.calibration[1] - 1) < 0.05
    assert np.abs(calibrated - plain).mean() < 0.05 * scale
    # The uncorrected prediction is still there.
    assert np.array_equal(calibrated_model.predict(test, corrected=False)[0], plain)


def test_bias_table_by_hand():
    summary = pd.DataFrame({
        "policy": ["rule"] * 3 + ["opt"] * 3,
        "replication": [0, 1, 2] * 2,
        "plan_predicted_sampled": [math.nan] * 3 + [10.0, 12.0, 11.0],
        "plan_predicted_raw_sampled": [math.nan] * 3 + [14.0, 15.0, 13.0],
        "plan_realised": [math.nan] * 3 + [9.0, 9.0, 9.0],
    })
    table = plan_bias(summary).set_index("policy")
    assert list(table.index) == ["opt"]
    row = table.loc["opt"]
    # realised - predicted: -1, -3, -2: mean -2, sd 1, t(0.975, 2) = 4.3027.
    half = 4.302653 / math.sqrt(3)
    assert row["bias"] == pytest.approx(-2.0)
    assert row["bias_low"] == pytest.approx(-2 - half, rel=1e-5)
    assert row["bias_high"] == pytest.approx(-2 + half, rel=1e-5)
    assert row["bias_share"] == pytest.approx(-2 / 11)
    # Uncorrected: -5, -6, -4.
    assert row["bias_raw"] == pytest.approx(-5.0)
    assert row["bias_raw_share"] == pytest.approx(-5 / 14)
    assert row["replications"] == 3


def test_a_run_reports_the_bias_before_and_after_its_correction(tmp_path):
    from test_optimised_policy import OPTIMISED

    from waifang.scenarios.cli import main

    text = OPTIMISED.read_text().replace("accounts = 2000", "accounts = 600")
    text = text.replace("days = 60", "days = 21")
    head, tail = text.split('name = "optimised"', 1)
    tail = tail.replace("budget_per_period = 3000.0,", 'budget_per_period = 3000.0, '
                        'value_correction = "both",')
    path = tmp_path / "corrected.toml"
    path.write_text(head + 'name = "optimised"' + tail)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("policy")
    row = summary.loc["optimised"]
    assert row["realised_plans"] > 0
    assert row["plan_predicted_raw_sampled"] != row["plan_predicted_sampled"]
    assert math.isnan(summary.loc["rule_90dpd", "plan_realised"])
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Plans: predicted against realised" in report
    section = report.split("Plans: predicted against realised", 1)[1].split("<h2>", 1)[0]
    assert "optimised" in section and "random_visits" in section
    assert "rule_90dpd" not in section
    assert "nan" not in section  # random_visits predicts nothing: dashes, not 'nan (+nan%)'


def test_a_small_bias_share_keeps_its_sign_and_digit():
    from waifang.scenarios.html_report import _bias_cell

    assert _bias_cell(-11_000.0, -834_000.0, 811_000.0, -0.0036).endswith("(-0.4%)")
    assert _bias_cell(float("nan"), float("nan"), float("nan"), float("nan")) == "—"


@pytest.mark.parametrize("correction", ["none", "shrink", "calibrate", "both"])
def test_one_valuation_gives_the_corrected_and_the_plain_values(correction):
    """``ValueModel.valuation`` (what every plan asks, once) gives bit for bit what
    ``predict`` gives corrected and uncorrected, through cells of three levels where some
    are too small (fallback to the parent) and some unseen in training (NaN at that level)."""
    rng = np.random.default_rng(4)
    levels = (("cell", "band"), ("cell",), ())
    n = 1500
    train = pd.DataFrame({"cell": rng.integers(0, 12, n), "band": rng.integers(0, 6, n),
                          "balance": rng.lognormal(8.5, 0.6, n)})
    # One cell with exactly min_accounts accounts (enough: it is used, not its parent).
    edge = pd.DataFrame({"cell": 12, "band": 7, "balance": rng.lognormal(8.5, 0.6, 25)})
    train = pd.concat([train, edge], ignore_index=True)
    train["gross"] = ((0.02 * train["cell"] + rng.normal(0, 0.3, len(train)))
                      * train["balance"])
    test = pd.DataFrame({"cell": rng.integers(0, 14, 800), "band": rng.integers(0, 8, 800),
                         "balance": rng.lognormal(8.5, 0.6, 800)})
    test.loc[:9, ["cell", "band"]] = (12, 7)
    shrink = correction in ("shrink", "both")
    if correction in ("calibrate", "both"):
        model = ValueModel.fit_calibrated(train, levels=levels, min_accounts=25, shrink=shrink)
    else:
        model = ValueModel.fit(train, levels=levels, min_accounts=25, shrink=shrink)
    value, se, level, raw = model.valuation(test)
    want = model.predict(test)
    assert np.array_equal(value, want[0]) and np.array_equal(se, want[1])
    assert np.array_equal(level, want[2])
    assert np.array_equal(raw, model.predict(test, corrected=False)[0])
    # The three levels were all used, so the fallbacks were exercised.
    assert set(np.unique(model.predict(test, corrected=False)[2])) == {0, 1, 2}
    if correction != "none":
        assert not np.array_equal(value, raw)
