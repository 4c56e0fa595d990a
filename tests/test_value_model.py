"""The pooled value model against a plain groupby, cell by cell, level by level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from waifang.optimise.values import LEVELS, ValueModel


def _effects(rng, n, top, driver):
    """Treatment effects of ``n`` accounts: each feature drawn uniformly below its ``top``
    (dpd bands from 6, balance bands and days left from 1), a balance, and a gross effect of
    5 % of the balance times (1 + ``driver``) plus noise."""
    frame = pd.DataFrame({
        "dpd_band": rng.integers(6, top["dpd_band"], n),
        "balance_band": rng.integers(1, top["balance_band"], n),
        "segment": rng.integers(0, top["segment"], n), "address_verified": rng.integers(0, 2, n),
        "history": rng.integers(0, top["history"], n), "contactable": rng.integers(0, 2, n),
        "escalated": rng.integers(0, top["escalated"], n),
        "days_left": rng.integers(1, top["days_left"], n),
        "claimed": (rng.random(n) < 0.2).astype(np.int64),
    })
    frame["balance"] = rng.lognormal(8, 1, n)
    frame["gross"] = frame.balance * 0.05 * (1 + frame[driver]) + rng.normal(0, 300, n)
    return frame


@pytest.mark.parametrize(("seed", "min_accounts"), [(0, 10), (1, 3), (2, 40)])
def test_predictions_match_a_groupby_of_the_training_effects(seed, min_accounts):
    frame = _effects(np.random.default_rng(seed), 4000, dict(dpd_band=12, balance_band=8,
                     segment=3, history=5, escalated=4, days_left=6), "address_verified")
    train, test = frame.iloc[:2500], frame.iloc[2500:].reset_index(drop=True)
    value, se, level = ValueModel.fit(train, min_accounts=min_accounts).predict(
        test.drop(columns="gross"))
    expected = np.full(len(test), np.nan)
    expected_level = np.full(len(test), -1)
    for k, cells in enumerate(LEVELS):
        todo = np.flatnonzero(expected_level < 0)
        if cells:
            sums = train.groupby(list(cells), as_index=False).agg(
                n=("gross", "size"), y=("gross", "sum"), x=("balance", "sum"))
            rows = test.iloc[todo][list(cells)].merge(sums, how="left", on=list(cells))
            ok = (rows["n"] >= min_accounts).to_numpy()
            hit = todo[ok]
            expected[hit] = (rows["y"] / rows["x"]).to_numpy()[ok] * test.balance.to_numpy()[hit]
            expected_level[hit] = k
        else:
            expected[todo] = train.gross.sum() / train.balance.sum() * test.balance[todo]
            expected_level[todo] = k
    np.testing.assert_array_equal(level, expected_level)
    np.testing.assert_allclose(value, expected, rtol=1e-9)
    assert (se > 0).all()


@pytest.mark.parametrize("out_of_range", [False, True])
def test_a_frame_is_valued_as_its_rows_one_by_one(out_of_range):
    """Values are worked out once per distinct combination of features: the whole frame must
    give each row what that row alone gives, bit for bit (shrunk and calibrated model; with
    a feature out of the cell key's range, the slower path for such frames)."""
    frame = _effects(np.random.default_rng(3), 3000, dict(dpd_band=9, balance_band=4,
                     segment=2, history=3, escalated=2, days_left=3), "history")
    model = ValueModel.fit_calibrated(frame, min_accounts=15, shrink=True,
                                      seed=np.random.SeedSequence(1))
    assert model.spread is not None and model.calibration is not None
    test = frame.drop(columns="gross").iloc[:200].copy()
    if out_of_range:
        test.loc[test.index[::7], "segment"] = 1 << 13  # no cell has it; coarser levels do
    whole = model.valuation(test)
    plain = model.predict(test, corrected=False)
    for i in range(len(test)):
        one = model.valuation(test.iloc[[i]])
        for name, got, alone in zip(whole._fields, whole, one, strict=True):
            assert got[i] == alone[0] or (np.isnan(got[i]) and np.isnan(alone[0])), (name, i)
        assert plain[0][i] == model.predict(test.iloc[[i]], corrected=False)[0][0]
    assert len(np.unique(whole.value)) > 20
