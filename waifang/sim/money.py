"""Per-account money of a branch of a paused run (:mod:`waifang.sim.fork`).

A branch books every payment, fee, treatment cost and complaint to the account it belongs to,
by swapping the classes of its own copies of the borrowers, the ledger and the audit log for
the tracking subclasses below (ordinary runs never see them). At the end the per-account sums
must equal the ledger's totals, or the branch fails loudly: a cost path added to the engine
and not booked here is found at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from waifang.sim.behaviour import Borrowers
from waifang.sim.compliance import ACTION_CODE, RULE_CODE, AuditLog
from waifang.sim.economics import Ledger
from waifang.sim.engine import _Run, terminal_worth


@dataclass(frozen=True)
class Branch:
    """What each account was worth to the lender from ``day`` to ``until`` in one branch.

    All arrays are per account of the checkpoint (in its order), in currency. ``value`` is
    ``collected_npv + cover_npv + terminal_npv - cost``: the account's share of the run's
    ``net_value`` over those days. ``cover_npv`` is the lender's cash from risk-transfer
    contracts (claims - premiums - recoveries passed on, discounted; 0 without contracts),
    and ``terminal_npv`` counts only the lender's own share of a claimed balance, so a
    claimed account is worth to the lender only the share of its recoveries it keeps.
    ``collected_npv`` is cash received, discounted to the run's day 0 as the run's
    ``collected_npv`` is; ``terminal_npv`` values the balance left at ``until`` as the
    run's ``terminal_value`` does, discounted from ``until``; ``cost`` is every treatment's
    cost, the agency's and lawyers' shares and complaint handling.
    """

    day: int
    until: int
    value: np.ndarray
    collected_npv: np.ndarray
    terminal_npv: np.ndarray
    cost: np.ndarray
    performed: dict[str, int]
    cover_npv: np.ndarray | None = None


class _TrackedBorrowers(Borrowers):
    """Borrowers that also book each payment, and the fees on it, to its account."""

    def collect(self, idx, amount_cents, day, source="borrower"):
        s = self.state
        before = s.collected_cents[idx]
        # The engine's fee rule (behaviour.Borrowers.collect); the ledger check in
        # _Tracker.finish fails loudly if the two ever disagree.
        placed = (self.placed[idx] & ~self.agency_paused[idx]
                  if source == "borrower" and self.placed_count else None)
        super().collect(idx, amount_cents, day, source)
        got = (s.collected_cents[idx] - before).astype(np.float64)
        track = self.track
        np.add.at(track.npv_cents, idx, got * float(self.ledger.discount[day]))
        if placed is not None and np.count_nonzero(placed):
            np.add.at(track.cost, idx[placed], got[placed] * self.t.agency.contingency_share / 100)
        elif source == "judgement":
            np.add.at(track.cost, idx, got * self.t.legal.share / 100)


class _TrackedLedger(Ledger):
    """A ledger that books the travel of visits called off on arrival to their accounts."""

    def spend(self, treatment, amount):
        super().spend(treatment, amount)
        track = self.track
        called_off = track.last_disputed
        track.last_disputed = None
        if treatment != "visit" or called_off is None or called_off.size == 0:
            return
        travel = track.travel_cost[track.region[called_off]]
        if abs(travel.sum() - float(amount)) < 1e-6 * max(1.0, float(amount)):
            np.add.at(track.cost, called_off, travel)


class _TrackedAudit(AuditLog):
    """An audit log that books the unit cost of every performed action to its account."""

    def record(self, day, action, idx, hour, outcome, **kwargs):
        super().record(day, action, idx, hour, outcome, **kwargs)
        if idx.size == 0:
            return
        done = idx if outcome is None else idx[outcome == 0]  # None: all performed
        unit = self.track.unit_cost[ACTION_CODE[action]]
        self.track.last_disputed = None
        if action == "visit":
            # A visit refused for a dispute may be one called off on arrival, whose travel
            # the field team books right after (resources.FieldRegion); the ledger tells which.
            self.track.last_disputed = (idx[:0] if outcome is None
                                        else idx[outcome == RULE_CODE["visit_disputed"]])
            np.add.at(self.track.cost, done, self.track.visit_cost[self.portfolio.region[done]])
        elif unit:
            np.add.at(self.track.cost, done, unit)


class _Tracker:
    """Per-account money of one branch; checks that it adds up to the run's ledger."""

    def __init__(self, run: _Run, day: int) -> None:
        self.run, self.day = run, day
        n = run.state.n
        t = run.world.treatments
        self.npv_cents = np.zeros(n)
        self.cost = np.zeros(n)
        units = {"sms": t.sms.cost, "ivr": t.ivr.cost, "call": t.call.cost,
                 "freeze": t.freeze_cost, "hardship": t.hardship_cost, "legal": t.legal.fee}
        self.unit_cost = [units.get(a, 0.0) for a in ACTION_CODE]
        self.visit_cost = np.array([r.visit_cost for r in run.world.resources.regions])
        self.complaints_before = run.state.complaints.astype(np.int64)
        self.performed_before = run.audit.counts[:, :, 0].sum(axis=0).copy()
        run.borrowers.__class__ = _TrackedBorrowers
        run.borrowers.track = self
        run.audit.__class__ = _TrackedAudit
        run.audit.track = self
        run.ledger.__class__ = _TrackedLedger
        run.ledger.track = self
        self.last_disputed = None
        self.region = run.portfolio.region
        self.travel_cost = np.array([getattr(r, "travel_cost", 0.0)
                                     for r in run.world.resources.regions])
        self.cover_before = run.cover.npv_cents.copy() if run.cover is not None else None

    def finish(self, until: int, npv_before: float, cost_before: float) -> Branch:
        run = self.run
        s, ledger, world = run.state, run.ledger, run.world
        complaints = s.complaints.astype(np.int64) - self.complaints_before
        cost = self.cost + complaints * world.economics.complaint_cost
        discount = float(ledger.discount[until])
        collected_npv = self.npv_cents / 100.0
        terminal_npv = s.balance_cents * terminal_worth(s, world) / 100.0 * discount
        cover_npv = np.zeros(s.n)
        if run.cover is not None:
            terminal_npv = terminal_npv * run.cover.lender_share()
            cover_npv = (run.cover.npv_cents - self.cover_before) / 100.0
        # Per-account money must add up to the ledger's, or a cost escaped the tracking.
        npv_gap = collected_npv.sum() - (ledger.collected_npv_cents - npv_before) / 100.0
        cost_gap = cost.sum() - (ledger.cost_total - cost_before)
        scale = max(1.0, abs(ledger.cost_total), abs(ledger.collected_npv_cents) / 100.0)
        if abs(npv_gap) > 1e-6 * scale or abs(cost_gap) > 1e-6 * scale:
            raise RuntimeError(
                f"fork: per-account money does not add up to the ledger (collected NPV off by "
                f"{npv_gap:.4f}, cost off by {cost_gap:.4f}); a new cost or payment path is "
                "not tracked in waifang/sim/fork.py"
            )
        performed = run.audit.counts[:, :, 0].sum(axis=0) - self.performed_before
        return Branch(
            day=self.day,
            until=until,
            value=collected_npv + cover_npv + terminal_npv - cost,
            collected_npv=collected_npv,
            terminal_npv=terminal_npv,
            cost=cost,
            performed={a: int(performed[c]) for a, c in ACTION_CODE.items()},
            cover_npv=cover_npv,
        )
