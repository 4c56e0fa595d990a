"""Pausing a run and continuing copies of it: counterfactuals on common random numbers.

A :class:`Checkpoint` is a copy of a run taken at the start of a day, before anything of that
day has happened. :meth:`Checkpoint.branch` continues a fresh copy of it under a policy, with
extra requests on the checkpoint's day if wanted (a treatment), for a number of days, and
returns what each account was worth to the lender over those days (:class:`Branch`). Two
branches of one checkpoint with the same ``seed`` see the same borrower luck, so the
difference of their per-account values is the effect of the treatment on each account, free
of most of the noise (common random numbers).

A checkpoint can be restricted to some of its accounts (:meth:`Checkpoint.subset`): the other
accounts leave the run, with their queue places. Borrowers do not interact except through
capacity (the call centre, the field teams, the courts, the agencies), so a subset keeps each
account's own dynamics; the resources keep their full capacity, so they are less congested.

Ordinary runs are untouched: :func:`waifang.sim.engine.simulate` never copies anything, and a
branch continued with the run's own policy and streams reproduces the run bit for bit.

Examples
--------
>>> import numpy as np
>>> from waifang.sim import PortfolioSpec, PolicySpec, LadderPolicy, World, resolve_rules
>>> from waifang.sim.portfolio import generate_portfolio
>>> world = World(days=40)
>>> names = tuple(r.name for r in world.resources.regions)
>>> p = generate_portfolio(PortfolioSpec(accounts=300), names, np.random.default_rng(1))
>>> none = LadderPolicy(PolicySpec(name="none"), p.segment_names)
>>> rules, _ = resolve_rules("cn")
>>> (cp,) = checkpoints(world, p, none, rules, seed=np.random.SeedSequence(1), days=[10])
>>> eligible = np.flatnonzero(cp.view.dpd >= 90)
>>> seed = np.random.SeedSequence(5)
>>> without = cp.branch(none, seed=seed, until=30)
>>> with_visit = cp.branch(none, extra={"visit": eligible}, seed=seed, until=30)
>>> effect = with_visit.value - without.value   # per account, currency, net of all costs
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import simpy

from waifang.sim.engine import _Run
from waifang.sim.money import Branch, _Tracker
from waifang.sim.policy import Policy, Request
from waifang.sim.results import RunResult
from waifang.sim.rng import Luck
from waifang.sim.rules import ComplianceRules
from waifang.sim.spec import World
from waifang.sim.state import AccountState, LenderView, Portfolio

HOURS = 24.0

# Per-account arrays outside AccountState, by owner; an array attribute not listed here (or
# in the queue lists below) makes :meth:`Checkpoint.subset` refuse rather than guess.
_BORROWER_ARRAYS = ("mult", "advancing", "_uniform", "placed", "cured_ever", "cure_day",
                    "charged_off_ever", "agency_worked", "agency_paused")
_BORROWER_DAY_LISTS = ("promises_due", "hardship_ends", "placement_ends")
_COMPLIANCE_ARRAYS = ("attempts_today", "connected_today", "last_conversation")


class _Stop(Exception):
    """Ends a run early once the last checkpoint is taken."""


class Checkpoint:
    """A run paused at the start of ``day``, before the day's requests take effect.

    ``accounts`` are the indices, in the original run, of the accounts it holds; ``requests``
    is what the run's policy asked for on ``day`` (restricted to those accounts).
    """

    def __init__(self, run: _Run, day: int, requests: Mapping[str, Request] | None = None,
                 accounts: np.ndarray | None = None) -> None:
        n = run.state.n
        # Where each of the run's accounts goes in the copy (None: all, in place), made once
        # for the copy and the requests (a subset cut out of a 1 M run pays for it each time).
        new_index = None if accounts is None else _index_map(n, np.asarray(accounts))
        self._run = _copy_run(run, accounts, new_index)
        self.day = day
        self.accounts = np.arange(n) if accounts is None else np.asarray(accounts)
        self.requests = _restrict(requests or {}, self.accounts, n, new_index)
        self._npv_before = self._run.ledger.collected_npv_cents
        self._cost_before = self._run.ledger.cost_total

    @property
    def n(self) -> int:
        return self._run.state.n

    @property
    def view(self) -> LenderView:
        """What the lender sees at the checkpoint (do not change it)."""
        return self._run.view

    @property
    def world(self) -> World:
        return self._run.world

    @property
    def portfolio(self) -> Portfolio:
        return self._run.portfolio

    @property
    def rules(self) -> ComplianceRules:
        return self._run.rules

    @property
    def run_seed(self) -> np.random.SeedSequence:
        """The seed of the run the checkpoint was taken from."""
        return self._run.ctx.seed

    def subset(self, accounts: np.ndarray) -> Checkpoint:
        """The checkpoint restricted to ``accounts`` (positions in this checkpoint)."""
        accounts = np.asarray(accounts, dtype=np.int64)
        out = Checkpoint.__new__(Checkpoint)
        new_index = _index_map(self.n, accounts)
        out._run = _copy_run(self._run, accounts, new_index)
        out.day = self.day
        out.accounts = self.accounts[accounts]
        out.requests = _restrict(self.requests, accounts, self.n, new_index)
        out._npv_before = out._run.ledger.collected_npv_cents
        out._cost_before = out._run.ledger.cost_total
        return out

    def branch(
        self,
        policy: Policy,
        *,
        extra: Mapping[str, Request] | None = None,
        seed: np.random.SeedSequence | None = None,
        until: int | None = None,
        unlimited_field: bool = False,
        unlimited_escalation: bool = False,
    ) -> Branch:
        """Continue a copy of the checkpoint under ``policy`` up to the start of ``until``.

        Parameters
        ----------
        policy
            The policy from the checkpoint's day on (it is asked again for that day).
        extra
            Requests added to the policy's on the checkpoint's day (a treatment).
        seed
            Fresh random streams for the branch (the same seed in two branches gives them the
            same luck); None continues the streams of the run the checkpoint came from.
        until
            First day not simulated (default: the run's last day + 1).
        unlimited_field
            Give every region as many field teams as accounts, so that every visit asked for
            on a day is made that day if the rules allow it.
        unlimited_escalation
            Give the courts and the agencies as many places as accounts, so that every filing
            or placement asked for is made if the rules allow it (to value legal or agency on
            a sample cut out of a larger book).
        """
        world = self._run.world
        until = world.days if until is None else int(until)
        if not self.day < until <= world.days:
            raise ValueError(f"until must lie in ({self.day}, {world.days}], got {until}")
        run = _copy_run(self._run, None, None)
        if seed is not None:
            _reseed(run, seed)
        run.policy = policy if not extra else _WithExtra(policy, self.day, extra)
        tracker = _Tracker(run, self.day)
        if unlimited_field:
            for region in run.field.regions:
                region.spec = region.spec.model_copy(update={"teams": max(region.spec.teams,
                                                                          run.state.n, 1)})
        if unlimited_escalation:
            run.courts.open(run.state.n)
            run.agencies.open(run.state.n)
        run.env.process(run.day_cycle(first_day=self.day))
        run.env.run(until=until * HOURS)
        return tracker.finish(until, self._npv_before, self._cost_before)


def checkpoints(
    world: World,
    portfolio: Portfolio,
    policy: Policy,
    rules: ComplianceRules,
    *,
    seed: np.random.SeedSequence,
    days: Sequence[int],
) -> list[Checkpoint]:
    """Run ``policy`` and copy the run at the start of each of ``days`` (then stop)."""
    days = sorted({int(d) for d in days})
    if not days:
        return []
    if days[0] < 0 or days[-1] >= world.days:
        raise ValueError(f"checkpoint days must lie in [0, {world.days - 1}], got {days}")
    taken: list[Checkpoint] = []

    def observe(run: _Run, day: int, requests: Mapping[str, Request]) -> None:
        if day in days:
            taken.append(Checkpoint(run, day, requests))
            if day == days[-1]:
                raise _Stop

    run = _Run(world, portfolio, policy, rules, seed, "counts")
    run.observer = observe
    run.env.process(run.day_cycle())
    try:
        run.env.run(until=world.days * HOURS)
    except _Stop:
        pass
    return taken


@dataclass(frozen=True)
class Live:
    """A running simulation as a probe sees it at the start of a day."""

    day: int
    requests: Mapping[str, Request]
    view: LenderView
    _run: _Run

    def checkpoint(self, accounts: np.ndarray | None = None) -> Checkpoint:
        """A copy of the run now (of ``accounts`` only, if given)."""
        return Checkpoint(self._run, self.day, self.requests, accounts)


def simulate_probed(
    world: World,
    portfolio: Portfolio,
    policy: Policy,
    rules: ComplianceRules,
    *,
    seed: np.random.SeedSequence,
    probe: Callable[[Live], None],
    departures: tuple[str, ...] = (),
    audit: str = "counts",
) -> RunResult:
    """:func:`~waifang.sim.engine.simulate`, calling ``probe`` at the start of every day.

    The probe sees the day's requests before they take effect and may take checkpoints; it
    must not change the run (a checkpoint is a copy). The run's results are those of
    ``simulate`` with the same arguments.
    """
    run = _Run(world, portfolio, policy, rules, seed, audit, departures)
    run.observer = lambda r, day, requests: probe(Live(day, requests, r.view, r))
    return run.run()


# ------------------------------------------------------------------------------ internals


class _WithExtra:
    """A policy plus extra requests on one day."""

    def __init__(self, policy: Policy, day: int, extra: Mapping[str, Request]) -> None:
        self.policy, self.day, self.extra = policy, day, extra

    def __call__(self, view: LenderView, day: int) -> dict[str, Request]:
        requests = dict(self.policy(view, day))
        if day != self.day:
            return requests
        for action, add in self.extra.items():
            if action not in requests:
                requests[action] = add
                continue
            old, new = requests[action], add
            if isinstance(old, tuple) or isinstance(new, tuple):
                oi, oa = old if isinstance(old, tuple) else (old, np.ones(np.size(old), np.int16))
                ni, na = new if isinstance(new, tuple) else (new, np.ones(np.size(new), np.int16))
                requests[action] = (np.concatenate([ni, oi]), np.concatenate([na, oa]))
            else:
                requests[action] = np.concatenate([np.asarray(new), np.asarray(old)])
        return requests


def _index_map(n: int, accounts: np.ndarray) -> np.ndarray:
    """Per account of a run of ``n``, its position in ``accounts`` (-1: not among them)."""
    new_index = np.full(n, -1, np.int64)
    new_index[accounts] = np.arange(len(accounts))
    return new_index


def _restrict(requests: Mapping[str, Request], accounts: np.ndarray, n: int,
              new_index: np.ndarray | None = None) -> dict:
    """Requests re-indexed to ``accounts`` (others dropped); ``new_index`` is
    ``_index_map(n, accounts)`` if already made."""
    if len(accounts) == n and np.array_equal(accounts, np.arange(n)):
        return dict(requests)
    if new_index is None:
        new_index = _index_map(n, accounts)
    out: dict[str, Request] = {}
    for action, request in requests.items():
        idx, attempts = request if isinstance(request, tuple) else (request, None)
        mapped = new_index[np.asarray(idx, dtype=np.int64)]
        keep = mapped >= 0
        out[action] = mapped[keep] if attempts is None else (mapped[keep],
                                                             np.asarray(attempts)[keep])
    return out


def _copy_run(run: _Run, accounts: np.ndarray | None, new_index: np.ndarray | None) -> _Run:
    """A deep copy of ``run`` on a fresh simpy clock, of ``accounts`` only if given (then
    ``new_index`` is ``_index_map(run.state.n, accounts)``; None with them)."""
    env = simpy.Environment(initial_time=run.env.now)
    memo: dict[int, object] = {id(run.env): env, id(run.world): run.world, id(run.rules): run.rules,
                               id(run.policy): run.policy}
    observer, run.observer = run.observer, None
    try:
        if accounts is None:
            memo[id(run.portfolio)] = run.portfolio
            out = copy.deepcopy(run, memo)
        else:
            _subset_memo(run, accounts, new_index, memo)
            out = copy.deepcopy(run, memo)
    finally:
        run.observer = observer
    # Closures are not copied by deepcopy: the copy's action handlers would still act on the
    # original run. Rebuild them, and refuse any other closure that points back.
    out.handlers = out._handlers()
    _check_closures(out, run)
    if accounts is not None:
        out.state.n = len(accounts)
        _remap_indices(out, new_index)
    return out


def _check_closures(out: _Run, run: _Run) -> None:
    originals = {id(x) for x in (run, run.state, run.borrowers, run.compliance, run.ledger,
                                 run.audit, run.ctx, run.field, run.courts, run.agencies)}
    for owner in (out, out.borrowers, out.compliance, out.ctx, out.field, out.courts,
                  out.agencies, out.calls, out.sms, out.ivr):
        for name, value in vars(owner).items():
            functions = value.values() if isinstance(value, dict) else (value,)
            for f in functions:
                cells = getattr(f, "__closure__", None) or ()
                if any(id(c.cell_contents) in originals for c in cells):
                    raise RuntimeError(
                        f"fork: {type(owner).__name__}.{name} holds a closure over the original "
                        "run; rebuild it in waifang/sim/fork.py _copy_run"
                    )


def _subset_memo(run: _Run, accounts: np.ndarray, new_index: np.ndarray,
                 memo: dict[int, object]) -> None:
    """Pre-fill the deep-copy memo with the per-account arrays cut to ``accounts``, and the
    borrowers' calendars with their chunks re-indexed to them (``new_index``)."""
    n = run.state.n
    memo[id(run.portfolio)] = run.portfolio.subset(accounts)
    for f in fields(AccountState):
        value = getattr(run.state, f.name)
        if isinstance(value, np.ndarray):
            memo[id(value)] = value[accounts]
    b = run.borrowers
    for name in _BORROWER_ARRAYS:
        memo[id(getattr(b, name))] = getattr(b, name)[accounts]
    # The calendars (promises due, plans and placements ending) hold chunks of indices of the
    # whole book: cut here rather than deep-copied whole and cut after (a subset of a 1 M run
    # would copy some 100,000 indices to keep a few).
    for name in _BORROWER_DAY_LISTS:
        schedule = getattr(b, name)
        cut = defaultdict(list)
        for day, chunks in schedule.items():
            mapped = [new_index[chunk] for chunk in chunks]
            cut[day] = [chunk[chunk >= 0] for chunk in mapped]
        memo[id(schedule)] = cut
    c = run.compliance
    for name in _COMPLIANCE_ARRAYS:
        memo[id(getattr(c, name))] = getattr(c, name)[accounts]
    if c.window is not None:
        memo[id(c.window)] = c.window[:, accounts]
    if run.cover is not None:
        from waifang.sim.cover import PER_ACCOUNT

        for name in PER_ACCOUNT:
            memo[id(getattr(run.cover, name))] = getattr(run.cover, name)[accounts]
    known = {
        b: set(_BORROWER_ARRAYS),
        c: set(_COMPLIANCE_ARRAYS) | {"window"},
    }
    for owner, names in known.items():
        for name, value in vars(owner).items():
            if isinstance(value, np.ndarray) and n in value.shape and name not in names:
                raise RuntimeError(
                    f"fork: {type(owner).__name__}.{name} looks per-account but is not in the "
                    "lists of waifang/sim/fork.py; add it there"
                )


def _remap_indices(run: _Run, new_index: np.ndarray) -> None:
    """Queues and scheduled events keep only the subset's accounts, in new indices
    (``new_index``; the borrowers' calendars were cut in :func:`_subset_memo`)."""
    b = run.borrowers
    b._agency_today = [new_index[chunk][new_index[chunk] >= 0] for chunk in b._agency_today]
    b.placed_count = int(b.placed.sum())
    for region in run.field.regions:
        mapped = new_index[region.queue]
        keep = mapped >= 0
        region.queue, region.since = mapped[keep], region.since[keep]
        region.asked_dpd = region.asked_dpd[keep]
    calls = run.calls
    mapped = new_index[calls.queue]
    keep = mapped >= 0
    calls.queue, calls.left = mapped[keep], calls.left[keep]
    if hasattr(calls, "asked"):
        calls.asked = calls.asked[keep]
    courts = run.courts
    mapped = new_index[courts.waiting]
    courts.waiting = mapped[mapped >= 0]
    mapped = new_index[courts.cases]
    keep = mapped >= 0
    courts.cases, courts.judgement_day = mapped[keep], courts.judgement_day[keep]
    mapped = new_index[run.agencies.waiting]
    run.agencies.waiting = mapped[mapped >= 0]
    for automated in (run.sms, run.ivr):
        if automated.pending is not None:
            idx, attempts = automated.pending
            mapped = new_index[idx]
            keep = mapped >= 0
            automated.pending = (mapped[keep], attempts[keep])


def _reseed(run: _Run, seed: np.random.SeedSequence) -> None:
    """Give every random stream of ``run`` its counterpart under ``seed``.

    The streams are taken from a new run built on a one-account book with ``seed``, so that
    each purpose keeps its own stream by the names the engine gives them.
    """
    fresh = _Run(run.world, run.portfolio.subset(np.arange(min(1, run.state.n))), run.policy,
                 run.rules, seed, "counts")
    pairs = [(fresh.borrowers, run.borrowers), (fresh.sms, run.sms), (fresh.ivr, run.ivr),
             (fresh.calls, run.calls), (fresh.courts, run.courts), (fresh.agencies, run.agencies),
             *zip(fresh.field.regions, run.field.regions, strict=True)]
    for new, old in pairs:
        for name, value in vars(new).items():
            if isinstance(value, (np.random.Generator, np.uint64, Luck)):
                setattr(old, name, value)
    # The keyed luck of the contacts, visit times, court delays and agency calls is drawn
    # through the context, which holds the borrowers' Luck of the run it was built for.
    run.ctx.luck = run.borrowers.luck
    run.ctx.seed = seed


__all__ = ["Branch", "Checkpoint", "Live", "checkpoints", "simulate_probed"]
