"""Fast in-process checks of the closed loop (waifang/optimise/values.py, policy.py and
training.py), each against numbers worked out by hand, a plain re-computation or brute
force; also the first file of their selections for mutation testing (tests/mutation.py).
Small books (hundreds to a few thousand accounts), seconds in all."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from waifang.optimise.options import escalation_candidates
from waifang.optimise.policy import (
    OptimisedPolicy,
    OptimiserSpec,
    Plan,
    _fill,
    _plan,
    candidates,
    region_costs,
    team_hours,
    top_per_region,
)
from waifang.optimise.training import (
    RealisedProbe,
    scale_world,
    train_value_model,
    train_value_models,
    training_days,
)
from waifang.optimise.values import (
    FEATURES,
    PayHazard,
    Valuation,
    ValueModel,
    WithheldRevelation,
    _keys,
    candidate_frame,
    features,
    option_cost,
    sample,
    treatment_effects,
    valued,
)
from waifang.scenarios.runner import build_portfolio
from waifang.scenarios.schema import load_scenario
from waifang.sim.eligible import visit_allowed
from waifang.sim.fork import checkpoints
from waifang.sim.policy import LadderPolicy
from waifang.sim.state import CLOSED, CURRENT, DELINQUENT

DATA = Path(__file__).resolve().parent.parent / "data"
OPTIMISED = DATA / "optimised.toml"


# ---------------------------------------------------------------------------- values.py


class FakeView:
    """The lender view's columns the values read, set by hand (one entry per account)."""

    def __init__(self, **columns):
        n = len(columns["dpd"])
        defaults = dict(
            balance=np.full(n, 1000.0), visits=np.zeros(n, np.int16),
            in_legal=np.zeros(n, bool), placed_until=np.full(n, -1, np.int32),
            segment=np.zeros(n, np.int16), address_verified=np.ones(n, bool),
            contactable=np.ones(n, bool), claimed=np.zeros(n, bool),
            ability=np.full(n, np.nan, np.float32), strategic=np.zeros(n, bool),
            account_id=np.arange(100, 100 + n), status=np.full(n, DELINQUENT, np.int8),
            region=np.zeros(n, np.int16), visit_queued=np.zeros(n, bool),
        )
        for name, value in {**defaults, **columns}.items():
            setattr(self, name, np.asarray(value))
        self.balance_cents = np.round(self.balance * 100).astype(np.int64)

    def revealed_ability(self):
        return self.ability

    def revealed_strategic(self):
        return self.strategic


def test_features_by_hand():
    view = FakeView(
        dpd=[0, 14, 15, 719, 800, 95],
        balance=[0.0, 1999.99, 2000.0, 40000.0, 50000.0, 7000.0],
        visits=[0, 1, 1, 2, 0, 1],
        ability=[np.nan, np.nan, 0.3, 0.31, np.nan, 0.9],
        strategic=[False, False, False, False, False, True],
        in_legal=[False, True, False, True, False, False],
        placed_until=[-1, 10, 9, 10, 30, -1],
        segment=[0, 1, 2, 3, 4, 5], address_verified=[1, 0, 1, 0, 1, 0],
        contactable=[0, 1, 0, 1, 0, 1], claimed=[1, 0, 0, 0, 1, 0],
    )
    idx = np.array([5, 0, 1, 2, 3, 4])
    got = features(view, idx, day=10, days=130)
    # dpd bands of 15 days capped at 720; balance bands: edges at or below the balance
    # (0, 2000, 4000, 7000, 12000, 20000, 40000); days left 120: bands 0, 30, 60, 90, 120.
    expected = pd.DataFrame({
        "dpd_band": [6, 0, 0, 1, 47, 48],
        "balance_band": [4, 1, 1, 2, 7, 7],
        "segment": [5, 0, 1, 2, 3, 4],
        "address_verified": [0, 1, 0, 1, 0, 1],
        # never visited 0, visited not met 1, able 2 (> 0.3), unable 3, strategic 4
        "history": [4, 0, 1, 3, 2, 0],
        "contactable": [1, 0, 1, 0, 1, 0],
        # legal 1 + placed (until on or after the day) 2
        "escalated": [0, 0, 3, 0, 3, 2],
        "days_left": [5, 5, 5, 5, 5, 5],
        "claimed": [0, 1, 0, 0, 0, 1],
    })
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert list(got.columns) == list(FEATURES)
    # 25 days ahead, paying nothing: dpd and days left move on, the rest stays.
    ahead = features(view, idx, day=10, days=130, ahead=25)
    assert ahead["dpd_band"].tolist() == [8, 1, 2, 2, 48, 48]
    assert ahead["days_left"].tolist() == [4] * 6  # 95 days left
    assert ahead["escalated"].tolist() == [0, 0, 1, 0, 1, 0]  # placements ended by day 35
    for days, band in ((9, 0), (10, 1), (39, 1), (40, 2), (1000, 5)):
        assert features(view, idx[:1], day=10, days=days)["days_left"].tolist() == [band]


def test_the_candidates_table_and_a_valuation_without_a_model():
    view = FakeView(dpd=[30, 60, 90], balance=[10.0, 20.0, 30.0], segment=[2, 1, 0])
    idx = np.array([2, 0])
    frame = candidate_frame(view, idx, "visit", ("north", "south"), np.array([1, 0]),
                            value=np.array([5.0, 6.0]), value_raw=np.array([7.0, 8.0]),
                            value_se=np.array([1.0, 2.0]), cost=np.array([3.0, 4.0]),
                            hours=2.5, period=np.array([0, 1]))
    assert frame.to_dict("list") == {
        "account": [2, 0], "account_id": [102, 100], "option": ["visit", "visit"],
        "region": ["south", "north"], "region_code": [1, 0], "value": [5.0, 6.0],
        "value_raw": [7.0, 8.0], "value_se": [1.0, 2.0], "cost": [3.0, 4.0],
        "hours": [2.5, 2.5], "segment": [0, 2], "balance": [30.0, 10.0], "dpd": [90, 30],
        "period": [0, 1],
    }
    none = valued(None, view, idx, 0, 60)
    assert all(np.isnan(a).all() and a.shape == (2,) for a in (none.value, none.value_se,
                                                                none.raw))
    assert none.level.tolist() == [-1, -1]
    empty = valued(ValueModel.fit(pd.DataFrame({"balance": [1.0, 2.0], "gross": [1.0, 1.0]}),
                                  levels=((),)), view, np.array([], int), 0, 60)
    assert empty.value.shape == empty.raw.shape == empty.level.shape == (0,)
    # With a model: the whole-book ratio (2 / 3 per unit of balance) times each balance.
    model = ValueModel.fit(pd.DataFrame({"balance": [1.0, 2.0], "gross": [1.0, 1.0]}),
                           levels=((),))
    got = valued(model, view, idx, 0, 60)
    np.testing.assert_allclose(got.value, [20.0, 20.0 / 3])
    np.testing.assert_allclose(got.raw, got.value)
    assert got.level.tolist() == [0, 0]


