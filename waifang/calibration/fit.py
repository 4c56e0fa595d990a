"""Fit the behaviour parameters that drive bucket transitions, by maximum likelihood.

The model is the simulator's own untreated behaviour seen a month at a time
(:mod:`waifang.sim.monthly`, an exact chain, not a renaming of monthly rates), averaged over a
*population* of borrowers with the portfolio's spread of ability and willingness. Parameters:

- ``base_hazard`` of each of the six buckets (daily payment chance before the borrower's
  own factor), fitted on the log scale;
- the cure share: of the payments, the share that clears all arrears. Its shape in ability
  is kept from the template (``cure_share_low`` and ``cure_share_high`` scale together); their
  mean is fitted;
- the share of status-0 accounts that are current: the card data's status 0 covers accounts
  up to date as well as 1-29 days late (it has no separate current code), and only the late
  ones can roll within the month.

The likelihood is multinomial, per from-bucket, over the to-buckets the account can reach
while it stays on the book: pairs ending paid off (``C``) or with no loan (``X``) leave the
book for reasons the model does not describe (amortisation, closure), and jumps of two or more
buckets in one month cannot happen day by day; both are counted and reported, not fitted.
The fit is Fisher scoring; standard errors are from the inverse of the expected information
at the optimum (delta method to each parameter's own scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from waifang.calibration.data import STATUS_CODES, MonthlyData
from waifang.errors import InputError
from waifang.sim.monthly import Population, monthly_matrix
from waifang.sim.spec import BehaviourSpec

BUCKET_CODES = 6
TARGETS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (1, 2), (2, 3), (3, 4), (4, 5))
"""The transitions the held-out check (and the README figure) is about."""


@dataclass(frozen=True)
class FitResult:
    """Fitted parameters with standard errors, the fitted behaviour and the fit's figures."""

    behaviour: BehaviourSpec
    names: tuple[str, ...]
    values: np.ndarray
    standard_errors: np.ndarray
    log_likelihood: float
    counts: np.ndarray  # 8 x 8 transition counts of the data fitted
    predicted: np.ndarray  # 6 x 7 model matrix (to-codes 0-5 and C), row 0 mixed
    deviance: float
    degrees_of_freedom: int
    left_out_jumps: int
    left_out_exits: int
    evaluations: int
    converged: bool

    def parameters(self) -> dict[str, tuple[float, float]]:
        """Parameter name -> (estimate, standard error)."""
        return {
            n: (float(v), float(s))
            for n, v, s in zip(self.names, self.values, self.standard_errors, strict=True)
        }

    @property
    def current_share(self) -> float:
        """Fitted share of status-0 accounts that are current (0 if not fitted)."""
        return self.parameters().get("current_share_of_status_0", (0.0, 0.0))[0]


def in_book_counts(counts: np.ndarray) -> np.ndarray:
    """6 x 6 counts from buckets 0-5 to buckets 0-5 that the model can make (up to one up)."""
    out = counts[:BUCKET_CODES, :BUCKET_CODES].astype(float).copy()
    for k in range(BUCKET_CODES):
        out[k, k + 2 :] = 0.0
    return out


def conditional(matrix: np.ndarray) -> np.ndarray:
    """Model probabilities over reachable buckets 0..k+1 from bucket k, rows summing to 1."""
    p = matrix[:, :BUCKET_CODES].copy()
    for k in range(BUCKET_CODES):
        p[k, k + 2 :] = 0.0
    return p / p.sum(axis=1, keepdims=True)


