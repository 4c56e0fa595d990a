"""How the lender's signals depend on the borrower: a Gaussian copula fitted to card data.

The portfolio generator (:mod:`waifang.sim.portfolio`) draws each borrower's signals jointly
with the latent traits through a Gaussian copula: every signal has a latent standard normal
score, correlated with the borrower's *quality* ``Q`` (a standard normal combining ability
and willingness, see :func:`waifang.sim.portfolio.quality_scores`), and each signal's
marginal distribution is the segment's own. This module fits the correlations that public
data identifies, from the Taiwan card data (``uci_taiwan_credit_default/UCI_Credit_Card.csv``,
30,000 accounts: credit limit, six months of repayment status, default the next month):

- ``limit``: the normal score of ``LIMIT_BAL`` (mid-ranks);
- ``history``: the number of the five earlier months (``PAY_2`` .. ``PAY_6``) with a payment
  delay of a month or more, as an ordinal variable cut from a latent normal: the credit
  record's prior delinquencies;
- ``default``: ``default.payment.next.month``, a binary variable cut from a latent normal.

Each pair's latent correlation is a two-step maximum-likelihood estimate (thresholds from the
margins, then the correlation): polyserial for limit against default and against history,
polychoric for history against default, with the standard error from the curvature of the
profile log-likelihood. The generator identifies the data's latent default propensity with
``-Q``: that is an assumption (it treats the month's default as driven by the borrower's
lasting traits; the data's own month-to-month luck would make the true link to the traits,
if anything, stronger than the fitted one).

Usage::

    from waifang.calibration.signals import fit_signal_dependence
    fit = fit_signal_dependence("UCI_Credit_Card.csv")
    fit.limit_quality, fit.limit_quality_se
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize, special, stats

from waifang.errors import InputError

HISTORY_MONTHS = ("PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6")
"""The five months before the latest (``PAY_0`` is September, ``PAY_6`` April)."""
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(48)


@dataclass(frozen=True)
class SignalData:
    """The three variables of the fit, one entry per account."""

    limit: np.ndarray  # float: credit limit
    history: np.ndarray  # int: earlier months delayed, 0..5
    default: np.ndarray  # bool: default the next month


@dataclass(frozen=True)
class SignalFit:
    """Latent correlations with the borrower's quality Q (= minus the default propensity)."""

    limit_quality: float
    limit_quality_se: float
    history_quality: float
    history_quality_se: float
    limit_history: float
    limit_history_se: float
    accounts: int
    default_rate: float


def read_taiwan(path: str | Path) -> SignalData:
    """The limit, the credit record and the next month's default of each account."""
    import pandas as pd

    path = Path(path)
    columns = ["LIMIT_BAL", *HISTORY_MONTHS, "default.payment.next.month"]
    try:
        frame = pd.read_csv(path, usecols=columns)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: cannot read the card data ({err})") from None
    if frame.empty:
        raise InputError(f"{path}: no rows")
    history = (frame[list(HISTORY_MONTHS)].to_numpy() >= 1).sum(axis=1)
    return SignalData(
        limit=frame["LIMIT_BAL"].to_numpy(float),
        history=history.astype(np.int64),
        default=frame["default.payment.next.month"].to_numpy() == 1,
    )


def normal_scores(values: np.ndarray) -> np.ndarray:
    """Normal scores by mid-ranks (ties share their average rank)."""
    ranks = stats.rankdata(values)
    return special.ndtri((ranks - 0.5) / values.size)


def _thresholds(codes: np.ndarray, levels: int) -> np.ndarray:
    """Cut points of a latent standard normal giving the codes' margins (-inf and inf ends)."""
    share = np.bincount(codes, minlength=levels)[:levels] / codes.size
    inner = special.ndtri(np.clip(np.cumsum(share)[:-1], 1e-12, 1 - 1e-12))
    return np.concatenate([[-np.inf], inner, [np.inf]])


def _polyserial(x: np.ndarray, codes: np.ndarray, levels: int) -> tuple[float, float]:
    """Latent correlation of a normal score ``x`` and an ordinal ``codes`` (0..levels-1)."""
    cut = _thresholds(codes, levels)
    low, high = cut[codes], cut[codes + 1]

    def loglik(rho: float) -> float:
        s = np.sqrt(1.0 - rho * rho)
        p = special.ndtr((high - rho * x) / s) - special.ndtr((low - rho * x) / s)
        return float(np.log(np.maximum(p, 1e-300)).sum())

    return _maximise(loglik)


def _rectangle(a: float, b: float, c: float, d: float, rho: float) -> float:
    """P(a < U <= b, c < V <= d) for standard normals U, V with correlation ``rho``."""
    a, b = max(a, -9.0), min(b, 9.0)
    if b <= a:
        return 0.0
    u = 0.5 * (b - a) * _NODES + 0.5 * (b + a)
    s = np.sqrt(1.0 - rho * rho)
    inner = special.ndtr((d - rho * u) / s) - special.ndtr((c - rho * u) / s)
    return float(0.5 * (b - a) * np.sum(_WEIGHTS * stats.norm.pdf(u) * inner))


def _polychoric(first: np.ndarray, second: np.ndarray, levels: tuple[int, int]):
    """Latent correlation of two ordinal variables."""
    cut_a, cut_b = _thresholds(first, levels[0]), _thresholds(second, levels[1])
    table = np.zeros(levels)
    np.add.at(table, (first, second), 1)

    def loglik(rho: float) -> float:
        total = 0.0
        for i in range(levels[0]):
            for j in range(levels[1]):
                if table[i, j]:
                    p = _rectangle(cut_a[i], cut_a[i + 1], cut_b[j], cut_b[j + 1], rho)
                    total += table[i, j] * np.log(max(p, 1e-300))
        return total

    return _maximise(loglik)


def _maximise(loglik) -> tuple[float, float]:
    """The maximising correlation and its standard error (profile curvature)."""
    best = optimize.minimize_scalar(
        lambda r: -loglik(r), bounds=(-0.99, 0.99), method="bounded", options={"xatol": 1e-7}
    )
    rho = float(best.x)
    h = 1e-3
    curvature = (loglik(rho + h) - 2 * loglik(rho) + loglik(rho - h)) / (h * h)
    se = float(np.sqrt(-1.0 / curvature)) if curvature < 0 else float("nan")
    return rho, se


def fit_signal_dependence(source: str | Path | SignalData) -> SignalFit:
    """Fit the copula's data-identified correlations (see the module docstring)."""
    data = source if isinstance(source, SignalData) else read_taiwan(source)
    n = data.limit.size
    if n < 100:
        raise InputError(f"card data: {n} accounts, too few to fit the signals (need 100)")
    limit = normal_scores(data.limit)
    default = data.default.astype(np.int64)
    history = np.minimum(data.history, len(HISTORY_MONTHS)).astype(np.int64)
    levels = len(HISTORY_MONTHS) + 1
    limit_default, limit_default_se = _polyserial(limit, default, 2)
    limit_history, limit_history_se = _polyserial(limit, history, levels)
    history_default, history_default_se = _polychoric(history, default, (levels, 2))
    # Quality is minus the default propensity: the correlations with it change sign.
    return SignalFit(
        limit_quality=-limit_default,
        limit_quality_se=limit_default_se,
        history_quality=-history_default,
        history_quality_se=history_default_se,
        limit_history=limit_history,
        limit_history_se=limit_history_se,
        accounts=n,
        default_rate=float(data.default.mean()),
    )
