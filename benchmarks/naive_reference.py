"""The naive reference model: one simpy process per account, plain Python scalars.

The fast engine (:func:`waifang.sim.engine.simulate`) keeps account state in numpy columns and
moves all accounts at once. This module implements the same borrower behaviour, the same
ladder-policy semantics and the same compliance caps for contacts and visits the slow, obvious
way, written from the model's description rather than from the engine's code: every account
is a :class:`Account` object with Python ``int``/``float``/``bool`` attributes and its own simpy
process that wakes once a day and runs, in the engine's order of the day,

1. 00:00 the ladder policy for this account, administrative actions (freeze, hardship plan,
   debt sale) at once, the rest noted for later in the day;
2. the day's contacts in time order: field visit (team leaves at the region's start hour,
   effect when it finishes), call attempts hour by hour from the first shift hour, court
   judgement / filing and agency placement at 09:00, SMS at 10:00, IVR at 11:00, the agency's
   call to a placed borrower at its contact hour (14:30); each one checked against the
   compliance rules first (the agency's call counts toward the same caps and quiet period as
   the lender's, and a dispute or breathing space stops it); legal and agency rungs may act
   on charged-off accounts (``charged_off``), counting days since the charge-off;
3. 23:30 the borrower's behaviour: promises falling due, the payment draw (cure / partial /
   settlement, or a settlement of a charged-off balance; a placed account adds the agency's
   hazard on the days the agency called), re-default, the dpd roll, charge-off, income
   shock, plan and placement expiry, decay of the contact lift.

It is used in two ways: ``tests/test_reference_agreement.py`` checks that the engine and this
model agree in distribution, and ``benchmarks/engine.py`` times the engine against it.

What the reference omits or simplifies (so agreement is only expected where these do not bind):

- **Shared capacity is unlimited.** Every call attempt asked for is made at its hour (attempts
  beyond the number of shift hours are dropped, as in the engine); every visit request gets its
  own field team (the engine's first trip of a team), so the visit starts at the region's
  start hour and finishes after one exponential travel and one exponential visit time; legal
  filings and agency placements are never kept waiting. The engine's call queue ordered by
  balance, teams' later trips of the day, court and agency capacity limits are therefore not
  modelled, and neither are the calls/visits dropped for lack of capacity.
- **The visit's effect happens at that account's own finish time**; the engine applies all of
  a region's visits of the day at the latest finish time of the region. This only changes the
  order of same-day contacts on one account (promise and complaint draws). Whether a dispute
  opened during the day calls the visit off is decided as in the engine: by whether it began
  between the team's start and the visit's arrival.
- **Income shocks are one Bernoulli draw per account and day**; the engine draws a binomial
  count and picks accounts with replacement (so its per-account chance is very slightly lower,
  by about ``p**2 / 2``).
- **Re-default draws its own uniform**; the engine reuses the payment uniform from its other
  end (u > 1 - p), which is independent of the payment for an account that is current.
- **No money beyond collections**: costs, NPV and the audit log are not computed; actions
  performed and blocked are counted.

Random numbers come from the reference's own generators, seeded from the given
``SeedSequence`` (it cannot share draws with the vectorised engine), consumed one scalar at a
time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import numpy as np
import simpy

from waifang.sim.policy import PolicySpec
from waifang.sim.rules import ComplianceRules
from waifang.sim.spec import BUCKETS, World
from waifang.sim.state import Portfolio

DELINQUENT = "delinquent"
CURRENT = "current"
CHARGED_OFF = "charged_off"
CLOSED = "closed"
NEVER = -10_000

DAILY_KEYS: tuple[str, ...] = (
    *(f"bucket_{b}" for b in BUCKETS),
    "current",
    "charged_off",
    "closed",
)


class Uniforms:
    """Uniform draws in [0, 1), one Python float per call, from a numpy generator in blocks."""

    __slots__ = ("_rng", "_buffer", "_next", "_block")

    def __init__(self, rng: np.random.Generator, block: int = 1 << 15) -> None:
        self._rng, self._block = rng, block
        self._buffer: list[float] = []
        self._next = 0

    def __call__(self) -> float:
        i = self._next
        if i == len(self._buffer):
            self._buffer = self._rng.random(self._block).tolist()
            i = 0
        self._next = i + 1
        return self._buffer[i]


NAIVE_COLUMNS: tuple[str, ...] = (
    "balance",
    "dpd",
    "ability",
    "willingness",
    "strategic",
    "vulnerable",
    "contactable",
    "address_verified",
    "region",
    "segment",
    "prior_delinquencies",
    "other_debts",
    "risk_score",
    "credit_limit",
    "guarantee",
)
"""The portfolio columns an :class:`Account` is built from."""


class Account:
    """One borrower's account: everything the model reads and changes, as scalars."""

    __slots__ = (
        *NAIVE_COLUMNS,
        "index",
        "opening",
        "collected",
        "written_off",
        "status",
        "lift",
        "recent_contacts",
        "promise_due",
        "frozen",
        "hardship_until",
        "disputed_until",
        "disputed_at",
        "last_visit",
        "visit_notice",
        "visits",
        "complaints",
        "revealed",
        "in_legal",
        "case_open",
        "judgement_day",
        "placed",
        "placed_until",
        "agency_called",
        "visit_queued_since",
        "cured_ever",
        "judged",
        "charged_off_ever",
        "chargeoff_day",
        "attempts_today",
        "connected_today",
        "last_conversation",
        "week",
        "delinquent_days",
    )

    def __init__(self, portfolio_row: dict, index: int, charge_off_dpd: int) -> None:
        r = portfolio_row
        self.index = index
        self.balance = int(round(r["balance"] * 100.0))
        self.opening = self.balance
        self.collected = 0
        self.written_off = 0
        # Accounts at or past the charge-off point start one day short of it (charge off day 0).
        self.dpd = min(int(r["dpd"]), charge_off_dpd - 1)
        self.status = DELINQUENT if self.dpd > 0 else CURRENT
        self.ability = float(r["ability"])
        self.willingness = float(r["willingness"])
        self.strategic = bool(r["strategic"])
        self.vulnerable = bool(r["vulnerable"])
        self.contactable = bool(r["contactable"])
        self.address_verified = bool(r["address_verified"])
        self.region = int(r["region"])
        self.segment = int(r["segment"])
        self.prior_delinquencies = int(r["prior_delinquencies"])
        self.other_debts = int(r["other_debts"])
        self.risk_score = float(r["risk_score"])
        self.credit_limit = float(r["credit_limit"])
        self.guarantee = bool(r["guarantee"])
        self.lift = 0.0
        self.recent_contacts = 0.0
        self.promise_due = NEVER
        self.frozen = False
        self.hardship_until = NEVER
        self.disputed_until = NEVER
        self.disputed_at = -math.inf  # clock time (day * 24 + hour) the dispute began
        self.last_visit = NEVER
        self.visit_notice = NEVER
        self.visits = 0
        self.complaints = 0
        self.revealed = False
        self.in_legal = False  # a case was filed (once per account)
        self.case_open = False  # ... and is still waiting for its judgement
        self.judgement_day = NEVER
        self.placed = False
        self.placed_until = NEVER
        self.agency_called = False  # the agency called today (its hazard applies tonight)
        self.visit_queued_since = None
        self.cured_ever = False
        self.judged = None  # today's judgement, posted to the arrears tonight
        self.charged_off_ever = False
        self.chargeoff_day = NEVER
        self.attempts_today = 0
        self.connected_today = 0
        self.last_conversation = NEVER  # day of the last connected call
        self.week = [0] * 7
        self.delinquent_days = 0  # days that began with the account delinquent


