"""A tape's signals tell as much about its borrowers as a generated book's do.

A book is generated (its traits and signals drawn jointly through the copula), written as a
tape without the traits, and loaded: the traits the loader draws must have the generator's
links to the signals and the segment's Beta laws. The generator's own traits are the
independent reference; the loader never sees them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from waifang.sim.portfolio import generate_portfolio, quality_scores
from waifang.sim.spec import PortfolioSpec, Segment
from waifang.sim.tape import load_tape

SEGMENT = Segment(name="all", share=1.0, balance_median=3000.0, strategic_share=0)
SIGNALS = ("credit_limit", "prior_delinquencies", "risk_score", "other_debts", "guarantee")
N = 40_000


@pytest.fixture(scope="module")
def book():
    return generate_portfolio(
        PortfolioSpec(accounts=N, segments=(SEGMENT,)), ("north",), np.random.default_rng(3)
    )


def _tape(book, tmp_path, drop=(), blank=None):
    frame = pd.DataFrame(
        {
            "account_id": book.account_id,
            "balance": book.balance,
            "dpd": np.minimum(book.dpd, 179),
            "region": "north",
            **{name: getattr(book, name) for name in SIGNALS if name not in drop},
        }
    )
    frame["guarantee"] = frame["guarantee"].astype(int) if "guarantee" in frame else None
    if blank is not None:
        column, rows = blank
        frame[column] = frame[column].astype(object)
        frame.loc[rows, column] = ""
    path = tmp_path / "tape.csv"
    frame.dropna(axis=1, how="all").to_csv(path, index=False)
    return load_tape(path, ("north",), rng=np.random.default_rng(7), segments=[SEGMENT])


def _quality(p):
    return quality_scores(p.ability.astype(float), p.willingness.astype(float), SEGMENT)


def _corr(a, b):
    return float(np.corrcoef(a, b.astype(float))[0, 1])


def test_drawn_traits_keep_every_signals_link_to_quality(book, tmp_path):
    loaded = _tape(book, tmp_path)
    true_q, drawn_q = _quality(book), _quality(loaded)
    for name in SIGNALS:
        signal = getattr(book, name)
        # Standard error of a correlation near 0.5 over 40,000 is about 0.004.
        assert _corr(drawn_q, signal) == pytest.approx(_corr(true_q, signal), abs=0.02), name
    # Quality stays standard normal over the book.
    assert drawn_q.mean() == pytest.approx(0.0, abs=0.03)
    assert drawn_q.std() == pytest.approx(1.0, abs=0.03)
    # The risk score sorts drawn quality as it sorts the true one, decile by decile.
    decile = np.searchsorted(np.quantile(book.risk_score, np.linspace(0, 1, 11)[1:-1]),
                             book.risk_score)
    for d in range(10):
        at = decile == d
        assert drawn_q[at].mean() == pytest.approx(true_q[at].mean(), abs=0.07), d


def test_drawn_traits_keep_the_segments_beta_laws(book, tmp_path):
    loaded = _tape(book, tmp_path)
    for trait, mean in (("ability", SEGMENT.ability_mean),
                        ("willingness", SEGMENT.willingness_mean)):
        c = SEGMENT.latent_concentration
        law = stats.beta(mean * c, (1 - mean) * c)
        result = stats.kstest(getattr(loaded, trait).astype(float), law.cdf)
        assert result.statistic < 0.012, trait  # about 2.4 times the 5 % critical value / 1.36


def test_a_blank_signal_is_left_out_not_read_as_its_default(book, tmp_path):
    # Half the risk scores blank: they would load as 600, a value near the mean; read as a
    # score, that would tie half the book at one level and pull their quality to the middle.
    rows = np.arange(0, N, 2)
    loaded = _tape(book, tmp_path, blank=("risk_score", rows))
    true_q, drawn_q = _quality(book), _quality(loaded)
    given = np.ones(N, dtype=bool)
    given[rows] = False
    assert _corr(drawn_q[given], book.risk_score[given]) == pytest.approx(
        _corr(true_q[given], book.risk_score[given]), abs=0.03
    )
    # The blank ones: their quality still follows the signals they have, and spreads as
    # widely as the true one does.
    blank = ~given
    for name in ("prior_delinquencies", "credit_limit"):
        assert _corr(drawn_q[blank], getattr(book, name)[blank]) == pytest.approx(
            _corr(true_q[blank], getattr(book, name)[blank]), abs=0.03
        ), name
    assert drawn_q[blank].std() == pytest.approx(1.0, abs=0.04)


def test_a_tape_without_signals_draws_the_traits_from_the_segment_alone(book, tmp_path):
    loaded = _tape(book, tmp_path, drop=SIGNALS)
    # Only the balance is left (the limit defaults to it): its link is all that remains.
    drawn_q = _quality(loaded)
    assert abs(_corr(drawn_q, book.risk_score)) < 0.03
    assert _corr(drawn_q, book.balance) == pytest.approx(_corr(_quality(book), book.balance),
                                                         abs=0.02)


def test_a_given_trait_is_kept_and_the_other_follows_it(book, tmp_path):
    frame = pd.DataFrame(
        {"account_id": book.account_id, "balance": book.balance,
         "dpd": np.minimum(book.dpd, 179), "region": "north", "ability": book.ability,
         **{name: getattr(book, name).astype(float) for name in SIGNALS}}
    )
    path = tmp_path / "half.csv"
    frame.to_csv(path, index=False)
    loaded = load_tape(path, ("north",), rng=np.random.default_rng(7), segments=[SEGMENT])
    np.testing.assert_allclose(loaded.ability, book.ability, rtol=1e-6)
    # Willingness is independent of ability in the model, and tied to the signals only
    # through quality: its links to the signals are the true willingness's.
    assert abs(_corr(loaded.willingness, book.ability)) < 0.03
    for name in ("risk_score", "prior_delinquencies"):
        assert _corr(loaded.willingness, getattr(book, name)) == pytest.approx(
            _corr(book.willingness, getattr(book, name)), abs=0.025
        ), name