def _hand_cells(frame, level):
    """Per cell of ``level``: n, ratio (sum gross / sum balance) and its linearised standard
    error, from the residuals of gross = ratio x balance."""
    out = {}
    groups = frame.groupby(list(level)) if level else [((), frame)]
    for key, rows in groups:
        x, y = rows["balance"].to_numpy(), rows["gross"].to_numpy()
        n = len(x)
        r = y.sum() / x.sum()
        resid = y - r * x
        se = (np.sqrt((resid**2).sum() / (n * (n - 1))) / x.mean()) if n > 1 else np.inf
        out[key if isinstance(key, tuple) else (key,)] = (n, r, se)
    return out


def _cell_frame(seed, n=400):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"g": rng.integers(0, 4, n), "h": rng.integers(0, 3, n),
                          "balance": rng.lognormal(7, 0.5, n)})
    frame["gross"] = (0.05 * frame["g"] - 0.04 + rng.normal(0, 0.08, n)) * frame["balance"]
    return frame


def test_plain_cells_and_their_standard_errors_by_hand():
    frame = _cell_frame(0)
    # A cell of all-zero features (key 0) with enough accounts, a cell of one account,
    # and a row whose cell was never seen.
    frame.loc[frame.index[:40], ["g", "h"]] = 0
    frame = pd.concat([frame, pd.DataFrame({"g": [9], "h": [2], "balance": [500.0],
                                            "gross": [50.0]})], ignore_index=True)
    levels = (("g", "h"), ("g",), ())
    model = ValueModel.fit(frame, levels=levels, min_accounts=20)
    query = pd.DataFrame({"g": [0, 1, 9, 7, 2], "h": [0, 2, 2, 0, 1],
                          "balance": [100.0, 200.0, 300.0, 400.0, 0.0]})
    value, se, used = model.predict(query)
    cells = [_hand_cells(frame, level) for level in levels]
    expected_used = []
    for i, row in query.iterrows():
        for k, level in enumerate(levels):
            hit = cells[k].get(tuple(int(row[c]) for c in level))
            if hit is not None and (hit[0] >= 20 or k == len(levels) - 1):
                break
        expected_used.append(k)
        _, r, s = hit
        assert value[i] == pytest.approx(r * row["balance"], rel=1e-9, abs=1e-12)
        assert se[i] == pytest.approx(s * row["balance"], rel=1e-9, abs=1e-12)
    assert used.tolist() == expected_used == [0, 0, 2, 2, 1]
    # A level with a single cell: a row not in it falls through (no out-of-range look-up).
    one = frame[frame["g"] == 0]
    model = ValueModel.fit(one, levels=(("g",), ()), min_accounts=5)
    v, s, u = model.predict(pd.DataFrame({"g": [0, 3], "balance": [10.0, 10.0]}))
    assert u.tolist() == [0, 1]
    total = _hand_cells(one, ())[()]
    assert v[1] == pytest.approx(total[1] * 10) and s[1] == pytest.approx(total[2] * 10)
    with pytest.raises(ValueError, match="no treatment effects to fit values on"):
        ValueModel.fit(frame.iloc[:0])
    assert ValueModel.fit(frame.iloc[:1], levels=((),)).tables[0]["n"].tolist() == [1]


def test_cell_keys_tell_every_cell_apart_and_refuse_values_out_of_range():
    level = ("dpd_band", "balance_band", "segment", "history")
    rng = np.random.default_rng(3)
    columns = {"dpd_band": rng.integers(0, 256, 3000), "balance_band": rng.integers(0, 32, 3000),
               "segment": rng.integers(0, 4096, 3000), "history": rng.integers(0, 8, 3000)}
    keys = _keys(columns, level)
    tuples = list(zip(*(columns[c].tolist() for c in level), strict=True))
    assert len(set(keys.tolist())) == len(set(tuples))
    assert (keys >= 0).all()
    bad = _keys({"dpd_band": np.array([256, -1, 3]), "balance_band": np.array([0, 0, 32]),
                 "segment": np.array([0, 0, 0]), "history": np.array([0, 0, 0])}, level)
    assert bad.tolist() == [-1, -1, -1]
    with pytest.raises(ValueError, match="needs 64 bits"):
        _keys({"a": np.zeros(1), "b": np.zeros(1), "c": np.zeros(1), "d": np.zeros(1)},
              ("a", "b", "c", "d"))


def test_shrunk_values_by_hand():
    """Empirical Bayes toward the parent cell, as the docstring of ``ValueModel.fit`` says,
    computed from the raw effects."""
    frame = _cell_frame(1)
    levels = (("g",), ())
    model = ValueModel.fit(frame, levels=levels, min_accounts=30, shrink=True)
    fine, (whole,) = _hand_cells(frame, ("g",)), _hand_cells(frame, ()).values()
    gaps = [(r - whole[1]) ** 2 for n, r, s in fine.values()]
    tau2 = max(0.0, np.mean(gaps) - np.mean([s**2 for n, r, s in fine.values()]))
    assert tau2 > 0 and model.spread == pytest.approx((tau2, 0.0))
    query = pd.DataFrame({"g": [0, 1, 2, 3, 5], "balance": [10.0, 20.0, 30.0, 40.0, 50.0]})
    value, se, used = model.predict(query)
    for i, (g, balance) in enumerate(zip(query["g"], query["balance"], strict=True)):
        if (g,) in fine:
            n, r, s = fine[(g,)]
            w = tau2 / (tau2 + s**2)
            ratio = whole[1] + w * (r - whole[1])
            ratio_se = np.sqrt((w * s) ** 2 + ((1 - w) * whole[2]) ** 2)
        else:
            ratio, ratio_se = whole[1], whole[2]
        assert value[i] == pytest.approx(ratio * balance, rel=1e-9)
        assert se[i] == pytest.approx(ratio_se * balance, rel=1e-9)
    assert used.tolist() == [0, 0, 0, 0, 1]
    # The one-look-up valuation gives the same, and the plain value beside it.
    got = model.valuation(query)
    np.testing.assert_array_equal(got.value, value)
    plain = [fine[(g,)][1] * b if (g,) in fine else whole[1] * b
             for g, b in zip(query["g"], query["balance"], strict=True)]
    np.testing.assert_allclose(got.raw, plain, rtol=1e-9)


