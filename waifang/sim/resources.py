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
from waifang.sim.compliance import Compliance, in_contact_hours
from waifang.sim.economics import Ledger
from waifang.sim.queues import TeamPool
from waifang.sim.spec import ContactSpec, RegionSpec, World
from waifang.sim.state import CHARGED_OFF, DELINQUENT

HOURS = 24.0


@dataclass
class Counters:
    """Demand that capacity could not meet, and work done."""

    calls_dropped: int = 0
    visits_dropped: int = 0
    visits_performed: int = 0
    visits_called_off: int = 0  # after the team had travelled: the travel is paid
    visits_cancelled: int = 0  # by the lender before any team left: nothing paid
    agency_contacts: int = 0
    legal_cases: int = 0
    agency_placements: int = 0
    by_region: dict[str, int] = field(default_factory=dict)


class Usage:
    """What one capacity pool (a region's field teams, the courts, the agencies) did each day:
    requests that joined its queue, work started, the queue left at the end of the day,
    requests dropped after waiting too long, the share of its capacity in use, and the days
    the work started that day had waited (their sum; the mean is sum / performed, 0 when
    nothing started)."""

    def __init__(self, days: int) -> None:
        self.requested = np.zeros(days, np.int64)
        self.performed = np.zeros(days, np.int64)
        self.waiting = np.zeros(days, np.int64)
        self.dropped = np.zeros(days, np.int64)
        self.utilisation = np.zeros(days, np.float64)
        self.waited_days = np.zeros(days, np.float64)
        self.called_off = np.zeros(days, np.int64)  # field teams only: after the travel
        self.cancelled = np.zeros(days, np.int64)  # field teams only: before anyone left
        # Courts and agencies only: requests that left the queue unserved (refused by the rules
        # when their turn came, or the borrower no longer pursued).
        self.left_queue = np.zeros(days, np.int64)

    def columns(
        self,
        requested: str,
        performed: str,
        label: str,
        called_off: bool = False,
        left_queue: bool = False,
    ) -> dict[str, np.ndarray]:
        """Daily columns named ``<what>[label]`` (or plain names if ``label`` is empty)."""
        tag = f"[{label}]" if label else ""
        what = requested.split("_")[0]
        # 0 on a day nothing started (not NaN: same seed, same numbers, compared exactly).
        wait = self.waited_days / np.maximum(self.performed, 1)
        columns = {
            f"{requested}{tag}": self.requested,
            f"{performed}{tag}": self.performed,
            f"{what}_waiting{tag}": self.waiting,
            f"{what}_dropped{tag}": self.dropped,
            f"{what}_utilisation{tag}": self.utilisation,
            f"{what}_mean_wait_days{tag}": wait,
        }
        if called_off:
            columns[f"{what}_called_off{tag}"] = self.called_off
            columns[f"{what}_cancelled{tag}"] = self.cancelled
        if left_queue:
            columns[f"{what}_left_queue{tag}"] = self.left_queue
        return columns


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
        self.luck = borrowers.luck
        self.counters = Counters()

    def at(self, day: int, hour: float) -> simpy.Timeout:
        """An event at ``hour`` of ``day`` (now, if that time has passed)."""
        return self.env.timeout(max(0.0, day * HOURS + hour - self.env.now))


def largest_first(balance: np.ndarray) -> np.ndarray:
    """Positions of ``balance`` from the largest to the smallest, ties in position order:
    ``np.argsort(-balance, kind="stable")``, sorted as one integer key (the room left below
    the largest balance, then the position) by numpy's much faster unstable sort; the keys
    are distinct, so the order is the same."""
    m = balance.size
    if m < 2:
        return np.arange(m)
    shift = (m - 1).bit_length()
    top, low = int(balance.max()), int(balance.min())
    if (top - low) >= 1 << (62 - shift):  # the key would not fit in 63 bits
        return np.argsort(-balance, kind="stable")
    key = np.subtract(top, balance, dtype=np.int64)
    key <<= shift
    key |= np.arange(m, dtype=np.int64)
    key.sort()
    key &= (1 << shift) - 1
    return key


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
            self.send(batch, day, k)

    def send(self, idx: np.ndarray, day: int, attempt: int) -> None:
        """Attempt number ``attempt`` (from 0) of the day on accounts ``idx``."""
        ctx = self.ctx
        allowed = ctx.compliance.allow_contact(self.action, idx, self.hour, ctx.state)
        answered = ctx.luck.uniform(f"connect:{self.action}", allowed, day, attempt)
        connected = ctx.portfolio.contactable[allowed] & (answered < self.spec.connect_probability)
        ctx.compliance.record_attempts(self.action, allowed, connected, self.hour, state=ctx.state)
        ctx.ledger.spend(self.action, allowed.size * self.spec.cost)
        reached = allowed.compress(connected)  # as allowed[connected], faster
        ctx.borrowers.contacted(self.action, self.spec, reached, day, self.hour, attempt)


