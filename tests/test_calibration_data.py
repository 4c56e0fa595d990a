"""Reference values from real data: the default hazards reproduce the observed roll rates.

Reads ../shared/data/credit_card_monthly_status/credit_record.csv (monthly delinquency status
of 45,985 card accounts), computes month-to-month roll rates between buckets, and checks that
an untreated average borrower in the simulator rolls at those rates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import flat_portfolio

from waifang.sim import LadderPolicy, PolicySpec, World, resolve_rules
from waifang.sim.engine import simulate
from waifang.sim.spec import BehaviourSpec

DATA = (
    Path(__file__).resolve().parents[2] / "shared/data/credit_card_monthly_status/credit_record.csv"
)
# Status codes of the file: 0 = 1-29 dpd, 1 = 30-59, 2 = 60-89, 3 = 90-119, 4 = 120-149.
STATUS_OF_BUCKET = ["0", "1", "2", "3", "4"]


@pytest.fixture(scope="module")
def roll_rates() -> dict[int, tuple[float, int]]:
    if not DATA.exists():
        pytest.skip(f"shared data not found at {DATA}")
    df = pd.read_csv(DATA, dtype={"STATUS": str}).sort_values(["ID", "MONTHS_BALANCE"])
    following = df.groupby("ID")["STATUS"].shift(-1)
    consecutive = df.groupby("ID")["MONTHS_BALANCE"].shift(-1) - df["MONTHS_BALANCE"] == 1
    pairs = pd.DataFrame({"now": df["STATUS"], "next": following})[consecutive]
    rates = {}
    for bucket in range(5):
        now = pairs[pairs["now"] == STATUS_OF_BUCKET[bucket]]
        rolled = (now["next"] == str(bucket + 1)).mean()
        rates[bucket] = (float(rolled), len(now))
    return rates


def test_data_roll_rates_are_the_documented_figures(roll_rates):
    documented = [0.019, 0.052, 0.30, 0.59, 0.67]
    for bucket, figure in enumerate(documented):
        rate, pairs = roll_rates[bucket]
        assert rate == pytest.approx(figure, abs=0.006), (bucket, rate, pairs)


@pytest.mark.parametrize("bucket", [0, 1, 2, 3, 4])
def test_untreated_average_borrower_rolls_at_the_data_rate(roll_rates, bucket):
    rate, pairs = roll_rates[bucket]
    n = 20_000
    start = 1 + 30 * bucket  # first day of the bucket
    world = World(
        days=30,
        behaviour=BehaviourSpec(
            redefault_daily=0.0, income_shock_daily=0.0, settlement_max_ability=0.0
        ),
    )
    portfolio = flat_portfolio(n, dpd=start)
    rules, _ = resolve_rules("cn")
    result = simulate(
        world,
        portfolio,
        LadderPolicy(PolicySpec(name="none"), ("all",)),
        rules,
        seed=np.random.SeedSequence(bucket),
    )
    names = ["1-30", "31-60", "61-90", "91-120", "121-150", "151-180"]
    rolled = result.daily[f"bucket_{names[bucket + 1]}"][29] / n
    # Sampling error of the simulation and of the data's estimate, plus the rounding of the
    # documented figures the defaults are built from.
    sd = np.sqrt(rate * (1 - rate) / n + rate * (1 - rate) / pairs)
    assert abs(rolled - rate) < 4 * sd + 0.006, (bucket, rolled, rate)
