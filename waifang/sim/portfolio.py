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


def tied_normal_intervals(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's interval of a standard normal latent score, by its rank among ``values``.

    The values sharing one level occupy the slice ``(F(level-), F(level)]`` of their own
    empirical distribution function: the latent score lies in ``(Phi^-1(F(level-)),
    Phi^-1(F(level))]``. A distinct value among many has a narrow interval; a level shared by
    many (a count of 0, a flag) says only that the score lies in a wide one.

    Examples
    --------
    >>> low, high = tied_normal_intervals(np.array([0, 0, 1, 5.0]))
    >>> [round(float(x), 3) for x in low], [round(float(x), 3) for x in high]
    ([-inf, -inf, 0.0, 0.674], [0.0, 0.0, 0.674, inf])
    """
    if values.size == 0:
        return np.zeros(0), np.zeros(0)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    top = np.cumsum(counts) / values.size
    bottom = (np.cumsum(counts) - counts) / values.size
    return special.ndtri(bottom)[inverse], special.ndtri(np.minimum(top, 1.0))[inverse]


def _trait_from_score(score: np.ndarray, mean: float, concentration: float) -> np.ndarray:
    """The inverse of :func:`_trait_score`: the Beta(mean, concentration) quantile at Phi(score)."""
    u = np.clip(special.ndtr(score), 1e-12, 1.0 - 1e-12)
    return special.betaincinv(mean * concentration, (1.0 - mean) * concentration, u)


GIBBS_SWEEPS = 6
"""Sweeps of :func:`draw_traits_given_signals`' sampler (tests/test_tape_signals.py shows the
traits' links to the signals settled well before)."""


def draw_traits_given_signals(
    signals: np.ndarray,
    observed: np.ndarray,
    ability: np.ndarray,
    willingness: np.ndarray,
    segment: np.ndarray,
    segments: list[Segment],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Ability and willingness, where missing, drawn given what the lender's signals say.

    The inverse of :func:`generate_portfolio`'s copula, for a tape that has the signals but
    not the traits. ``signals`` is (5, n) in the copula's order (credit limit, prior
    delinquencies, risk score, other debts, guarantee) and ``observed`` marks the cells the
    tape gave; ability and willingness are NaN where missing.

    The model is the generator's: the traits' normal scores ``z_a, z_w`` are independent
    standard normals, quality is ``(z_a + z_w) / sqrt(2)``, and the signals' latent scores
    are standard normals correlated with quality and each other as the segment says
    (:meth:`Segment.signal_correlation`). Within each segment a signal's value gives the
    interval its latent score lies in, by its rank among that segment's accounts
    (:func:`tied_normal_intervals`: the tape's own margins, so a score on any scale or a
    limit in any currency carries its order and nothing else). The missing traits are drawn
    from their law given those intervals and any trait the tape gave, a truncated
    multivariate normal, by Gibbs sampling (:data:`GIBBS_SWEEPS` sweeps from the intervals'
    middles, every coordinate from its conditional law). Without any signal this is the
    segment's Beta law; with signals, over the book, the traits keep their Beta laws and
    their links to the signals are the generator's.

    The uniform draws are ``GIBBS_SWEEPS x 7`` arrays of n, whatever the tape holds, so
    which cells are missing shifts no draw.
    """
    n = segment.size
    ability = ability.astype(np.float64).copy()
    willingness = willingness.astype(np.float64).copy()
    need = np.isnan(ability) | np.isnan(willingness)
    root_half = np.sqrt(0.5)
    # Per segment: the sampler's state (7, rows), each coordinate's interval and the
    # precision matrix of (z_a, z_w, limit, prior delinquencies, risk score, other debts,
    # guarantee).
    parts = []
    for code in np.unique(segment[need]):
        spec = segments[int(code)]
        members = np.flatnonzero(segment == code)
        rows = members[need[members]]
        low = np.full((7, rows.size), -np.inf)
        high = np.full((7, rows.size), np.inf)
        for j in range(5):
            given = observed[j, members]
            lo = np.full(members.size, -np.inf)
            hi = np.full(members.size, np.inf)
            lo[given], hi[given] = tied_normal_intervals(signals[j, members[given]])
            low[2 + j], high[2 + j] = lo[need[members]], hi[need[members]]
        for k, (trait, mean) in enumerate(
            ((ability, spec.ability_mean), (willingness, spec.willingness_mean))
        ):
            known = ~np.isnan(trait[rows])
            score = _trait_score(trait[rows[known]], mean, spec.latent_concentration)
            low[k, known] = high[k, known] = score
        r = spec.signal_correlation()
        cov = np.eye(7)
        cov[2:, 2:] = r[1:, 1:]
        cov[0, 2:] = cov[1, 2:] = r[0, 1:] * root_half
        cov[2:, 0] = cov[2:, 1] = r[0, 1:] * root_half
        precision = np.linalg.inv(cov)
        # Start at each interval's middle (half a unit inside a half-line, 0 on the line).
        finite_low, finite_high = np.isfinite(low), np.isfinite(high)
        lo0, hi0 = np.where(finite_low, low, 0.0), np.where(finite_high, high, 0.0)
        middle = np.where(finite_low, np.where(finite_high, 0.5 * (lo0 + hi0), lo0 + 0.5),
                          np.where(finite_high, hi0 - 0.5, 0.0))
        parts.append((spec, rows, low, high, precision, middle))
    for _ in range(GIBBS_SWEEPS):
        for j in range(7):
            uniform = rng.random(n)
            for _spec, rows, low, high, precision, state in parts:
                # z_j given the rest: N(-sum_{k != j} P_jk z_k / P_jj, 1 / P_jj), in its interval.
                sd = 1.0 / np.sqrt(precision[j, j])
                mean = state[j] - (precision[j] @ state) / precision[j, j]
                lo = special.ndtr((low[j] - mean) / sd)
                hi = special.ndtr((high[j] - mean) / sd)
                u = lo + uniform[rows] * (hi - lo)
                draw = mean + sd * special.ndtri(np.clip(u, 1e-300, 1.0 - 1e-16))
                # Far in a tail the interval's probability can vanish: take its nearer end.
                draw = np.where(np.isfinite(draw) & (hi > lo), draw, np.clip(mean, low[j], high[j]))
                state[j] = np.clip(draw, low[j], high[j])
    for spec, rows, _low, _high, _precision, state in parts:
        fill = np.isnan(ability[rows])
        ability[rows[fill]] = _trait_from_score(
            state[0, fill], spec.ability_mean, spec.latent_concentration
        )
        fill = np.isnan(willingness[rows])
        willingness[rows[fill]] = _trait_from_score(
            state[1, fill], spec.willingness_mean, spec.latent_concentration
        )
    return ability, willingness
