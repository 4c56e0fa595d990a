"""The monthly chain, the maximum-likelihood fit and ``waifang calibrate``.

- The exact monthly chain (``waifang.sim.monthly``) against the engine itself, on a generated
  population with non-default behaviour (settlements, re-defaults, several buckets).
- The fit recovers known parameters from data drawn from the model, each within 4 of its own
  standard errors (so the standard errors are not too small either).
- On the real card data: fitted on 60 % of the accounts, the six headline transitions of the
  other 40 % lie within max(0.02, 15 % relative, 3 se of the held-out estimate).
- The command writes a fragment that a scenario includes, and FIT.csv in the data's codes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from waifang.calibration import calibrate, within_tolerance
from waifang.calibration.data import STATUS_CODES, read_monthly
from waifang.calibration.fit import conditional, fit_counts, mix_current
from waifang.scenarios.cli import main
from waifang.scenarios.schema import load_scenario
from waifang.sim import LadderPolicy, PolicySpec, PortfolioSpec, World, resolve_rules
from waifang.sim.engine import simulate
from waifang.sim.monthly import monthly_matrix, population
from waifang.sim.portfolio import generate_portfolio
from waifang.sim.spec import BehaviourSpec, Segment

DATA = (
    Path(__file__).resolve().parents[2] / "shared/data/credit_card_monthly_status/credit_record.csv"
)
SEGMENTS = (
    Segment(name="a", share=0.6, balance_median=2000.0, ability_mean=0.6, strategic_share=0.05),
    Segment(name="b", share=0.4, balance_median=5000.0, willingness_mean=0.4),
)
BEHAVIOUR = BehaviourSpec(
    base_hazard=(0.05, 0.09, 0.04, 0.02, 0.015, 0.004),
    cure_share_low=0.2,
    cure_share_high=0.6,
    income_shock_daily=0.0,  # the chain leaves income shocks out
    redefault_daily=0.01,
)


def test_monthly_chain_matches_the_engine_on_a_population():
    n = 8000
    world = World(days=30, behaviour=BEHAVIOUR)
    names = tuple(r.name for r in world.resources.regions)
    rules, _ = resolve_rules("cn")
    chain = monthly_matrix(BEHAVIOUR, population(SEGMENTS, points=12))
    for k in range(6):
        p = generate_portfolio(
            PortfolioSpec(accounts=n, segments=SEGMENTS), names, np.random.default_rng(k)
        )
        p = dataclasses.replace(p, dpd=np.full(n, 1 + 30 * k, np.int16))
        result = simulate(
            world,
            p,
            LadderPolicy(PolicySpec(name="none"), p.segment_names),
            rules,
            seed=np.random.SeedSequence(50 + k),
        )
        d = result.daily
        engine = (
            np.array(
                [
                    d["current"][29] + d["bucket_1-30"][29],
                    d["bucket_31-60"][29],
                    d["bucket_61-90"][29],
                    d["bucket_91-120"][29],
                    d["bucket_121-150"][29],
                    d["bucket_151-180"][29] + d["charged_off"][29],
                    d["closed"][29],
                ]
            )
            / n
        )
        sd = np.sqrt(chain[k] * (1 - chain[k]) / n)
        # 4.5 sd (42 cells), plus 0.004 for the quadrature of the traits (8-12 points).
        assert np.all(np.abs(engine - chain[k]) <= 4.5 * sd + 0.004), (k, engine, chain[k])


def draw_counts(matrix: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An 8 x 8 count matrix drawn from the model's in-book probabilities."""
    p = conditional(matrix)
    counts = np.zeros((8, 8), np.int64)
    for k in range(6):
        counts[k, :6] = rng.multinomial(rows[k], p[k])
    return counts


def test_fit_recovers_known_parameters_within_their_standard_errors():
    pop = population(SEGMENTS, points=6)
    truth = BEHAVIOUR.model_copy(update={"income_shock_daily": 0.0005})
    current = 0.8
    matrix = mix_current(monthly_matrix(truth, pop), current)
    rows = np.array([200_000, 20_000, 6000, 3000, 2000, 2000])
    counts = draw_counts(matrix, rows, np.random.default_rng(3))
    start = BehaviourSpec(cure_share_low=0.1, cure_share_high=0.3)  # same 1 : 3 shape
    fit = fit_counts(counts, pop, start.model_copy(update={"redefault_daily": 0.01}))
    assert fit.converged
    est = fit.parameters()
    expected = {f"base_hazard[{k}]": h for k, h in enumerate(truth.base_hazard)}
    expected["cure_share_mean"] = 0.4
    expected["current_share_of_status_0"] = current
    for name, value in expected.items():
        got, se = est[name]
        assert abs(got - value) <= 4 * se, (name, got, value, se)
        assert se < 0.3 * value, (name, se)  # and the data pin it down


@pytest.fixture(scope="module")
def held_out():
    if not DATA.exists():
        pytest.skip(f"shared data not found at {DATA}")
    return calibrate(read_monthly(DATA), holdout=0.4, seed=11)


