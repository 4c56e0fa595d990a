"""What a treatment is worth, from the simulator: counterfactual branches pooled over cells.

The measure is the run's ``net_value`` (collected NPV + the NPV of the balances left at the
horizon - every cost), not ``net_npv``: a visit that cures an account often collects little
cash within the horizon but turns a balance that would roll to charge-off into a performing
one, which ``net_value`` credits (``terminal_value``) and ``net_npv`` does not. Valued by
``net_npv``, cures look worthless and the optimiser would learn to visit only accounts about
to settle.

How (:func:`treatment_effects`): at a checkpoint, two branches of the simulation continue
under the base policy on the same random numbers; one also asks for the treatment on every
eligible account on the checkpoint's day (with unlimited field teams, so every allowed visit
happens that day). Per account, the difference in value is the treatment's effect, net of its
cost and of every cost it saves or causes later. Several seeds give several such pairs.

Pooling (:class:`ValueModel`): accounts are grouped into cells of what the lender can see --
dpd band, balance band, segment, verified address, earlier visits and what they revealed,
contactability, legal case, agency placement, days left in the run. Within a cell the value
is a ratio to the balance (``value = r_cell x balance``, ``r_cell`` = sum of effects / sum of
balances). A cell with fewer than ``min_accounts`` trained accounts falls back to a coarser
grouping. Latent traits (ability, willingness, strategic) are never features: they act only
through the simulated outcomes that are averaged.

``value`` in the candidates table is the expected effect *before* the treatment's own cost
(the optimiser subtracts ``cost``); ``value - cost`` is the expected net effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from waifang.sim.fork import Checkpoint
from waifang.sim.policy import Policy
from waifang.sim.rng import stream
from waifang.sim.state import CLOSED, CURRENT, DELINQUENT, LenderView

BALANCE_EDGES = (0.0, 2000.0, 4000.0, 7000.0, 12000.0, 20000.0, 40000.0)
"""Balance bands (currency) of the cells."""
DAYS_LEFT_EDGES = (0, 30, 60, 90, 120)
"""Bands of days left in the run."""

FEATURES = ("dpd_band", "balance_band", "segment", "address_verified", "history", "contactable",
            "escalated", "days_left", "claimed")
"""The observable features that define the finest cells."""
LEVELS: tuple[tuple[str, ...], ...] = (
    FEATURES,
    ("dpd_band", "balance_band", "segment", "address_verified", "history", "contactable",
     "days_left", "claimed"),
    ("dpd_band", "balance_band", "address_verified", "history", "contactable", "days_left",
     "claimed"),
    ("dpd_band", "balance_band", "address_verified", "contactable", "days_left", "claimed"),
    ("balance_band", "address_verified", "contactable", "days_left", "claimed"),
    ("balance_band", "address_verified", "contactable", "claimed"),
    ("address_verified", "contactable", "claimed"),
    (),
)
"""Cell definitions from finest to coarsest; an account takes the finest with enough data.
``claimed`` (a risk-transfer claim paid: the lender keeps only its share of what a visit
recovers) stays in every cell but the last, so claimed and unclaimed accounts are not pooled;
without contracts it is 0 everywhere and the cells are those of the features before it.
``contactable`` stays too: a visit is the only way to reach a borrower the phone cannot, and
pooled with contactable accounts those visits were under-valued by half (docs/closed-loop.md,
"Predicted against realised")."""


def features(view: LenderView, idx: np.ndarray, day: int, days: int, ahead: int = 0
             ) -> pd.DataFrame:
    """The lender-observable features of accounts ``idx`` on ``day`` (one row each).

    With ``ahead`` > 0: the features they will have on ``day + ahead`` if they pay nothing
    meanwhile (dpd and the days left move on; balance, history and the rest stay)."""
    idx = np.asarray(idx, dtype=np.int64)
    dpd = view.dpd[idx].astype(np.int64) + ahead
    day = day + ahead
    balance = balance_of(view, idx)
    revealed_ability = view.revealed_ability()[idx]
    strategic = view.revealed_strategic()[idx]
    # 0 never visited, 1 visited but not met, 2 met and able to pay (> 0.3), 3 met and unable,
    # 4 met and shown to be strategic.
    history = np.where(view.visits[idx] > 0, 1, 0)
    met = ~np.isnan(revealed_ability)
    history = np.where(met, np.where(revealed_ability <= 0.3, 3, 2), history)
    history = np.where(strategic, 4, history)
    escalated = (view.in_legal[idx].astype(np.int64) + 2 * (view.placed_until[idx] >= day))
    return pd.DataFrame(
        {
            "dpd_band": np.minimum(dpd, 720) // 15,
            "balance_band": np.searchsorted(BALANCE_EDGES, balance, side="right"),
            "segment": view.segment[idx].astype(np.int64),
            "address_verified": view.address_verified[idx].astype(np.int64),
            "history": history,
            "contactable": view.contactable[idx].astype(np.int64),
            "escalated": escalated,
            "days_left": np.searchsorted(DAYS_LEFT_EDGES, days - day, side="right"),
            "claimed": view.claimed[idx].astype(np.int64),
        }
    )


def balance_of(view: LenderView, idx: np.ndarray) -> np.ndarray:
    """``view.balance[idx]`` without converting the whole book's balances (the property
    does; a weekly plan on a large book asks three times): the same numbers."""
    return view.balance_cents[idx] / 100.0


def valued(model: ValueModel | None, view: LenderView, idx: np.ndarray, day: int, days: int,
           ahead: int = 0) -> Valuation:
    """The model's value of accounts ``idx`` of the live view on ``day`` (with ``ahead``: on
    ``day + ahead`` if they pay nothing meanwhile, see :func:`features`), corrected and
    uncorrected, from one prediction. Without a model (or accounts): NaN everywhere."""
    idx = np.asarray(idx, dtype=np.int64)
    if model is None or idx.size == 0:
        nan = np.full(idx.size, np.nan)
        return Valuation(nan, nan, np.full(idx.size, -1), nan)
    feats = features(view, idx, day, days, ahead=ahead)
    feats["balance"] = balance_of(view, idx)
    return model.valuation(feats)


def candidate_frame(
    view: LenderView,
    idx: np.ndarray,
    option: str,
    region_names: Sequence[str],
    region: np.ndarray,
    *,
    value: np.ndarray,
    value_raw: np.ndarray,
    value_se: np.ndarray,
    cost: np.ndarray,
    hours: np.ndarray | float,
    **extra: np.ndarray,
) -> pd.DataFrame:
    """The candidates table of accounts ``idx`` (regions ``region``) for ``option``, in the
    columns :func:`waifang.optimise.policy.candidates` documents, then ``extra``."""
    return pd.DataFrame(
        {
            "account": idx,
            "account_id": view.account_id[idx],
            "option": option,
            "region": np.asarray(region_names, dtype=object)[region],
            "region_code": region,
            "value": value,
            "value_raw": value_raw,
            "value_se": value_se,
            "cost": cost,
            "hours": hours,
            "segment": view.segment[idx],
            "balance": balance_of(view, idx),
            "dpd": view.dpd[idx],
            **extra,
        }
    )


@dataclass(frozen=True)
class Effects:
    """Per-account treatment effects measured at one checkpoint.

    ``gross`` is the effect on the account's value plus the treatment's own cost, averaged
    over ``reps`` seeds; ``spread`` its standard deviation over the seeds.
    """

    day: int
    accounts: np.ndarray
    balance: np.ndarray
    cost: np.ndarray
    gross: np.ndarray
    spread: np.ndarray
    reps: int
    features: pd.DataFrame

    def frame(self) -> pd.DataFrame:
        out = self.features.copy()
        out.insert(0, "account", self.accounts)
        out.insert(1, "day", self.day)
        out["balance"] = self.balance
        out["cost"] = self.cost
        out["gross"] = self.gross
        return out


def treatment_effects(
    checkpoint: Checkpoint,
    accounts: np.ndarray,
    base: Policy,
    *,
    option: str = "visit",
    reps: int = 4,
    horizon: int | None = 90,
    seed: np.random.SeedSequence,
    measure: str = "net_value",
) -> Effects:
    """Effect of ``option`` on ``accounts`` (positions in ``checkpoint``) by paired branches.

    The checkpoint is cut to ``accounts`` first (borrowers interact only through capacity),
    so the cost is proportional to the accounts valued, not to the book. ``measure`` is
    ``"net_value"`` (the default, see the module docstring) or ``"net_npv"`` (the balance left
    at the horizon counts nothing).
    """
    if measure not in ("net_value", "net_npv"):
        raise ValueError(f"measure must be 'net_value' or 'net_npv', got {measure!r}")
    accounts = np.asarray(accounts, dtype=np.int64)
    world = checkpoint.world
    until = world.days if horizon is None else min(world.days, checkpoint.day + horizon)
    sub = checkpoint.subset(accounts)
    everyone = np.arange(sub.n)
    diffs = np.zeros((reps, sub.n))
    for r in range(reps):
        child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, checkpoint.day, r))
        # Escalations are valued with open courts and agencies (the sample is cut out of a
        # larger book); a visit keeps them as they are, as it always was.
        free = option != "visit"
        without = sub.branch(base, seed=child, until=until, unlimited_field=True,
                             unlimited_escalation=free)
        treated = sub.branch(base, extra={option: everyone}, seed=child, until=until,
                             unlimited_field=True, unlimited_escalation=free)
        diffs[r] = treated.value - without.value
        if measure == "net_npv":
            diffs[r] -= treated.terminal_npv - without.terminal_npv
    cost = option_cost(checkpoint, accounts, option)
    gross = diffs + cost
    return Effects(
        day=checkpoint.day,
        accounts=accounts,
        balance=checkpoint.view.balance[accounts],
        cost=cost,
        gross=gross.mean(axis=0),
        spread=gross.std(axis=0, ddof=1) if reps > 1 else np.full(sub.n, np.nan),
        reps=reps,
        features=features(checkpoint.view, accounts, checkpoint.day, world.days),
    )


@dataclass(frozen=True)
class PayHazard:
    """How fast delinquent accounts leave delinquency by paying, per dpd band (per day).

    Fitted on pairs of snapshots of a run under the base ladder (no visits): of the accounts
    delinquent at the first, the share that is current or closed at the second, by the dpd
    band (15 days) they had. Accounts that would reach charge-off within the pair's gap are
    left out (a sale at charge-off also closes an account). One set of rates per pair, by the
    day the pair starts: on a book that entered delinquency together, the accounts still
    delinquent after a month are the slower payers, and a lender planning on day ``d`` knows
    how its book behaved from the same point of its life.

    ``stay(dpd, days, day)`` is the chance an account is still delinquent ``days`` later: its
    band's rate, from the latest pair that starts on or before ``day``, held constant on the
    way (a band with fewer than ``min_accounts`` accounts takes the pair's pooled rate).
    """

    starts: np.ndarray
    rate: np.ndarray  # (pairs, bands)

    BANDS = 720 // 15 + 1

    @classmethod
    def fit(cls, pairs: Sequence[tuple[LenderView, LenderView, int, int]],
            charge_off_dpd: int, min_accounts: int = 30) -> PayHazard:
        """``pairs`` of (view on day d, view on day d + gap, d, gap)."""
        starts, rates = [], []
        for first, second, day, gap in pairs:
            was = np.flatnonzero(first.status == DELINQUENT)
            was = was[first.dpd[was].astype(np.int64) + gap < charge_off_dpd]
            band = np.minimum(first.dpd[was].astype(np.int64), 720) // 15
            paid = np.isin(second.status[was], (CURRENT, CLOSED))
            at_risk = np.bincount(band, minlength=cls.BANDS).astype(np.float64)
            left = np.bincount(band, weights=paid, minlength=cls.BANDS)
            # A constant daily hazard h leaves a share exp(-h gap) still delinquent.
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.minimum(left / np.maximum(at_risk, 1), 1 - 1e-9)
            rate = -np.log1p(-share) / gap
            pooled = -np.log1p(-min(left.sum() / max(at_risk.sum(), 1), 1 - 1e-9)) / gap
            starts.append(day)
            rates.append(np.where(at_risk >= min_accounts, rate, pooled))
        if not starts:
            return cls.none()
        order = np.argsort(starts)
        return cls(starts=np.asarray(starts)[order], rate=np.asarray(rates)[order])

    @classmethod
    def none(cls) -> PayHazard:
        """No one pays: every account stays delinquent (no history to fit on)."""
        return cls(starts=np.zeros(1, np.int64), rate=np.zeros((1, cls.BANDS)))

    def stay(self, dpd: np.ndarray, days: int, day: int = 0) -> np.ndarray:
        """Chance each account (by its dpd on ``day``) is still delinquent ``days`` later."""
        band = np.minimum(np.asarray(dpd, dtype=np.int64), 720) // 15
        k = max(int(np.searchsorted(self.starts, day, side="right")) - 1, 0)
        return np.exp(-self.rate[k][band] * days)


class WithheldRevelation:
    """``policy`` as it would act if visits from now on revealed nothing.

    The lender view it sees hides what visits reveal (``revealed_ability``,
    ``revealed_strategic``) for every account not yet revealed on the first day it is asked;
    everything else is the real view. Used to measure what a visit's information is worth.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.known: np.ndarray | None = None

    def __call__(self, view: LenderView, day: int):
        if self.known is None:
            self.known = ~np.isnan(view.revealed_ability())
        return self.policy(_MaskedView(view, self.known), day)


class _MaskedView:
    def __init__(self, view: LenderView, known: np.ndarray) -> None:
        self._view, self._known = view, known

    def __getattr__(self, name: str):
        return getattr(self._view, name)

    def revealed_ability(self) -> np.ndarray:
        return np.where(self._known, self._view.revealed_ability(), np.float32(np.nan))

    def revealed_strategic(self) -> np.ndarray:
        return self._view.revealed_strategic() & self._known


def information_value(
    checkpoint: Checkpoint,
    accounts: np.ndarray,
    base: Policy,
    *,
    reps: int = 4,
    horizon: int | None = 90,
    seed: np.random.SeedSequence,
) -> tuple[Effects, Effects]:
    """A visit's effect with its revelation used by ``base`` and with it withheld.

    Both are measured on the same seeds, so ``full.gross - withheld.gross`` is, per account,
    what the information a visit reveals (ability against willingness) adds through the
    later decisions of ``base`` (a hardship plan for the unable, legal action for the
    unwilling). A base policy that never looks at revelations gets exactly 0.
    """
    full = treatment_effects(checkpoint, accounts, base, reps=reps, horizon=horizon, seed=seed)
    withheld = treatment_effects(checkpoint, accounts, WithheldRevelation(base), reps=reps,
                                 horizon=horizon, seed=seed)
    return full, withheld


def option_cost(checkpoint_or_world, accounts: np.ndarray, option: str,
                region: np.ndarray | None = None) -> np.ndarray:
    """The treatment's own cost per account (the region's visit cost, the legal fee, ...)."""
    if isinstance(checkpoint_or_world, Checkpoint):
        world = checkpoint_or_world.world
        region = checkpoint_or_world.portfolio.region[accounts]
    else:
        world = checkpoint_or_world
    n = len(accounts)
    if option == "visit":
        costs = np.array([r.visit_cost for r in world.resources.regions])
        return costs[np.asarray(region)]
    if option == "legal":
        return np.full(n, world.treatments.legal.fee)
    if option == "agency":
        return np.zeros(n)
    raise ValueError(f"no cost known for option {option!r}")


class Valuation(NamedTuple):
    """What :meth:`ValueModel.valuation` gives per row: the value and its standard error as
    the plans use them (corrected, if the model corrects), the level of the cell used, and
    the uncorrected value (what the correction is measured against)."""

    value: np.ndarray
    value_se: np.ndarray
    level: np.ndarray
    raw: np.ndarray


class ValueModel:
    """Cell ratios of treatment effect to balance, with a standard error per cell.

    Examples
    --------
    >>> frame = pd.DataFrame({"address_verified": [1, 1, 0, 0], "balance": [1e3, 2e3, 1e3, 3e3],
    ...                       "gross": [100.0, 220.0, 10.0, 20.0]})
    >>> model = ValueModel.fit(frame, levels=(("address_verified",), ()), min_accounts=2)
    >>> value, se, level = model.predict(frame.drop(columns="gross"))
    >>> [round(float(v), 1) for v in value]
    [106.7, 213.3, 7.5, 22.5]
    """

    def __init__(self, levels, tables, min_accounts, spread=None) -> None:
        self.levels = levels
        self.tables = tables  # per level: DataFrame indexed by the level's features
        self.min_accounts = min_accounts
        # With shrinkage: per level, the variance of true cell ratios around their parent
        # cell's (tau^2); None: no shrinkage, the finest cell with enough accounts is used.
        self.spread = spread
        self.hazard: PayHazard | None = None  # how fast accounts pay (for later periods)
        # A held-out linear recalibration, value = a x balance + b x value (None: none).
        self.calibration: tuple[float, float] | None = None

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        *,
        levels: Sequence[tuple[str, ...]] = LEVELS,
        min_accounts: int = 30,
        shrink: bool = False,
    ) -> ValueModel:
        """Fit on a frame with the level features, ``balance`` and ``gross`` per account.

        With ``shrink`` every cell's ratio is shrunk toward its parent cell's (the next
        coarser level, itself shrunk), by its standard error (empirical Bayes): ``r = r_parent
        + w (r_cell - r_parent)``, ``w = tau^2 / (tau^2 + se_cell^2)``, where ``tau^2``, the
        spread of true cell ratios around their parents at that level, is estimated from the
        cells themselves (mean squared gap to the parent less mean squared standard error,
        at least 0). A noisy cell's high estimate is pulled in; a precise one stays. This
        answers the winner's curse: picking the accounts with the highest estimates also
        picks the cells whose noise happened to be high.
        """
        if len(frame) == 0:
            raise ValueError("no treatment effects to fit values on")
        levels = tuple(levels)
        tables = [_ratio_table(frame, level) for level in levels]
        model = cls(levels, tables, min_accounts)
        if shrink:
            model.spread = _spreads(model, frame)
        return model

    def predict(self, frame: pd.DataFrame, corrected: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Value, its standard error (both currency) and the level used, per row.

        ``corrected=False`` gives the plain cell estimates: no shrinkage, no calibration
        (what the correction is measured against)."""
        if not corrected:
            ratio, ratio_se, used = self._ratios(frame, shrunk=False)[:3]
            balance = frame["balance"].to_numpy(dtype=np.float64)
            return ratio * balance, ratio_se * balance, used
        value, se, used, _ = self.valuation(frame)
        return value, se, used

    def valuation(self, frame: pd.DataFrame) -> Valuation:
        """:meth:`predict` and, beside it, the uncorrected value, from one look-up of the
        cells: the same numbers as ``predict(frame)`` and ``predict(frame,
        corrected=False)[0]``."""
        ratio, ratio_se, used, raw = self._ratios(frame, shrunk=self.spread is not None)
        balance = frame["balance"].to_numpy(dtype=np.float64)
        value, se = ratio * balance, ratio_se * balance
        raw = raw * balance
        if self.calibration is not None:
            a, b = self.calibration
            value = a * balance + b * value
            se = abs(b) * se
        return Valuation(value, se, used, raw)

    @classmethod
    def fit_calibrated(cls, frame: pd.DataFrame, *, levels: Sequence[tuple[str, ...]] = LEVELS,
                       min_accounts: int = 30, shrink: bool = False,
                       seed: np.random.SeedSequence | None = None) -> ValueModel:
        """:meth:`fit` on the whole frame, recalibrated by cross-fitting on two halves.

        The accounts are split in two at random; a model fitted on each half predicts the
        other. Regressing the held-out effects on those predictions, per unit of balance and
        weighted by balance, gives ``value = a x balance + b x predicted``: ``b`` below 1 is
        the optimism of ranking by noisy cell estimates (regression to the mean), ``a``
        what is left of the level. Applied to the model fitted on everything (a little
        cautious: the full model is less noisy than a half's).
        """
        model = cls.fit(frame, levels=levels, min_accounts=min_accounts, shrink=shrink)
        rng = np.random.default_rng(seed if seed is not None else np.random.SeedSequence(0))
        half = rng.random(len(frame)) < 0.5
        xs, ys, ws = [], [], []
        for fit_on in (half, ~half):
            if fit_on.sum() < 2 or (~fit_on).sum() < 2:
                return model
            part = cls.fit(frame[fit_on], levels=levels, min_accounts=min_accounts,
                           shrink=shrink)
            held = frame[~fit_on]
            predicted, _, _ = part.predict(held)
            balance = held["balance"].to_numpy(dtype=np.float64)
            ok = (balance > 0) & np.isfinite(predicted)
            xs.append(predicted[ok] / balance[ok])
            ys.append(held["gross"].to_numpy(dtype=np.float64)[ok] / balance[ok])
            ws.append(balance[ok])
        x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
        xm, ym = np.average(x, weights=w), np.average(y, weights=w)
        sxx = np.average((x - xm) ** 2, weights=w)
        b = float(np.average((x - xm) * (y - ym), weights=w) / sxx) if sxx > 0 else 0.0
        model.calibration = (float(ym - b * xm), b)
        return model

    def cells(self, frame: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per level, each row's cell (ratio, standard error, accounts); NaN, NaN, 0 where the
        level has no such cell."""
        out = []
        n = len(frame)
        for level, table in zip(self.levels, self.tables, strict=True):
            if level:
                keys = _keys({c: frame[c].to_numpy() for c in level}, level)
                known = table["key"].to_numpy()
                at = np.minimum(np.searchsorted(known, keys), max(known.size - 1, 0))
                found = (known.size > 0) & (known[at] == keys) & (keys >= 0)
                take = np.where(found, at, 0)
                out.append((np.where(found, table["ratio"].to_numpy()[take], np.nan),
                            np.where(found, table["ratio_se"].to_numpy()[take], np.nan),
                            np.where(found, table["n"].to_numpy()[take], 0)))
            else:
                out.append((np.repeat(table["ratio"].to_numpy(), n),
                            np.repeat(table["ratio_se"].to_numpy(), n),
                            np.repeat(table["n"].to_numpy(), n)))
        return out

    def _ratios(self, frame: pd.DataFrame, shrunk: bool
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per row: the ratio of value to balance as the plans use it (shrunk if asked), its
        standard error, the level used and the plain ratio (finest cell with enough
        accounts).

        Every row with the same features gets the same ratios, so they are worked out once
        per distinct combination of features (a few thousand on a book of a million: the
        weekly plans value every eligible account) and spread back to the rows; the numbers
        are those of a row-by-row computation, bit for bit."""
        distinct, row = _distinct_cells(frame, self.levels)
        cells = self.cells(distinct)
        plain, plain_se, plain_used = self._plain(cells)
        if shrunk:
            ratio, ratio_se, used = self._shrunk(cells)
        else:
            ratio, ratio_se, used = plain, plain_se, plain_used
        return ratio[row], ratio_se[row], used[row], plain[row]

    def _plain(self, cells: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The finest level's cell with enough accounts (the last level whatever its count):
        ratio, standard error, level."""
        n = len(cells[0][0])
        ratio, ratio_se = np.full(n, np.nan), np.full(n, np.nan)
        used = np.full(n, -1)
        todo = np.ones(n, bool)
        last = len(self.levels) - 1
        for k, (r, se, count) in enumerate(cells):
            ok = todo & ((count >= self.min_accounts) | (k == last)) & np.isfinite(r)
            ratio[ok], ratio_se[ok], used[ok] = r[ok], se[ok], k
            todo &= ~ok
        return ratio, ratio_se, used

    def _shrunk(self, cells: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each level's cell ratio shrunk toward its parent's, from the coarsest level up
        (see :meth:`fit`): ratio, standard error, finest level that moved it."""
        ratio, ratio_se, _ = (np.asarray(a, dtype=np.float64).copy() for a in cells[-1])
        used = np.full(len(ratio), len(self.levels) - 1)
        for k in range(len(self.levels) - 2, -1, -1):
            r, se, n = cells[k]
            ok = (n >= self.min_accounts) & np.isfinite(r) & np.isfinite(se)
            tau2 = self.spread[k]
            with np.errstate(invalid="ignore", divide="ignore"):
                w = np.where(ok, tau2 / (tau2 + se**2), 0.0) if tau2 > 0 else np.zeros(len(r))
            w = np.where(ok, np.nan_to_num(w), 0.0)
            gap = np.where(ok, r - ratio, 0.0)
            ratio = ratio + w * gap
            ratio_se = np.sqrt((w * np.where(ok, se, 0.0)) ** 2 + ((1 - w) * ratio_se) ** 2)
            used = np.where(ok, k, used)
        return ratio, ratio_se, used


def _distinct_cells(frame: pd.DataFrame, levels: Sequence[tuple[str, ...]]
                    ) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct combinations of the features ``levels`` use, as a frame, and the
    position of each row of ``frame`` among them."""
    names = list(dict.fromkeys(c for level in levels for c in level))
    if not names or len(frame) == 0:
        return frame.iloc[:1][names], np.zeros(len(frame), np.int64)
    columns = {c: frame[c].to_numpy(dtype=np.int64) for c in names}
    if sum(_BITS.get(c, 16) for c in names) <= 62:
        key = _keys(columns, tuple(names))
        if (key >= 0).all():
            # One integer per combination: a 1-d unique, much faster than rows of a 2-d one.
            _, first, row = np.unique(key, return_index=True, return_inverse=True)
            return pd.DataFrame({c: v[first] for c, v in columns.items()}), row.reshape(-1)
    table = np.stack(list(columns.values()), axis=1)
    distinct, row = np.unique(table, axis=0, return_inverse=True)
    return pd.DataFrame(distinct, columns=names), row.reshape(-1)


def _spreads(model: ValueModel, frame: pd.DataFrame) -> tuple[float, ...]:
    """Per level, tau^2: the variance of true cell ratios around their parent cells', by the
    method of moments over the level's cells with enough accounts (the last level: 0)."""
    cells = model.cells(frame)
    out = []
    for k in range(len(model.levels) - 1):
        r, se, n = cells[k]
        parent = cells[k + 1][0]
        ok = (n >= model.min_accounts) & np.isfinite(r) & np.isfinite(se) & np.isfinite(parent)
        if not ok.any():
            out.append(0.0)
            continue
        # One entry per cell (rows of a cell repeat it): the unique (ratio, se, parent).
        uniq = np.unique(np.stack([r[ok], se[ok], parent[ok]]), axis=1)
        gap2 = (uniq[0] - uniq[2]) ** 2
        out.append(float(max(0.0, gap2.mean() - (uniq[1] ** 2).mean())))
    out.append(0.0)
    return tuple(out)


_BITS = {"dpd_band": 8, "balance_band": 5, "segment": 12, "address_verified": 1, "history": 3,
         "contactable": 1, "escalated": 2, "days_left": 4, "claimed": 1}
"""Bits of each feature in a cell key (others take 16); a key must fit in 62 bits."""


def _keys(columns: dict[str, np.ndarray], level: tuple[str, ...]) -> np.ndarray:
    """One int64 per row naming its cell at ``level`` exactly (-1 if a feature is out of
    its range: such a row matches no cell at this level)."""
    n = len(next(iter(columns.values())))
    key = np.zeros(n, np.int64)
    bad = np.zeros(n, bool)
    shift = 0
    for name in level:
        bits = _BITS.get(name, 16)
        v = np.asarray(columns[name], dtype=np.int64)
        bad |= (v < 0) | (v >= 1 << bits)
        key |= np.where(bad, 0, v) << shift
        shift += bits
    if shift > 62:
        raise ValueError(f"cell key of {level} needs {shift} bits, more than 62")
    return np.where(bad, -1, key)


def _ratio_table(frame: pd.DataFrame, level: tuple[str, ...]) -> pd.DataFrame:
    x = frame["balance"].to_numpy(dtype=np.float64)
    y = frame["gross"].to_numpy(dtype=np.float64)
    work = pd.DataFrame({"x": x, "y": y, "xx": x * x, "xy": x * y, "yy": y * y})
    if level:
        for name in level:
            work[name] = frame[name].to_numpy()
        sums = work.groupby(list(level), sort=False).agg(
            n=("x", "size"), x=("x", "sum"), y=("y", "sum"), xx=("xx", "sum"),
            xy=("xy", "sum"), yy=("yy", "sum"))
    else:
        sums = pd.DataFrame({"n": [len(work)], **{c: [work[c].sum()] for c in
                                                   ("x", "y", "xx", "xy", "yy")}})
    n = sums["n"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = sums["y"].to_numpy() / sums["x"].to_numpy()
        # Residuals of y = r x: sum e^2 = yy - 2 r xy + r^2 xx; var(r) ~ sum e^2 /
        # (n (n - 1) mean(x)^2) (the ratio estimator's usual linearised variance).
        sse = np.maximum(sums["yy"] - 2 * ratio * sums["xy"] + ratio**2 * sums["xx"], 0.0)
        mean_x = sums["x"].to_numpy() / n
        ratio_se = np.sqrt(sse / (n * np.maximum(n - 1, 1))) / mean_x
    sums["ratio"] = ratio
    sums["ratio_se"] = np.where(n > 1, ratio_se, np.inf)
    if level:
        index = sums.index.to_frame(index=False)
        sums = sums.reset_index(drop=True)
        sums["key"] = _keys({c: index[c].to_numpy() for c in level}, level)
        sums = sums[sums["key"] >= 0].sort_values("key", kind="stable").reset_index(drop=True)
    return sums


def sample(rng_seed: np.random.SeedSequence, idx: np.ndarray, size: int | None,
           purpose: str) -> np.ndarray:
    """At most ``size`` of ``idx`` at random (sorted), reproducibly from ``rng_seed``."""
    if size is None or idx.size <= size:
        return idx
    return np.sort(stream(rng_seed, purpose).choice(idx, size, replace=False))

