"""Synthetic portfolios generated from segment distributions.

Loading a real account tape lives in :mod:`waifang.sim.tape`.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from waifang.errors import InputError
from waifang.sim.spec import MAX_MONEY, PortfolioSpec, Segment
from waifang.sim.state import Portfolio


def _beta(rng: np.random.Generator, mean: float, concentration: float, size: int) -> np.ndarray:
    return rng.beta(mean * concentration, (1.0 - mean) * concentration, size)


def _trait_score(trait: np.ndarray, mean: float, concentration: float) -> np.ndarray:
    """Normal score of a Beta(mean, concentration) trait: Phi^-1 of its Beta CDF."""
    cdf = special.betainc(mean * concentration, (1.0 - mean) * concentration, trait)
    return special.ndtri(np.clip(cdf, 1e-12, 1.0 - 1e-12))


def quality_scores(ability: np.ndarray, willingness: np.ndarray, segment: Segment) -> np.ndarray:
    """The borrower's quality: a standard normal that rises with ability and willingness.

    ``(z_a + z_w) / sqrt(2)`` where ``z`` is each trait's normal score under the segment's own
    Beta distribution, so that quality is standard normal over the segment (strategic
    defaulters, whose traits are set apart, excepted). Equal weights are an assumption; with
    the default hazard weights (2.0 and 2.5) quality and the log-hazard factor correlate at
    0.994. The lender's signals are drawn around it (:func:`generate_portfolio`).
    """
    z_a = _trait_score(ability, segment.ability_mean, segment.latent_concentration)
    z_w = _trait_score(willingness, segment.willingness_mean, segment.latent_concentration)
    return (z_a + z_w) / np.sqrt(2.0)


def _poisson_from_score(score: np.ndarray, mean: float) -> np.ndarray:
    """The Poisson(mean) count whose CDF first reaches Phi(score) (a copula margin)."""
    if mean <= 0:
        return np.zeros(score.size, np.int16)
    u = special.ndtr(score)
    top = int(mean + 12 * np.sqrt(mean) + 12)
    cdf = special.pdtr(np.arange(top + 1), mean)
    return np.minimum(np.searchsorted(cdf, u, side="left"), top).astype(np.int16)


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

    The lender's signals carry information: credit limit (and balance), prior
    delinquencies, risk score, other debts and guarantee are drawn through a Gaussian copula
    with the borrower's quality (:func:`quality_scores`, from ability and willingness after
    strategic defaulters are set apart), each keeping the segment's margin. The correlations
    of the limit and the prior delinquencies are fitted to the Taiwan card data
    (:mod:`waifang.calibration.signals`); those of the others are assumptions
    (:class:`~waifang.sim.spec.Segment`).

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
        limit_noise = rng.standard_normal(size)
        ability = _beta(rng, segment.ability_mean, segment.latent_concentration, size)
        willingness = _beta(rng, segment.willingness_mean, segment.latent_concentration, size)
        strategic = rng.random(size) < segment.strategic_share
        # Strategic defaulters can pay and will not (DESIGN.md section 1: "malicious" default).
        ability = np.where(strategic, np.maximum(ability, 0.7 + 0.3 * rng.random(size)), ability)
        willingness = np.where(strategic, 0.05, willingness)
        # The lender's signals, jointly with the traits (a Gaussian copula): latent scores
        # (quality, limit, prior delinquencies, risk score, other debts, guarantee) with the
        # segment's correlation matrix, each turned into its own margin below.
        region = _regions_for(segment, region_names, size, rng)
        innovations = np.stack(
            [
                quality_scores(ability, willingness, segment),
                limit_noise,
                *(rng.standard_normal(size) for _ in range(4)),
            ]
        )
        latent = np.linalg.cholesky(segment.signal_correlation()) @ innovations
        # The limit is lognormal around balance_median / utilisation and the balance that
        # share of it: the balance keeps its margin (median, sigma) and moves with the limit.
        # Capped at MAX_MONEY so that a far tail cannot overflow the book's int64 cents; with
        # any realistic median and spread the cap never binds.
        balance = np.round(
            np.minimum(
                segment.balance_median * np.exp(segment.balance_sigma * latent[1]), MAX_MONEY
            ),
            2,
        )
        columns = {
            "balance": balance,
            "credit_limit": np.round(balance / segment.utilisation, 2),
            "dpd": dpd,
            "region": region,
            "segment": np.full(size, code, dtype=np.int16),
            "risk_score": np.clip(
                segment.risk_score_mean + segment.risk_score_sd * latent[3], 300, 850
            ).astype(np.float32),
            "prior_delinquencies": _poisson_from_score(
                latent[2], segment.prior_delinquencies_mean
            ),
            "other_debts": _poisson_from_score(latent[4], segment.other_debts_mean),
            "guarantee": special.ndtr(latent[5]) > 1.0 - segment.guarantee_share,
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