def test_calibration_is_a_balance_weighted_fit_of_held_out_effects():
    frame = _cell_frame(2, n=600)
    levels = (("g",), ())
    seed = np.random.SeedSequence(7)
    model = ValueModel.fit_calibrated(frame, levels=levels, min_accounts=30, seed=seed)
    half = np.random.default_rng(np.random.SeedSequence(7)).random(len(frame)) < 0.5
    x, y, w = [], [], []
    for fit_on in (half, ~half):
        part = ValueModel.fit(frame[fit_on], levels=levels, min_accounts=30)
        held = frame[~fit_on]
        x += list(part.predict(held)[0] / held["balance"])
        y += list(held["gross"] / held["balance"])
        w += list(held["balance"])
    # weighted least squares of y on (1, x) with weights w
    design = np.column_stack([np.ones(len(x)), x]) * np.sqrt(w)[:, None]
    (a, b), *_ = np.linalg.lstsq(design, np.asarray(y) * np.sqrt(w), rcond=None)
    assert model.calibration == pytest.approx((a, b), rel=1e-9)
    query = pd.DataFrame({"g": [0, 3], "balance": [100.0, 200.0]})
    plain, plain_se, _ = model.predict(query, corrected=False)
    value, se, _ = model.predict(query)
    np.testing.assert_allclose(value, a * query["balance"] + b * plain, rtol=1e-9)
    np.testing.assert_allclose(se, abs(b) * plain_se, rtol=1e-9)
    got = model.valuation(query)
    np.testing.assert_array_equal(got.value, value)
    np.testing.assert_array_equal(got.raw, plain)
    # Too few accounts to split: no calibration.
    assert ValueModel.fit_calibrated(frame.iloc[:3], levels=levels).calibration is None


def test_pay_hazard_by_hand():
    first = FakeView(dpd=[1, 2, 3, 20, 40, 170, 5, 0],
                     status=[DELINQUENT] * 6 + [CURRENT, DELINQUENT])
    second = FakeView(dpd=[0, 0, 33, 0, 0, 0, 0, 0],
                      status=[CURRENT, CLOSED, DELINQUENT, CURRENT, DELINQUENT, CURRENT,
                              CURRENT, CURRENT])
    # band 0 (dpd 0-14): accounts 0, 1, 2, 7 -> 3 of 4 paid; band 1 (dpd 15-29): 1 of 1;
    # band 2: 0 of 1; account 5 (170 + 30 >= 180) would charge off: left out; 6 was current.
    hazard = PayHazard.fit([(first, second, 10, 30)], charge_off_dpd=180, min_accounts=1)
    rate = hazard.rate[0]
    assert rate[0] == pytest.approx(-np.log(1 - 3 / 4) / 30)
    assert rate[1] == pytest.approx(-np.log(1e-9) / 30)  # all paid: capped
    assert rate[2] == 0.0
    pooled = -np.log(1 - 4 / 6) / 30
    assert rate[3] == pytest.approx(pooled) and rate[40] == pytest.approx(pooled)
    # With min_accounts 2 the bands of one account take the pooled rate.
    two = PayHazard.fit([(first, second, 10, 30)], charge_off_dpd=180, min_accounts=2)
    assert two.rate[0][1] == pytest.approx(pooled) and two.rate[0][0] == rate[0]
    # Pairs are kept in the order of their start; stay() takes the latest started.
    later = PayHazard.fit([(first, first, 40, 30), (first, second, 10, 30)],
                          charge_off_dpd=180, min_accounts=1)
    assert later.starts.tolist() == [10, 40]
    dpd = np.array([3, 16, 700, 900])
    for day, k in ((0, 0), (10, 0), (39, 0), (40, 1), (99, 1)):
        np.testing.assert_allclose(later.stay(dpd, 7, day),
                                   np.exp(-later.rate[k][[0, 1, 46, 48]] * 7))
    assert later.stay(dpd, 7, 39)[0] == pytest.approx(0.25 ** (7 / 30))
    nobody = PayHazard.none()
    assert nobody.stay(dpd, 100, 5).tolist() == [1.0] * 4
    assert PayHazard.fit([], charge_off_dpd=180).stay(dpd, 9).tolist() == [1.0] * 4


def test_withheld_revelation_hides_what_later_visits_reveal():
    seen = []

    def policy(view, day):
        seen.append((view.revealed_ability().copy(), view.revealed_strategic().copy(),
                     view.balance))
        return {}

    view = FakeView(dpd=[1, 2, 3], ability=[0.2, np.nan, np.nan],
                    strategic=[True, False, False])
    hidden = WithheldRevelation(policy)
    hidden(view, 0)
    view.ability = np.array([0.2, 0.7, np.nan], np.float32)  # a visit on day 0 revealed 1
    view.strategic = np.array([True, True, False])
    hidden(view, 1)
    (a0, s0, b0), (a1, s1, _) = seen
    np.testing.assert_allclose(a0, [0.2, np.nan, np.nan], rtol=1e-6)
    np.testing.assert_allclose(a1, [0.2, np.nan, np.nan], rtol=1e-6)
    assert s0.tolist() == s1.tolist() == [True, False, False]
    assert b0 is view.balance


def test_option_costs_and_a_sample():
    from waifang.sim.spec import World

    world = World(days=30)
    costs = [r.visit_cost for r in world.resources.regions]
    region = np.array([1, 0, 1])
    assert option_cost(world, np.arange(3), "visit", region).tolist() == [costs[1], costs[0],
                                                                          costs[1]]
    assert option_cost(world, np.arange(3), "legal").tolist() == [world.treatments.legal.fee] * 3
    assert option_cost(world, np.arange(2), "agency").tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="no cost known for option 'sale'"):
        option_cost(world, np.arange(2), "sale")
    idx = np.arange(10, 30)
    picked = sample(np.random.SeedSequence(1), idx, 5, "x")
    assert picked.size == 5 and np.isin(picked, idx).all() and (np.diff(picked) > 0).all()
    np.testing.assert_array_equal(picked, sample(np.random.SeedSequence(1), idx, 5, "x"))
    assert not np.array_equal(picked, sample(np.random.SeedSequence(1), idx, 5, "y"))
    assert sample(np.random.SeedSequence(1), idx, None, "x") is idx
    assert sample(np.random.SeedSequence(1), idx, 20, "x") is idx


@pytest.fixture(scope="module")
def paused():
    """The small test scenario's book paused on day 30 under its ladder without visits."""
    scenario = load_scenario(DATA / "small.toml")
    portfolio = build_portfolio(scenario, np.random.default_rng(1)).subset(np.arange(800))
    rules, _ = scenario.rules_for(0)
    spec = scenario.policies[0]
    base = LadderPolicy(spec.model_copy(update={"rules": tuple(
        r for r in spec.rules if r.action != "visit")}), portfolio.segment_names)
    (cp,) = checkpoints(scenario.world(), portfolio, base, rules,
                        seed=np.random.SeedSequence(2), days=[30])
    return cp, base


@pytest.mark.parametrize(("option", "measure", "reps", "horizon"),
                         [("visit", "net_value", 2, 20), ("legal", "net_npv", 3, None),
                          ("visit", "net_value", 1, 5)])
