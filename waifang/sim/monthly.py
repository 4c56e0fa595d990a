"""The behaviour model seen a month at a time: an exact chain over days past due.

Monthly status data (a card's bucket at each month end) is what lenders and public data sets
hold; the simulator moves day by day. This module maps one to the other exactly, without
simulation noise: for one borrower it propagates the daily chain of the untreated behaviour
model (pay with the daily hazard; a payment cures, settles, or pays part and so moves the
oldest unpaid instalment forward by whole months; unpaid accounts roll and charge off; cured
accounts re-default) over 30 days, from the first day of each bucket, and reads off the
distribution of the status code a month later. A *population* of borrowers is a weighted set
of (ability, willingness) types, and its monthly transition matrix is the weighted mean of its
types' matrices: the portfolio's spread of borrowers, not one average borrower.

Status codes are those of monthly card data (``credit_card_monthly_status``): 0 = current or
1-30 dpd, 1 = 31-60, ..., 4 = 121-150, 5 = 151 dpd or more, or charged off; ``C`` = closed
(paid off or settled). Left out of the chain (they are small within one month): income shocks,
economic stress after the first month, contacts and treatments.

Examples
--------
>>> from waifang.sim.spec import BehaviourSpec, Segment
>>> pop = population((Segment(name="all", share=1.0, balance_median=1.0),), points=8)
>>> matrix = monthly_matrix(BehaviourSpec(), pop)
>>> matrix.shape, bool(abs(matrix.sum(axis=1) - 1).max() < 1e-9)
((6, 7), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from waifang.sim.spec import BehaviourSpec, Segment

CODES: tuple[str, ...] = ("0", "1", "2", "3", "4", "5", "C")
"""Monthly status codes the chain ends in: buckets 0-5 and ``C`` (closed)."""
MONTH_DAYS = 30


@dataclass(frozen=True)
class Population:
    """Borrower types with weights summing to 1 (ability, willingness in (0, 1))."""

    ability: np.ndarray
    willingness: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return int(self.weight.size)


def _quantiles(dist, points: int) -> np.ndarray:
    return dist.ppf((np.arange(points) + 0.5) / points)


def population(segments: tuple[Segment, ...], points: int = 16) -> Population:
    """The latent traits of the generated portfolio (:mod:`waifang.sim.portfolio`) as types.

    Ability and willingness are independent Beta variables per segment, discretised at
    ``points`` mid-quantiles each; strategic defaulters (willingness 0.05, ability the larger
    of the Beta draw and a uniform on [0.7, 1]) get ``points`` types of their own. Segments
    are weighted by their shares.
    """
    shares = np.array([s.share for s in segments], float)
    shares /= shares.sum()
    abilities, wills, weights = [], [], []
    for segment, share in zip(segments, shares, strict=True):
        c = segment.latent_concentration
        a = _quantiles(stats.beta(segment.ability_mean * c, (1 - segment.ability_mean) * c), points)
        w = _quantiles(
            stats.beta(segment.willingness_mean * c, (1 - segment.willingness_mean) * c), points
        )
        aa, ww = np.meshgrid(a, w, indexing="ij")
        honest = share * (1 - segment.strategic_share) / points**2
        abilities.append(aa.ravel())
        wills.append(ww.ravel())
        weights.append(np.full(points**2, honest))
        if segment.strategic_share > 0:
            # CDF of max(Beta, U[0.7, 1]) is the product of the two CDFs.
            grid = np.linspace(0.0, 1.0, 2001)
            beta = stats.beta(segment.ability_mean * c, (1 - segment.ability_mean) * c)
            cdf = beta.cdf(grid) * np.clip((grid - 0.7) / 0.3, 0.0, 1.0)
            q = (np.arange(points) + 0.5) / points
            abilities.append(np.interp(q, cdf, grid))
            wills.append(np.full(points, 0.05))
            weights.append(np.full(points, share * segment.strategic_share / points))
    return Population(np.concatenate(abilities), np.concatenate(wills), np.concatenate(weights))


def _partial_months(behaviour: BehaviourSpec, months: np.ndarray, j: int) -> np.ndarray:
    """P(a partial payment pays ``j`` whole instalments | ``months`` in arrears).

    The share of arrears drawn uniformly in [partial_min, partial_max] is rounded down to whole
    instalments, at least one and fewer than ``months`` (one month in arrears: no partial).
    """
    lo, hi = behaviour.partial_min, behaviour.partial_max
    start = np.where(j == 1, -np.inf, j / months)
    end = np.where(j == months - 1, np.inf, (j + 1) / months)
    valid = (j >= 1) & (j <= months - 1)
    if hi == lo:
        return (valid & (lo >= start) & (lo < end)).astype(float)
    overlap = np.clip(np.minimum(hi, end) - np.maximum(lo, start), 0.0, None)
    return np.where(valid, overlap / (hi - lo), 0.0)


def type_matrices(
    behaviour: BehaviourSpec, pop: Population, charge_off_dpd: int = 180
) -> np.ndarray:
    """Monthly transitions per type: array (types, 6 from-codes, 7 to-codes).

    Row k starts an account on the first day of bucket k (dpd 30k + 1) and follows it for
    30 days of the untreated model.
    """
    b, c = behaviour, charge_off_dpd
    n_states = c + 2  # 0 current, 1..c-1 dpd, c charged off, c + 1 closed
    dpd = np.arange(1, c)
    bucket = np.minimum((dpd - 1) // 30, 5)
    mult = np.exp(
        b.ability_weight * (pop.ability - 0.5) + b.willingness_weight * (pop.willingness - 0.5)
    )
    base = np.asarray(b.base_hazard, float)[bucket] * b.stress[0]
    pay = np.minimum(1.0, mult[:, None] * base[None, :])  # (types, c - 1)
    cure = b.cure_share_low + (b.cure_share_high - b.cure_share_low) * pop.ability
    settles = (dpd[None, :] >= b.settlement_min_dpd) & (
        pop.ability[:, None] <= b.settlement_max_ability
    )
    recover = np.minimum(1.0, b.chargeoff_recovery_daily * mult)
    months = np.ceil(np.minimum(dpd, c) / 30.0)
    # Per type and dpd, the day's chance of each move (computed once, used 30 times).
    part = [_partial_months(b, months, j) for j in range(int(months.max()))]
    # One month in arrears, a payment that is not a settlement clears it.
    partial = (1.0 - cure[:, None]) * (months >= 2)
    partly = pay * ~settles * partial
    stay = 1.0 - pay
    back = [(j, (partly * part[j])[:, 30 * j :]) for j in range(1, len(part)) if part[j].any()]
    cured = pay * ~settles * (1.0 - partial)
    settled = pay * settles
    starts = [1 + 30 * k for k in range(6)]
    x = np.zeros((6, len(pop), n_states))
    for k, d in enumerate(starts):
        x[k, :, min(d, c - 1)] = 1.0
    stay_current = 1 - b.redefault_daily
    for _ in range(MONTH_DAYS):
        new = np.empty_like(x)
        delinquent = x[:, :, 1:c]
        current = x[:, :, 0]
        new[:, :, 0] = np.einsum("ktd,td->kt", delinquent, cured) + current * stay_current
        new[:, :, 1] = current * b.redefault_daily
        new[:, :, 2 : c + 1] = delinquent * stay
        for j, factor in back:
            # dpd d > 30 j pays j instalments: d - 30 j, then one day on.
            new[:, :, 2 : c - 30 * j + 1] += delinquent[:, :, 30 * j :] * factor
        recovered = x[:, :, c] * recover[None, :]
        new[:, :, c] += x[:, :, c] - recovered
        new[:, :, c + 1] = x[:, :, c + 1] + recovered + np.einsum("ktd,td->kt", delinquent, settled)
        x = new
    code = np.empty(n_states, int)
    code[0] = 0
    code[1:c] = bucket
    code[c] = 5
    code[c + 1] = 6
    out = np.zeros((len(pop), 6, len(CODES)))
    for target in range(len(CODES)):
        out[:, :, target] = x[:, :, code == target].sum(axis=2).T
    return out


def monthly_matrix(
    behaviour: BehaviourSpec, pop: Population, charge_off_dpd: int = 180
) -> np.ndarray:
    """The population's monthly transition matrix (6 from-codes x 7 to-codes)."""
    per_type = type_matrices(behaviour, pop, charge_off_dpd)
    return np.einsum("t,tij->ij", pop.weight, per_type)


def roll_rates(matrix: np.ndarray) -> np.ndarray:
    """Bucket k -> k + 1 among accounts still on the book (not closed), k = 0..4."""
    in_book = matrix[:, :6] / matrix[:, :6].sum(axis=1, keepdims=True)
    return np.array([in_book[k, k + 1] for k in range(5)])
