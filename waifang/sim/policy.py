"""Collection policies: one narrow signature, vectorised over accounts.

A policy is any callable ``policy(view, day) -> requests`` where ``view`` is a
:class:`~waifang.sim.state.LenderView` and ``requests`` maps a treatment name (see
:data:`~waifang.sim.spec.TREATMENTS`) to an int array of account indices, or for ``call`` and
``ivr`` to a pair ``(indices, attempts)``. The engine never looks at a policy's name; it
checks every request against the compliance rules before anything happens.

:class:`LadderPolicy` is the rule ladder declared in a scenario file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Union

import numpy as np
from pydantic import Field, model_validator

from waifang.errors import KeyedValueError
from waifang.sim.spec import MAX_COUNT, MAX_DAYS, MAX_MONEY, Spec, Treatment
from waifang.sim.state import CHARGED_OFF, DELINQUENT, LenderView

Request = Union[np.ndarray, tuple[np.ndarray, np.ndarray]]  # noqa: UP007 (a runtime alias)
Policy = Callable[[LenderView, int], Mapping[str, Request]]

MAX_RISK_SCORE = 1000.0
"""Largest risk score a rung may name: a tape's scores lie in 0..1000 (sim/tape.py)."""


class LadderRule(Spec):
    """One rung of a collection ladder: a treatment for accounts in a dpd range."""

    action: Treatment
    """Treatment to request."""
    dpd_min: int = Field(default=1, ge=0, le=10_000)
    """First dpd (inclusive) at which the rung applies."""
    dpd_max: int = Field(default=10_000, ge=0, le=10_000)
    """Last dpd (inclusive) at which the rung applies."""
    every_days: int = Field(default=1, ge=1, le=MAX_DAYS)
    """Act on days where (dpd - dpd_min) is a multiple of this (1: every day)."""
    attempts: int = Field(default=1, ge=1, le=50)
    """Call or IVR attempts asked for per account on an acting day."""
    min_balance: float = Field(default=0.0, ge=0, le=MAX_MONEY)
    """Only accounts with at least this outstanding balance."""
    max_balance: float | None = Field(default=None, ge=0, le=MAX_MONEY)
    """Only accounts with at most this outstanding balance."""
    segments: tuple[str, ...] | None = None
    """Only these segments (None: all)."""
    min_prior_delinquencies: int = Field(default=0, ge=0, le=MAX_COUNT)
    """Only repeat defaulters with at least this many earlier episodes."""
    min_other_debts: int = Field(default=0, ge=0, le=MAX_COUNT)
    """Only borrowers with at least this many other lenders."""
    max_prior_delinquencies: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    """Only borrowers with at most this many earlier episodes (None: no limit). The record
    grows by one with each re-default during the run."""
    max_other_debts: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    """Only borrowers with at most this many other lenders (None: no limit)."""
    min_risk_score: float | None = Field(default=None, ge=0, le=MAX_RISK_SCORE)
    """Only accounts with a risk score at least this (higher is safer; None: no limit)."""
    max_risk_score: float | None = Field(default=None, ge=0, le=MAX_RISK_SCORE)
    """Only accounts with a risk score at most this (None: no limit)."""
    min_credit_limit: float | None = Field(default=None, ge=0, le=MAX_MONEY)
    """Only accounts with a credit limit at least this (currency; None: no limit)."""
    max_credit_limit: float | None = Field(default=None, ge=0, le=MAX_MONEY)
    """Only accounts with a credit limit at most this (currency; None: no limit)."""
    guarantee: bool | None = None
    """True: only accounts with a guarantor or collateral; False: only those without; None:
    both."""
    only_revealed_strategic: bool = False
    """Only accounts a visit has shown to be able but unwilling to pay."""
    max_revealed_ability: float | None = Field(default=None, ge=0, le=1)
    """Only accounts a visit has shown to have at most this ability (e.g. hardship offers)."""
    charged_off: bool = False
    """Apply to charged-off accounts instead of delinquent ones (``legal`` and ``agency``
    only: after charge-off they are the recoveries left). ``dpd_min``, ``dpd_max`` and
    ``every_days`` then count days since the charge-off (1 on the day after it)."""
    during_hardship: bool = False
    """Also act on accounts on a hardship plan (their dpd is frozen, so a cadence rung would
    otherwise fire every day or never; by default the ladder pauses while a plan runs)."""
    covered: bool | None = None
    """Only accounts a risk-transfer contract of the policy covers (true) or does not cover
    (false); None: either."""
    claimed: bool | None = None
    """Only accounts on which a contract has paid its claim (true: the lender keeps only its
    share of what it recovers) or has not (false); None: either."""

    @model_validator(mode="after")
    def _range(self) -> LadderRule:
        if self.dpd_max < self.dpd_min:
            raise KeyedValueError(
                "dpd_max", f"{self.dpd_max} is below dpd_min {self.dpd_min} (no dpd would match)"
            )
        if self.max_balance is not None and self.max_balance < self.min_balance:
            raise KeyedValueError(
                "max_balance",
                f"{self.max_balance:g} is below min_balance {self.min_balance:g} "
                "(no balance would match)",
            )
        for low, high in (
            ("min_prior_delinquencies", "max_prior_delinquencies"),
            ("min_other_debts", "max_other_debts"),
            ("min_risk_score", "max_risk_score"),
            ("min_credit_limit", "max_credit_limit"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and hi < lo:
                raise KeyedValueError(high, f"{hi:g} is below {low} {lo:g} (nothing would match)")
        if self.charged_off and self.action not in ("legal", "agency"):
            raise ValueError(f"charged_off applies to legal and agency rungs, not {self.action!r}")
        return self


class PolicySpec(Spec):
    """A named policy: a ladder of rules and, optionally, its own rule overrides."""

    name: str = Field(min_length=1)
    """Policy name; the first policy of a scenario is the champion."""
    description: str = ""
    """What the policy is, for the report."""
    rules: tuple[LadderRule, ...] = ()
    """The ladder's rungs; actions of all matching rungs are requested together."""
    compliance: dict[str, Any] | None = None
    """Rule overrides for this policy on top of the scenario's preset and overrides."""


class LadderPolicy:
    """The vectorised rule ladder of a :class:`PolicySpec`.

    Examples
    --------
    >>> from waifang.sim.portfolio import generate_portfolio
    >>> from waifang.sim.spec import PortfolioSpec
    >>> from waifang.sim.state import AccountState, LenderView
    >>> book = generate_portfolio(PortfolioSpec(accounts=8), ("north",), np.random.default_rng(0))
    >>> book.dpd.tolist()
    [29, 51, 17, 69, 31, 115, 17, 49]
    >>> spec = PolicySpec(name="sms", rules=(LadderRule(action="sms", dpd_max=30),))
    >>> policy = LadderPolicy(spec, segment_names=book.segment_names)
    >>> view = LenderView(book, AccountState.from_portfolio(book, 2.0, 2.5))
    >>> policy(view, day=0)["sms"].tolist()  # the accounts at 30 dpd or less
    [0, 2, 6]
    """

    def __init__(self, spec: PolicySpec, segment_names: tuple[str, ...]) -> None:
        self.spec = spec
        self._segments = []
        for rule in spec.rules:
            if rule.segments is None:
                self._segments.append(None)
                continue
            unknown = [s for s in rule.segments if s not in segment_names]
            if unknown:
                from waifang.errors import InputError

                raise InputError(
                    f"policy {spec.name!r}: rule {rule.action!r} names unknown segment "
                    f"{unknown[0]!r}; segments are {list(segment_names)}"
                )
            self._segments.append(
                np.array([segment_names.index(s) for s in rule.segments], dtype=np.int16)
            )
        self._bits, self._table = _rung_table(spec.rules)

    def __call__(self, view: LenderView, day: int) -> dict[str, Request]:
        """Today's requests; the same as :meth:`by_rung`, found in one pass over the book.

        A table over dpd values holds, per dpd, the rungs whose window and cadence it
        matches (one bit each), so one lookup per delinquent account tells which rungs act on
        it today; each rung then picks its bit, instead of comparing every account's dpd
        with its window and cadence.
        """
        dpd = view.dpd
        if self._table is None or dpd.dtype != np.int16:
            return self.by_rung(view, day)
        status = view.status
        delinquent = (status == DELINQUENT).nonzero()[0]
        # Negative dpd reads the table's upper half, which matches no rung (dpd_min >= 0).
        code = np.take(self._table, np.take(dpd, delinquent).view(np.uint16))
        on_plan = view.hardship_until[delinquent] >= day
        off_plan = ~on_plan if np.count_nonzero(on_plan) else None
        # The rungs that act on someone today: on a small book most rungs' bits are absent
        # on most days (cadences), and one reduction spares each of them its mask.
        today = int(np.bitwise_or.reduce(code)) if code.size else 0
        charged: dict[str, np.ndarray] = {}
        requests: dict[str, list[tuple[np.ndarray, int]]] = {}
        for rule, segments, bit in zip(self.spec.rules, self._segments, self._bits, strict=True):
            if rule.action == "sale" or rule.charged_off:
                idx = _after_charge_off(rule, view, day, charged)
            elif not today & bit:
                continue  # no delinquent account's dpd matches the rung today
            else:
                keep = (code & bit) != 0
                if off_plan is not None and not rule.during_hardship:
                    keep &= off_plan
                # compress, not delinquent[keep]: same result, and much faster on a mask
                # that is true for about half the accounts (a cadence of two days).
                idx = delinquent.compress(keep)
            idx = self._filter(idx, rule, segments, view)
            if idx.size == 0:
                continue
            requests.setdefault(rule.action, []).append((idx, rule.attempts))
        return _merge(requests)

    def by_rung(self, view: LenderView, day: int) -> dict[str, Request]:
        """Today's requests, rung by rung over the whole book (the plain statement of the
        ladder; :meth:`__call__` gives the same requests faster)."""
        dpd = view.dpd
        status = view.status
        # Rungs look only at delinquent accounts (most of a book is current after a month), and
        # by default not at those on a hardship plan.
        delinquent = np.flatnonzero(status == DELINQUENT)
        on_plan = view.hardship_until[delinquent] >= day
        off_plan = delinquent[~on_plan] if on_plan.any() else delinquent
        dpd_of = {id(delinquent): dpd[delinquent]}
        if off_plan is not delinquent:
            dpd_of[id(off_plan)] = dpd[off_plan]
        charged: dict[str, np.ndarray] = {}
        requests: dict[str, list[tuple[np.ndarray, int]]] = {}
        for rule, segments in zip(self.spec.rules, self._segments, strict=True):
            # Sale and charged-off rungs act on charged-off accounts; every other rung on
            # delinquent ones.
            if rule.action == "sale" or rule.charged_off:
                idx = _after_charge_off(rule, view, day, charged)
            else:
                live = delinquent if rule.during_hardship else off_plan
                live_dpd = dpd_of[id(live)]
                idx = live[(live_dpd >= rule.dpd_min) & (live_dpd <= rule.dpd_max)]
                if rule.every_days > 1 and idx.size:
                    idx = idx[(dpd[idx] - rule.dpd_min) % rule.every_days == 0]
            idx = self._filter(idx, rule, segments, view)
            if idx.size == 0:
                continue
            requests.setdefault(rule.action, []).append((idx, rule.attempts))
        return _merge(requests)

    @staticmethod
    def _filter(
        idx: np.ndarray, rule: LadderRule, segments: np.ndarray | None, view: LenderView
    ) -> np.ndarray:
        if idx.size == 0:
            return idx
        # Each filter a rung sets adds a mask; a rung with none returns ``idx`` untouched (no
        # all-True mask to build and apply on the many rungs that filter on dpd alone).
        masks: list[np.ndarray] = []
        if rule.min_balance > 0 or rule.max_balance is not None:
            balance = view.balance_cents[idx]
            masks.append(balance >= round(rule.min_balance * 100))
            if rule.max_balance is not None:
                masks.append(balance <= round(rule.max_balance * 100))
        if segments is not None:
            masks.append(np.isin(view.segment[idx], segments))
        if rule.min_prior_delinquencies:
            masks.append(view.prior_delinquencies[idx] >= rule.min_prior_delinquencies)
        if rule.min_other_debts:
            masks.append(view.other_debts[idx] >= rule.min_other_debts)
        if rule.max_prior_delinquencies is not None:
            masks.append(view.prior_delinquencies[idx] <= rule.max_prior_delinquencies)
        if rule.max_other_debts is not None:
            masks.append(view.other_debts[idx] <= rule.max_other_debts)
        if rule.min_risk_score is not None:
            masks.append(view.risk_score[idx] >= np.float32(rule.min_risk_score))
        if rule.max_risk_score is not None:
            masks.append(view.risk_score[idx] <= np.float32(rule.max_risk_score))
        if rule.min_credit_limit is not None:
            masks.append(view.credit_limit[idx] >= rule.min_credit_limit)
        if rule.max_credit_limit is not None:
            masks.append(view.credit_limit[idx] <= rule.max_credit_limit)
        if rule.guarantee is not None:
            masks.append(view.guarantee[idx] == rule.guarantee)
        if rule.only_revealed_strategic:
            masks.append(view.revealed_strategic()[idx])
        if rule.max_revealed_ability is not None:
            ability = view.revealed_ability()[idx]
            masks.append(ability <= rule.max_revealed_ability)  # NaN (not revealed): False
        if rule.covered is not None:
            masks.append(view.covered[idx] == rule.covered)
        if rule.claimed is not None:
            masks.append(view.claimed[idx] == rule.claimed)
        if not masks:
            return idx  # no filter on this rung
        keep = masks[0]
        for mask in masks[1:]:
            keep &= mask
        return idx[keep]


def _after_charge_off(
    rule: LadderRule, view: LenderView, day: int, charged: dict[str, np.ndarray]
) -> np.ndarray:
    """The accounts a sale rung or a charged-off rung acts on today (the same in
    :meth:`LadderPolicy.__call__` and :meth:`LadderPolicy.by_rung`).

    A sale rung takes the charged-off accounts (its cadence on their dpd); a charged-off rung
    those whose days since the charge-off lie in its window and cadence. ``charged`` keeps
    the charged-off accounts and their days since charge-off for the day's other rungs."""
    status = view.status
    if rule.action == "sale":
        idx = (status == CHARGED_OFF).nonzero()[0]
        if rule.every_days > 1 and idx.size:
            dpd = view.dpd
            idx = idx[(dpd[idx] - rule.dpd_min) % rule.every_days == 0]
        return idx
    if not charged:
        gone = (status == CHARGED_OFF).nonzero()[0]
        charged["gone"] = gone
        charged["since"] = day - view.chargeoff_day[gone].astype(np.int64)
    gone, since = charged["gone"], charged["since"]
    keep = (since >= rule.dpd_min) & (since <= rule.dpd_max)
    if rule.every_days > 1:
        keep &= (since - rule.dpd_min) % rule.every_days == 0
    return gone[keep]


def _merge(requests: dict[str, list[tuple[np.ndarray, int]]]) -> dict[str, Request]:
    """One request per action from its rungs' (sorted) index chunks, each with the attempts
    its rung asks for (which only call and IVR requests carry)."""
    out: dict[str, Request] = {}
    for action, chunks in requests.items():
        counted = action in ("call", "ivr")
        if len(chunks) == 1:
            idx, attempts = chunks[0]
            out[action] = (idx, np.full(idx.size, attempts, np.int16)) if counted else idx
            continue
        idx = np.concatenate([chunk for chunk, _ in chunks])
        if counted:
            # Two rungs asking for the same account: keep the larger number of attempts.
            att = np.repeat(np.array([a for _, a in chunks], np.int16),
                            [chunk.size for chunk, _ in chunks])
            order = np.lexsort((-att, idx))
            idx, att = idx[order], att[order]
        else:
            idx.sort()  # only the accounts matter: each once, in order
        first = np.ones(idx.size, bool)
        first[1:] = idx[1:] != idx[:-1]
        out[action] = (idx[first], att[first]) if counted else idx[first]
    return out


def _rung_table(rules: tuple[LadderRule, ...]) -> tuple[list[int], np.ndarray | None]:
    """Per rung, its bit in a table over dpd values (0 for rungs that do not look at the dpd
    of delinquent accounts: sale and charged-off rungs), and the table: entry ``d`` has the
    bits of the rungs whose window holds ``d`` and whose cadence falls on it. The table has
    65,536 entries, indexed by an int16 dpd read as uint16; negative dpd match nothing.
    None when there is no such rung or more than 64 of them (the engine then goes rung by
    rung)."""
    rungs = [k for k, r in enumerate(rules) if r.action != "sale" and not r.charged_off]
    bits = [0] * len(rules)
    if not rungs or len(rungs) > 64:
        return bits, None
    dtype = next(
        t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if len(rungs) <= 8 * t().itemsize
    )
    table = np.zeros(1 << 16, dtype)
    d = np.arange(1 << 15)
    for j, k in enumerate(rungs):
        r = rules[k]
        bits[k] = 1 << j
        hit = (d >= r.dpd_min) & (d <= r.dpd_max) & ((d - r.dpd_min) % r.every_days == 0)
        table[: 1 << 15][hit] |= dtype(1 << j)
    return bits, table
