"""Risk-transfer contracts at work in one run: premiums, claims, shared recoveries, transfers.

The contracts are :class:`~waifang.sim.spec.RiskTransfer` specs in ``World.risk_transfer``; a
run without any never builds a :class:`Cover` (the engine checks ``if run.cover``), so it
pays nothing for them. Everything is integer cents, booked on the day it is paid:

- at the start of day 0, 30, 60, ... the lender pays each contract's premium on every covered
  account still open on its book and not yet claimed;
- at the end of the day, after the borrowers' payments and rolls: a covered account that
  reached its contract's trigger is paid for (once: the flag never clears), within the
  stop-loss left; a forward-flow sale pays its price and takes the account off the book;
- then, for every claimed account that stays with the lender, the provider's share of what
  the borrower paid since the claim (and of a forward-flow price) is passed on that day.

Parties' money, per account, is kept so that it adds up exactly: the lender's cash from the
cover is ``claims - premiums - passed``; the providers' is the opposite. An account that
leaves the book keeps its balance in ``transferred_cents``: opening = collected + written
off + outstanding + transferred.
"""

from __future__ import annotations

import zlib

import numpy as np

from waifang.errors import InputError
from waifang.sim.rng import keyed_uniform
from waifang.sim.spec import RiskTransfer, World
from waifang.sim.state import CHARGED_OFF, CLOSED, CURRENT, DELINQUENT, AccountState, Portfolio

PREMIUM_PERIOD_DAYS = 30
"""Premiums fall due every this many days from day 0."""

PER_ACCOUNT = ("claim_of", "flow_of", "share", "recovered_at_claim", "flow_received_cents",
               "premium_cents", "claim_cents", "passed_cents", "transferred_cents", "npv_cents")
"""Per-account arrays of a :class:`Cover` (waifang.sim.fork cuts them for a subset)."""


def coverage(contract: RiskTransfer, portfolio: Portfolio, charge_off_dpd: int) -> np.ndarray:
    """Mask of the accounts ``contract`` covers from day 0.

    Segments, the opening balance range and the share of the book select them; accounts
    already at or past the trigger on day 0 are not covered (the cover starts on day 0).
    """
    n = len(portfolio)
    keep = np.ones(n, bool)
    if contract.segments is not None:
        unknown = [s for s in contract.segments if s not in portfolio.segment_names]
        if unknown:
            raise InputError(
                f"contract {contract.name!r}: segments names unknown segment {unknown[0]!r}; "
                f"segments are {list(portfolio.segment_names)}"
            )
        codes = [portfolio.segment_names.index(s) for s in contract.segments]
        keep &= np.isin(portfolio.segment, codes)
    cents = np.rint(portfolio.balance * 100.0).astype(np.int64)
    keep &= cents >= round(contract.min_balance * 100)
    if contract.max_balance is not None:
        keep &= cents <= round(contract.max_balance * 100)
    if contract.share_of_book < 1:
        key = np.uint64(zlib.crc32(f"cover:{contract.name}".encode()))
        keep &= keyed_uniform(key, portfolio.account_id.astype(np.int64), 0) < (
            contract.share_of_book
        )
    trigger = trigger_of(contract, charge_off_dpd)
    keep &= portfolio.dpd < trigger
    return keep


def trigger_of(contract: RiskTransfer, charge_off_dpd: int) -> int:
    """The dpd at which ``contract`` pays (charge-off for a forward flow without one)."""
    if contract.trigger_dpd is None:
        return charge_off_dpd
    return min(contract.trigger_dpd, charge_off_dpd)