def test_held_out_accounts_move_as_the_fitted_model_predicts(held_out):
    assert held_out.held_out_accounts == pytest.approx(0.4 * 45_985, abs=1)
    targets = held_out.targets()
    assert len(targets) == 6
    assert {(r["from_status"], r["to_status"]) for r in targets} == {
        ("0", "1"),
        ("1", "0"),
        ("1", "2"),
        ("2", "3"),
        ("3", "4"),
        ("4", "5"),
    }
    for row in targets:
        assert row["sample"] == "held_out"
        assert within_tolerance(row["observed"], row["predicted"], row["observed_se"]), row


def test_held_out_observed_rates_are_the_data_counted_independently(held_out):
    """FIT.csv's observed column is the held-out accounts' own rates (recounted here)."""
    df = pd.read_csv(DATA, dtype={"STATUS": str}).sort_values(["ID", "MONTHS_BALANCE"])
    ids = np.unique(df["ID"].to_numpy())
    held = set(ids[np.random.default_rng(11).permutation(ids.size)[: int(round(0.4 * ids.size))]])
    df = df[df["ID"].isin(held)]
    nxt = df.groupby("ID")["STATUS"].shift(-1)
    ok = df.groupby("ID")["MONTHS_BALANCE"].shift(-1) - df["MONTHS_BALANCE"] == 1
    pairs = pd.DataFrame({"now": df["STATUS"], "next": nxt})[ok]
    for row in held_out.targets():
        now = pairs[pairs["now"] == row["from_status"]]
        assert row["pairs_from"] == len(now)
        assert row["observed"] == pytest.approx((now["next"] == row["to_status"]).mean())


def write_panel(path: Path, matrix: np.ndarray, accounts: int, months: int, seed: int) -> None:
    """A generic-format file of account histories drawn month by month from ``matrix``."""
    rng = np.random.default_rng(seed)
    p = conditional(matrix)
    rows = []
    for account in range(accounts):
        status = rng.choice(6, p=[0.7, 0.15, 0.06, 0.04, 0.03, 0.02])
        for month in range(months):
            rows.append((account, month, STATUS_CODES[status]))
            status = rng.choice(6, p=p[status])
    pd.DataFrame(rows, columns=["account", "month", "dpd_bucket"]).to_csv(path, index=False)


def test_cli_writes_an_includable_fragment_and_fit_table(tmp_path, capsys):
    pop = population((Segment(name="all", share=1.0, balance_median=3000.0),), points=8)
    write_panel(tmp_path / "m.csv", mix_current(monthly_matrix(BEHAVIOUR, pop), 0.5), 600, 12, 1)
    params, fit_csv = tmp_path / "params.toml", tmp_path / "fit.csv"
    args = ["calibrate", str(tmp_path / "m.csv"), "--out", str(params), "--fit", str(fit_csv)]
    assert main([*args, "--holdout", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "deviance" in out and "held-out accounts" in out and "(se " in out
    table = pd.read_csv(fit_csv, dtype={"from_status": str, "to_status": str})
    assert list(table.columns[:5]) == [
        "sample",
        "from_status",
        "to_status",
        "observed",
        "predicted",
    ]
    assert set(table["sample"]) == {"fitted", "held_out"}
    assert set(table["from_status"]) <= set(STATUS_CODES[:6])
    scenario_file = tmp_path / "s.toml"
    scenario_file.write_text(
        'include = ["params.toml"]\nname = "s"\n[behaviour]\nstress = [0.9]\n'
        '[[policies]]\nname = "none"\nrules = []\n'
    )
    scenario = load_scenario(scenario_file)
    fragment = (tmp_path / "params.toml").read_text()
    hazards = [float(x) for x in fragment.split("base_hazard = [")[1].split("]")[0].split(",")]
    assert scenario.behaviour.base_hazard == pytest.approx(hazards)
    assert scenario.behaviour.stress == (0.9,)  # the scenario's own key kept
    assert set(scenario.calibration["standard_errors"]) == set(scenario.calibration["estimates"])


def test_include_errors_name_the_file_and_key(tmp_path):
    from waifang.errors import InputError

    (tmp_path / "a.toml").write_text('include = ["b.toml"]\nname = "a"\n')
    (tmp_path / "b.toml").write_text('include = "a.toml"\n')
    with pytest.raises(InputError, match=r"b.toml: include: includes itself"):
        load_scenario(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('include = ["missing.toml"]\nname = "c"\n')
    with pytest.raises(InputError, match=r"c.toml: include\[0\]: no such file \(got 'missing"):
        load_scenario(tmp_path / "c.toml")


def test_calibrated_cards_runs_by_name_on_its_held_out_fit(capsys):
    from waifang.scenarios.run_commands import scenario_path
    from waifang.scenarios.runner import run_scenario

    assert main(["validate", "calibrated_cards"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "ok"  # then what validate checked
    scenario = load_scenario(scenario_path("calibrated_cards"))
    assert scenario.calibration["held_out_accounts"] > 0
    assert scenario.behaviour.base_hazard != BehaviourSpec().base_hazard  # its own fit
    small = scenario.model_copy(
        update={"portfolio": scenario.portfolio.model_copy(update={"accounts": 1500}), "days": 40}
    )
    results = run_scenario(small, replications=1)
    assert set(results.summary["policy"]) == {"ladder", "digital_only", "untreated"}
    assert (results.summary["violations"] == 0).all()