class CallCentre:
    """Agents working shifts; each hour they make up to agents x attempts_per_hour attempts.

    Accounts are called largest balance first; an account asking for several attempts goes
    back to the end of the queue after each one, so its attempts spread over the day. Each
    attempt is checked against the rules before an agent takes it, so a refused attempt never
    takes an agent's time: the refusals of the day (caps, quiet period, breathing space) hold
    for the rest of the day, so the account's remaining attempts are refused with it (each
    counted) and the agents go on down the queue. In an hour outside the contact hours no one
    may be called: the attempts at the head of the queue are refused, as before. Attempts still
    queued when the last shift ends are dropped.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        spec = ctx.world.resources.call_centre
        agents = np.zeros(24, np.int64)
        for shift in spec.shifts:
            agents[shift.start_hour : shift.end_hour] += shift.agents
        self.capacity = np.floor(agents * spec.attempts_per_hour).astype(np.int64)
        self.call = ctx.world.treatments.call
        self.queue = np.zeros(0, np.int64)
        self.left = np.zeros(0, np.int16)
        self.asked = np.zeros(0, np.int16)
        self.performed = 0

    def request(self, idx: np.ndarray, attempts: np.ndarray) -> None:
        order = largest_first(self.ctx.state.balance_cents[idx])
        self.queue, self.left = idx[order], attempts[order].astype(np.int16)
        self.asked = self.left.copy()

    def _pop(self, take: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        head = self.queue[:take], self.left[:take], self.asked[:take]
        self.queue, self.left, self.asked = (
            self.queue[take:],
            self.left[take:],
            self.asked[take:],
        )
        open_ = self.ctx.state.status[head[0]] == DELINQUENT
        if np.count_nonzero(open_) == open_.size:
            return head  # all still open (the usual case): no masked copies
        return head[0][open_], head[1][open_], head[2][open_]

    def run(self, day: int):
        ctx = self.ctx
        compliance, state = ctx.compliance, ctx.state
        for hour in np.flatnonzero(self.capacity):
            yield ctx.at(day, float(hour))
            if self.queue.size == 0:
                break
            room = int(self.capacity[hour])
            h = float(hour)
            again: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
            if not in_contact_hours(h, h + 1.0, compliance.rules):
                batch, left, asked = self._pop(min(room, self.queue.size))
                compliance.allow_contact("call", batch, h, state, until=h + 1.0)
                again.append((batch, left - 1, asked))
                room = 0
            while room > 0 and self.queue.size:
                batch, left, asked = self._pop(min(room, self.queue.size))
                codes = compliance.contact_refusals("call", batch, h, state, until=h + 1.0)
                refused = codes > 0
                if np.count_nonzero(refused):
                    # Refused for the rest of the day: every attempt left is refused now.
                    times = left[refused].astype(np.int64)
                    compliance.audit.record(
                        day,
                        "call",
                        np.repeat(batch[refused], times),
                        h,
                        np.repeat(codes[refused], times),
                    )
                    batch, left, asked = batch[~refused], left[~refused], asked[~refused]
                self.attempt(batch, h, day, (asked - left).astype(np.int64))
                room -= batch.size
                again.append((batch, left - 1, asked))
            # Accounts with attempts left go back to the end of the queue after the hour (one
            # concatenation for all of the hour's batches: the queue is copied once).
            mores = [left > 0 for _, left, _ in again]
            if any(np.count_nonzero(more) for more in mores):
                self.queue = np.concatenate(
                    [self.queue, *(b[m] for (b, _, _), m in zip(again, mores, strict=True))]
                )
                self.left = np.concatenate(
                    [self.left, *(left[m] for (_, left, _), m in zip(again, mores, strict=True))]
                )
                self.asked = np.concatenate(
                    [self.asked, *(a[m] for (_, _, a), m in zip(again, mores, strict=True))]
                )
            if self.queue.size == 0:
                break  # done for the day (waiting for the next hour would change nothing)
        ctx.counters.calls_dropped += int(self.left.sum())
        self.queue, self.left, self.asked = self.queue[:0], self.left[:0], self.asked[:0]

    def attempt(self, idx: np.ndarray, hour: float, day: int, attempt: np.ndarray) -> None:
        """Call attempts on ``idx`` that the rules allow; ``attempt`` is each one's number
        that day (from 0), which keys its luck."""
        ctx = self.ctx
        answered = ctx.luck.uniform("connect:call", idx, day, attempt)
        connected = ctx.portfolio.contactable[idx] & (answered < self.call.connect_probability)
        ctx.compliance.record_attempts(
            "call", idx, connected, hour, until=hour + 1.0, state=ctx.state
        )
        ctx.ledger.spend("call", idx.size * self.call.cost)
        self.performed += idx.size
        # compress is idx[connected], much faster on a mask true for about half of idx.
        reached, lanes = idx.compress(connected), attempt.compress(connected)
        ctx.borrowers.contacted("call", self.call, reached, day, hour, lanes)


class FieldRegion:
    """The field teams of one region.

    Each day the teams take visits from the region's queue (oldest request first, then the
    largest balance): the teams are a :class:`~waifang.sim.queues.TeamPool` (a simpy
    Resource), the first team free taking the next visit. A team drives to a visit
    (exponential travel time), stays (exponential visit time) and starts a visit only if it
    can finish inside both its working hours and the hours the rules allow; the first visit it
    cannot finish in time waits for another day and the team goes home. Requests that wait
    longer than ``visit_queue_days`` are dropped.

    Every morning, before a team leaves, the lender looks at its queue: a request for an
    account that is no longer delinquent leaves quietly, and one for an account that a part
    payment has taken back under the rules' ``visit_min_dpd`` since it was asked is *cancelled*
    (counted in
    ``visits_cancelled``, costs nothing). The rules never see a cancelled visit, so it is not a
    refusal; the teams' own check of every rule still runs on what is left.

    The visit requests themselves wait in numpy arrays across days (an account's place in the
    queue, the day it asked): they join at 00:00 in thousands and are only looked at once a
    day, so a simpy Store of them would cost two events per request for nothing.
    """

    batch = True
    """Plan a day on which every visit has a team at the start as one batch (the same trips
    as the team pool's; tests switch it off to check that)."""

    def __init__(self, ctx: Context, code: int, spec: RegionSpec) -> None:
        self.ctx, self.code, self.spec = ctx, code, spec
        self.queue = np.zeros(0, np.int64)
        self.since = np.zeros(0, np.int32)
        self.asked_dpd = np.zeros(0, ctx.state.dpd.dtype)  # each request's dpd when asked
        rules = ctx.compliance.rules
        self.start = max(spec.start_hour, rules.visit_start_hour)
        self.end = min(spec.end_hour, rules.visit_end_hour)
        self.usage = Usage(ctx.world.days)
        shortest = 0.25  # no trip plus visit is planned shorter than this many hours
        self.slots = max(0, math.ceil((self.end - self.start) / shortest))
        self.pool = TeamPool(ctx.env, spec.teams) if spec.teams else None

    def _serve(self, day: int, travel: np.ndarray, visit: np.ndarray):
        """The day's candidates (in queue order) served by the teams on the clock: per
        candidate its arrival and finish (hours; inf if not started), and the started ones
        in queue order."""
        pool = self.pool
        assert pool is not None
        k = travel.size
        pool.open(day * HOURS, self.start, self.end)
        pool.submit(range(k), travel.tolist(), visit.tolist(), leave=self.start)
        yield pool.home
        trips = sorted(pool.trips)
        started = np.array([t[0] for t in trips], np.int64)
        arrive = np.full(k, np.inf)
        finish = np.full(k, np.inf)
        arrive[started] = [t[2] for t in trips]
        finish[started] = [t[3] for t in trips]
        pool.clear()  # what no team took waits in the region's queue for another day
        return arrive, finish, started

    def request(self, idx: np.ndarray, day: int) -> None:
        order = largest_first(self.ctx.state.balance_cents[idx])
        self.usage.requested[day] += idx.size
        self.queue = np.concatenate([self.queue, idx[order]])
        self.since = np.concatenate([self.since, np.full(idx.size, day, np.int32)])
        self.asked_dpd = np.concatenate([self.asked_dpd, self.ctx.state.dpd[idx[order]]])

    def run(self, day: int):
        ctx, spec = self.ctx, self.spec
        state = ctx.state
        # Requests for accounts that no longer need a visit leave quietly; those a part
        # payment took back under the minimum dpd while they waited (asked on an earlier day,
        # at or past the minimum then) are cancelled by the lender (counted); stale ones drop.
        # Today's requests, and any request under the minimum when asked (only if the
        # request-time check failed), meet the rules themselves: a refusal, so a rule the
        # engine stopped enforcing shows as a breach and is not hidden by the cancellation.
        still = state.status[self.queue] == DELINQUENT
        minimum = ctx.compliance.rules.visit_min_dpd
        under = (
            still
            & (self.since < day)
            & (self.asked_dpd >= minimum)
            & (state.dpd[self.queue] < minimum)
        )
        cancelled = int(np.count_nonzero(under))
        if cancelled:
            ctx.counters.visits_cancelled += cancelled
            self.usage.cancelled[day] += cancelled
            still &= ~under
        stale = still & (day - self.since > ctx.world.resources.visit_queue_days)
        dropped = int(np.count_nonzero(stale))
        ctx.counters.visits_dropped += dropped
        self.usage.dropped[day] += dropped
        keep = still & ~stale
        state.visit_queued[self.queue[~keep]] = False
        self.queue, self.since = self.queue[keep], self.since[keep]
        self.asked_dpd = self.asked_dpd[keep]
        teams = spec.teams
        if teams == 0 or self.slots == 0 or self.queue.size == 0 or self.end <= self.start:
            return
        yield ctx.at(day, self.start)
        compliance, portfolio = ctx.compliance, ctx.portfolio
        head = self.queue[: teams * self.slots]
        # Every rule is checked before the day starts, the hours on the window the teams keep
        # to (a trip starts at or after its start and ends by its end), so a visit the rules
        # refuse takes no team time.
        ok = compliance.allow_visit(
            head, self.start, self.end, state, portfolio, spec.collectors_per_team
        )
        refused = np.flatnonzero(~ok)  # positions in the queue
        position = np.flatnonzero(ok)
        candidates = head[position]
        k = candidates.size
        done = position[:0]
        if k:
            # Each account's trip times are its own luck of the day (keyed, not sequential).
            travel = ctx.luck.exponential("travel:visit", spec.travel_hours, candidates, day)
            visit = ctx.luck.exponential("stay:visit", spec.visit_hours, candidates, day)
            if k <= teams and self.batch:
                # Every visit has a team at the start of the window: no one waits and the
                # trips never meet, so they are planned as one batch (one simpy event for the
                # region instead of two per trip); the team pool gives the same times.
                finish = self.start + (travel + visit)
                arrive = finish - visit
                started = np.flatnonzero(finish <= self.end)
            else:
                # More visits than teams: the teams serve the queue on the clock, the first
                # team back taking the next visit (waifang.sim.queues.TeamPool).
                arrive, finish, started = yield from self._serve(day, travel, visit)
            chosen = started
            if chosen.size:
                yield ctx.env.timeout(max(0.0, float(finish[chosen].max()) - (ctx.env.now % HOURS)))
            # A complaint during the day (from a call) may have opened a dispute before a
            # planned visit began: that visit is called off on arrival, counted as blocked, and
            # the team's travel is paid.
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
                ctx.ledger.spend("visit", int(late.sum()) * spec.travel_cost)
                ctx.counters.visits_called_off += int(late.sum())
                self.usage.called_off[day] += int(late.sum())
                refused = np.concatenate([refused, position[chosen[late]]])
                chosen = chosen[~late]
            accounts = candidates[chosen]
            collectors = spec.collectors_per_team
            compliance.post_check_visits(
                accounts, arrive[chosen], finish[chosen], state, portfolio, collectors
            )
            compliance.audit.record(
                day,
                "visit",
                accounts,
                arrive[chosen],
                None,
                until=finish[chosen],
                collectors=collectors,
            )
            ctx.ledger.spend("visit", chosen.size * spec.visit_cost)
            ctx.counters.visits_performed += chosen.size
            usage = self.usage
            usage.performed[day] += chosen.size
            usage.waited_days[day] += float((day - self.since[position[chosen]]).sum())
            # Team time taken by the trips made (called-off ones included: the team went).
            busy = float((travel + visit)[started].sum())
            usage.utilisation[day] = busy / (teams * (self.end - self.start))
            ctx.borrowers.visited(accounts, day, float(self.end))
            done = position[chosen]
        served = np.zeros(self.queue.size, bool)
        served[done] = True
        served[refused] = True
        state.visit_queued[self.queue[served]] = False
        self.queue, self.since = self.queue[~served], self.since[~served]
        self.asked_dpd = self.asked_dpd[~served]


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
        """The day's process of each region with visits queued (a region with none would
        only check its empty queue: see :meth:`waifang.sim.engine._Run._processes`)."""
        return [r.run(day) for r in self.regions if r.queue.size]
