"""Synthetic portfolios generated from segment distributions.

Loading a real account tape lives in :mod:`waifang.sim.tape`.
"""

from __future__ import annotations

import numpy as np

from waifang.errors import InputError
from waifang.sim.spec import MAX_MONEY, PortfolioSpec, Segment
from waifang.sim.state import Portfolio


def _beta(rng: np.random.Generator, mean: float, concentration: float, size: int) -> np.ndarray:
    return rng.beta(mean * concentration, (1.0 - mean) * concentration, size)


def _regions_for(
    segment: Segment, region_names: tuple[str, ...], size: int, rng: np.random.Generator
) -> np.ndarray:
    if segment.region_weights is None:
        return rng.integers(0, len(region_names), size, dtype=np.int16)
    unknown = sorted(set(segment.region_weights) - set(region_names))
    if unknown:
        raise InputError(
            f"portfolio.segments[{segment.name}].region_weights: unknown region {unknown[0]!r}; "
            f"regions are {list(region_names)}"
        )
    weights = np.array([segment.region_weights.get(r, 0.0) for r in region_names])
    if weights.sum() <= 0:
        raise InputError(f"portfolio.segments[{segment.name}].region_weights: all weights are 0")
    return rng.choice(len(region_names), size, p=weights / weights.sum()).astype(np.int16)


def generate_portfolio(
    spec: PortfolioSpec, region_names: tuple[str, ...], rng: np.random.Generator
) -> Portfolio:
    """Draw ``spec.accounts`` delinquent accounts from the segments.

    Examples
    --------
    >>> p = generate_portfolio(PortfolioSpec(accounts=10), ("north",), np.random.default_rng(1))
    >>> len(p), int(p.dpd.min()) >= 1
    (10, True)
    """
    n = spec.accounts
    shares = np.array([s.share for s in spec.segments], dtype=float)
    counts = rng.multinomial(n, shares / shares.sum())
    parts: dict[str, list[np.ndarray]] = {}
    for code, (segment, size) in enumerate(zip(spec.segments, counts, strict=True)):
        size = int(size)
        bucket = rng.choice(6, size, p=np.asarray(segment.dpd_weights) / sum(segment.dpd_weights))
        dpd = (bucket * 30 + rng.integers(1, 31, size)).astype(np.int16)
        # Capped at MAX_MONEY so that a far tail cannot overflow the book's int64 cents; with
        # any realistic median and spread the cap never binds and the draws are unchanged.
        balance = np.round(
            np.minimum(
                segment.balance_median
                * np.exp(segment.balance_sigma * rng.standard_normal(size)),
                MAX_MONEY,
            ),
            2,
        )
        ability = _beta(rng, segment.ability_mean, segment.latent_concentration, size)
        willingness = _beta(rng, segment.willingness_mean, segment.latent_concentration, size)
        strategic = rng.random(size) < segment.strategic_share
        # Strategic defaulters can pay and will not (DESIGN.md section 1: "malicious" default).
        ability = np.where(strategic, np.maximum(ability, 0.7 + 0.3 * rng.random(size)), ability)
        willingness = np.where(strategic, 0.05, willingness)
        columns = {
            "balance": balance,
            "credit_limit": np.round(balance / segment.utilisation, 2),
            "dpd": dpd,
            "region": _regions_for(segment, region_names, size, rng),
            "segment": np.full(size, code, dtype=np.int16),
            "risk_score": np.clip(
                rng.normal(segment.risk_score_mean, segment.risk_score_sd, size), 300, 850
            ).astype(np.float32),
            "prior_delinquencies": rng.poisson(segment.prior_delinquencies_mean, size).astype(
                np.int16
            ),
            "other_debts": rng.poisson(segment.other_debts_mean, size).astype(np.int16),
            "guarantee": rng.random(size) < segment.guarantee_share,
            "vulnerable": rng.random(size) < segment.vulnerable_share,
            "contactable": rng.random(size) < segment.contactable_share,
            "address_verified": rng.random(size) < segment.address_verified_share,
            "ability": ability.astype(np.float32),
            "willingness": willingness.astype(np.float32),
            "strategic": strategic,
        }
        for key, value in columns.items():
            parts.setdefault(key, []).append(value)
    # Segments were drawn in blocks; shuffle so account order carries no segment information.
    order = rng.permutation(n)
    arrays = {key: np.concatenate(chunks)[order] for key, chunks in parts.items()}
    return Portfolio(
        account_id=np.arange(1, n + 1, dtype=np.int64),
        region_names=tuple(region_names),
        segment_names=tuple(s.name for s in spec.segments),
        **arrays,
    )