class NaiveModel:
    """The behaviour, policy and compliance of one run, applied to one account at a time."""

    def __init__(
        self,
        world: World,
        policy_spec: PolicySpec,
        rules: ComplianceRules,
        segment_names: tuple[str, ...],
        seed: np.random.SeedSequence,
    ) -> None:
        self.world, self.rules = world, rules
        self.b, self.t = world.behaviour, world.treatments
        self.c = world.charge_off_dpd
        children = seed.spawn(3)
        self.u = Uniforms(np.random.default_rng(children[0]))
        self.u_contact = Uniforms(np.random.default_rng(children[1]))
        self.rng_legal = np.random.default_rng(children[2])
        self.decay = 0.5 ** (1.0 / self.b.contact_half_life_days)
        shifts = world.resources.call_centre.shifts
        self.call_hours = sorted(
            {h for s in shifts if s.agents > 0 for h in range(s.start_hour, s.end_hour)}
        )
        self.ladder = []
        for rule in policy_spec.rules:
            segments = (
                None if rule.segments is None else {segment_names.index(s) for s in rule.segments}
            )
            attempts = rule.attempts if rule.action in ("call", "ivr") else 1
            self.ladder.append((rule, segments, attempts))
        self.actions: Counter[str] = Counter()
        self.blocked: Counter[str] = Counter()
        self.promises_made = self.promises_kept = self.promises_broken = 0
        self.redefaults = 0
        self.calls_dropped = 0
        self.visits_cancelled = 0  # queued visits the lender cancelled (under the minimum dpd)

    # ------------------------------------------------------------------ policy
    def policy(self, a: Account, day: int) -> dict[str, int]:
        """Actions the ladder asks for on this account today, with attempts (max over rungs)."""
        wanted: dict[str, int] = {}
        for rule, segments, attempts in self.ladder:
            if rule.action == "sale":
                if a.status != CHARGED_OFF:
                    continue
            elif rule.charged_off:  # counts days since the charge-off instead of dpd
                since = day - a.chargeoff_day
                if a.status != CHARGED_OFF or not rule.dpd_min <= since <= rule.dpd_max:
                    continue
                if rule.every_days > 1 and (since - rule.dpd_min) % rule.every_days != 0:
                    continue
            elif a.status != DELINQUENT or not rule.dpd_min <= a.dpd <= rule.dpd_max:
                continue
            elif a.hardship_until >= day and not rule.during_hardship:
                continue  # the ladder pauses while a hardship plan freezes dpd
            if (
                not rule.charged_off
                and rule.every_days > 1
                and (a.dpd - rule.dpd_min) % rule.every_days != 0
            ):
                continue
            if rule.min_balance > 0 and a.balance < round(rule.min_balance * 100):
                continue
            if rule.max_balance is not None and a.balance > round(rule.max_balance * 100):
                continue
            if segments is not None and a.segment not in segments:
                continue
            if a.prior_delinquencies < rule.min_prior_delinquencies:
                continue
            if a.other_debts < rule.min_other_debts:
                continue
            if (
                rule.max_prior_delinquencies is not None
                and a.prior_delinquencies > rule.max_prior_delinquencies
            ):
                continue
            if rule.max_other_debts is not None and a.other_debts > rule.max_other_debts:
                continue
            # The score is a float32 (as the portfolio holds it); so is the rung's bound.
            if rule.min_risk_score is not None and a.risk_score < float(
                np.float32(rule.min_risk_score)
            ):
                continue
            if rule.max_risk_score is not None and a.risk_score > float(
                np.float32(rule.max_risk_score)
            ):
                continue
            if rule.min_credit_limit is not None and a.credit_limit < rule.min_credit_limit:
                continue
            if rule.max_credit_limit is not None and a.credit_limit > rule.max_credit_limit:
                continue
            if rule.guarantee is not None and a.guarantee != rule.guarantee:
                continue
            if rule.only_revealed_strategic and not (a.revealed and a.strategic):
                continue
            if rule.max_revealed_ability is not None and not (
                a.revealed and a.ability <= rule.max_revealed_ability
            ):
                continue
            wanted[rule.action] = max(wanted.get(rule.action, 0), attempts)
        return wanted

    # ------------------------------------------------------------------ compliance
    def may_contact(
        self, a: Account, action: str, hour: float, day: int, until: float | None = None
    ) -> bool:
        """May one attempt at ``hour`` (lasting to ``until``, an agent's hour slot) go out?"""
        r = self.rules
        refused = None
        if until is not None and until > hour:
            in_hours = r.contact_start_hour <= hour and until <= r.contact_end_hour
        else:
            in_hours = r.contact_start_hour <= hour < r.contact_end_hour
        if not in_hours:
            refused = "contact_hours"
        elif r.no_contact_hardship and a.hardship_until >= day:
            refused = "no_contact_hardship"
        elif action == "agency_contact" and r.no_agency_disputed and a.disputed_until >= day:
            refused = "agency_disputed"  # the placement pauses while the debt is disputed
        elif action in ("call", "ivr", "agency_contact"):  # the caps count the agency's calls
            since = day - a.last_conversation
            if r.max_attempts_per_day is not None and a.attempts_today >= r.max_attempts_per_day:
                refused = "attempts_per_day"
            elif (
                r.max_connected_per_day is not None and a.connected_today >= r.max_connected_per_day
            ):
                refused = "connected_per_day"
            elif r.max_attempts_per_7_days is not None and sum(a.week) >= r.max_attempts_per_7_days:
                refused = "attempts_per_7_days"
            elif (
                r.quiet_days_after_conversation is not None
                and since <= r.quiet_days_after_conversation
            ):
                # The rest of the conversation's day and that many days after it.
                refused = "quiet_after_conversation"
        if refused is not None:
            self.blocked[refused] += 1
            return False
        return True

    def visit_refusal(
        self, a: Account, day: int, collectors: int, hours: tuple[float, float] | None
    ) -> str | None:
        """The first rule refusing a visit (hours unknown at request time), or None."""
        r = self.rules
        if r.first_visit_notice_days and a.visit_notice == NEVER and a.visits == 0:
            # The notice goes out when a first visit is asked for, even if another rule
            # refuses this request (so the notice period can run while dpd catches up).
            a.visit_notice = day
        if hours is not None and not (
            hours[0] >= r.visit_start_hour and hours[1] <= r.visit_end_hour
        ):
            return "visit_hours"
        if a.dpd < r.visit_min_dpd:
            return "visit_min_dpd"
        if day - a.last_visit < r.visit_min_gap_days:
            return "visit_gap"
        if r.no_visit_vulnerable and a.vulnerable:
            return "visit_vulnerable"
        if r.no_visit_disputed and a.disputed_until >= day:
            return "visit_disputed"
        if (r.no_visit_hardship or r.no_contact_hardship) and a.hardship_until >= day:
            return "visit_hardship"
        if collectors < r.min_collectors_per_visit:
            return "visit_collectors"
        if (
            r.first_visit_notice_days
            and a.visits == 0
            and day - a.visit_notice < r.first_visit_notice_days
        ):
            return "visit_notice"
        return None

    # ------------------------------------------------------------------ contacts
    def touch(
        self, a: Account, lift: float, promise_p: float, complaint_p: float, day: int, hour: float
    ) -> None:
        """A contact that reached the borrower: lift, maybe a promise, maybe a complaint."""
        b, u = self.b, self.u_contact
        a.lift = min(a.lift + lift, b.max_contact_lift)
        a.recent_contacts += 1.0
        if promise_p > 0:
            p = promise_p * min(1.0, 2.0 * a.willingness)
            if u() < p and a.promise_due < day:
                a.promise_due = day + b.promise_days
                self.promises_made += 1
        if complaint_p > 0:
            p = complaint_p * (1.0 + b.complaint_intensity * (a.recent_contacts - 1.0))
            if u() < p:
                a.complaints += 1
                if u() < b.dispute_share:
                    if a.disputed_until < day:  # a new dispute; a running one keeps its start
                        a.disputed_at = day * 24.0 + hour
                    a.disputed_until = max(a.disputed_until, day + b.dispute_days)

    def contact(self, a: Account, action: str, hour: float, day: int) -> None:
        """One SMS, IVR or call attempt at ``hour`` on a delinquent account."""
        # An agent's call fills its hour slot, which must lie within the contact hours.
        until = hour + 1.0 if action == "call" else None
        if action == "agency_contact":
            if not a.placed or not self.may_contact(a, action, hour, day):
                return
            spec = self.t.agency
        elif a.status != DELINQUENT or not self.may_contact(a, action, hour, day, until):
            return
        else:
            spec = getattr(self.t, action)
        self.actions[action] += 1
        connected = a.contactable and self.u_contact() < spec.connect_probability
        if action in ("call", "ivr", "agency_contact"):
            a.attempts_today += 1
            a.week[day % 7] += 1
            if connected:
                a.connected_today += 1
                if action != "ivr":  # a conversation, with the lender's agent or the agency
                    a.last_conversation = day
        if action == "agency_contact":
            a.agency_called = True  # the agency's pressure is its hazard; no other effect
            return
        if connected:
            self.touch(
                a, spec.lift, spec.promise_probability, spec.complaint_probability, day, hour
            )

    def visit(self, a: Account, day: int, trip: tuple[float, float, float, float]) -> None:
        """The visit of ``trip`` (team start, arrival, finish, end of the teams' day)."""
        start, arrive, _, end = trip
        # A complaint earlier today (a call) may have opened a dispute after the team set out
        # and before it arrived: the visit is called off.
        if self.rules.no_visit_disputed and (
            day * 24.0 + start <= a.disputed_at <= day * 24.0 + arrive
        ):
            self.blocked["visit_disputed"] += 1
            return
        v = self.t.visit
        self.actions["visit"] += 1
        a.visits += 1
        a.last_visit = day
        found = v.found_verified if a.address_verified else v.found_unverified
        if self.u_contact() < found:
            a.revealed = True
            # The engine stamps a visit's complaint at the end of the teams' day.
            self.touch(a, v.lift, v.promise_probability, v.complaint_probability, day, end)

    def plan_visit(self, a: Account, day: int) -> tuple[float, float, float, float] | None:
        """At the region's start hour: the trip (start, arrival, finish, end of the teams'
        day) of a visit that fits today and passes the rules, or None."""
        res = self.world.resources
        if a.status != DELINQUENT:
            a.visit_queued_since = None
            return None
        if a.dpd < self.rules.visit_min_dpd and a.visit_queued_since < day:
            # A part payment took it back under the minimum dpd while it waited: the lender
            # cancels the visit before the team leaves (not a refusal by the rules). A request
            # of today meets the rules.
            self.visits_cancelled += 1
            a.visit_queued_since = None
            return None
        if day - a.visit_queued_since > res.visit_queue_days:
            a.visit_queued_since = None
            return None
        region = res.regions[a.region]
        start = max(region.start_hour, self.rules.visit_start_hour)
        end = min(region.end_hour, self.rules.visit_end_hour)
        if region.teams == 0 or end <= start:
            return None
        # Everything but the hours is checked before the day is planned: a visit the rules
        # refuse leaves the queue and takes no team time.
        refused = self.visit_refusal(a, day, region.collectors_per_team, None)
        if refused is not None:
            self.blocked[refused] += 1
            a.visit_queued_since = None
            return None
        travel = -region.travel_hours * math.log(1.0 - self.u_contact())
        stay = -region.visit_hours * math.log(1.0 - self.u_contact())
        finish = start + travel + stay
        if finish > end:
            return None  # does not fit today: stays queued for tomorrow
        a.visit_queued_since = None
        refused = self.visit_refusal(a, day, region.collectors_per_team, (finish - stay, finish))
        if refused is not None:
            self.blocked[refused] += 1
            return None
        return (start, finish - stay, finish, end)

    # ------------------------------------------------------------------ money
    def collect(self, a: Account, amount: int, day: int, collected_by_day: list[int]) -> None:
        amount = min(amount, a.balance)
        a.balance -= amount
        a.collected += amount
        collected_by_day[day] += amount
        if a.balance == 0:
            self.close(a)

    def write_off_rest(self, a: Account) -> None:
        if a.status != CLOSED:
            a.written_off += a.balance
            a.balance = 0
            self.close(a)

    def release(self, a: Account) -> None:
        """An agency placement ends early when the account cures or closes."""
        a.placed = False
        a.placed_until = NEVER

    def close(self, a: Account) -> None:
        self.release(a)
        a.status = CLOSED
        a.dpd = self.c + 2
        a.promise_due = NEVER

    def arrears(self, a: Account) -> int:
        months = math.ceil(min(a.dpd, self.c) / 30.0)
        return max(int(round(a.balance * min(1.0, months * self.b.instalment_share))), 1)

    def pay(
        self, a: Account, day: int, collected_by_day: list[int], force_cure: bool = False
    ) -> None:
        """A delinquent account pays: settles, cures (pays all arrears) or pays part."""
        b = self.b
        if (
            not force_cure
            and a.dpd >= b.settlement_min_dpd
            and a.ability <= b.settlement_max_ability
        ):
            self.collect(a, int(round(a.balance * b.settlement_share)), day, collected_by_day)
            self.write_off_rest(a)
            return
        arrears = self.arrears(a)
        months = math.ceil(min(a.dpd, self.c) / 30.0)
        p_cure = b.cure_share_low + (b.cure_share_high - b.cure_share_low) * a.ability
        # The cure draw is made even when one month is due (a payment then always cures).
        if self.u() < p_cure or months <= 1 or force_cure:
            self.collect(a, arrears, day, collected_by_day)
            a.cured_ever = True
            if a.status == DELINQUENT:
                a.status = CURRENT
                a.dpd = 0
                a.promise_due = NEVER
                a.frozen = False
                self.release(a)
            return
        # Whole instalments, at least one and fewer than are due; each brings the oldest
        # unpaid one forward by 30 days.
        share = b.partial_min + (b.partial_max - b.partial_min) * self.u()
        paid = min(max(math.floor(share * months), 1), months - 1)
        instalment = max(int(round(a.balance * b.instalment_share)), 1)
        self.collect(a, min(paid * instalment, arrears), day, collected_by_day)
        if a.status == DELINQUENT:
            a.dpd -= 30 * paid

    def judgement(self, a: Account, amount: int, day: int, collected_by_day: list[int]) -> None:
        """A judgement pays at the court hour; on a delinquent account it is posted to the
        arrears that night (:meth:`post_judgement`): all the arrears or more cure it, less
        moves the oldest unpaid instalment forward 30 days per whole instalment covered."""
        delinquent = a.status == DELINQUENT
        arrears = self.arrears(a)
        months = math.ceil(min(a.dpd, self.c) / 30.0)
        instalment = max(int(round(a.balance * self.b.instalment_share)), 1)
        paid = min(amount, a.balance)
        self.collect(a, amount, day, collected_by_day)
        if delinquent and a.status == DELINQUENT:
            a.judged = "cure" if paid >= arrears else min(paid // instalment, max(months - 1, 0))

    def post_judgement(self, a: Account) -> None:
        """23:30, before the borrower's own payment: today's judgement meets the arrears."""
        judged, a.judged = a.judged, None
        if a.status != DELINQUENT:
            return
        if judged == "cure":
            a.cured_ever = True
            a.status = CURRENT
            a.dpd = 0
            a.promise_due = NEVER
            a.frozen = False
            self.release(a)
        else:
            a.dpd -= 30 * judged

    def hazard(self, a: Account, day: int) -> float:
        b, c = self.b, self.c
        if 1 <= a.dpd < c:
            stress = b.stress[min(day // 30, len(b.stress) - 1)]
            base = b.base_hazard[min((a.dpd - 1) // 30, 5)] * stress
        elif a.status == CHARGED_OFF:
            base = b.chargeoff_recovery_daily
        else:
            base = 0.0
        log_factor = b.ability_weight * (a.ability - 0.5) + b.willingness_weight * (
            a.willingness - 0.5
        )
        h = base * math.exp(log_factor) * (1.0 + a.lift)
        if a.frozen:
            h *= b.freeze_multiplier
        if a.hardship_until >= day:
            h *= b.hardship_multiplier
        if a.agency_called:  # the agency's hazard on the days it called
            h += self.t.agency.daily_hazard
        return h

    # ------------------------------------------------------------------ the day
    def day(self, a: Account, day: int, collected_by_day: list[int]) -> None:
        """One day of one account: policy at 00:00, contacts, behaviour at 23:30."""
        a.attempts_today = a.connected_today = 0
        a.week[day % 7] = 0
        if a.visit_queued_since is not None and a.status != DELINQUENT:
            a.visit_queued_since = None  # the request leaves the queue quietly
        if a.status == DELINQUENT or a.status == CHARGED_OFF:
            self.act(a, day, collected_by_day)
        elif a.case_open:  # a case of an account that cured or closed is withdrawn at 09:00
            self.act(a, day, collected_by_day)
        self.end_of_day(a, day, collected_by_day)

    def act(self, a: Account, day: int, collected_by_day: list[int]) -> None:
        wanted = self.policy(a, day) if a.status != CURRENT else {}
        sms = ivr = calls = 0
        legal = agency = False
        for action, attempts in wanted.items():
            if action == "third_party":
                self.blocked["third_party"] += 1  # unlawful everywhere: never performed
            elif action == "sms":
                sms = 1
            elif action == "ivr":
                ivr = attempts
            elif action == "call":
                calls = attempts
            elif action == "visit":
                self.request_visit(a, day)
            elif action == "legal":
                legal = not a.in_legal and a.status in (DELINQUENT, CHARGED_OFF)
                legal = legal and self.may_escalate(a, day, "legal")
            elif action == "agency":
                if self.rules.vetted_agencies_only and not self.world.resources.agency_vetted:
                    self.blocked["unvetted_agency"] += 1
                else:
                    agency = not a.placed and a.status in (DELINQUENT, CHARGED_OFF)
                    agency = agency and self.may_escalate(a, day, "agency")
            elif action == "freeze":
                if a.status == DELINQUENT and not a.frozen:
                    a.frozen = True
                    self.actions["freeze"] += 1
            elif action == "hardship":
                if a.status == DELINQUENT and a.hardship_until < day:
                    a.hardship_until = day + self.t.hardship_days - 1  # that many days
                    self.actions["hardship"] += 1
            elif action == "sale":
                self.actions["sale"] += 1
                price = int(round(a.balance * self.t.sale_price))
                self.collect(a, price, day, collected_by_day)
                self.write_off_rest(a)
        trip = None
        if a.visit_queued_since is not None:
            trip = self.plan_visit(a, day)
        placed = agency or a.placed
        if not (sms or ivr or calls or legal or placed or trip is not None or a.case_open):
            return
        # The day's events in the engine's order: (hour, tie-break, what). At the same hour
        # the engine runs what was scheduled first: SMS, IVR and the first call hour are
        # scheduled at 00:00 before the courts and agencies; later call hours are scheduled
        # an hour ahead, after everything else.
        events: list[tuple[float, int, str]] = []
        if calls:
            for k, hour in enumerate(self.call_hours[:calls]):
                events.append((float(hour), 2 if k == 0 else 6, "call"))
            self.calls_dropped += max(0, calls - len(self.call_hours))
        if sms:
            events.append((10.0, 0, "sms"))
        if ivr:
            events += [(11.0, 1, "ivr")] * ivr
        if legal or a.case_open:
            events.append((9.0, 3, "legal"))
        if agency:
            events.append((9.0, 4, "agency"))
        if placed:
            events.append((self.t.agency.contact_hour, 7, "agency_contact"))
        if trip is not None:
            events.append((trip[2], 5, "visit"))
        events.sort(key=lambda e: (e[0], e[1]))
        for hour, _, what in events:
            if what == "visit":
                self.visit(a, day, trip)
            elif what == "legal":
                self.court(a, day, legal, collected_by_day)
            elif what == "agency":
                if a.status in (DELINQUENT, CHARGED_OFF):
                    a.placed = True
                    a.placed_until = day + self.t.agency.placement_days - 1  # that many days
                    self.actions["agency"] += 1
            else:
                self.contact(a, what, hour, day)

    def may_escalate(self, a: Account, day: int, action: str) -> bool:
        """Legal filing and agency placement stop while breathing space runs, if the rules
        say contact stops then; neither goes ahead on a disputed debt, nor legal against a
        vulnerable borrower, where the rules say so."""
        r = self.rules
        refused = None
        if r.no_contact_hardship and a.hardship_until >= day:
            refused = "no_contact_hardship"
        elif action == "legal" and r.no_legal_disputed and a.disputed_until >= day:
            refused = "legal_disputed"
        elif action == "legal" and r.no_legal_vulnerable and a.vulnerable:
            refused = "legal_vulnerable"
        elif action == "agency" and r.no_agency_disputed and a.disputed_until >= day:
            refused = "agency_disputed"
        if refused is not None:
            self.blocked[refused] += 1
            return False
        return True

    def request_visit(self, a: Account, day: int) -> None:
        if a.status != DELINQUENT or a.visit_queued_since is not None:
            return
        region = self.world.resources.regions[a.region]
        refused = self.visit_refusal(a, day, region.collectors_per_team, None)
        if refused is not None:
            self.blocked[refused] += 1
            return
        a.visit_queued_since = day

    def court(self, a: Account, day: int, file: bool, collected_by_day: list[int]) -> None:
        """09:00: a due judgement recovers, then a requested case is filed."""
        legal = self.t.legal
        if a.case_open:
            if a.status == CURRENT or a.status == CLOSED:
                a.case_open = False  # cured or paid off before the hearing: withdrawn
            elif a.judgement_day <= day:
                pays = 1.0 if a.strategic else a.ability
                cover = legal.guarantee_cover if a.guarantee else 0.0
                share = legal.judgement_recovery * (pays + cover * (1.0 - pays))
                amount = int(round(a.balance * share))
                if amount > 0:
                    self.judgement(a, amount, day, collected_by_day)
                a.case_open = False
        if file and a.status in (DELINQUENT, CHARGED_OFF):
            self.actions["legal"] += 1
            a.in_legal = a.case_open = True
            self.touch(a, legal.filing_lift, 0.0, 0.0, day, 9.0)
            delay = self.rng_legal.gamma(4.0, self.world.resources.court_delay_days / 4.0)
            a.judgement_day = day + max(1, int(round(delay)))

    def end_of_day(self, a: Account, day: int, collected_by_day: list[int]) -> None:
        b, c, u = self.b, self.c, self.u
        was_current = a.status == CURRENT  # (a judgement cure tonight cannot re-default)
        if a.judged is not None:
            self.post_judgement(a)
        if a.promise_due == day and a.status == DELINQUENT:
            a.promise_due = NEVER
            if u() < b.promise_keep_base + b.promise_keep_ability * a.ability:
                self.promises_kept += 1
                self.pay(a, day, collected_by_day, force_cure=True)
            else:
                self.promises_broken += 1
                a.willingness *= b.broken_promise_willingness
        if a.status == DELINQUENT or a.status == CHARGED_OFF or a.placed:
            if u() < self.hazard(a, day):
                if a.status == DELINQUENT:
                    self.pay(a, day, collected_by_day)
                elif a.status == CHARGED_OFF:
                    amount = max(int(round(a.balance * b.settlement_share)), 1)
                    self.collect(a, amount, day, collected_by_day)
                    self.write_off_rest(a)
        if a.status == DELINQUENT and a.hardship_until < day:
            a.dpd += 1
            if a.dpd == c:
                a.status = CHARGED_OFF
                a.dpd = c + 1
                a.chargeoff_day = day
                a.charged_off_ever = True
        # A current account misses a payment again (not one that cured today): 1 dpd.
        if was_current and a.status == CURRENT and u() < b.redefault_daily:
            a.status = DELINQUENT
            a.dpd = 1
            a.prior_delinquencies += 1  # the cured episode joins the credit record
            self.redefaults += 1
        if u() < b.income_shock_daily:
            a.ability *= b.income_shock_ability
        if a.hardship_until == day:
            a.hardship_until = NEVER
        if a.placed and a.placed_until == day:
            a.placed = False
        a.agency_called = False
        a.lift *= self.decay
        a.recent_contacts *= self.decay


def _category(dpd: int, c: int) -> int:
    """Index into :data:`DAILY_KEYS` of an account at ``dpd`` (the engine's histogram)."""
    if dpd == 0:
        return len(BUCKETS)
    if dpd == c + 1:
        return len(BUCKETS) + 1
    if dpd == c + 2:
        return len(BUCKETS) + 2
    return min((dpd - 1) // 30, len(BUCKETS) - 1)


def simulate_naive(
    world: World,
    portfolio: Portfolio,
    policy_spec: PolicySpec,
    rules: ComplianceRules,
    *,
    seed: np.random.SeedSequence,
    model: Callable[..., NaiveModel] = NaiveModel,
) -> dict:
    """Run the ladder ``policy_spec`` on ``portfolio`` one simpy process per account.

    Returns a dict with per-account lists ``collected_cents``, ``opening_cents``, ``status``
    (names as in :data:`waifang.sim.state.STATUS_NAMES`), ``cured_ever``, ``charged_off_ever``;
    ``delinquent_days`` (days that began with the account delinquent); ``daily`` with one list
    per key of :data:`DAILY_KEYS` (counts at the end of each day, like
    the engine's ``RunResult.daily``) and ``collected`` per day in currency; rates
    ``cure_rate``, ``chargeoff_rate``, ``recovery_rate``; counts of ``actions`` performed and
    ``blocked`` by rule. ``model`` builds the :class:`NaiveModel` (tests substitute a
    perturbed one).

    Examples
    --------
    >>> from waifang.sim import PortfolioSpec, resolve_rules
    >>> from waifang.sim.portfolio import generate_portfolio
    >>> world = World(days=5)
    >>> names = tuple(r.name for r in world.resources.regions)
    >>> p = generate_portfolio(PortfolioSpec(accounts=20), names, np.random.default_rng(1))
    >>> out = simulate_naive(world, p, PolicySpec(name="none"), resolve_rules("cn")[0],
    ...                      seed=np.random.SeedSequence(1))
    >>> len(out["collected_cents"]), len(out["daily"]["closed"])
    (20, 5)
    """
    days, c = world.days, world.charge_off_dpd
    naive = model(world, policy_spec, rules, portfolio.segment_names, seed)
    columns = NAIVE_COLUMNS
    rows = {name: getattr(portfolio, name).tolist() for name in columns}
    accounts = [
        Account({name: rows[name][i] for name in columns}, i, c) for i in range(len(portfolio))
    ]
    counts = [[0] * len(DAILY_KEYS) for _ in range(days)]
    closed_from = [0] * (days + 1)  # accounts whose process ended closed, by first such day
    collected_by_day = [0] * days
    env = simpy.Environment()

    def account_process(a: Account):
        for day in range(days):
            if a.status == DELINQUENT:
                a.delinquent_days += 1
            naive.day(a, day, collected_by_day)
            if a.status == CLOSED and not a.case_open:
                closed_from[day] += 1  # nothing can happen to it any more
                return
            counts[day][_category(a.dpd, c)] += 1
            yield env.timeout(1)

    for a in accounts:
        env.process(account_process(a))
    env.run(until=days)

    closed_key = DAILY_KEYS.index("closed")
    running = 0
    for day in range(days):
        running += closed_from[day]
        counts[day][closed_key] += running
    daily = {key: [row[k] for row in counts] for k, key in enumerate(DAILY_KEYS)}
    daily["collected"] = [cents / 100.0 for cents in collected_by_day]
    opening = sum(a.opening for a in accounts)
    collected = sum(a.collected for a in accounts)
    n = len(accounts)
    return {
        "collected_cents": [a.collected for a in accounts],
        "opening_cents": [a.opening for a in accounts],
        "balance_cents": [a.balance for a in accounts],
        "written_off_cents": [a.written_off for a in accounts],
        "status": [a.status for a in accounts],
        "cured_ever": [a.cured_ever for a in accounts],
        "charged_off_ever": [a.charged_off_ever for a in accounts],
        "visits": [a.visits for a in accounts],
        "delinquent_days": [a.delinquent_days for a in accounts],
        "daily": daily,
        "cure_rate": sum(a.cured_ever for a in accounts) / n if n else 0.0,
        "chargeoff_rate": sum(a.charged_off_ever for a in accounts) / n if n else 0.0,
        "recovery_rate": collected / opening if opening else 0.0,
        "actions": dict(naive.actions),
        "blocked": dict(naive.blocked),
        "redefaults": naive.redefaults,
        "promises_made": naive.promises_made,
        "promises_kept": naive.promises_kept,
        "promises_broken": naive.promises_broken,
        "calls_dropped": naive.calls_dropped,
        "visits_cancelled": naive.visits_cancelled,
    }