def test_treatment_effects_are_paired_branches_of_the_accounts_alone(paused, option, measure,
                                                                     reps, horizon):
    """Per account: value with the treatment on the checkpoint's day minus value without, on
    the same seed, on a copy of just those accounts with teams (and for an escalation, courts
    and agencies) for all; plus the treatment's own cost; net_npv leaves out the balance
    left at the end. The pairs' seeds are children of ``seed`` by day and rep."""
    cp, base = paused
    accounts = np.flatnonzero(cp.view.dpd >= 100)[:12]
    seed = np.random.SeedSequence(17, spawn_key=(4,))
    effects = treatment_effects(cp, accounts, base, option=option, reps=reps, horizon=horizon,
                                seed=seed, measure=measure)
    until = cp.world.days if horizon is None else cp.day + horizon
    sub = cp.subset(accounts)
    wide = {"unlimited_field": True, "unlimited_escalation": option != "visit"}
    gains = []
    for r in range(reps):
        child = np.random.SeedSequence(17, spawn_key=(4, 30, r))
        off = sub.branch(base, seed=child, until=until, **wide)
        on = sub.branch(base, extra={option: np.arange(12)}, seed=child, until=until, **wide)
        gain = on.value - off.value
        if measure == "net_npv":
            gain -= on.terminal_npv - off.terminal_npv
        gains.append(gain)
    cost = option_cost(cp.world, accounts, option, cp.portfolio.region[accounts])
    gross = np.array(gains) + cost
    np.testing.assert_allclose(effects.gross, gross.mean(axis=0), rtol=1e-12, atol=1e-9)
    if reps > 1:
        np.testing.assert_allclose(effects.spread, gross.std(axis=0, ddof=1), rtol=1e-9)
    else:
        assert effects.spread.shape == (12,) and np.isnan(effects.spread).all()
    assert effects.reps == reps and effects.day == 30
    np.testing.assert_array_equal(effects.accounts, accounts)
    np.testing.assert_array_equal(effects.balance, cp.view.balance[accounts])
    np.testing.assert_array_equal(effects.cost, cost)
    frame = effects.frame()
    assert list(frame.columns) == ["account", "day", *FEATURES, "balance", "cost", "gross"]
    assert frame["account"].tolist() == accounts.tolist() and (frame["day"] == 30).all()
    pd.testing.assert_frame_equal(frame[list(FEATURES)],
                                  features(cp.view, accounts, 30, cp.world.days))
    np.testing.assert_array_equal(frame["gross"], effects.gross)


def test_treatment_effects_refuse_an_unknown_measure(paused):
    cp, base = paused
    with pytest.raises(ValueError, match="measure must be 'net_value' or 'net_npv', got 'x'"):
        treatment_effects(cp, np.arange(3), base, seed=np.random.SeedSequence(1), measure="x")


# ---------------------------------------------------------------------------- policy.py

class BalanceModel:
    """A value model that knows each account's value by its balance (all distinct here)."""

    hazard = None

    def __init__(self, by_balance):
        self.by_balance = by_balance

    def valuation(self, frame):
        value = np.array([self.by_balance.get(b, 0.0) for b in frame["balance"]])
        return Valuation(value, np.full(len(value), 1.0), np.zeros(len(value), int),
                         value - 1.0)


@pytest.fixture(scope="module")
def book():
    """The optimised test scenario's book paused on day 14 under its no-visit ladder, in a
    world of one team per region (so the teams' hours bind)."""
    scenario = load_scenario(OPTIMISED)
    portfolio = build_portfolio(scenario, np.random.default_rng(1))
    rules, _ = scenario.rules_for(1)
    world = scenario.world()
    regions = tuple(r.model_copy(update={"teams": 1}) for r in world.resources.regions)
    world = world.model_copy(update={"resources": world.resources.model_copy(
        update={"regions": regions})})
    base = LadderPolicy(scenario.policies[1], portfolio.segment_names)
    (cp,) = checkpoints(world, portfolio, base, rules, seed=np.random.SeedSequence(1),
                        days=[14])
    return world, rules, base, cp


def test_region_costs_and_team_hours_by_hand(book):
    world, rules, _, _ = book
    regions = world.resources.regions
    cost, hours, collectors = region_costs(world)
    assert cost.tolist() == [400.0, 250.0]
    assert hours.tolist() == [r.travel_hours + r.visit_hours for r in regions]
    assert collectors.tolist() == [r.collectors_per_team for r in regions]
    # One team, 8:00-20:00 within the rules' 8:00-20:00: 12 hours a day.
    assert (rules.visit_start_hour, rules.visit_end_hour) == (8.0, 20.0)
    assert team_hours(world, rules, 3).tolist() == [36.0, 36.0]
    late = rules.model_copy(update={"visit_start_hour": 10.0, "visit_end_hour": 22.0})
    assert team_hours(world, late, 2).tolist() == [20.0, 20.0]
    night = rules.model_copy(update={"visit_start_hour": 21.0, "visit_end_hour": 23.0})
    assert team_hours(world, night, 2).tolist() == [0.0, 0.0]


def _spec(**changes):
    return OptimiserSpec(**{"period_days": 1, "budget_per_period": 2000.0, **changes})


def test_candidates_are_the_delinquent_accounts_the_rules_let_a_visit_be_asked_for(book):
    world, rules, _, cp = book
    view = cp.view
    table = candidates(view, cp.day, world, rules, None, cp.portfolio.region_names)
    every = np.arange(cp.n)
    collectors = np.array([r.collectors_per_team for r in world.resources.regions])
    allowed = visit_allowed(rules, view, every, cp.day, collectors[view.region])
    expected = every[allowed & (view.status == DELINQUENT)]
    assert 50 < len(expected) < (view.status == DELINQUENT).sum()
    assert table["account"].tolist() == expected.tolist()
    region = view.region[expected]
    assert table["region"].tolist() == [cp.portfolio.region_names[r] for r in region]
    assert table["cost"].tolist() == [(400.0, 250.0)[r] for r in region]
    assert table["hours"].tolist() == [(2.0, 3.0)[r] for r in region]
    assert table["value"].isna().all() and table["value_se"].isna().all()


def _policy(book, values, **changes):
    world, rules, base, cp = book
    model = BalanceModel(values)
    return OptimisedPolicy(base, _spec(**changes), world, rules, cp.portfolio.region_names,
                           model, np.random.SeedSequence(3))


def _best(table, budget, hours_left):
    """Brute force: the best net value of any set of rows within the budget and hours."""
    rows = table.to_dict("records")
    best, best_set = 0.0, ()
    for k in range(1, len(rows) + 1):
        for chosen in itertools.combinations(range(len(rows)), k):
            cost = sum(rows[i]["cost"] for i in chosen)
            hours = np.zeros(len(hours_left))
            for i in chosen:
                hours[rows[i]["region_code"]] += rows[i]["hours"]
            if cost <= budget + 1e-9 and (hours <= hours_left + 1e-9).all():
                net = sum(rows[i]["value"] - rows[i]["cost"] for i in chosen)
                if net > best:
                    best, best_set = net, tuple(rows[i]["account"] for i in chosen)
    return best, best_set


