"""The regression discontinuity behind the calibrated visit effect.

The local linear jump is checked against separate least-squares lines fitted with scipy on
each side (the jump is the gap between their values at the threshold), its interval's
coverage on data with a known jump, and the real data against DESIGN.md's figure (~280).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from waifang.calibration.uplift import discontinuity, recovery_uplift
from waifang.errors import InputError
from waifang.scenarios.run_commands import scenario_path
from waifang.scenarios.schema import load_scenario

BANK = Path(__file__).resolve().parents[2] / "shared/data/debt_recovery_levels/bank_data.csv"


def test_jump_is_the_gap_between_two_separate_lines():
    rng = np.random.default_rng(1)
    x = rng.uniform(500, 1500, 600)
    y = 0.4 * x + 120 * (x >= 1000) + 0.1 * (x - 1000) * (x >= 1000) + rng.normal(0, 60, 600)
    found = discontinuity(x, y, 1000, 300)
    left = (x >= 700) & (x < 1000)
    right = (x >= 1000) & (x <= 1300)
    lo = stats.linregress(x[left] - 1000, y[left])
    hi = stats.linregress(x[right] - 1000, y[right])
    assert found.jump == pytest.approx(hi.intercept - lo.intercept, rel=1e-9)
    assert found.level_below == pytest.approx(lo.intercept, rel=1e-9)
    assert (found.below, found.above) == (left.sum(), right.sum())


def test_interval_covers_the_true_jump_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    covered = 0
    for _ in range(400):
        x = rng.uniform(800, 1200, 200)
        y = 0.5 * x + 50 * (x >= 1000) + rng.normal(0, 40 + 0.05 * np.abs(x - 1000), 200)
        r = discontinuity(x, y, 1000, 200)
        covered += r.ci_low <= 50 <= r.ci_high
    assert 0.92 <= covered / 400 <= 0.98, covered


def test_too_narrow_a_band_is_refused():
    with pytest.raises(InputError, match="fewer than 3"):
        discontinuity(np.array([990.0, 995, 1001, 1002]), np.ones(4), 1000, 20)


def test_bank_data_jump_and_the_calibrated_visit_lift():
    if not BANK.exists():
        pytest.skip(f"shared data not found at {BANK}")
    r = recovery_uplift(BANK, 1000, 200)
    assert r.ci_low <= 280 <= r.ci_high  # DESIGN.md section 6: about 280
    assert r.ci_low > 0
    # calibrated_cards.toml sets the visit lift from this estimate, as its comment derives.
    scenario = load_scenario(scenario_path("calibrated_cards"))
    half_life = scenario.behaviour.contact_half_life_days
    lift = r.relative_jump * 30 * np.log(2) / half_life
    assert scenario.treatments.visit.lift == pytest.approx(lift, abs=0.01)
