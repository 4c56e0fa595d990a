"""Legal action and agency placements: what a ladder escalates to, on the run's clock.

Both take requests at 00:00, check them against the rules (breathing space, disputes,
vulnerability, vetted agencies) and queue what may go ahead. At 09:00 the courts judge the
cases that are due and file new ones up to their capacity (a court case is a simpy process
holding one of the court's places, see :class:`Courts`); the agencies then place accounts up
to theirs. Each filing or placement is checked again at the moment it happens: a request the
rules now refuse leaves the queue and takes no court slot or agency place. At its contact
hour the agency calls every placed borrower; each call passes the same rules as the lender's
and counts toward the caps they share. A placement whose call a rule forbids (breathing
space, a dispute) is paused that day: no agency hazard, no agency fee.
"""

from __future__ import annotations

import copy

import numpy as np
import simpy

from waifang.sim.compliance import RULE_CODE
from waifang.sim.resources import HOURS, Context, Usage, _open
from waifang.sim.state import CHARGED_OFF, CLOSED, CURRENT, DELINQUENT

COURT_HOUR = 9.0
AGENCY_HOUR = 9.0
DELAY_SHAPE = 4  # court delays are gamma with an integer shape: a sum of 4 exponentials

# Refusals of an agency call that pause the placement (its fee stops); the caps only skip
# the day's call.
_PAUSING = [RULE_CODE["no_contact_hardship"], RULE_CODE["agency_disputed"]]


def _places(ctx: Context, capacity: int) -> simpy.Container | None:
    """A pool of ``capacity`` places as a simpy Container of the free ones (None if none)."""
    return simpy.Container(ctx.env, capacity=capacity, init=capacity) if capacity else None


def _objects(items: list) -> np.ndarray:
    """``items`` as a numpy array of objects (filtered with the same masks as the arrays)."""
    out = np.empty(len(items), object)
    out[:] = items
    return out


def _give_back(places: simpy.Container | None, count: int) -> None:
    if places is not None and count:
        places.put(count)


def _escalate(ctx: Context, action: str, head: np.ndarray) -> np.ndarray:
    """Of the queue's ``head`` (still open), those the rules allow now; refused ones are
    logged and leave the queue."""
    state = ctx.state
    head = head[(state.status[head] == DELINQUENT) | (state.status[head] == CHARGED_OFF)]
    return ctx.compliance.allow_escalation(action, head, COURT_HOUR, state, ctx.portfolio)


