"""How borrowers respond: the daily payment hazard, payments, rolls, promises and complaints.

Everything here is vectorised over accounts. The engine calls the contact methods when an
action is performed and :meth:`Borrowers.end_of_day` once a day for all accounts.

The daily hazard of a delinquent account is

    h = base[bucket(dpd)] x stress(month) x exp(a_w (ability - .5) + w_w (willingness - .5))
        x freeze^frozen x hardship^on_plan x (1 + lift) (+ agency hazard when placed)

where ``lift`` is the sum of recent contacts' lifts, decaying with a half-life. The account's
``dpd`` doubles as the index into a hazard table: 0 is current (cured), 1 .. c-1 delinquent,
c + 1 charged off (a small recovery hazard) and c + 2 closed (no hazard).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from waifang.sim.economics import Ledger
from waifang.sim.rng import Luck, keyed_uniform, stream, stream_key
from waifang.sim.spec import ContactSpec, World
from waifang.sim.state import (
    CHARGED_OFF,
    CLOSED,
    CURRENT,
    DELINQUENT,
    NEVER,
    AccountState,
    Portfolio,
)


class Borrowers:
    """The behaviour model acting on one run's :class:`AccountState`."""

    def __init__(
        self,
        world: World,
        portfolio: Portfolio,
        state: AccountState,
        ledger: Ledger,
        seed: np.random.SeedSequence,
    ) -> None:
        self.world = world
        self.b = world.behaviour
        self.t = world.treatments
        self.portfolio = portfolio
        self.state = state
        self.ledger = ledger
        c = world.charge_off_dpd
        self.charge_off_dpd = c
        self.charged_off_index = np.int16(c + 1)
        self.closed_index = np.int16(c + 2)
        self.rng_pay = stream(seed, "payments")
        # Payment amounts and kept promises are drawn per (account, day), not from a sequence,
        # so that they do not depend on which other accounts pay that day.
        self.key_amount = stream_key(seed, "amounts")
        self.key_promise = stream_key(seed, "promises")
        # Every outcome of a contact is keyed by (purpose, account, day, lane) too: an extra
        # action on one account shifts no other account's luck, nor this account's other draws.
        self.luck = Luck(seed)
        self.rng_shock = stream(seed, "shocks")
        self.decay = np.float32(0.5 ** (1.0 / self.b.contact_half_life_days))
        n = state.n
        self._tables: dict[int, np.ndarray] = {}
        self.mult = np.ones(n, np.float32)
        self.refresh(np.arange(n))
        self.advancing = state.status == DELINQUENT
        self._uniform = np.empty(n, np.float32)
        # Accounts at or past the charge-off point at the start charge off at the end of day 0.
        state.dpd[state.dpd >= c] = c - 1
        self.promises_due: dict[int, list[np.ndarray]] = defaultdict(list)
        self.hardship_ends: dict[int, list[np.ndarray]] = defaultdict(list)
        self.placement_ends: dict[int, list[np.ndarray]] = defaultdict(list)
        self.placed = np.zeros(n, bool)
        self.placed_count = 0
        # Today's agency work: accounts the agency called (its hazard applies) and placements
        # paused by a rule (no agency fee on what the borrower pays). Cleared every night.
        self.agency_worked = np.zeros(n, bool)
        self.agency_paused = np.zeros(n, bool)
        self._agency_today: list[np.ndarray] = []
        self.cured_ever = np.zeros(n, bool)
        self._judged: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # posted tonight
        self.cure_day = np.full(n, NEVER, np.int16)
        self.charged_off_ever = np.zeros(n, bool)
        self.redefaults = 0
        self.complaints = 0
        self.promises_made = 0
        self.promises_kept = 0
        self.promises_broken = 0

    # ---------------------------------------------------------------- hazard factors
    def refresh(self, idx: np.ndarray) -> None:
        """Recompute the per-account hazard multiplier after its inputs changed."""
        if idx.size == 0:  # (often: no one cured off a freeze, no promise broken today)
            return
        s, b = self.state, self.b
        s.refresh_log_factor(idx, b.ability_weight, b.willingness_weight)
        m = np.exp(s.log_factor[idx])
        m = np.where(s.frozen[idx], m * b.freeze_multiplier, m)
        on_plan = s.hardship_until[idx] >= 0
        self.mult[idx] = np.where(on_plan, m * b.hardship_multiplier, m).astype(np.float32)

    def _hazard_table(self, day: int) -> np.ndarray:
        b, c = self.b, self.charge_off_dpd
        month = min(day // 30, len(b.stress) - 1)
        if month in self._tables:  # the table changes only with the month's stress
            return self._tables[month]
        stress = b.stress[month]
        table = np.zeros(c + 3, np.float32)
        buckets = np.minimum((np.arange(1, c) - 1) // 30, 5)
        table[1:c] = np.asarray(b.base_hazard, np.float32)[buckets] * stress
        table[c + 1] = b.chargeoff_recovery_daily
        self._tables[month] = table
        return table

    # ---------------------------------------------------------------- contacts
    def contacted(
        self,
        name: str,
        channel: ContactSpec,
        idx: np.ndarray,
        day: int,
        hour: float,
        lane: int | np.ndarray = 0,
    ) -> int:
        """Apply connected contacts by channel ``name`` on ``idx``: lift, promises, complaints.

        ``lane`` is the attempt's number on that channel that day (per account or one for
        all); it keys the promise and complaint draws. Returns the number of complaints.
        """
        if idx.size == 0:
            return 0
        return self._touch(
            idx,
            channel.lift,
            channel.promise_probability,
            channel.complaint_probability,
            day,
            hour,
            name,
            lane,
        )

    def _touch(
        self,
        idx: np.ndarray,
        lift: float,
        promise_p: float,
        complaint_p: float,
        day: int,
        hour: float,
        name: str,
        lane: int | np.ndarray = 0,
    ) -> int:
        s, b = self.state, self.b
        raised = s.lift[idx]
        raised += np.float32(lift)
        s.lift[idx] = np.minimum(raised, np.float32(b.max_contact_lift), out=raised)
        s.recent_contacts[idx] += 1
        # The promise and complaint draws in one pass (each is its purpose's own all the same).
        purposes = []
        if promise_p > 0:
            purposes.append(f"promise:{name}")
        if complaint_p > 0:
            purposes.append(f"complaint:{name}")
        draws = self.luck.uniforms(purposes, idx, day, lane) if purposes else None
        if promise_p > 0:
            p = promise_p * np.minimum(1.0, 2.0 * s.willingness[idx])
            u = draws[0]  # the promise's
            new = idx[(u < p) & (s.promise_due[idx] < day)]
            if new.size:
                due = day + b.promise_days
                s.promise_due[new] = due
                self.promises_due[due].append(new)
                self.promises_made += new.size
        complaints = 0
        if complaint_p > 0:
            p = complaint_p * (1.0 + b.complaint_intensity * (s.recent_contacts[idx] - 1))
            u = draws[-1]  # the complaint's
            hit = u < p
            who = idx[hit]
            complaints = int(who.size)
            if complaints:
                s.complaints[who] += 1
                self.complaints += complaints
                self.ledger.complaints(complaints)
                lanes = lane[hit] if isinstance(lane, np.ndarray) else lane
                u = self.luck.uniform(f"dispute:{name}", who, day, lanes)
                disputed = who[u < b.dispute_share]
                # A dispute already running keeps its start; a new one starts now.
                new = disputed[s.disputed_until[disputed] < day]
                s.disputed_at[new] = day * 24.0 + hour
                s.disputed_until[disputed] = np.maximum(
                    s.disputed_until[disputed], day + b.dispute_days
                )
        return complaints

    def visited(self, idx: np.ndarray, day: int, hour: float) -> np.ndarray:
        """Visits performed on ``idx``; returns the mask of borrowers met."""
        s, v = self.state, self.t.visit
        s.visits[idx] += 1
        s.last_visit[idx] = day
        p_found = np.where(
            self.portfolio.address_verified[idx], v.found_verified, v.found_unverified
        )
        met = self.luck.uniform("met:visit", idx, day) < p_found
        hit = idx[met]
        s.revealed[hit] = True
        self._touch(hit, v.lift, v.promise_probability, v.complaint_probability, day, hour, "visit")
        return met

    def freeze(self, idx: np.ndarray) -> np.ndarray:
        s = self.state
        new = idx[~s.frozen[idx]]
        s.frozen[new] = True
        self.refresh(new)
        return new

    def start_hardship(self, idx: np.ndarray, day: int) -> np.ndarray:
        s = self.state
        new = idx[s.hardship_until[idx] < day]
        end = day + self.t.hardship_days - 1  # the plan covers day .. end: hardship_days days
        s.hardship_until[new] = end
        self.advancing[new] = False
        self.hardship_ends[end].append(new)
        self.refresh(new)
        return new

    def place(self, idx: np.ndarray, day: int, days: int) -> None:
        self.placed[idx] = True
        self.placed_count += idx.size
        end = day + days - 1  # placed on day .. end: ``days`` days
        self.state.placed_until[idx] = end
        self.placement_ends[end].append(idx)

    def agency_called(self, idx: np.ndarray) -> None:
        """The agency called ``idx`` today: its payment hazard applies tonight."""
        self.agency_worked[idx] = True
        self._agency_today.append(idx)

    def pause_placement(self, idx: np.ndarray) -> None:
        """A rule stops the agency on ``idx`` today (breathing space, a dispute): no agency
        hazard and no agency fee."""
        self.agency_paused[idx] = True
        self._agency_today.append(idx)

    def _release(self, idx: np.ndarray) -> None:
        """Agency placements end early when the account cures or closes (frees the slot)."""
        idx = idx[self.placed[idx]]
        if idx.size:
            self.placed[idx] = False
            self.placed_count -= idx.size
            self.state.placed_until[idx] = NEVER

    def serve_legal(self, idx: np.ndarray, day: int, hour: float) -> None:
        self.state.in_legal[idx] = True
        self._touch(idx, self.t.legal.filing_lift, 0.0, 0.0, day, hour, "legal")

    # ---------------------------------------------------------------- money
    def collect(
        self, idx: np.ndarray, amount_cents: np.ndarray, day: int, source: str = "borrower"
    ) -> None:
        """Record payments from ``source``: the borrower (the agency takes its share while the
        account is placed), a court ``judgement`` (the lawyers take theirs) or a debt ``sale``
        (no fee)."""
        s = self.state
        amount_cents = np.minimum(amount_cents, s.balance_cents[idx])
        s.balance_cents[idx] -= amount_cents
        s.collected_cents[idx] += amount_cents
        self.ledger.collect(day, amount_cents)
        if source == "borrower" and self.placed_count:
            placed = self.placed[idx] & ~self.agency_paused[idx]
            if np.count_nonzero(placed):
                share = self.t.agency.contingency_share
                self.ledger.spend("agency", float((amount_cents[placed] * share).sum()) / 100.0)
        elif source == "judgement":
            self.ledger.spend("legal", float((amount_cents * self.t.legal.share).sum()) / 100.0)
        paid_off = idx[s.balance_cents[idx] == 0]
        self._close(paid_off)

    def judgement(self, idx: np.ndarray, amount_cents: np.ndarray, day: int) -> None:
        """A court judgement pays ``amount_cents`` on ``idx``: the lawyers take their share,
        and on a delinquent account it counts against the arrears as a payment does. One
        that pays all the arrears (or more) cures; one that pays less brings dpd back 30 days
        for each whole instalment it covers (fewer than are due). Charged-off balances are
        due in full: a judgement only reduces them.

        The money arrives at the court hour; the arrears are posted that night, before the
        borrowers' own payments (:meth:`post_judgements`), so that no account changes status
        while the day's contacts and visits are under way."""
        s = self.state
        delinquent = s.status[idx] == DELINQUENT
        arrears = self.arrears_cents(idx)
        months = np.ceil(np.minimum(s.dpd[idx], self.charge_off_dpd) / 30.0).astype(np.int64)
        instalment = np.maximum(np.rint(s.balance_cents[idx] * self.b.instalment_share), 1)
        paid = np.minimum(amount_cents, s.balance_cents[idx])
        self.collect(idx, amount_cents, day, source="judgement")
        open_ = delinquent & (s.status[idx] == DELINQUENT)
        cures = open_ & (paid >= arrears)
        back = np.clip(paid // instalment.astype(np.int64), 0, np.maximum(months - 1, 0))
        partial = open_ & ~cures & (back > 0)
        self._judged.append((idx[cures], idx[partial], (30 * back[partial]).astype(np.int16)))

    def post_judgements(self, day: int) -> None:
        """Post today's judgements to the arrears of accounts still delinquent."""
        s = self.state
        for cures, partial, back in self._judged:
            moved = s.status[partial] == DELINQUENT
            s.dpd[partial[moved]] -= back[moved]
            cures = cures[s.status[cures] == DELINQUENT]
            self.cured_ever[cures] = True
            self._cure(cures, day)
        self._judged.clear()

    def write_off(self, idx: np.ndarray, amount_cents: np.ndarray) -> None:
        """Give up ``amount_cents`` of the balance (settlement or sale discount)."""
        if idx.size == 0:  # (most days: no settlement) nothing to give up or close
            return
        s = self.state
        amount_cents = np.minimum(amount_cents, s.balance_cents[idx])
        s.balance_cents[idx] -= amount_cents
        s.written_off_cents[idx] += amount_cents
        self._close(idx[s.balance_cents[idx] == 0])

    def _close(self, idx: np.ndarray) -> None:
        if idx.size == 0:  # no account paid off (most calls): nothing changes
            return
        s = self.state
        self._release(idx)
        s.status[idx] = CLOSED
        s.dpd[idx] = self.closed_index
        s.promise_due[idx] = NEVER
        self.advancing[idx] = False

    def _cure(self, idx: np.ndarray, day: int) -> None:
        s = self.state
        idx = idx[s.status[idx] == DELINQUENT]
        if idx.size == 0:  # nothing changes (small branches make many such calls)
            return
        s.status[idx] = CURRENT
        s.dpd[idx] = 0
        self.cure_day[idx] = day
        s.promise_due[idx] = NEVER
        self.advancing[idx] = False
        self._release(idx)
        unfreeze = idx[s.frozen[idx]]
        s.frozen[unfreeze] = False
        self.refresh(unfreeze)

    def arrears_cents(self, idx: np.ndarray) -> np.ndarray:
        s = self.state
        months = np.ceil(np.minimum(s.dpd[idx], self.charge_off_dpd) / 30.0)
        due = np.rint(s.balance_cents[idx] * np.minimum(1.0, months * self.b.instalment_share))
        return np.maximum(due.astype(np.int64), 1)

    def pay(self, idx: np.ndarray, day: int, force_cure: bool = False) -> None:
        """Delinquent accounts ``idx`` pay today: settle, cure or pay whole instalments.

        Arrears are state, kept as dpd (30 days per unpaid instalment): a cure pays them all;
        a partial payment pays whole instalments, at least one and fewer than are due, and
        brings the oldest unpaid one forward by 30 days each. One month in arrears, every
        payment that is not a settlement cures.
        """
        s, b = self.state, self.b
        if idx.size == 0:
            return
        ability = s.ability[idx]
        arrears = self.arrears_cents(idx)
        balance = s.balance_cents[idx]
        u = (
            keyed_uniform(self.key_amount, idx, day, 0),
            keyed_uniform(self.key_amount, idx, day, 1),
        )
        dpd = s.dpd[idx]
        settles = (dpd >= b.settlement_min_dpd) & (ability <= b.settlement_max_ability)
        if force_cure:
            settles[:] = False
        months = np.ceil(np.minimum(dpd, self.charge_off_dpd) / 30.0).astype(np.int64)
        p_cure = b.cure_share_low + (b.cure_share_high - b.cure_share_low) * ability
        cures = ~settles & ((u[0] < p_cure) | (months <= 1) | force_cure)
        partial = ~settles & ~cures
        amount = arrears.copy()
        # Settlements and part payments are rarer than cures: their steps only when there are
        # any (on a small branch each step is a numpy call's overhead for nothing).
        settling = bool(np.count_nonzero(settles))
        if settling:
            amount[settles] = np.rint(balance[settles] * b.settlement_share).astype(np.int64)
        back = idx[partial]
        if back.size:
            share = b.partial_min + (b.partial_max - b.partial_min) * u[1][partial]
            due = months[partial]
            paid = np.clip(np.floor(share * due).astype(np.int64), 1, due - 1)
            instalment = np.maximum(np.rint(balance[partial] * b.instalment_share), 1).astype(
                np.int64
            )
            amount[partial] = np.minimum(paid * instalment, arrears[partial])
        self.collect(idx, amount, day)
        if back.size:
            still = s.status[back] == DELINQUENT
            s.dpd[back[still]] -= (30 * paid[still]).astype(np.int16)
        if settling:
            settled = idx[settles & (s.status[idx] != CLOSED)]
            self.write_off(settled, s.balance_cents[settled])
        self.cured_ever[idx[cures]] = True  # includes cures that paid the balance off
        self._cure(idx[cures & (s.status[idx] == DELINQUENT)], day)

    def pay_charged_off(self, idx: np.ndarray, day: int) -> None:
        """Charged-off accounts ``idx`` pay: a settlement of what remains."""
        s = self.state
        if idx.size == 0:
            return
        amount = np.rint(s.balance_cents[idx] * self.b.settlement_share).astype(np.int64)
        self.collect(idx, np.maximum(amount, 1), day)
        rest = idx[s.status[idx] != CLOSED]
        self.write_off(rest, s.balance_cents[rest])

    def sell(self, idx: np.ndarray, day: int) -> None:
        """Sell charged-off accounts at the sale price; the rest of the balance is written off."""
        s = self.state
        price = np.rint(s.balance_cents[idx] * self.t.sale_price).astype(np.int64)
        self.collect(idx, price, day, source="sale")
        rest = idx[s.status[idx] != CLOSED]
        self.write_off(rest, s.balance_cents[rest])

    # ---------------------------------------------------------------- the day
    def end_of_day(self, day: int) -> None:
        """Payments, promises, shocks, rolls, charge-offs and re-defaults for all accounts."""
        s, b, c = self.state, self.b, self.charge_off_dpd
        if self._judged:
            self.post_judgements(day)
        self._promises(day)
        # One uniform per account per day, drawn for every account whatever its state, so that
        # two policies see the same borrower luck (common random numbers).
        u = self.rng_pay.random(s.n, dtype=np.float32, out=self._uniform)
        # Only delinquent and charged-off accounts can pay: status codes 0 and 2.
        active = ((s.status & 1) == 0).nonzero()[0]
        # take and in-place arithmetic: the same float32 products, fewer passes and arrays
        # (the methods, not np.take: the same, without a Python wrapper per call).
        h = self._hazard_table(day).take(s.dpd.take(active))
        h *= self.mult.take(active)
        lift = s.lift.take(active)
        lift += np.float32(1.0)
        h *= lift
        if self._agency_today:
            worked = self.agency_worked.take(active)
            np.add(h, np.float32(self.t.agency.daily_hazard), out=h, where=worked)
        payers = active[u.take(active) < h]
        status = s.status[payers]
        self.pay(payers[status == DELINQUENT], day)
        self.pay_charged_off(payers[status == CHARGED_OFF], day)
        s.dpd += self.advancing
        charged = (s.dpd == c).nonzero()[0]
        if charged.size:
            s.status[charged] = CHARGED_OFF
            s.dpd[charged] = self.charged_off_index
            s.chargeoff_day[charged] = day
            self.advancing[charged] = False
            self.charged_off_ever[charged] = True
        # Current accounts miss a payment again (not those that cured today). The same uniform,
        # from its other end, so that it is nearly independent of today's payment.
        redefault = (u > np.float32(1.0 - b.redefault_daily)).nonzero()[0]
        redefault = redefault[(s.status[redefault] == CURRENT) & (self.cure_day[redefault] != day)]
        if redefault.size:
            s.status[redefault] = DELINQUENT
            s.dpd[redefault] = 1
            # The cured episode joins the credit record (capped: int16).
            record = s.prior_delinquencies[redefault]
            s.prior_delinquencies[redefault] = np.minimum(record, 32_000) + 1
            self.advancing[redefault] = s.hardship_until[redefault] < day
            self.redefaults += redefault.size
        for idx in self._agency_today:
            self.agency_worked[idx] = False
            self.agency_paused[idx] = False
        self._agency_today.clear()
        self._shocks(day)
        self._expire(day)
        s.lift *= self.decay
        s.recent_contacts *= self.decay

    def _promises(self, day: int) -> None:
        s, b = self.state, self.b
        due = self.promises_due.pop(day, None)
        if not due:
            return
        idx = np.concatenate(due)
        idx = idx[(s.promise_due[idx] == day) & (s.status[idx] == DELINQUENT)]
        p_keep = b.promise_keep_base + b.promise_keep_ability * s.ability[idx]
        kept = keyed_uniform(self.key_promise, idx, day) < p_keep
        kept_count = int(np.count_nonzero(kept))
        self.promises_kept += kept_count
        self.promises_broken += kept.size - kept_count
        s.promise_due[idx] = NEVER
        self.pay(idx[kept], day, force_cure=True)
        broken = idx[~kept]
        s.willingness[broken] *= np.float32(b.broken_promise_willingness)
        self.refresh(broken)

    def _shocks(self, day: int) -> None:
        s, b = self.state, self.b
        count = self.rng_shock.binomial(s.n, b.income_shock_daily)
        if count:
            idx = np.unique(self.rng_shock.integers(0, s.n, count))
            s.ability[idx] *= np.float32(b.income_shock_ability)
            self.refresh(idx)

    def _expire(self, day: int) -> None:
        for ends, on_end in (
            (self.hardship_ends, self._end_hardship),
            (self.placement_ends, self._end_placement),
        ):
            chunks = ends.pop(day, None)
            if chunks:
                on_end(np.concatenate(chunks), day)

    def _end_hardship(self, idx: np.ndarray, day: int) -> None:
        s = self.state
        idx = idx[s.hardship_until[idx] == day]
        s.hardship_until[idx] = NEVER
        self.advancing[idx] = s.status[idx] == DELINQUENT
        self.refresh(idx)

    def _end_placement(self, idx: np.ndarray, day: int) -> None:
        s = self.state
        self._release(idx[s.placed_until[idx] == day])
