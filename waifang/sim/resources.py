"""Everything that waits or queues, as simpy processes on the run's clock (hours).

Each resource takes the day's requests as arrays of account indices and works through them
at its own hours: the call centre hour by hour within its shifts, field teams per region trip
by trip within the allowed hours, the courts and the agencies up to their capacity. What is
left when capacity runs out waits (visits, legal, agency) or is dropped (calls), and is
counted. Every action passes :class:`~waifang.sim.compliance.Compliance` first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from waifang.sim.behaviour import Borrowers
from waifang.sim.compliance import Compliance
from waifang.sim.economics import Ledger
from waifang.sim.rng import stream
from waifang.sim.spec import ContactSpec, RegionSpec, World
from waifang.sim.state import CHARGED_OFF, CLOSED, CURRENT, DELINQUENT

HOURS = 24.0


@dataclass
class Counters:
    """Demand that capacity could not meet, and work done."""

    calls_dropped: int = 0
    visits_dropped: int = 0
    visits_performed: int = 0
    legal_cases: int = 0
    agency_placements: int = 0
    by_region: dict[str, int] = field(default_factory=dict)


class Context:
    """What every resource needs: the clock, the world, the accounts, the rules, the money."""

    def __init__(
        self,
        env: simpy.Environment,
        world: World,
        borrowers: Borrowers,
        compliance: Compliance,
        ledger: Ledger,
        seed: np.random.SeedSequence,
    ) -> None:
        self.env = env
        self.world = world
        self.borrowers = borrowers
        self.state = borrowers.state
        self.portfolio = borrowers.portfolio
        self.compliance = compliance
        self.ledger = ledger
        self.seed = seed
        self.counters = Counters()

    def at(self, day: int, hour: float) -> simpy.Timeout:
        """An event at ``hour`` of ``day`` (now, if that time has passed)."""
        return self.env.timeout(max(0.0, day * HOURS + hour - self.env.now))


def _open(ctx: Context, idx: np.ndarray, charged_off_too: bool = False) -> np.ndarray:
    status = ctx.state.status[idx]
    keep = status == DELINQUENT
    if charged_off_too:
        keep |= status == CHARGED_OFF
    return idx[keep]


class Automated:
    """SMS and IVR sent by machine at a fixed hour; no capacity limit."""

    def __init__(self, ctx: Context, action: str, spec: ContactSpec, hour: float) -> None:
        self.ctx, self.action, self.spec, self.hour = ctx, action, spec, hour
        self.rng = stream(ctx.seed, f"automated:{action}")
        self.pending: tuple[np.ndarray, np.ndarray] | None = None

    def request(self, idx: np.ndarray, attempts: np.ndarray) -> None:
        self.pending = (idx, attempts)

    def run(self, day: int):
        yield self.ctx.at(day, self.hour)
        if self.pending is None:
            return
        idx, attempts = self.pending
        self.pending = None
        # Repeated attempts by machine go out back to back; each one is checked on its own.
        for k in range(int(attempts.max(initial=0))):
            batch = _open(self.ctx, idx[attempts > k])
            self.send(batch, day)

    def send(self, idx: np.ndarray, day: int) -> None:
        ctx = self.ctx
        allowed = ctx.compliance.allow_contact(self.action, idx, self.hour, ctx.state)
        connected = ctx.portfolio.contactable[allowed] & (
            self.rng.random(allowed.size) < self.spec.connect_probability
        )
        ctx.compliance.record_attempts(self.action, allowed, connected, self.hour)
        ctx.ledger.spend(self.action, allowed.size * self.spec.cost)
        ctx.borrowers.contacted(self.spec, allowed[connected], day, self.hour)


class CallCentre:
    """Agents working shifts; each hour they make up to agents x attempts_per_hour attempts.

    Accounts are called largest balance first; an account asking for several attempts goes
    back to the end of the queue after each one, so its attempts spread over the day. Attempts
    still queued when the last shift ends are dropped.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        spec = ctx.world.resources.call_centre
        agents = np.zeros(24, np.int64)
        for shift in spec.shifts:
            agents[shift.start_hour : shift.end_hour] += shift.agents
        self.capacity = np.floor(agents * spec.attempts_per_hour).astype(np.int64)
        self.rng = stream(ctx.seed, "calls")
        self.call = ctx.world.treatments.call
        self.queue = np.zeros(0, np.int64)
        self.left = np.zeros(0, np.int16)
        self.performed = 0

    def request(self, idx: np.ndarray, attempts: np.ndarray) -> None:
        order = np.argsort(-self.ctx.state.balance_cents[idx], kind="stable")
        self.queue, self.left = idx[order], attempts[order].astype(np.int16)

    def run(self, day: int):
        ctx = self.ctx
        for hour in np.flatnonzero(self.capacity):
            yield ctx.at(day, float(hour))
            if self.queue.size == 0:
                break
            take = min(int(self.capacity[hour]), self.queue.size)
            batch, left = self.queue[:take], self.left[:take] - 1
            self.queue, self.left = self.queue[take:], self.left[take:]
            still_open = ctx.state.status[batch] == DELINQUENT
            batch, left = batch[still_open], left[still_open]
            self.attempt(batch, float(hour), day)
            again = left > 0
            self.queue = np.concatenate([self.queue, batch[again]])
            self.left = np.concatenate([self.left, left[again]])
        ctx.counters.calls_dropped += int(self.left.sum())
        self.queue, self.left = self.queue[:0], self.left[:0]

    def attempt(self, idx: np.ndarray, hour: float, day: int) -> None:
        ctx = self.ctx
        # An agent's attempts fill the hour slot, which must lie within the contact hours.
        allowed = ctx.compliance.allow_contact("call", idx, hour, ctx.state, until=hour + 1.0)
        connected = ctx.portfolio.contactable[allowed] & (
            self.rng.random(allowed.size) < self.call.connect_probability
        )
        ctx.compliance.record_attempts("call", allowed, connected, hour, until=hour + 1.0)
        ctx.ledger.spend("call", allowed.size * self.call.cost)
        self.performed += allowed.size
        ctx.borrowers.contacted(self.call, allowed[connected], day, hour)