class Courts:
    """Legal action: a simpy process per case, and the court's daily session at 09:00.

    A case (:meth:`case`) asks the court's :class:`simpy.Container` of free places for one
    (first come, first served), holds it while the court files it, waits for its hearing and,
    called at the hearing (judged, or withdrawn because the borrower cured or paid off), gives
    it back. Who waits, who gets a place and when it is free again is simpy's. The paperwork is
    the court's, in numpy over the session's cases: filing checks, fees, the delay draws, the
    judgements' money (done case by case inside the processes, each would be a dozen numpy
    calls on one element, far dearer than the process itself).

    The order within a day is fixed, and the same on every run (simpy runs events at the
    same time by priority, then in the order they were scheduled):

    1. 00:00, the policy's requests: each makes its case process, whose get the Container
       grants at once (a free place) or queues behind the earlier requests.
    2. 09:00, the agents' call hour (its event was scheduled at 00:00, before the session's).
    3. 09:00, the court's session (:meth:`run`), in steps at the same hour:
       a. the cases whose hearing is today are judged, in filing order (their money arrives
          now; the arrears are posted at 23:30);
       b. they and the cases withdrawn (borrower cured or paid off) are called
          (:meth:`simpy.Process.interrupt`, run before any ordinary event at 09:00) and give
          their places back; the session waits until every place is back and granted;
       c. the requests that hold a place are filed, oldest first; a request refused now gives
          its place back and the session waits again, until no request holds a place;
       d. the requests of borrowers no longer pursued leave the queue.
    4. 09:00, the agencies' session, right after the court's in the same process (the
       engine's ``_sessions``), so that nothing at 09:00 comes between the two.
    5. 23:30, the night: judgements posted to the arrears, then the borrowers' own payments.

    A case's hearing is the court calling it, not a timeout of the case's own: a timeout
    scheduled at filing would be older than the judgement day's 09:00 events and fire before
    the agents' calls (moving judgements ahead of them, as a first try at this did).
    """

    # Why the court calls a case process.
    FILED, REFUSED, WITHDRAWN, HEARD = "filed", "refused", "withdrawn", "heard"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.capacity = ctx.world.resources.legal_capacity
        self.waiting = np.zeros(0, np.int64)
        self.asked = np.zeros(ctx.state.n, np.int16)  # the day a waiting request was made
        self.usage = Usage(ctx.world.days)
        # Cases in court, in filing order, and the day each is heard.
        self.cases = np.zeros(0, np.int64)
        self.judgement_day = np.zeros(0, np.int32)
        # The court's free places (None without capacity: requests then only wait), and each
        # waiting request's and each case's process, beside ``waiting`` and ``cases``.
        self.places = _places(ctx, self.capacity)
        self.requests = np.zeros(0, object)  # the Container's get of each waiting request
        self.queued = np.zeros(0, object)  # ... and its case process
        self.in_court = np.zeros(0, object)  # the process of each case in court

    def __deepcopy__(self, memo: dict[int, object]) -> Courts:
        """A copy on the copied clock (waifang.sim.fork copies a run at the start of a day,
        when every case process waits for the court). Generators cannot be copied: the copy
        makes its own places and processes from its arrays when first used (after a fork has
        cut the arrays to a subset of the accounts), with the free places of the original."""
        out = Courts.__new__(Courts)
        memo[id(self)] = out
        live = ("places", "requests", "queued", "in_court")
        for name, value in vars(self).items():
            if name not in live:
                setattr(out, name, copy.deepcopy(value, memo))
        for name in live:
            setattr(out, name, None)
        if self.in_court is not None:  # (a copy not used yet keeps its original's ``_free``)
            places = self.places
            out._free = None if places is None else (places.capacity, places.level)
        return out

    def _processes(self) -> None:
        """Make the places and the case processes of a copied run (see :meth:`__deepcopy__`):
        the cases in court hold theirs, the waiting requests queue in their order."""
        if self.in_court is not None:
            return
        env = self.ctx.env
        if self._free is not None:
            capacity, level = self._free
            self.places = simpy.Container(env, capacity=capacity, init=level)
        self.in_court = _objects([env.process(self.case(a, None)) for a in self.cases.tolist()])
        self.requests, self.queued = np.zeros(0, object), np.zeros(0, object)
        waiting, self.waiting = self.waiting, np.zeros(0, np.int64)
        self._queue(waiting)

    def open(self, places: int) -> None:
        """At least ``places`` places, every one free but those of this run's own cases: a
        branch that values legal action on a sample cut out of a larger book (waifang.sim.fork,
        ``unlimited_escalation``). Only on a copy not used yet."""
        if self.in_court is not None:
            raise RuntimeError("a court is opened only on a copied run, before it runs")
        self.capacity = max(self.capacity, places)
        self._free = (self.capacity, self.capacity - self.cases.size) if self.capacity else None

    def request(self, idx: np.ndarray) -> None:
        ctx = self.ctx
        state = ctx.state
        self._processes()
        idx = _open(ctx, idx, charged_off_too=True)
        idx = idx[~state.in_legal[idx]]  # one case per account: filed once, judged once
        if self.waiting.size:  # (no queue: nothing to take out, spare setdiff1d's cost)
            idx = np.setdiff1d(idx, self.waiting, assume_unique=True)
        idx = ctx.compliance.allow_escalation("legal", idx, COURT_HOUR, state, ctx.portfolio)
        self.asked[idx] = ctx.compliance.day
        self.usage.requested[ctx.compliance.day] += idx.size
        self._queue(idx)

    def _queue(self, idx: np.ndarray) -> None:
        """A case process for each of ``idx``, queued for a place in this order."""
        self.waiting = np.concatenate([self.waiting, idx])
        if self.places is None or idx.size == 0:
            return  # no court places: the requests wait, and no process would ever run
        env, places = self.ctx.env, self.places
        gets, processes = [], []
        for account in idx.tolist():
            place = places.get(1)
            gets.append(place)
            processes.append(env.process(self.case(account, place)))
        self.requests = np.concatenate([self.requests, _objects(gets)])
        self.queued = np.concatenate([self.queued, _objects(processes)])

    def case(self, account: int, place: simpy.events.Event | None):
        """One court case, from its request to its judgement (``place`` None: already filed,
        in a copied run). ``account`` names the case; the court keeps its data.

        1. It waits for a free place (``place``, a get on the court's Container).
        2. It holds the place until the court's session files it, or refuses it (the rules
           now forbid it, or the borrower is no longer pursued): then it gives the place back.
           A request still waiting whose borrower is no longer pursued leaves the queue.
        3. Filed, it waits for its hearing, the delay drawn at filing: the court calls it at
           the session that day, judged, or sooner if the borrower cured or paid off
           (withdrawn).
        4. It gives its place back.
        """
        if place is not None:
            try:
                yield place
                yield self.ctx.env.event()  # a place held: wait for the court's session
            except simpy.Interrupt as call:
                if call.cause == self.WITHDRAWN:
                    place.cancel()  # still waiting: the request leaves the queue
                    return
                if call.cause == self.REFUSED:
                    self.places.put(1)
                    return
        try:
            yield self.ctx.env.event()  # in court, until the court calls the case
        except simpy.Interrupt:
            pass  # heard (judged) or withdrawn
        self.places.put(1)

    def run(self, day: int):
        """09:00: the session (see the class's order of the day).

        The cases heard today are judged, in filing order; they and the cases withdrawn are
        called and give their places back, which the Container grants to the requests in
        the queue, oldest first. The requests that hold a place are checked again now and
        filed; a refused one gives its place back to the next in line, until no request
        holds a place. Then the requests of borrowers no longer pursued leave the queue.

        The session takes several steps at 09:00 (the places given back reach the queue when
        simpy processes their puts); the agencies' session follows it (engine: one process
        runs the court's session, then the agencies')."""
        ctx = self.ctx
        state, legal = ctx.state, ctx.world.treatments.legal
        self._processes()
        yield ctx.at(day, COURT_HOUR)
        due = self.judgement_day <= day
        # A borrower who cured or paid off before the hearing is no longer pursued: the case
        # is withdrawn and frees its place.
        status = state.status[self.cases]
        withdrawn = (status == CURRENT) | (status == CLOSED)
        judged = self.cases[due & ~withdrawn]
        if judged.size:
            pays = np.where(ctx.portfolio.strategic[judged], 1.0, state.ability[judged])
            # A guarantor or collateral covers part of what the borrower cannot pay.
            cover = np.where(ctx.portfolio.guarantee[judged], legal.guarantee_cover, 0.0)
            share = legal.judgement_recovery * (pays + cover * (1.0 - pays))
            amount = np.rint(state.balance_cents[judged] * share).astype(np.int64)
            paying = amount > 0
            ctx.borrowers.judgement(judged[paying], amount[paying], day)
        ending = due | withdrawn
        if np.count_nonzero(ending):
            called = self.in_court[ending]
            keep = ~ending
            self.cases, self.judgement_day = self.cases[keep], self.judgement_day[keep]
            self.in_court = self.in_court[keep]
            yield from self._call(called, self.HEARD)
        while self.requests.size and self.requests[0].triggered:
            granted = 1
            while granted < self.requests.size and self.requests[granted].triggered:
                granted += 1
            head, self.waiting = self.waiting[:granted], self.waiting[granted:]
            processes = self.queued[:granted]
            self.requests, self.queued = self.requests[granted:], self.queued[granted:]
            filed = _escalate(ctx, "legal", head)
            ok = np.isin(head, filed, assume_unique=True)
            self.file(filed, day, processes[ok])
            if filed.size < head.size:
                self.usage.left_queue[day] += head.size - filed.size
                yield from self._call(processes[~ok], self.REFUSED)
        status = state.status[self.waiting]
        open_ = (status == DELINQUENT) | (status == CHARGED_OFF)
        if np.count_nonzero(open_) < open_.size:
            self.usage.left_queue[day] += int(np.count_nonzero(~open_))
            if self.places is not None:
                for process in self.queued[~open_]:
                    process.interrupt(self.WITHDRAWN)
                self.requests, self.queued = self.requests[open_], self.queued[open_]
            self.waiting = self.waiting[open_]
        self.usage.waiting[day] = self.waiting.size
        self.usage.utilisation[day] = self.cases.size / self.capacity if self.capacity else 0.0

    def _call(self, processes: np.ndarray, cause: str):
        """Call ``processes`` (in order) and wait until they have given their places back and
        the Container has granted them to the queue."""
        for process in processes:
            process.interrupt(cause)
        yield simpy.AllOf(self.ctx.env, list(processes))

    def file(self, filed: np.ndarray, day: int, processes: np.ndarray) -> None:
        """File ``filed`` (their processes beside them): fee, contact effect, the delay to each
        one's hearing; each process is told it is in court."""
        if filed.size == 0:
            return
        ctx, legal = self.ctx, self.ctx.world.treatments.legal
        compliance = ctx.compliance
        compliance.post_check_escalation("legal", filed, ctx.state, ctx.portfolio)
        compliance.audit.record(day, "legal", filed, COURT_HOUR, None)
        ctx.ledger.spend("legal", filed.size * legal.fee)
        ctx.borrowers.serve_legal(filed, day, COURT_HOUR)
        # Gamma(4, mean / 4) as a sum of four keyed exponentials: each case's delay is its
        # own luck, whatever else is filed that day.
        scale = ctx.world.resources.court_delay_days / DELAY_SHAPE
        delay = sum(
            ctx.luck.exponential("delay:legal", scale, filed, day, lane)
            for lane in range(DELAY_SHAPE)
        )
        judgement_day = day + np.maximum(1, np.rint(delay)).astype(np.int32)
        self.cases = np.concatenate([self.cases, filed])
        self.judgement_day = np.concatenate([self.judgement_day, judgement_day])
        for process in processes:
            process.interrupt(self.FILED)
        self.in_court = np.concatenate([self.in_court, processes])
        ctx.counters.legal_cases += filed.size
        self.usage.performed[day] += filed.size
        self.usage.waited_days[day] += float((day - self.asked[filed]).sum())