class _Model:
    """Parameters theta (unbounded) <-> behaviour, and the conditional cell probabilities."""

    def __init__(self, template: BehaviourSpec, pop: Population, counts: np.ndarray, c: int):
        self.template, self.pop, self.c = template, pop, c
        self.n = in_book_counts(counts)
        rows = self.n.sum(axis=1)
        self.free_hazard = rows > 0
        self.k = int(self.free_hazard.sum())
        self.free_cure = bool(rows[1:].sum() > 0)
        self.free_current = bool(rows[0] > 0)
        mean = (template.cure_share_low + template.cure_share_high) / 2
        # The cure share's shape in ability is kept: low and high scale with their mean.
        self.ratio = (template.cure_share_low / mean, template.cure_share_high / mean)
        self.max_level = 1.0 / self.ratio[1]
        self.evaluations = 0

    @property
    def names(self) -> list[str]:
        names = [f"base_hazard[{k}]" for k in range(BUCKET_CODES) if self.free_hazard[k]]
        return (
            names
            + ["cure_share_mean"] * self.free_cure
            + ["current_share_of_status_0"] * self.free_current
        )

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, float | None, float | None]:
        hazard = np.minimum(np.exp(theta[: self.k]), 1.0)
        i = self.k
        level = current = None
        if self.free_cure:
            level = self.max_level * _sigmoid(theta[i])
            i += 1
        if self.free_current:
            current = _sigmoid(theta[i])
        return hazard, level, current

    def behaviour(self, theta: np.ndarray) -> BehaviourSpec:
        hazard, level, _ = self.split(theta)
        base = np.array(self.template.base_hazard, float)
        base[self.free_hazard] = hazard
        update: dict = {"base_hazard": tuple(float(h) for h in base)}
        if level is not None:
            update["cure_share_low"] = float(level * self.ratio[0])
            update["cure_share_high"] = float(level * self.ratio[1])
        return self.template.model_copy(update=update)

    def theta0(self) -> np.ndarray:
        base = np.array(self.template.base_hazard)[self.free_hazard]
        theta = list(np.log(np.clip(base, 1e-6, 0.5)))
        if self.free_cure:
            mean = (self.template.cure_share_low + self.template.cure_share_high) / 2
            theta.append(_logit(mean / self.max_level))
        if self.free_current:
            theta.append(_logit(0.5))
        return np.array(theta)

    def matrix(self, theta: np.ndarray) -> np.ndarray:
        """The model's 6 x 7 monthly matrix, row 0 mixed with current accounts."""
        self.evaluations += 1
        matrix = monthly_matrix(self.behaviour(theta), self.pop, self.c)
        _, _, current = self.split(theta)
        return mix_current(matrix, current or 0.0)

    def cells(self, theta: np.ndarray) -> np.ndarray:
        return conditional(self.matrix(theta))

    def natural(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Parameters on their own scale and d(natural)/d(theta) (a diagonal)."""
        hazard, level, current = self.split(theta)
        values, slope = list(hazard), list(hazard)
        i = self.k
        if level is not None:
            z = _sigmoid(theta[i])
            values.append(level)
            slope.append(self.max_level * z * (1 - z))
            i += 1
        if current is not None:
            values.append(current)
            slope.append(current * (1 - current))
        return np.array(values), np.array(slope)


def mix_current(matrix: np.ndarray, current_share: float) -> np.ndarray:
    """Row 0 for a status-0 population of which ``current_share`` is current (dpd 0).

    A current account is still status 0 a month later in the model: a new miss needs 30 days
    to reach status 1.
    """
    out = matrix.copy()
    out[0] = (1 - current_share) * matrix[0]
    out[0, 0] += current_share
    return out


def _sigmoid(t: float) -> float:
    return float(1.0 / (1.0 + np.exp(-t)))


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def _nll(n: np.ndarray, p: np.ndarray) -> float:
    return float(-(n * np.log(np.maximum(p, 1e-300))).sum())


def _jacobian(model: _Model, theta: np.ndarray, p: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """d cells / d theta by forward differences: (6, 6, parameters)."""
    out = np.empty((*p.shape, theta.size))
    for i in range(theta.size):
        moved = theta.copy()
        moved[i] += step
        out[:, :, i] = (model.cells(moved) - p) / step
    return out


def _information(n: np.ndarray, p: np.ndarray, jac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score and expected (Fisher) information of the row-wise multinomial likelihood."""
    rows = n.sum(axis=1)
    live = p > 0
    safe = np.where(live, p, 1.0)
    score = np.einsum("kj,kji->i", np.where(live, n / safe, 0.0), jac)
    info = np.einsum("k,kj,kji,kjl->il", rows, np.where(live, 1.0 / safe, 0.0), jac, jac)
    return score, info


def fit_counts(
    counts: np.ndarray,
    pop: Population,
    template: BehaviourSpec | None = None,
    charge_off_dpd: int = 180,
    max_iterations: int = 50,
) -> FitResult:
    """Maximum-likelihood fit to an 8 x 8 count matrix (:meth:`MonthlyData.counts`).

    Fisher scoring with step halving: the expected information comes from the Jacobian of the
    cell probabilities (forward differences of the exact chain); its inverse at the optimum
    gives the standard errors.
    """
    template = template or BehaviourSpec()
    model = _Model(template, pop, counts, charge_off_dpd)
    if model.n.sum() == 0:
        raise InputError("no transitions between delinquency buckets 0-5 to fit")
    theta = model.theta0()
    p = model.cells(theta)
    nll = _nll(model.n, p)
    converged = False
    for _ in range(max_iterations):
        jac = _jacobian(model, theta, p)
        score, info = _information(model.n, p, jac)
        step = np.linalg.lstsq(info + 1e-9 * np.eye(theta.size), score, rcond=None)[0]
        step *= min(1.0, 2.0 / max(np.abs(step).max(), 1e-300))  # same direction, at most 2
        for _halving in range(40):
            trial = np.clip(theta + step, -14.0, 14.0)
            trial[: model.k] = np.minimum(trial[: model.k], 0.0)
            p_trial = model.cells(trial)
            nll_trial = _nll(model.n, p_trial)
            if nll_trial <= nll:
                break
            step = step / 2
        else:
            converged = True  # no step improves: at the optimum to machine precision
            break
        gain = nll - nll_trial
        theta, p, nll = trial, p_trial, nll_trial
        if gain < 1e-7 * max(1.0, abs(nll)):
            converged = True
            break
    jac = _jacobian(model, theta, p)
    _, info = _information(model.n, p, jac)
    try:
        diag = np.diag(np.linalg.inv(info))
        se_theta = np.sqrt(np.where(diag > 0, diag, np.nan))
    except np.linalg.LinAlgError:
        se_theta = np.full(theta.size, np.nan)
    values, slope = model.natural(theta)
    n = model.n
    expected = n.sum(axis=1, keepdims=True) * p
    positive = n > 0
    deviance = float(2 * (n[positive] * np.log(n[positive] / expected[positive])).sum())
    cells = sum(min(k + 2, BUCKET_CODES) - 1 for k in range(BUCKET_CODES) if n[k].sum() > 0)
    return FitResult(
        behaviour=model.behaviour(theta),
        names=tuple(model.names),
        values=values,
        standard_errors=np.abs(slope) * se_theta,
        log_likelihood=-nll,
        counts=counts,
        predicted=model.matrix(theta),
        deviance=deviance,
        degrees_of_freedom=int(cells - theta.size),
        left_out_jumps=int(counts[:BUCKET_CODES, :BUCKET_CODES].sum() - n.sum()),
        left_out_exits=int(counts[:BUCKET_CODES, BUCKET_CODES:].sum()),
        evaluations=model.evaluations,
        converged=converged,
    )


def fit(
    data: MonthlyData,
    pop: Population,
    template: BehaviourSpec | None = None,
    accounts: np.ndarray | None = None,
    charge_off_dpd: int = 180,
) -> FitResult:
    """Fit on ``data`` (on the account codes ``accounts`` only, if given)."""
    return fit_counts(data.counts(accounts), pop, template, charge_off_dpd)


def transition_table(result: FitResult, counts: np.ndarray | None = None) -> list[dict]:
    """Rows of FIT.csv: observed against predicted transition rates in the data's codes.

    ``observed`` is the share of pairs from ``from_status`` that went to ``to_status`` (every
    pair, as the data's roll rates are quoted); ``predicted`` is the fitted model's chance of
    that move among accounts staying on the book, times the observed share that stayed. Exits
    (to ``C`` or ``X``) and jumps the model cannot make have no prediction (blank).
    """
    counts = result.counts if counts is None else counts
    p = conditional(result.predicted)
    rows = []
    for k in range(BUCKET_CODES):
        total = counts[k].sum()
        if total == 0:
            continue
        in_book = in_book_counts(counts)[k].sum() / total
        for j, code in enumerate(STATUS_CODES):
            modelled = j < BUCKET_CODES and j <= k + 1
            if counts[k, j] == 0 and not (modelled and p[k, j] > 0):
                continue
            observed = counts[k, j] / total
            rows.append(
                {
                    "from_status": STATUS_CODES[k],
                    "to_status": code,
                    "observed": observed,
                    "predicted": p[k, j] * in_book if modelled else float("nan"),
                    "count": int(counts[k, j]),
                    "pairs_from": int(total),
                    "observed_se": float(np.sqrt(observed * (1 - observed) / total)),
                }
            )
    return rows