class FieldRegion:
    """The field teams of one region.

    Each day the teams take visits from the region's queue (oldest request first, then the
    largest balance). A team drives to a visit (exponential travel time), stays (exponential
    visit time) and starts a visit only if it can finish inside both its working hours and the
    hours the rules allow. Requests that wait longer than ``visit_queue_days`` are dropped.
    """

    def __init__(self, ctx: Context, code: int, spec: RegionSpec) -> None:
        self.ctx, self.code, self.spec = ctx, code, spec
        self.rng = stream(ctx.seed, f"visits:{spec.name}")
        self.queue = np.zeros(0, np.int64)
        self.since = np.zeros(0, np.int32)
        rules = ctx.compliance.rules
        self.start = max(spec.start_hour, rules.visit_start_hour)
        self.end = min(spec.end_hour, rules.visit_end_hour)
        shortest = 0.25  # no trip plus visit is planned shorter than this many hours
        self.slots = max(0, math.ceil((self.end - self.start) / shortest))

    def request(self, idx: np.ndarray, day: int) -> None:
        order = np.argsort(-self.ctx.state.balance_cents[idx], kind="stable")
        self.queue = np.concatenate([self.queue, idx[order]])
        self.since = np.concatenate([self.since, np.full(idx.size, day, np.int32)])

    def run(self, day: int):
        ctx, spec = self.ctx, self.spec
        state = ctx.state
        # Requests for accounts that no longer need a visit leave quietly; stale ones drop.
        still = state.status[self.queue] == DELINQUENT
        stale = still & (day - self.since > ctx.world.resources.visit_queue_days)
        ctx.counters.visits_dropped += int(stale.sum())
        keep = still & ~stale
        state.visit_queued[self.queue[~keep]] = False
        self.queue, self.since = self.queue[keep], self.since[keep]
        teams = spec.teams
        if teams == 0 or self.slots == 0 or self.queue.size == 0 or self.end <= self.start:
            return
        yield ctx.at(day, self.start)
        compliance, portfolio = ctx.compliance, ctx.portfolio
        head = self.queue[: teams * self.slots]
        # Everything but the hours is checked before the day is planned, so a visit the rules
        # refuse takes no team time; the hours are checked on the plan.
        ok = compliance.allow_visit(
            head,
            self.start,
            self.start,
            state,
            portfolio,
            spec.collectors_per_team,
            at_request=True,
        )
        refused = np.flatnonzero(~ok)  # positions in the queue
        position = np.flatnonzero(ok)
        candidates = head[position]
        k = candidates.size
        done = position[:0]
        if k:
            slots = -(-k // teams)
            # Candidate j goes to team j % teams as its (j // teams)-th trip of the day.
            travel = np.full(teams * slots, np.inf)
            visit = np.full(teams * slots, np.inf)
            travel[:k] = self.rng.exponential(spec.travel_hours, k)
            visit[:k] = self.rng.exponential(spec.visit_hours, k)
            finish = self.start + np.cumsum((travel + visit).reshape(slots, teams), axis=0)
            finish = finish.reshape(-1)[:k]
            arrive = finish - visit[:k]
            started = np.flatnonzero(finish <= self.end)  # a prefix of each team's trips
            allowed = compliance.allow_visit(
                candidates[started],
                arrive[started],
                finish[started],
                state,
                portfolio,
                spec.collectors_per_team,
            )
            chosen = started[allowed]
            refused = np.concatenate([refused, position[started[~allowed]]])
            if chosen.size:
                yield ctx.env.timeout(max(0.0, float(finish[chosen].max()) - (ctx.env.now % HOURS)))
            # A complaint during the day (from a call) may have opened a dispute before a
            # planned visit began: that visit is called off, and counted as blocked.
            accounts = candidates[chosen]
            late = (state.disputed_at[accounts] <= day * HOURS + arrive[chosen]) & (
                state.disputed_at[accounts] >= day * HOURS + self.start
            )
            if compliance.rules.no_visit_disputed and late.any():
                compliance.audit.record_blocked(
                    day,
                    "visit",
                    accounts[late],
                    float(arrive[chosen][late].min()),
                    "visit_disputed",
                )
                refused = np.concatenate([refused, position[chosen[late]]])
                chosen = chosen[~late]
            accounts = candidates[chosen]
            compliance.post_check_visits(accounts, arrive[chosen], finish[chosen], state, portfolio)
            compliance.audit.record(
                day,
                "visit",
                accounts,
                arrive[chosen],
                np.zeros(chosen.size, np.int8),
                until=finish[chosen],
            )
            ctx.ledger.spend("visit", chosen.size * spec.visit_cost)
            ctx.counters.visits_performed += chosen.size
            ctx.borrowers.visited(accounts, day, float(self.end))
            done = position[chosen]
        served = np.zeros(self.queue.size, bool)
        served[done] = True
        served[refused] = True
        state.visit_queued[self.queue[served]] = False
        self.queue, self.since = self.queue[~served], self.since[~served]


class FieldForce:
    """All regions' field teams, and the checks a visit request passes before it queues."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.regions = [FieldRegion(ctx, i, r) for i, r in enumerate(ctx.world.resources.regions)]

    def request(self, idx: np.ndarray, day: int) -> None:
        ctx = self.ctx
        state = ctx.state
        idx = _open(ctx, idx)
        idx = idx[~state.visit_queued[idx]]
        if idx.size == 0:
            return
        region = ctx.portfolio.region[idx]
        collectors = np.array([r.spec.collectors_per_team for r in self.regions])[region]
        ok = np.ones(idx.size, bool)
        # Request-time checks (everything but the hours) so that a visit the rules forbid
        # never occupies a team; the team checks again before it starts.
        for c in np.unique(collectors):
            part = collectors == c
            ok[part] = ctx.compliance.allow_visit(
                idx[part], 0.0, 0.0, state, ctx.portfolio, int(c), at_request=True
            )
        idx, region = idx[ok], region[ok]
        state.visit_queued[idx] = True
        for code in np.unique(region):
            self.regions[code].request(idx[region == code], day)

    def processes(self, day: int):
        return [r.run(day) for r in self.regions]


class Courts:
    """Legal action: filing (fee), a court delay (gamma), then a judgement that recovers."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rng = stream(ctx.seed, "legal")
        self.capacity = ctx.world.resources.legal_capacity
        self.waiting = np.zeros(0, np.int64)
        self.cases = np.zeros(0, np.int64)
        self.judgement_day = np.zeros(0, np.int32)

    def request(self, idx: np.ndarray) -> None:
        ctx = self.ctx
        state = ctx.state
        idx = _open(ctx, idx, charged_off_too=True)
        idx = idx[~state.in_legal[idx]]  # one case per account: filed once, judged once
        idx = ctx.compliance.allow_escalation("legal", idx, 9.0, state)
        idx = np.setdiff1d(idx, self.waiting, assume_unique=True)
        self.waiting = np.concatenate([self.waiting, idx])

    def run(self, day: int):
        ctx = self.ctx
        state, legal = ctx.state, ctx.world.treatments.legal
        yield ctx.at(day, 9.0)
        due = self.judgement_day <= day
        # A borrower who cured or paid off before the hearing is no longer pursued: the case
        # is withdrawn and frees its place.
        status = state.status[self.cases]
        withdrawn = (status == CURRENT) | (status == CLOSED)
        judged = self.cases[due & ~withdrawn]
        if judged.size:
            share = legal.judgement_recovery * np.where(
                ctx.portfolio.strategic[judged], 1.0, state.ability[judged]
            )
            amount = np.rint(state.balance_cents[judged] * share).astype(np.int64)
            paying = amount > 0
            ctx.borrowers.collect(judged[paying], amount[paying], day, source="judgement")
        ending = due | withdrawn
        self.cases, self.judgement_day = self.cases[~ending], self.judgement_day[~ending]
        self.waiting = self.waiting[
            (state.status[self.waiting] == DELINQUENT) | (state.status[self.waiting] == CHARGED_OFF)
        ]
        free = max(0, self.capacity - self.cases.size)
        filed, self.waiting = self.waiting[:free], self.waiting[free:]
        # Checked again when filed: a plan started after the request (the same night, or
        # while the case waited) is breathing space too. A refused case leaves the queue.
        filed = ctx.compliance.allow_escalation("legal", filed, 9.0, state)
        if filed.size:
            ctx.compliance.audit.record(day, "legal", filed, 9.0, np.zeros(filed.size, np.int8))
            ctx.ledger.spend("legal", filed.size * legal.fee)
            ctx.borrowers.serve_legal(filed, day, 9.0)
            delay = self.rng.gamma(4.0, ctx.world.resources.court_delay_days / 4.0, filed.size)
            self.cases = np.concatenate([self.cases, filed])
            self.judgement_day = np.concatenate(
                [self.judgement_day, day + np.maximum(1, np.rint(delay)).astype(np.int32)]
            )
            ctx.counters.legal_cases += filed.size


class Agencies:
    """Placements with collection agencies, up to their capacity; the rest wait."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.capacity = ctx.world.resources.agency_capacity
        self.waiting = np.zeros(0, np.int64)

    def request(self, idx: np.ndarray) -> None:
        ctx = self.ctx
        if ctx.compliance.rules.vetted_agencies_only and not ctx.world.resources.agency_vetted:
            ctx.compliance.block_all("agency", idx, 9.0, "unvetted_agency")
            return
        idx = _open(ctx, idx, charged_off_too=True)
        idx = idx[~ctx.borrowers.placed[idx]]
        idx = ctx.compliance.allow_escalation("agency", idx, 9.0, ctx.state)
        idx = np.setdiff1d(idx, self.waiting, assume_unique=True)
        self.waiting = np.concatenate([self.waiting, idx])

    def run(self, day: int):
        ctx = self.ctx
        yield ctx.at(day, 9.0)
        state = ctx.state
        status = state.status[self.waiting]
        self.waiting = self.waiting[(status == DELINQUENT) | (status == CHARGED_OFF)]
        free = max(0, self.capacity - ctx.borrowers.placed_count)
        placed, self.waiting = self.waiting[:free], self.waiting[free:]
        placed = ctx.compliance.allow_escalation("agency", placed, 9.0, state)  # as for legal
        if placed.size:
            ctx.compliance.audit.record(day, "agency", placed, 9.0, np.zeros(placed.size, np.int8))
            ctx.borrowers.place(placed, day, ctx.world.treatments.agency.placement_days)
            ctx.counters.agency_placements += placed.size
