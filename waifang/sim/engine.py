"""The engine: simpy runs the clock and the resources, numpy moves all accounts each day.

A day (clock in hours) runs as:

- 00:00 the policy looks at the accounts and asks for actions; administrative ones (freeze,
  hardship plan, debt sale) happen at once, the rest go to the resource that performs them;
- during the day the machines send SMS / IVR, agents call hour by hour, field teams make
  their trips, courts and agencies take cases, each action checked against the rules first
  (at 09:00: the agents' call hour, then the court's session, then the agencies'; the order
  is written out in :class:`waifang.sim.escalation.Courts`);
- 23:30 every borrower's behaviour for the day is applied at once (payments, promises,
  rolls, charge-offs, re-defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import simpy

from waifang.errors import InputError
from waifang.sim.audit import check_audit
from waifang.sim.behaviour import Borrowers
from waifang.sim.compliance import ACTIONS, AuditLog, Compliance
from waifang.sim.cover import NO_COVER_SUMMARY, Cover
from waifang.sim.economics import Ledger
from waifang.sim.escalation import Agencies, Courts
from waifang.sim.policy import Policy, Request
from waifang.sim.resources import Automated, CallCentre, Context, FieldForce
from waifang.sim.results import RunResult
from waifang.sim.rules import RULES, ComplianceRules
from waifang.sim.spec import BUCKETS, CURE_BEFORE_CHARGE_OFF, TREATMENTS, World
from waifang.sim.state import (
    CHARGED_OFF,
    CLOSED,
    CURRENT,
    DELINQUENT,
    AccountState,
    LenderView,
    Portfolio,
)

SMS_HOUR = 10.0
IVR_HOUR = 11.0
ADMIN_HOUR = 0.0
END_OF_DAY = 23.5
SMALL_BOOK = 5_000
"""Up to this many accounts a run counts its dpd buckets from one histogram (a branch of a
paused run, :mod:`waifang.sim.fork`); a large book compares against each edge."""


def _split(action: str, request: Request, n: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(request, tuple):
        idx, attempts = request
    else:
        idx, attempts = request, None
    idx = np.asarray(idx, dtype=np.int64).reshape(-1)
    # Already sorted without repeats (a ladder's requests are): no sort, and the ends are the
    # smallest and the largest index.
    ordered = idx.size < 2 or not np.count_nonzero(idx[1:] <= idx[:-1])
    if idx.size and (
        (idx[0] < 0 or idx[-1] >= n) if ordered else (idx.min() < 0 or idx.max() >= n)
    ):
        raise InputError(f"policy asked for {action!r} on account index outside 0..{n - 1}")
    first = None
    if not ordered:
        idx, first = np.unique(idx, return_index=True)
    if attempts is None:
        return idx, np.ones(idx.size, np.int16)
    attempts = np.asarray(attempts, dtype=np.int16).reshape(-1)
    if first is not None:
        attempts = attempts[first]
    asked = attempts > 0  # zero attempts is no request
    return idx[asked], attempts[asked]


class _Run:
    """One policy on one portfolio with one seed; builds, runs and summarises."""

    def __init__(
        self,
        world: World,
        portfolio: Portfolio,
        policy: Policy,
        rules: ComplianceRules,
        seed: np.random.SeedSequence,
        audit: str,
        departures: tuple[str, ...] = (),
    ) -> None:
        self.world, self.portfolio, self.policy, self.rules = world, portfolio, policy, rules
        self.departures = tuple(departures)
        self.observer = None  # set by waifang.sim.fork; None in an ordinary run
        b = world.behaviour
        self.state = AccountState.from_portfolio(portfolio, b.ability_weight, b.willingness_weight)
        self.ledger = Ledger(world.economics, world.days)
        self.audit = AuditLog(world.days, full=audit == "full")
        self.audit.watch(self.state, portfolio)
        self.compliance = Compliance(rules, self.state.n, self.audit)
        self.borrowers = Borrowers(world, portfolio, self.state, self.ledger, seed)
        # Risk-transfer contracts; None without any, and every use is behind "if cover".
        self.cover = (
            Cover(world, portfolio, self.state, self.borrowers, self.ledger.discount)
            if world.risk_transfer else None
        )
        self.view = LenderView(portfolio, self.state)
        self.env = simpy.Environment()
        ctx = Context(self.env, world, self.borrowers, self.compliance, self.ledger, seed)
        self.ctx = ctx
        t = world.treatments
        self.sms = Automated(ctx, "sms", t.sms, SMS_HOUR)
        self.ivr = Automated(ctx, "ivr", t.ivr, IVR_HOUR)
        self.calls = CallCentre(ctx)
        self.field = FieldForce(ctx)
        self.courts = Courts(ctx)
        self.agencies = Agencies(ctx)
        self.handlers = self._handlers()
        assert set(self.handlers) == set(TREATMENTS)
        c = world.charge_off_dpd
        # dpd 1-30, 31-60, ...; the last bucket takes everything up to the charge-off point.
        starts = [1 + 30 * k for k in range(len(BUCKETS))]
        ends = [*starts[1:], c]
        self.bucket_slices = [slice(lo, min(hi, c)) for lo, hi in zip(starts, ends, strict=True)]
        # Each night, the accounts below each bucket edge and those at dpd 0 (current), c + 1
        # (charged off) and c + 2 (closed): a bucket is the difference of two edges. One
        # comparison and count per edge is cheaper than a histogram of every dpd.
        self.edges = sorted(
            {e for sl in self.bucket_slices if sl.start < sl.stop for e in (sl.start, sl.stop)}
        )
        self.levels = (0, c + 1, c + 2)
        self.below = np.zeros((world.days, len(self.edges)), np.int64)
        self.at_level = np.zeros((world.days, len(self.levels)), np.int64)
        self._mask: np.ndarray | None = None

    # ------------------------------------------------------------------ the day
    def dispatch(self, requests: Mapping[str, Request], day: int) -> None:
        n = self.state.n
        unknown = sorted(set(requests) - set(TREATMENTS))
        if unknown:
            raise InputError(
                f"policy asked for unknown action {unknown[0]!r}; actions are {list(TREATMENTS)}"
            )
        for action, request in requests.items():
            idx, attempts = _split(action, request, n)
            if idx.size == 0:
                continue
            self.handlers[action](idx, attempts, day)

    def _handlers(self) -> dict[str, object]:
        """What performs each action a policy may ask for: ``handler(idx, attempts, day)``."""
        state, b, t = self.state, self.borrowers, self.world.treatments

        def delinquent(idx: np.ndarray) -> np.ndarray:
            return idx[state.status[idx] == DELINQUENT]

        def third_party(idx, attempts, day):
            # Contacting the social circle is unlawful in every preset: never performed.
            self.compliance.block_all("third_party", idx, ADMIN_HOUR, "third_party")

        def freeze(idx, attempts, day):
            self._admin("freeze", b.freeze(delinquent(idx)), day, t.freeze_cost)

        def hardship(idx, attempts, day):
            self._admin("hardship", b.start_hardship(delinquent(idx), day), day, t.hardship_cost)

        def sale(idx, attempts, day):
            sold = idx[state.status[idx] == CHARGED_OFF]
            self._admin("sale", sold, day, 0.0)
            b.sell(sold, day)

        return {
            "third_party": third_party,
            "sms": lambda idx, attempts, day: self.sms.request(idx, attempts),
            "ivr": lambda idx, attempts, day: self.ivr.request(idx, attempts),
            "call": lambda idx, attempts, day: self.calls.request(idx, attempts),
            "visit": lambda idx, attempts, day: self.field.request(idx, day),
            "legal": lambda idx, attempts, day: self.courts.request(idx),
            "agency": lambda idx, attempts, day: self.agencies.request(idx),
            "freeze": freeze,
            "hardship": hardship,
            "sale": sale,
        }

    def _admin(self, action: str, idx: np.ndarray, day: int, unit_cost: float) -> None:
        self.audit.record(day, action, idx, ADMIN_HOUR, None)
        self.ledger.spend(action, idx.size * unit_cost)

    def _ask_policy(self, day: int) -> Mapping[str, Request]:
        try:
            return self.policy(self.view, day)
        except ValueError as err:
            if "read-only" not in str(err):
                raise
            raise InputError(
                f"policy tried to change the lender view on day {day}: the view is read-only "
                f"(a policy asks for actions, it cannot change accounts) ({err})"
            ) from None

    def day_cycle(self, first_day: int = 0):
        env, world = self.env, self.world
        for day in range(first_day, world.days):
            self.compliance.new_day(day)
            self.ledger.today = day
            requests = self._ask_policy(day)
            if self.observer is not None:
                # Called before anything of the day happens (sim/fork.py: a probe may copy
                # the run here, with the day's requests known and nothing done yet).
                self.observer(self, day, requests)
            if self.cover is not None:
                self.cover.start_of_day(day)  # premiums (after a probe's copy: paid once)
            self.dispatch(requests, day)
            for process in self._processes(day):
                env.process(process)
            yield self.ctx.at(day, END_OF_DAY)
            for region in self.field.regions:
                region.usage.waiting[day] = region.queue.size
            self.borrowers.end_of_day(day)
            if self.cover is not None:
                self.cover.end_of_day(day)  # claims and transfers, then recoveries passed on
            self._count_dpd(day)
            yield self.ctx.at(day + 1, 0.0)

    def _processes(self, day: int) -> list:
        """The day's processes, in their order: the machines, the agents, the court's and
        agencies' sessions, the field teams of each region.

        A machine with nothing to send, a call centre and a region with an empty queue are
        left out: their process would only wait for its hour and end (nothing reaches their
        queues after 00:00), and leaving it out keeps the other events in the same order (a
        process costs simpy ~6 us, which a small branch pays every day)."""
        processes = [self.sms.run(day)] if self.sms.pending is not None else []
        if self.ivr.pending is not None:
            processes.append(self.ivr.run(day))
        if self.calls.queue.size:
            processes.append(self.calls.run(day))
        processes.append(self._sessions(day))
        processes.extend(self.field.processes(day))
        return processes

    def _sessions(self, day: int):
        """09:00: the court's session, then the agencies' (one after the other in one process:
        the court's takes several steps at 09:00, and the agencies' must not come between)."""
        yield from self.courts.run(day)
        yield from self.agencies.run(day)

    def _count_dpd(self, day: int) -> None:
        dpd = self.state.dpd
        if dpd.size <= SMALL_BOOK and (dpd.size == 0 or dpd.min() >= 0):
            # A small branch: one histogram of the few dpd values instead of a comparison
            # and a count per edge and level (the same counts, a tenth of the numpy calls).
            at = np.bincount(dpd, minlength=self.levels[-1] + 1)
            below = np.cumsum(at)
            self.below[day] = [below[edge - 1] for edge in self.edges]  # edges are >= 1
            self.at_level[day] = at[list(self.levels)]
            return
        mask = self._mask
        if mask is None or mask.size != dpd.size:  # a fork on a subset has fewer accounts
            mask = self._mask = np.empty(dpd.size, bool)
        for j, edge in enumerate(self.edges):
            np.less(dpd, edge, out=mask)
            self.below[day, j] = np.count_nonzero(mask)
        for j, level in enumerate(self.levels):
            np.equal(dpd, level, out=mask)
            self.at_level[day, j] = np.count_nonzero(mask)

    # ------------------------------------------------------------------ results
    def run(self) -> RunResult:
        self.env.process(self.day_cycle())
        self.env.run(until=self.world.days * 24.0)
        return self.result()

    def capacity_columns(self) -> dict[str, np.ndarray]:
        """Per day: each region's field teams, the courts and the agencies (see
        :class:`~waifang.sim.resources.Usage`)."""
        columns: dict[str, np.ndarray] = {}
        for region in self.field.regions:
            columns.update(
                region.usage.columns(
                    "visits_requested", "visits_performed", region.spec.name, called_off=True
                )
            )
        columns.update(
            self.courts.usage.columns("legal_requested", "legal_filed", "", left_queue=True)
        )
        columns.update(
            self.agencies.usage.columns("agency_requested", "agency_placed", "", left_queue=True)
        )
        return columns

    def _check_never_performed(self) -> None:
        """Actions no code path performs, re-checked from the counts all the same: contact
        with third parties, and placements with an unvetted agency where the rules forbid it."""
        performed = self.audit.counts[:, :, 0].sum(axis=0)
        code = {t: i for i, t in enumerate(ACTIONS)}
        self.compliance.count_breaches("third_party", int(performed[code["third_party"]]))
        resources = self.world.resources
        if self.rules.vetted_agencies_only and not resources.agency_vetted:
            placed = int(performed[code["agency"]] + performed[code["agency_contact"]])
            self.compliance.count_breaches("unvetted_agency", placed)

    def result(self) -> RunResult:
        s, b, ledger, world = self.state, self.borrowers, self.ledger, self.world
        opening = int(s.opening_cents.sum())
        collected = int(s.collected_cents.sum())
        charged_off_left = int(s.balance_cents[s.status == CHARGED_OFF].sum())
        written_off = int(s.written_off_cents.sum()) + charged_off_left
        outstanding = int(s.outstanding_cents().sum())
        cover = self.cover
        transferred = int(cover.transferred_cents.sum()) if cover is not None else 0
        if collected + written_off + outstanding + transferred != opening:  # exact, or a bug
            raise RuntimeError(
                f"money not conserved: opening {opening} != collected {collected} + written off "
                f"{written_off} + outstanding {outstanding} + transferred {transferred} (cents)"
            )
        terminal = terminal_value_cents(s, world) / 100.0
        terminal_npv = terminal * float(ledger.discount[world.days])
        # As written before contracts existed, term by term: same numbers bit for bit.
        net_npv = ledger.collected_npv_cents / 100.0 - ledger.cost_npv
        net_value = ledger.collected_npv_cents / 100.0 + terminal_npv - ledger.cost_total
        if cover is not None:
            # The lender's own: the cover's cash in, and only its share of what is left.
            cover_npv = float(cover.npv_cents.sum()) / 100.0
            lender_terminal = terminal_value_cents(s, world, cover.lender_share()) / 100.0
            lender_terminal_npv = lender_terminal * float(ledger.discount[world.days])
            cover_columns = {
                **cover.summary(),
                "net_npv_without_cover": net_npv,
                "net_value_without_cover": net_value,
            }
            net_npv += cover_npv
            net_value = (ledger.collected_npv_cents / 100.0 + lender_terminal_npv
                         - ledger.cost_total + cover_npv)
            terminal = lender_terminal
        else:
            cover_columns = {
                **NO_COVER_SUMMARY,
                "net_npv_without_cover": net_npv,
                "net_value_without_cover": net_value,
            }
        performed = self.audit.counts[:, :, 0]
        blocked = self.audit.blocked_by_rule()
        self._check_never_performed()
        violations = self.compliance.breaches
        breaches = dict(self.compliance.breaches_by_rule)
        audit_records = None
        if self.audit.full:
            audit_records = self.audit.records()
            for breach in check_audit(audit_records, self.rules, self.portfolio, world):
                violations += breach.count
                breaches[breach.rule] = breaches.get(breach.rule, 0) + breach.count
        n = s.n
        code = {t: i for i, t in enumerate(ACTIONS)}
        counters = self.ctx.counters
        summary: dict[str, float] = {
            "collected": collected / 100.0,
            "collected_npv": ledger.collected_npv_cents / 100.0,
            "cost_total": ledger.cost_total,
            # Costs discounted from the day they were spent, as collections are. net_value
            # keeps counting costs at face (cost_total); see the README's column reference.
            "net_npv": net_npv,
            "cost_npv": ledger.cost_npv,
            "terminal_value": terminal,
            "net_value": net_value,
            "recovery_rate": collected / opening if opening else 0.0,
            "cure_rate": float(b.cured_ever.mean()),
            "chargeoff_rate": float(b.charged_off_ever.mean()),
            "visits": int(performed[:, code["visit"]].sum()),
            "complaints": b.complaints,
            "violations": violations,
            "blocked": sum(blocked.values()),
            "opening_balance": opening / 100.0,
            "written_off": written_off / 100.0,
            "outstanding": outstanding / 100.0,
            "accounts": n,
            "calls_performed": int(performed[:, code["call"]].sum()),
            "calls_dropped": self.ctx.counters.calls_dropped,
            "visits_dropped": self.ctx.counters.visits_dropped,
            "visits_called_off": counters.visits_called_off,
            "visits_cancelled": counters.visits_cancelled,
            "agency_contacts": counters.agency_contacts,
            "visits_waiting": int(sum(r.queue.size for r in self.field.regions)),
            "legal_cases": self.ctx.counters.legal_cases,
            "legal_waiting": int(self.courts.waiting.size),
            "agency_placements": self.ctx.counters.agency_placements,
            "agency_waiting": int(self.agencies.waiting.size),
            "departures": len(self.departures),
            **{f"cost_{t}": cost for t, cost in ledger.costs.items()},
            "cost_complaints": ledger.cost_complaints,
            **{f"blocked_{r}": blocked[r] for r in RULES},
            **cover_columns,
        }
        daily: dict[str, np.ndarray] = {"day": np.arange(world.days)}
        column = {e: j for j, e in enumerate(self.edges)}
        for name, sl in zip(BUCKETS, self.bucket_slices, strict=True):
            if sl.start < sl.stop:
                daily[f"bucket_{name}"] = (
                    self.below[:, column[sl.stop]] - self.below[:, column[sl.start]]
                )
            else:
                daily[f"bucket_{name}"] = np.zeros(world.days, np.int64)
        daily["current"] = self.at_level[:, 0]
        daily["charged_off"] = self.at_level[:, 1]
        daily["closed"] = self.at_level[:, 2]
        daily["payments"] = ledger.payments_by_day
        daily["collected"] = ledger.collected_by_day / 100.0
        for t in ACTIONS:
            daily[f"actions_{t}"] = performed[:, code[t]]
        daily["blocked"] = self.audit.counts[:, :, 1:].sum(axis=(1, 2))
        daily["cost"] = ledger.cost_by_day.copy()
        daily.update(self.capacity_columns())
        zeros = np.zeros(world.days, np.int64)
        daily["cover_premiums"] = (cover.premiums_by_day if cover else zeros) / 100.0
        daily["cover_claims"] = (cover.claims_by_day if cover else zeros) / 100.0
        daily["cover_recoveries_passed"] = (cover.passed_by_day if cover else zeros) / 100.0
        extra = {
            "breaches_by_rule": breaches,
            "redefaults": b.redefaults,
            "promises_made": b.promises_made,
            "promises_kept": b.promises_kept,
            "promises_broken": b.promises_broken,
            "status_counts": {
                name: int(v)
                for name, v in zip(
                    ("delinquent", "current", "charged_off", "closed"),
                    np.bincount(s.status, minlength=4),
                    strict=True,
                )
            },
            "state": s,
            "borrowers": b,
        }
        return RunResult(
            summary=summary,
            daily=daily,
            blocked_by_rule=blocked,
            violations=violations,
            departures=self.departures,
            audit=audit_records,
            extra=extra,
        )


def terminal_value_cents(
    state: AccountState, world: World, share: np.ndarray | None = None
) -> float:
    """What the balances left at the horizon are worth (cents, undiscounted).

    ``share`` (per account) counts only that share of each balance: the lender's own after
    a claim passed the rest to a cover provider (waifang.sim.cover).

    A current balance counts ``current_balance_value`` of its face. A delinquent balance in
    bucket b counts that times the chance that an account of that bucket cures before
    charge-off in the data (``CURE_BEFORE_CHARGE_OFF``: the monthly status file read as an
    absorbing chain). Charged-off balances count nothing (their recoveries, if any, are
    collected within the horizon).
    """
    worth = terminal_worth(state, world)
    if share is not None:
        worth = worth * share
    return float((state.balance_cents * worth).sum())


def terminal_worth(state: AccountState, world: World) -> np.ndarray:
    """Per account, the share of its balance :func:`terminal_value_cents` counts."""
    value = world.economics.current_balance_value
    cure_chance = np.array(CURE_BEFORE_CHARGE_OFF)
    c = world.charge_off_dpd
    dpd = state.dpd
    current = state.status == CURRENT
    delinquent = state.status == DELINQUENT
    bucket = np.minimum((np.clip(dpd, 1, c) - 1) // 30, len(cure_chance) - 1)
    return np.where(current, value, 0.0) + np.where(delinquent, value * cure_chance[bucket], 0.0)


def simulate(
    world: World,
    portfolio: Portfolio,
    policy: Policy,
    rules: ComplianceRules,
    *,
    seed: np.random.SeedSequence,
    departures: tuple[str, ...] = (),
    audit: Literal["counts", "full"] = "counts",
) -> RunResult:
    """Run ``policy`` on ``portfolio`` for ``world.days`` days under ``rules``.

    Parameters
    ----------
    world
        Behaviour, treatments, resources and economics.
    portfolio
        The accounts at the start (generated or loaded); not changed.
    policy
        ``policy(view, day) -> {treatment: indices | (indices, attempts)}``.
    rules
        Compliance rules, enforced before every action.
    seed
        The run's SeedSequence; every purpose draws from its own named child.
    departures
        Rules loosened against the preset, carried into the result.
    audit
        ``"full"`` keeps one audit record per action and re-checks them all.

    Examples
    --------
    >>> from waifang.sim import PortfolioSpec, PolicySpec, LadderPolicy, World, resolve_rules
    >>> from waifang.sim.portfolio import generate_portfolio
    >>> world = World(days=30)
    >>> names = tuple(r.name for r in world.resources.regions)
    >>> p = generate_portfolio(PortfolioSpec(accounts=500), names, np.random.default_rng(1))
    >>> rules, _ = resolve_rules("cn")
    >>> result = simulate(world, p, LadderPolicy(PolicySpec(name="none"), p.segment_names),
    ...                   rules, seed=np.random.SeedSequence(1))
    >>> result.violations
    0
    """
    unknown = sorted(set(np.unique(portfolio.region)) - set(range(len(world.resources.regions))))
    if unknown:
        raise InputError(f"portfolio has region codes {unknown} with no region in the resources")
    return _Run(world, portfolio, policy, rules, seed, audit, departures).run()


__all__ = ["simulate", "CURRENT", "CLOSED"]
