"""How sure a comparison is: the unpaired interval and the replications a precision needs.

The runner's paired interval uses common random numbers: replication r of every policy sees
the same borrowers and the same luck. :func:`welch_interval` is the interval the same
difference would have if the two policies had been run on independent draws, so a reader
sees what the pairing bought. :func:`replications_needed` says how many replications would
bring a mean's 95 % interval to within a given share of the mean.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def welch_interval(
    values: np.ndarray, base: np.ndarray, level: float = CONFIDENCE
) -> tuple[float, float]:
    """Interval of ``mean(values) - mean(base)`` for independent samples (Welch's t).

    NaN where either sample has fewer than 2 values. Two samples with no spread give a
    zero-width interval at the difference.

    >>> low, high = welch_interval(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 3.0]))
    >>> round(low, 3), round(high, 3)
    (-2.548, 4.548)
    """
    a = np.asarray(values, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        return math.nan, math.nan
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se2 = va + vb
    if se2 == 0:
        return diff, diff
    dof = se2**2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof) * math.sqrt(se2))
    return diff - half, diff + half


LOW_PERCENTILE = 5.0
"""The low percentile of a metric over replications that ``comparison.csv`` reports (``p05``):
cover is bought to cut the bad years, which a mean does not show."""


def low_percentile(values: np.ndarray, q: float = LOW_PERCENTILE) -> float:
    """The ``q``-th percentile of ``values`` (linear interpolation between order statistics,
    numpy's default); NaN for no values. With fewer than 1 / (q / 100) + 1 values it lies
    between the two lowest, so with few replications read it as "about the worst year".

    >>> low_percentile(np.array([10.0, 20.0, 30.0, 40.0, 50.0]))
    12.0
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return math.nan
    return float(np.percentile(v, q))


def replications_needed(
    values: np.ndarray, relative: float = 0.01, level: float = CONFIDENCE, limit: int = 10**7
) -> float:
    """Fewest replications n for which the t-interval of the mean is within ``relative`` of
    the mean (half-width <= relative * |mean|), taking the sample's standard deviation as
    the truth.

    NaN with fewer than 2 values, or when the mean is 0 while the values vary (no finite n
    suffices); 2 when the values do not vary at all (an interval needs two).

    >>> replications_needed(np.array([100.0, 101.0, 99.0]))
    7
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return math.nan
    sd = float(v.std(ddof=1))
    target = relative * abs(float(v.mean()))
    if sd == 0:
        return 2
    if target == 0:
        return math.nan

    def fits(n: int) -> bool:
        return stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n) <= target

    # The half-width falls with n: double to bracket, then bisect.
    high = 2
    while not fits(high):
        high *= 2
        if high > limit:
            return math.nan
    low = max(high // 2, 1)  # fits(low) is false unless low == high == 2
    if fits(low):
        return low
    while high - low > 1:
        mid = (low + high) // 2
        if fits(mid):
            high = mid
        else:
            low = mid
    return high