class Cover:
    """The contracts of one run acting on its accounts (see the module docstring)."""

    def __init__(self, world: World, portfolio: Portfolio, state: AccountState,
                 borrowers, discount: np.ndarray) -> None:
        self.contracts = world.risk_transfer
        self.charge_off_dpd = world.charge_off_dpd
        self.state, self.borrowers, self.discount = state, borrowers, discount
        n, k = state.n, len(self.contracts)
        # The claim contract (insurance, guarantee) and the forward flow covering each account
        # (-1: none). One of each at most: two the same way is refused by the schema.
        self.claim_of = np.full(n, -1, np.int16)
        self.flow_of = np.full(n, -1, np.int16)
        for j, contract in enumerate(self.contracts):
            target = self.flow_of if contract.kind == "forward_flow" else self.claim_of
            mask = coverage(contract, portfolio, world.charge_off_dpd)
            clash = mask & (target >= 0)
            if clash.any():
                other = self.contracts[int(target[np.flatnonzero(clash)[0]])].name
                raise InputError(
                    f"contract {contract.name!r} covers accounts contract {other!r} already "
                    "covers the same way"
                )
            target[mask] = j
        state.covered = (self.claim_of >= 0) | (self.flow_of >= 0)
        state.claimed = np.zeros(n, bool)
        self.share = np.zeros(n)  # the provider's share of recoveries after a claim
        self.recovered_at_claim = np.zeros(n, np.int64)
        self.flow_received_cents = np.zeros(n, np.int64)
        self.premium_cents = np.zeros(n, np.int64)
        self.claim_cents = np.zeros(n, np.int64)
        self.passed_cents = np.zeros(n, np.int64)
        self.transferred_cents = np.zeros(n, np.int64)
        self.npv_cents = np.zeros(n)  # the lender's cover cash, discounted to day 0
        self.paid = np.zeros(k, np.int64)  # per contract: claims and prices paid (stop-loss)
        self.premiums = np.zeros(k, np.int64)
        self.passed = np.zeros(k, np.int64)
        self.claims_count = np.zeros(k, np.int64)
        days = len(discount) - 1
        self.premiums_by_day = np.zeros(days, np.int64)
        self.claims_by_day = np.zeros(days, np.int64)
        self.passed_by_day = np.zeros(days, np.int64)

    # ------------------------------------------------------------------ the day
    def start_of_day(self, day: int) -> None:
        """Premiums due today (days 0, 30, 60, ...)."""
        if day % PREMIUM_PERIOD_DAYS:
            return
        s = self.state
        open_ = (s.status == DELINQUENT) | (s.status == CURRENT)
        for j, contract in enumerate(self.contracts):
            if contract.premium == 0 or not self._in_term(contract, day):
                continue
            if contract.kind == "forward_flow":
                idx = np.flatnonzero(open_ & (self.flow_of == j))
            else:
                idx = np.flatnonzero(open_ & (self.claim_of == j) & ~s.claimed)
            if contract.premium_basis == "balance":
                cents = np.rint(s.balance_cents[idx] * contract.premium).astype(np.int64)
            else:
                cents = np.full(idx.size, round(contract.premium * 100), np.int64)
            self.premium_cents[idx] += cents
            self.npv_cents[idx] -= cents * float(self.discount[day])
            total = int(cents.sum())
            self.premiums[j] += total
            self.premiums_by_day[day] += total

    def end_of_day(self, day: int) -> None:
        """Claims and forward-flow transfers triggered today, then recoveries passed on."""
        s = self.state
        for j, contract in enumerate(self.contracts):
            flow = contract.kind == "forward_flow"
            of = self.flow_of if flow else self.claim_of
            trigger = trigger_of(contract, self.charge_off_dpd)
            if trigger >= self.charge_off_dpd:
                hit = (of == j) & (s.status == CHARGED_OFF) & (s.chargeoff_day == day)
            else:
                hit = (of == j) & (s.status == DELINQUENT) & (s.dpd == trigger)
            if not flow:  # a claim is paid once: the flag never clears
                hit &= ~s.claimed
            idx = np.flatnonzero(hit)
            if idx.size:
                self._pay(j, contract, idx, day)
        self._pass_on(day)

    def _in_term(self, contract: RiskTransfer, day: int) -> bool:
        return contract.term_days is None or day < contract.term_days

    def _pay(self, j: int, contract: RiskTransfer, idx: np.ndarray, day: int) -> None:
        s = self.state
        of = self.flow_of if contract.kind == "forward_flow" else self.claim_of
        if day < contract.waiting_days or not self._in_term(contract, day):
            of[idx] = -1  # reached the trigger outside the cover: the lender's from now on
            return
        balance = s.balance_cents[idx]
        full = np.rint(balance * contract.cover_ratio).astype(np.int64)
        full = np.maximum(full - round(contract.deductible * 100), 0)
        pay = full
        if contract.stop_loss is not None:
            left = max(round(contract.stop_loss * 100) - int(self.paid[j]), 0)
            before = np.cumsum(full) - full  # paid to earlier accounts today, by index order
            pay = np.clip(left - before, 0, full)
        paid = pay > 0
        of[idx[~paid]] = -1  # nothing paid (deductible, stop-loss): no claim, no cover left
        idx, pay, full, balance = idx[paid], pay[paid], full[paid], balance[paid]
        if idx.size == 0:
            return
        total = int(pay.sum())
        self.paid[j] += total
        self.claims_count[j] += idx.size
        self.claims_by_day[day] += total
        self.npv_cents[idx] += pay * float(self.discount[day])
        s.claimed[idx] = True
        if contract.leaves_book:
            self.flow_received_cents[idx] += pay
            self.claim_cents[idx] += pay
            self._transfer(idx)
            return
        self.claim_cents[idx] += pay
        if contract.recovery_share is None:
            self.share[idx] = pay / balance
        else:
            self.share[idx] = contract.recovery_share * pay / full
        self.recovered_at_claim[idx] = s.collected_cents[idx] + self.flow_received_cents[idx]

    def _transfer(self, idx: np.ndarray) -> None:
        """The accounts leave the lender's book: their balance goes to the provider."""
        s = self.state
        self.transferred_cents[idx] += s.balance_cents[idx]
        s.balance_cents[idx] = 0
        self.borrowers._close(idx)

    def _pass_on(self, day: int) -> None:
        """Pass each provider its share of what claimed accounts recovered since the claim."""
        idx = np.flatnonzero(self.share > 0)
        if idx.size == 0:
            return
        recovered = (self.state.collected_cents[idx] + self.flow_received_cents[idx]
                     - self.recovered_at_claim[idx])
        due = np.rint(self.share[idx] * recovered).astype(np.int64) - self.passed_cents[idx]
        moving = due > 0
        idx, due = idx[moving], due[moving]
        if idx.size == 0:
            return
        self.passed_cents[idx] += due
        self.npv_cents[idx] -= due * float(self.discount[day])
        total = int(due.sum())
        self.passed_by_day[day] += total
        np.add.at(self.passed, self.claim_of[idx], due)

    # ------------------------------------------------------------------ results
    def lender_share(self) -> np.ndarray:
        """Per account, the share of its balance (and of later recoveries) that is the
        lender's own: 1 unless a claim passed a share to the provider."""
        return 1.0 - self.share

    def summary(self, day_zero_discount: float = 1.0) -> dict[str, float]:
        """Totals for ``summary.csv`` (currency), overall and per contract."""
        out: dict[str, float] = {
            "cover_premiums": int(self.premium_cents.sum()) / 100.0,
            "cover_claims": int(self.claim_cents.sum()) / 100.0,
            "cover_recoveries_passed": int(self.passed_cents.sum()) / 100.0,
            "cover_transferred": int(self.transferred_cents.sum()) / 100.0,
            "cover_claimed_accounts": int(self.state.claimed.sum()),
        }
        for j, contract in enumerate(self.contracts):
            name = contract.name
            out[f"cover_premiums[{name}]"] = int(self.premiums[j]) / 100.0
            out[f"cover_claims[{name}]"] = int(self.paid[j]) / 100.0
            out[f"cover_recoveries_passed[{name}]"] = int(self.passed[j]) / 100.0
        return out


NO_COVER_SUMMARY: dict[str, float] = {
    "cover_premiums": 0.0,
    "cover_claims": 0.0,
    "cover_recoveries_passed": 0.0,
    "cover_transferred": 0.0,
    "cover_claimed_accounts": 0,
}
"""The cover columns of a run without contracts."""

__all__ = ["Cover", "coverage", "trigger_of", "CLOSED"]