def test_an_optimal_plan_is_the_best_set_within_the_budget_and_the_teams_hours(book):
    world, rules, _, cp = book
    view = cp.view
    table = candidates(view, cp.day, world, rules, None, cp.portfolio.region_names)
    rng = np.random.default_rng(5)
    # Twelve accounts worth more than their visit, the rest worth nothing.
    worth = table.sample(12, random_state=1)
    values = {b: c + v for b, c, v in zip(worth["balance"], worth["cost"],
                                           rng.uniform(50, 900, 12), strict=True)}
    policy = _policy(book, values, budget_per_period=1800.0)
    plan = policy.plan(view, cp.day)
    hours_left = team_hours(world, rules, 1)
    rows = worth.assign(value=[values[b] for b in worth["balance"]])
    best, best_set = _best(rows, 1800.0, hours_left)
    assert plan.predicted == pytest.approx(best, rel=1e-3)
    assert sorted(plan.accounts.tolist()) == sorted(best_set) == plan.accounts.tolist()
    assert plan.cost.sum() <= 1800.0 and plan.candidates == len(table)
    np.testing.assert_allclose(plan.value, [values[b] for b in view.balance[plan.accounts]])
    np.testing.assert_allclose(plan.value_raw, plan.value - 1.0)
    assert plan.options is None and plan.status in ("optimal", "feasible")
    # Nothing worth its cost, or no money: nothing planned, and it says why.
    assert _policy(book, {}).plan(view, cp.day).status == "no candidate worth its cost"
    empty = _policy(book, values, budget_per_period=0.0).plan(view, cp.day)
    assert empty.status == "nothing to plan" and empty.accounts.size == 0
    assert empty.candidates == len(table)