class Agencies:
    """Placements with collection agencies, up to their capacity; the rest wait.

    The agencies' places are a simpy Container of the free ones: a placement takes one. A
    placement ends when its term runs out or the account cures or closes; those ends stay
    vectorised in the borrowers' calendar (waifang.sim.behaviour), found by numpy among a
    day's payments, and the places they free go back into the container before the day's
    placements. A placement is not a process of its own, unlike a court case: the 1 M
    benchmark makes ~120,000 placements (~7,000 court cases), and that many bare simpy
    processes alone cost ~1.4 s of CPU (measured apart; the whole run is ~7.4 s), which
    would take the engine below its 20 M account-days/s target. The agencies' session runs
    right after the court's, at 09:00 (see :class:`Courts` for the order of the day).
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.capacity = ctx.world.resources.agency_capacity
        self.spec = ctx.world.treatments.agency
        self.waiting = np.zeros(0, np.int64)
        self.asked = np.zeros(ctx.state.n, np.int16)  # the day a waiting request was made
        self.usage = Usage(ctx.world.days)
        self.places = _places(ctx, self.capacity)

    def open(self, places: int) -> None:
        """At least ``places`` places, every one free but those of this run's placements (a
        branch that values placements on a sample of a larger book, as :meth:`Courts.open`)."""
        self.capacity = max(self.capacity, places)
        if self.capacity:
            held = self.ctx.borrowers.placed_count
            self.places = simpy.Container(self.ctx.env, capacity=self.capacity,
                                          init=self.capacity - held)

    def request(self, idx: np.ndarray) -> None:
        ctx = self.ctx
        if ctx.compliance.rules.vetted_agencies_only and not ctx.world.resources.agency_vetted:
            ctx.compliance.block_all("agency", idx, AGENCY_HOUR, "unvetted_agency")
            return
        idx = _open(ctx, idx, charged_off_too=True)
        idx = idx[~ctx.borrowers.placed[idx]]
        if self.waiting.size:  # (no queue: nothing to take out, spare setdiff1d's cost)
            idx = np.setdiff1d(idx, self.waiting, assume_unique=True)
        idx = ctx.compliance.allow_escalation("agency", idx, AGENCY_HOUR, ctx.state, ctx.portfolio)
        self.asked[idx] = ctx.compliance.day
        self.usage.requested[ctx.compliance.day] += idx.size
        self.waiting = np.concatenate([self.waiting, idx])

    def run(self, day: int):
        ctx = self.ctx
        if ctx.env.now < day * HOURS + AGENCY_HOUR:
            yield ctx.at(day, AGENCY_HOUR)  # (at once after the court's session at 09:00)
        state = ctx.state
        if self.waiting.size:  # (most days in a small branch: no one waits)
            status = state.status[self.waiting]
            open_ = (status == DELINQUENT) | (status == CHARGED_OFF)
            self.usage.left_queue[day] += self.waiting.size - int(np.count_nonzero(open_))
            self.waiting = self.waiting[open_]
        places = self.places
        if places is not None:
            # Places freed since yesterday's placements (terms run out, cures, payoffs).
            _give_back(places, places.capacity - places.level - ctx.borrowers.placed_count)
        free = places.level if places is not None else 0
        while free > 0 and self.waiting.size:
            head, self.waiting = self.waiting[:free], self.waiting[free:]
            placed = _escalate(ctx, "agency", head)
            free -= placed.size
            self.usage.left_queue[day] += head.size - placed.size
            if placed.size:
                places.get(placed.size)
                ctx.compliance.post_check_escalation("agency", placed, state, ctx.portfolio)
                ctx.compliance.audit.record(
                    day, "agency", placed, AGENCY_HOUR, None
                )
                ctx.borrowers.place(placed, day, self.spec.placement_days)
                ctx.counters.agency_placements += placed.size
                self.usage.performed[day] += placed.size
                self.usage.waited_days[day] += float((day - self.asked[placed]).sum())
        self.usage.waiting[day] = self.waiting.size
        held = ctx.borrowers.placed_count
        self.usage.utilisation[day] = held / self.capacity if self.capacity else 0.0
        if ctx.borrowers.placed_count:
            yield ctx.at(day, self.spec.contact_hour)
            self.call(day)

    def call(self, day: int) -> None:
        """The agency's call to every placed borrower, checked like the lender's."""
        ctx = self.ctx
        hour = self.spec.contact_hour
        compliance, state, borrowers = ctx.compliance, ctx.state, ctx.borrowers
        placed = borrowers.placed.nonzero()[0]
        codes = compliance.contact_refusals("agency_contact", placed, hour, state)
        refused = codes > 0
        if np.count_nonzero(refused):
            compliance.audit.record(day, "agency_contact", placed[refused], hour, codes[refused])
            pausing = np.isin(codes, _PAUSING)
            borrowers.pause_placement(placed[pausing])
        called = placed[~refused]
        answered = ctx.luck.uniform("connect:agency", called, day)
        connected = ctx.portfolio.contactable[called] & (answered < self.spec.connect_probability)
        compliance.record_attempts("agency_contact", called, connected, hour, state=state)
        borrowers.agency_called(called)
        ctx.counters.agency_contacts += called.size
