"""Legal action and agency placements: what a ladder escalates to, on the run's clock.

Both take requests at 00:00, check them against the rules (breathing space, disputes,
vulnerability, vetted agencies) and queue what may go ahead. At 09:00 the courts judge the
cases that are due and file new ones up to their capacity; the agencies place accounts up to
theirs. Each filing or placement is checked again at the moment it happens: a request the
rules now refuse leaves the queue and takes no court slot or agency place. At its contact
hour the agency calls every placed borrower; each call passes the same rules as the lender's
and counts toward the caps they share. A placement whose call a rule forbids (breathing
space, a dispute) is paused that day: no agency hazard, no agency fee.
"""

from __future__ import annotations

import numpy as np
import simpy

from waifang.sim.compliance import RULE_CODE
from waifang.sim.resources import Context, Usage, _open
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
    """Legal action: filing (fee), a court delay (gamma), then a judgement that recovers."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.capacity = ctx.world.resources.legal_capacity
        self.waiting = np.zeros(0, np.int64)
        self.asked = np.zeros(ctx.state.n, np.int16)  # the day a waiting request was made
        self.usage = Usage(ctx.world.days)
        # Cases in court, in filing order, and the day each is judged.
        self.cases = np.zeros(0, np.int64)
        self.judgement_day = np.zeros(0, np.int32)
        # The court's free places: filing takes one, a judgement or a withdrawal gives it back.
        self.places = _places(ctx, self.capacity)

    def request(self, idx: np.ndarray) -> None:
        ctx = self.ctx
        state = ctx.state
        idx = _open(ctx, idx, charged_off_too=True)
        idx = idx[~state.in_legal[idx]]  # one case per account: filed once, judged once
        idx = np.setdiff1d(idx, self.waiting, assume_unique=True)
        idx = ctx.compliance.allow_escalation("legal", idx, COURT_HOUR, state, ctx.portfolio)
        self.asked[idx] = ctx.compliance.day
        self.usage.requested[ctx.compliance.day] += idx.size
        self.waiting = np.concatenate([self.waiting, idx])

    def run(self, day: int):
        """09:00: the cases due are judged, they and the cases withdrawn free their places,
        and new cases are filed into the free places, oldest request first.

        A case's delay is its judgement day in ``judgement_day``, not a process of its own:
        the day's judgements are one vectorised batch, in filing order, at the court's hour
        (after the agents' 09:00 calls, before the agencies), and a few thousand cases a
        day would each cost events and scalar numpy calls."""
        ctx = self.ctx
        state, legal = ctx.state, ctx.world.treatments.legal
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
        self.cases, self.judgement_day = self.cases[~ending], self.judgement_day[~ending]
        _give_back(self.places, int(ending.sum()))
        free = self.places.level if self.places is not None else 0
        while free > 0 and self.waiting.size:
            head, self.waiting = self.waiting[:free], self.waiting[free:]
            filed = _escalate(ctx, "legal", head)
            free -= filed.size
            self.file(filed, day)
        self.waiting = self.waiting[
            (state.status[self.waiting] == DELINQUENT) | (state.status[self.waiting] == CHARGED_OFF)
        ]
        self.usage.waiting[day] = self.waiting.size
        self.usage.utilisation[day] = self.cases.size / self.capacity if self.capacity else 0.0

    def file(self, filed: np.ndarray, day: int) -> None:
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
        self.places.get(filed.size)  # filed only into free places: at once
        ctx.counters.legal_cases += filed.size
        self.usage.performed[day] += filed.size
        self.usage.waited_days[day] += float((day - self.asked[filed]).sum())


class Agencies:
    """Placements with collection agencies, up to their capacity; the rest wait.

    The agencies' places are a simpy Container of the free ones: a placement takes one. A
    placement ends when its term runs out or the account cures or closes; those ends stay
    vectorised in the borrowers' calendar (waifang.sim.behaviour), found by numpy among a
    day's payments (a hundred thousand placements in a large run: a process each would cost
    events and scalar numpy calls per account for no difference), and the places they free
    go back into the container before the day's placements.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.capacity = ctx.world.resources.agency_capacity
        self.spec = ctx.world.treatments.agency
        self.waiting = np.zeros(0, np.int64)
        self.asked = np.zeros(ctx.state.n, np.int16)  # the day a waiting request was made
        self.usage = Usage(ctx.world.days)
        self.places = _places(ctx, self.capacity)

    def request(self, idx: np.ndarray) -> None:
        ctx = self.ctx
        if ctx.compliance.rules.vetted_agencies_only and not ctx.world.resources.agency_vetted:
            ctx.compliance.block_all("agency", idx, AGENCY_HOUR, "unvetted_agency")
            return
        idx = _open(ctx, idx, charged_off_too=True)
        idx = idx[~ctx.borrowers.placed[idx]]
        idx = np.setdiff1d(idx, self.waiting, assume_unique=True)
        idx = ctx.compliance.allow_escalation("agency", idx, AGENCY_HOUR, ctx.state, ctx.portfolio)
        self.asked[idx] = ctx.compliance.day
        self.usage.requested[ctx.compliance.day] += idx.size
        self.waiting = np.concatenate([self.waiting, idx])

    def run(self, day: int):
        ctx = self.ctx
        yield ctx.at(day, AGENCY_HOUR)
        state = ctx.state
        status = state.status[self.waiting]
        self.waiting = self.waiting[(status == DELINQUENT) | (status == CHARGED_OFF)]
        places = self.places
        if places is not None:
            # Places freed since yesterday's placements (terms run out, cures, payoffs).
            _give_back(places, places.capacity - places.level - ctx.borrowers.placed_count)
        free = places.level if places is not None else 0
        while free > 0 and self.waiting.size:
            head, self.waiting = self.waiting[:free], self.waiting[free:]
            placed = _escalate(ctx, "agency", head)
            free -= placed.size
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
        placed = np.flatnonzero(borrowers.placed)
        codes = compliance.contact_refusals("agency_contact", placed, hour, state)
        refused = codes > 0
        if refused.any():
            compliance.audit.record(day, "agency_contact", placed[refused], hour, codes[refused])
            pausing = np.isin(codes, _PAUSING)
            borrowers.pause_placement(placed[pausing])
        called = placed[~refused]
        answered = ctx.luck.uniform("connect:agency", called, day)
        connected = ctx.portfolio.contactable[called] & (answered < self.spec.connect_probability)
        compliance.record_attempts("agency_contact", called, connected, hour, state=state)
        borrowers.agency_called(called)
        ctx.counters.agency_contacts += called.size