def test_queued_visits_take_their_hours_from_the_plan(book):
    """Hours bind (budget ample): each region gets as many visits as its hours left hold."""
    world, rules, base, cp = book
    view = cp.view
    table = candidates(view, cp.day, world, rules, None, cp.portfolio.region_names)
    values = {b: 5000.0 + i for i, b in enumerate(table["balance"])}
    policy = _policy(book, values, budget_per_period=1e7, period_days=2)
    plan = policy.plan(view, cp.day)
    region = view.region[plan.accounts]
    # 2 days x 12 hours, a visit of 2 hours in the city and 3 in the country
    assert np.bincount(region, minlength=2).tolist() == [12, 8]
    # ... less the hours of the visits already waiting for a team.
    queued = np.zeros(cp.n, bool)
    queued[np.flatnonzero(view.region == 0)[:3]] = True
    queued[np.flatnonzero(view.region == 1)[:2]] = True
    busy = _Queued(view, queued)
    plan = policy.plan(busy, cp.day)
    assert np.bincount(view.region[plan.accounts], minlength=2).tolist() == [
        (24 - 3 * 2) // 2, (24 - 2 * 3) // 3]
    # The most valuable visits of each region are the ones taken.
    for r in (0, 1):
        mine = table[table["region_code"] == r]
        mine = mine.assign(value=[values[b] for b in mine["balance"]])
        top = mine.nlargest((9, 6)[r], "value")["account"]
        assert sorted(plan.accounts[view.region[plan.accounts] == r]) == sorted(top)


class _Queued:
    """A view with other visits waiting in the queues."""

    def __init__(self, view, queued):
        self._view, self.visit_queued = view, queued

    def __getattr__(self, name):
        return getattr(self._view, name)


def test_random_plans_keep_the_budget_and_hours_and_leave_nothing_that_would_fit(book):
    world, rules, _, cp = book
    view = cp.view
    for budget, days in ((1650.0, 1), (1e6, 1), (5000.0, 3)):
        policy = _policy(book, {}, selection="random", budget_per_period=budget,
                         period_days=days)
        plan = policy.plan(view, cp.day)
        assert plan.status == "random" and plan.accounts.size > 0
        table = candidates(view, cp.day, world, rules, None, cp.portfolio.region_names)
        cost, hours, _ = region_costs(world)
        region = view.region[plan.accounts]
        spent = cost[region].sum()
        used = np.bincount(region, weights=hours[region], minlength=2)
        left = team_hours(world, rules, days) - used
        assert spent <= budget and (left >= 0).all()
        rest = table[~table["account"].isin(plan.accounts)]
        fits = ((rest["cost"] <= budget - spent)
                & (rest["hours"].to_numpy() <= left[rest["region_code"]]))
        assert not fits.any()
    # Another seed, another draw.
    other = OptimisedPolicy(policy.base, policy.spec, world, rules, policy.region_names, None,
                            np.random.SeedSequence(4))
    assert not np.array_equal(other.plan(view, cp.day).accounts, plan.accounts)


def test_the_policy_plans_on_the_first_day_of_each_period_and_asks_for_the_plans_visits(book):
    world, rules, base, cp = book
    view = cp.view
    table = candidates(view, cp.day, world, rules, None, cp.portfolio.region_names)
    values = {b: 5000.0 for b in table["balance"][:3]}
    policy = _policy(book, values, period_days=7, budget_per_period=1e6)
    asked = {day: policy(view, day) for day in range(cp.day - 1, cp.day + 9)}
    assert [p.day for p in policy.plans] == [cp.day, cp.day + 7]  # 14 and 21
    for day, requests in asked.items():
        plain = base(view, day)
        assert set(requests) - {"visit"} == set(plain)
        for action, request in plain.items():
            np.testing.assert_array_equal(np.asarray(requests[action], dtype=object),
                                          np.asarray(request, dtype=object))
        if day in (14, 21):
            assert requests["visit"].tolist() == sorted(table["account"][:3])
        else:
            assert "visit" not in requests
    nobody = _policy(book, {}, period_days=7)
    assert "visit" not in nobody(view, 14) and len(nobody.plans) == 1
    with pytest.raises(ValueError, match="an optimal selection needs a value model"):
        OptimisedPolicy(base, _spec(), world, rules, ("a", "b"), None,
                        np.random.SeedSequence(1))
    with pytest.raises(ValueError, match="an optimal selection of 'legal' needs its value"):
        OptimisedPolicy(base, _spec(options=("visit", "legal")), world, rules, ("a", "b"),
                        BalanceModel({}), np.random.SeedSequence(1))
    # A zero budget needs no model.
    OptimisedPolicy(base, _spec(budget_per_period=0.0), world, rules, ("a", "b"), None,
                    np.random.SeedSequence(1))


def test_fill_and_top_per_region_by_hand():
    table = pd.DataFrame({"account": [5, 6, 7, 8, 9], "region_code": [0, 1, 0, 0, 1],
                          "cost": [100.0, 50.0, 100.0, 100.0, 50.0],
                          "hours": [2.0, 5.0, 2.0, 2.0, 5.0],
                          "value": [300.0, 90.0, 500.0, 200.0, 80.0],
                          "value_se": [1.0, 2.0, 3.0, 4.0, 5.0]})
    # In the given order: 5 (spent 100), 6 (150), 7 (250); 8 and 9 would pass 260.
    got = _fill(table, 260.0, np.array([10.0, 10.0]))
    assert got["account"].tolist() == [5, 6, 7]
    # Hours: 5 and 7 use region 0's 4; 6 leaves 4 of region 1's 9, less than 9 needs.
    got = _fill(table, 1000.0, np.array([4.0, 9.0]))
    assert got["account"].tolist() == [5, 6, 7]
    assert _fill(table, 1000.0, np.array([0.0, 0.0])).empty
    top = top_per_region(table, np.array([4.5, 100.0]), 1000.0)
    # region 0: 4.5 h hold 2 visits -> the two most valuable (7, 5); region 1: all (6, 9)
    assert sorted(top["account"]) == [5, 6, 7, 9]
    top = top_per_region(table, np.array([100.0, 100.0]), 150.0)
    # the budget holds one visit of region 0 (7) and three of region 1 (both)
    assert sorted(top["account"]) == [6, 7, 9]
    plan = _plan(3, table.iloc[[2, 0]], 9, "x")
    assert plan.accounts.tolist() == [5, 7] and plan.value.tolist() == [300.0, 500.0]
    assert plan.value_se.tolist() == [1.0, 3.0] and plan.cost.tolist() == [100.0, 100.0]
    assert plan.value_raw is None and plan.predicted == 600.0 and plan.candidates == 9
    assert plan.day == 3 and plan.status == "x" and plan.options is None
    with_raw = _plan(3, table.assign(value_raw=[7.0, 8.0, 9.0, 10.0, 11.0],
                                     option=["visit", "legal"] * 2 + ["agency"]), 0, "y",
                     options=True)
    assert with_raw.accounts.tolist() == [5, 6, 7, 8, 9]
    assert with_raw.value_raw.tolist() == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert with_raw.options.tolist() == ["visit", "legal", "visit", "legal", "agency"]


# -------------------------------------------------------------------------- training.py


def test_a_training_world_is_scaled_to_its_book():
    from waifang.sim.spec import Shift, World

    world = World(days=30)
    r = world.resources
    r = r.model_copy(update={
        "call_centre": r.call_centre.model_copy(update={"shifts": (
            Shift(start_hour=8, end_hour=14, agents=40),
            Shift(start_hour=14, end_hour=20, agents=3))}),
        "legal_capacity": 500, "agency_capacity": 7})
    world = world.model_copy(update={"resources": r})
    small = scale_world(world, 0.1).resources
    assert [s.agents for s in small.call_centre.shifts] == [4, 1]  # 0.3 rounds to 0: 1
    assert [(s.start_hour, s.end_hour) for s in small.call_centre.shifts] == [(8, 14), (14, 20)]
    assert (small.legal_capacity, small.agency_capacity) == (50, 1)
    assert small.regions == r.regions
    assert scale_world(world, 0.25).resources.call_centre.shifts[0].agents == 10
    assert scale_world(world, 1.0) is world and scale_world(world, 3.0) is world


def test_training_days():
    assert training_days(OptimiserSpec(budget_per_period=1.0), 100) == (0, 30, 60, 90)
    assert training_days(OptimiserSpec(budget_per_period=1.0), 30) == (0,)
    chosen = OptimiserSpec(budget_per_period=1.0, training_days=(50, 7, 7, 0, 60))
    assert training_days(chosen, 60) == (0, 7, 50)


@pytest.fixture(scope="module")
def training():
    scenario = load_scenario(OPTIMISED)
    book = build_portfolio(scenario, np.random.default_rng(2))
    rules, _ = scenario.rules_for(2)
    world = scenario.world()
    base = LadderPolicy(scenario.policies[2], book.segment_names)
    return world, book, rules, base


SPEC = {"budget_per_period": 1000.0, "training_accounts": 300, "training_sample": 10,
        "training_reps": 2, "horizon_days": 10, "min_cell_accounts": 5,
        "training_days": (0, 20, 40)}


def _train(training, rules=None, **changes):
    world, book, own_rules, base = training
    spec = OptimiserSpec(**{**SPEC, **changes})
    return train_value_models(world, book, 5000, base, rules or own_rules, spec,
                              np.random.SeedSequence(9))


def test_training_values_the_visit_and_each_option_on_a_sample_of_each_day(training):
    world, book, rules, base = training
    models = _train(training, options=("visit", "legal"))
    assert set(models) == {"visit", "legal"}
    for option, model in models.items():
        # Each of the 3 days values training_sample accounts (every day had more allowed).
        assert model.tables[-1]["n"].sum() == 3 * 10, option
        assert model.spread is None and model.calibration is None
        assert model.min_accounts == 5
        # One pay hazard, of the pairs of consecutive training days, shared by the models.
        assert model.hazard is models["visit"].hazard
    assert models["visit"].hazard.starts.tolist() == [0, 20]
    # A legal filing's effect is not a visit's.
    visit, legal = models["visit"].tables[-1], models["legal"].tables[-1]
    assert not np.isclose(visit["ratio"].iloc[0], legal["ratio"].iloc[0])
    # The same seed trains the same models; the visit model alone is the same.
    again = _train(training, options=("visit", "legal"))
    for option in models:
        pd.testing.assert_frame_equal(models[option].tables[0], again[option].tables[0])
    alone = train_value_model(world, book, 5000, base, rules, OptimiserSpec(**SPEC),
                              np.random.SeedSequence(9))
    pd.testing.assert_frame_equal(alone.tables[0], models["visit"].tables[0])
    # The training run's world is scaled to the training book (300 of a 5,000 book): the
    # same models as a world scaled by hand, trained for a book of its own size. (A call
    # centre of 10 agents making 2 attempts an hour: scaled to 1 agent, it is the bottleneck.)
    r = world.resources
    r = r.model_copy(update={"call_centre": r.call_centre.model_copy(
        update={"attempts_per_hour": 2.0})})
    busy = world.model_copy(update={"resources": r})
    share = 300 / 5000
    shifts = tuple(x.model_copy(update={"agents": max(1, round(x.agents * share))})
                   for x in r.call_centre.shifts)
    by_hand = world.model_copy(update={"resources": r.model_copy(update={
        "call_centre": r.call_centre.model_copy(update={"shifts": shifts}),
        "legal_capacity": max(1, round(r.legal_capacity * share)),
        "agency_capacity": max(1, round(r.agency_capacity * share))})})
    seed = np.random.SeedSequence(9)
    scaled = train_value_models(busy, book, 5000, base, rules, OptimiserSpec(**SPEC), seed)
    small = train_value_models(by_hand, book, 300, base, rules, OptimiserSpec(**SPEC), seed)
    unscaled = train_value_models(busy, book, 300, base, rules, OptimiserSpec(**SPEC), seed)
    pd.testing.assert_frame_equal(small["visit"].tables[0], scaled["visit"].tables[0])
    assert not small["visit"].tables[0].equals(unscaled["visit"].tables[0])
    # A larger training sample values more accounts.
    assert _train(training, training_sample=30)["visit"].tables[-1]["n"].sum() > 30


def test_training_corrections_and_what_the_training_book_lacked(training):
    shrunk = _train(training, value_correction="shrink")["visit"]
    assert shrunk.spread is not None and shrunk.calibration is None
    calibrated = _train(training, value_correction="calibrate")["visit"]
    assert calibrated.spread is None and calibrated.calibration is not None
    both = _train(training, value_correction="both")["visit"]
    assert both.spread is not None and both.calibration is not None
    rules = training[2]
    never = rules.model_copy(update={"visit_min_dpd": 5000})
    with pytest.raises(ValueError, match="never had an account a visit was allowed for"):
        _train(training, rules=never)
    with pytest.raises(ValueError, match="never had an account 'legal' was allowed for"):
        _train(training, options=("visit", "legal"), escalation_min_dpd=3000)
    # Legal alone: the visit is valued too (it is always), the legal model is there; where no
    # visit is ever allowed, the legal model alone.
    assert set(_train(training, options=("legal",))) == {"visit", "legal"}
    assert set(_train(training, rules=never, options=("legal",))) == {"legal"}


class _Branches:
    """A checkpoint of the accounts ``accounts`` whose branches are worth, per account, its
    base value plus, where treated, its gain; it records every branch asked for."""

    def __init__(self, accounts, base, gain, days, calls):
        self.accounts, self.base, self.gain, self.calls = accounts, base, gain, calls
        self.n = len(accounts)
        self.world = SimpleNamespace(days=days)

    def branch(self, policy, *, extra=None, seed=None, until=None):
        self.calls.append((policy, extra, seed, until))
        value = self.base[self.accounts].astype(float)
        for option, idx in (extra or {}).items():
            value[idx] += self.gain[option][self.accounts[idx]]
        return SimpleNamespace(value=value)


class _Live:
    def __init__(self, day, base, gain, days, calls):
        self.day, self.base, self.gain, self.days, self.calls = day, base, gain, days, calls
        self.asked = []

    def checkpoint(self, accounts):
        self.asked.append(np.asarray(accounts))
        return _Branches(np.asarray(accounts), self.base, self.gain, self.days, self.calls)


def _probe_policy(plans, sample, horizon=30, every=1):
    return SimpleNamespace(plans=plans, spec=SimpleNamespace(realised_sample=sample,
                                                             realised_every=every,
                                                             horizon_days=horizon))


def test_the_realised_value_of_a_plan_by_hand():
    n = 50
    base = np.arange(n) * 10.0
    gain = {"visit": np.linspace(-100, 400, n), "legal": np.linspace(50, 60, n)}
    accounts = np.array([3, 8, 9, 20, 31, 40])
    plan = Plan(day=14, accounts=accounts, value=np.full(6, 500.0), value_se=np.ones(6),
                cost=np.full(6, 100.0), candidates=10, status="optimal",
                value_raw=np.full(6, 650.0))
    calls = []
    probe = RealisedProbe(_probe_policy([plan], sample=100), "base", np.random.SeedSequence(4))
    live = _Live(14, base, gain, 40, calls)
    probe(live)
    (record,) = probe.records
    np.testing.assert_array_equal(live.asked[0], accounts)
    realised = gain["visit"][accounts]
    assert record == {
        "day": 14, "accounts": 6.0, "sampled": 6.0,
        "predicted": pytest.approx(6 * 400.0), "predicted_raw": pytest.approx(6 * 550.0),
        "realised": pytest.approx(realised.sum()),
        "variance": pytest.approx(((realised - 400.0) ** 2).sum()),
    }
    # Both branches: the base policy, the same fresh seed, up to the horizon (or the end).
    (p1, extra1, seed1, until1), (p2, extra2, seed2, until2) = calls
    assert p1 == p2 == "base" and until1 == until2 == 40
    assert seed1.entropy == seed2.entropy == 4 and seed1.spawn_key == seed2.spawn_key
    assert {extra1 is None, extra2 is None} == {True, False}
    treated = extra1 or extra2
    assert list(treated) == ["visit"] and treated["visit"].tolist() == list(range(6))
    # A sample of 3 of the 6 accounts stands for the plan: sums scaled by 2 (variance by 4).
    half_probe = RealisedProbe(_probe_policy([plan], sample=3), "base",
                               np.random.SeedSequence(4))
    live = _Live(14, base, gain, 40, [])
    half_probe(live)
    (half,) = half_probe.records
    picked = live.asked[0]
    assert picked.size == 3 and np.isin(picked, accounts).all()
    assert half["predicted"] == pytest.approx(3 * 400.0 * 2)
    assert half["predicted_raw"] == pytest.approx(3 * 550.0 * 2)
    assert half["realised"] == pytest.approx(gain["visit"][picked].sum() * 2)
    assert half["variance"] == pytest.approx(((gain["visit"][picked] - 400.0) ** 2).sum() * 4)
    calls.clear()
    probe(_Live(14, base, gain, 100, calls))
    assert calls[0][3] == 14 + 30
    other = RealisedProbe(_probe_policy([plan], sample=100), "base", np.random.SeedSequence(4))
    later = dataclasses.replace(plan, day=21)
    other.policy.plans = [later]
    other(_Live(21, base, gain, 100, calls))
    assert calls[-1][2].spawn_key != seed1.spawn_key  # another day, other luck
    summary = probe.summary()
    assert summary["realised_plans"] == 2.0
    assert summary["plan_realised"] == pytest.approx(2 * realised.sum())
    assert summary["plan_predicted_sampled"] == pytest.approx(2 * 2400.0)
    assert summary["plan_predicted_raw_sampled"] == pytest.approx(2 * 3300.0)
    half = 1.96 * np.sqrt(2 * ((realised - 400.0) ** 2).sum())
    assert summary["plan_realised_low"] == pytest.approx(2 * realised.sum() - half)
    assert summary["plan_realised_high"] == pytest.approx(2 * realised.sum() + half)


def test_a_sampled_plan_with_options_and_without_predictions():
    n = 400
    base = np.zeros(n)
    gain = {"visit": np.arange(n, dtype=float), "legal": 1000.0 + np.arange(n)}
    accounts = np.arange(0, 400, 4)  # 100 accounts
    options = np.array(["visit", "legal"] * 50, dtype=object)
    plan = Plan(day=7, accounts=accounts, value=np.full(100, np.nan), value_se=np.ones(100),
                cost=np.full(100, 10.0), candidates=100, status="random", options=options)
    calls = []
    probe = RealisedProbe(_probe_policy([plan], sample=20), "base", np.random.SeedSequence(5))
    live = _Live(7, base, gain, 60, calls)
    probe(live)
    (record,) = probe.records
    picked = live.asked[0]
    assert picked.size == 20 and np.isin(picked, accounts).all()
    assert (np.diff(picked) > 0).all()
    chosen = options[np.searchsorted(accounts, picked)]
    treated = next(extra for _, extra, _, _ in calls if extra)
    assert set(treated) == {"visit", "legal"}
    for option in ("visit", "legal"):
        assert treated[option].tolist() == np.flatnonzero(chosen == option).tolist()
    realised = np.where(chosen == "visit", gain["visit"][picked], gain["legal"][picked])
    assert record["accounts"] == 100.0 and record["sampled"] == 20.0
    assert record["realised"] == pytest.approx(realised.sum() * 5)
    # Without predictions, the spread of the realised values themselves.
    assert record["variance"] == pytest.approx(((realised - realised.mean()) ** 2).sum() * 25)
    assert np.isnan(record["predicted"])
    # Another sample of the same plan on another probe seed.
    again = _Live(7, base, gain, 60, [])
    RealisedProbe(_probe_policy([plan], sample=20), "base", np.random.SeedSequence(6))(again)
    assert not np.array_equal(again.asked[0], picked)


def test_the_probe_measures_only_todays_non_empty_plan():
    plan = Plan(day=7, accounts=np.array([1, 2]), value=np.ones(2), value_se=np.ones(2),
                cost=np.ones(2), candidates=2, status="optimal")
    empty = dataclasses.replace(plan, accounts=np.zeros(0, np.int64))
    for plans, day, size in (([], 7, 10), ([plan], 8, 10), ([plan, empty], 7, 10),
                             ([plan], 7, 0)):
        calls = []
        probe = RealisedProbe(_probe_policy(plans, size), "b", np.random.SeedSequence(1))
        live = _Live(day, np.zeros(5), {"visit": np.zeros(5)}, 30, calls)
        probe(live)
        assert probe.records == [] and calls == [] and live.asked == []
    summary = RealisedProbe(_probe_policy([], 5), "b", np.random.SeedSequence(1)).summary()
    assert summary["realised_plans"] == 0.0
    assert all(np.isnan(v) for k, v in summary.items() if k != "realised_plans")
    assert list(summary) == ["realised_plans", "plan_predicted_sampled",
                             "plan_predicted_raw_sampled", "plan_realised", "plan_realised_low",
                             "plan_realised_high"]


def _escalating(book, visit_values, legal_values, **changes):
    world, rules, base, cp = book
    return OptimisedPolicy(base, _spec(options=("visit", "legal"), **changes), world, rules,
                           cp.portfolio.region_names, BalanceModel(visit_values),
                           np.random.SeedSequence(3),
                           option_models={"legal": BalanceModel(legal_values)})


def _worth(table, count, seed, low, high):
    picked = table.sample(count, random_state=seed)
    rng = np.random.default_rng(seed)
    return {b: c + v for b, c, v in zip(picked["balance"], picked["cost"],
                                         rng.uniform(low, high, count), strict=True)}


def test_a_plan_with_legal_beside_the_visit_is_the_best_one_option_per_account(book):
    """Brute force over every choice of at most one option per account, within the budget
    (visits and filings alike) and the teams' hours (visits only)."""
    world, rules, _, cp = book
    view = cp.view
    visits = candidates(view, cp.day, world, rules, None, cp.portfolio.region_names)
    legal = escalation_candidates(view, cp.day, "legal", 90, world, rules, None,
                                  cp.portfolio.region_names)
    assert len(legal) > 8
    visit_values = _worth(visits, 7, 2, 50, 900)
    legal_values = _worth(legal, 5, 3, 100, 1500)
    # Two accounts worth both: one option each at most.
    for b in list(legal_values)[:2]:
        if b in set(visits["balance"]):
            visit_values[b] = legal_values[b] - 200.0
    policy = _escalating(book, visit_values, legal_values, budget_per_period=2500.0)
    plan = policy.plan(view, cp.day)
    rows = pd.concat([
        visits[visits["balance"].isin(visit_values)].assign(
            value=lambda f: [visit_values[b] for b in f["balance"]]),
        legal[legal["balance"].isin(legal_values)].assign(
            value=lambda f: [legal_values[b] for b in f["balance"]]),
    ], ignore_index=True).to_dict("records")
    hours_left = team_hours(world, rules, 1)
    best, best_choice = 0.0, ()
    for k in range(1, 7):
        for chosen in itertools.combinations(range(len(rows)), k):
            picked = [rows[i] for i in chosen]
            if len({r["account"] for r in picked}) < k:
                continue
            hours = np.zeros(2)
            for r in picked:
                hours[r["region_code"]] += r["hours"]
            if sum(r["cost"] for r in picked) <= 2500.0 and (hours <= hours_left).all():
                net = sum(r["value"] - r["cost"] for r in picked)
                if net > best:
                    best, best_choice = net, sorted((r["account"], r["option"]) for r in picked)
    assert plan.predicted == pytest.approx(best, rel=1e-3)
    planned = zip(plan.accounts.tolist(), plan.options.tolist(), strict=True)
    assert sorted(planned) == best_choice
    assert {"visit", "legal"} <= set(plan.options)
    requests = policy(view, cp.day)
    for option in ("visit", "legal"):
        assert requests[option].tolist() == plan.accounts[plan.options == option].tolist()


def test_a_plan_over_two_weeks_files_this_weeks_legal_cases(book):
    world, rules, _, cp = book
    view = cp.view
    legal = escalation_candidates(view, cp.day, "legal", 90, world, rules, None,
                                  cp.portfolio.region_names)
    legal_values = _worth(legal, 4, 5, 500, 1500)
    policy = _escalating(book, {}, legal_values, budget_per_period=1e6, horizon_periods=2,
                         period_days=7)
    plan = policy.plan(view, cp.day)
    expected = sorted(legal[legal["balance"].isin(legal_values)]["account"])
    assert plan.accounts.tolist() == expected and set(plan.options) == {"legal"}
    assert plan.tentative["period"].tolist() == [0] * 4
    assert policy(view, cp.day)["legal"].tolist() == expected


def test_a_solve_without_a_plan_visits_nobody_and_says_why(book, monkeypatch):
    """Every kind of plan (visits, visits and legal, two weeks) falls back to nothing when
    the solver stops without a plan it can verify, and keeps the solver's status."""
    from waifang.optimise import policy as module
    from waifang.optimise.result import Status

    monkeypatch.setattr(module, "solve", lambda problem, **kw: SimpleNamespace(
        status=Status.NO_SOLUTION, chosen=np.zeros(0, np.int64)))
    world, rules, _, cp = book
    view = cp.view
    visits = candidates(view, cp.day, world, rules, None, cp.portfolio.region_names)
    values = {b: 5000.0 for b in visits["balance"]}
    for policy in (_policy(book, values), _escalating(book, values, values),
                   _escalating(book, values, values, horizon_periods=2, period_days=7),
                   _policy(book, values, horizon_periods=2, period_days=7)):
        plan = policy.plan(view, cp.day)
        assert plan.status == "no_solution" and plan.accounts.size == 0
        assert plan.candidates >= len(visits)
        # ... and asks for the base ladder's requests alone.
        asked, plain = policy(view, cp.day), policy.base(view, cp.day)
        assert set(asked) == set(plain)
        for action in plain:
            np.testing.assert_array_equal(np.asarray(asked[action], dtype=object),
                                          np.asarray(plain[action], dtype=object))
