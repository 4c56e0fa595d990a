"""Enforcing the compliance rules before any action, and the audit trail of every action.

:class:`Compliance` holds the per-account counters the rules need (attempts today, connected
calls today, a 7-day window, the last conversation) and answers, for a batch of accounts and
a time of day, which of them may be contacted or visited. Whatever it refuses is counted under
the rule that refused it and written to the :class:`AuditLog`; nothing refused is performed.
"""

from __future__ import annotations

import numpy as np

from waifang.sim.rules import RULES, ComplianceRules
from waifang.sim.spec import TREATMENTS
from waifang.sim.state import NEVER, AccountState, Portfolio

ACTIONS: tuple[str, ...] = (*TREATMENTS, "agency_contact", "visit_notice")
"""Actions in the audit log: what a policy may ask for, then what the engine does on its own
account: an agency's call to a placed borrower, and the written notice before a first visit."""
RULE_CODE = {name: code for code, name in enumerate(RULES, start=1)}
ACTION_CODE = {name: code for code, name in enumerate(ACTIONS)}
PERFORMED = 0
CALL_LIKE = ("call", "ivr", "agency_contact")
"""Attempts that count toward the call caps, whoever makes them (lender or agency)."""


class AuditLog:
    """Every action asked for, performed or blocked.

    ``counts[day, action, outcome]`` is always kept (outcome 0 = performed, k = blocked by
    ``RULES[k - 1]``). With ``full=True`` one record per action is kept as well, with what an
    auditor needs to re-check it: the hour it started and ended, whether a call connected, the
    account's dpd and its flags (1 disputed, 2 hardship plan, 4 vulnerable) at that moment, and
    for a visit the number of collectors sent.
    :mod:`waifang.sim.audit` re-reads it independently of the engine.
    """

    COLUMNS = (
        "account",
        "day",
        "hour",
        "until",
        "action",
        "outcome",
        "connected",
        "dpd",
        "flags",
        "collectors",
    )

    def __init__(self, days: int, full: bool) -> None:
        self.counts = np.zeros((days, len(ACTIONS), len(RULES) + 1), dtype=np.int64)
        self.full = full
        self._chunks: list[dict[str, np.ndarray]] = []
        self.state: AccountState | None = None
        self.portfolio: Portfolio | None = None

    def watch(self, state: AccountState, portfolio: Portfolio) -> None:
        """Where the full log reads dpd and flags from."""
        self.state, self.portfolio = state, portfolio

    def record(
        self,
        day: int,
        action: str,
        idx: np.ndarray,
        hour: float | np.ndarray,
        outcome: np.ndarray | None,
        *,
        until: float | np.ndarray | None = None,
        connected: np.ndarray | None = None,
        collectors: int = 0,
    ) -> None:
        """Log actions on accounts ``idx`` at ``hour`` of ``day`` with their outcome codes
        (``None``: all performed, outcome 0)."""
        if idx.size == 0:
            return
        code = ACTION_CODE[action]
        if outcome is None:
            self.counts[day, code, PERFORMED] += idx.size
        else:
            self.counts[day, code] += np.bincount(outcome, minlength=len(RULES) + 1)
        if not self.full:
            return
        if outcome is None:
            outcome = np.zeros(idx.size, np.int8)
        n = idx.size
        state, portfolio = self.state, self.portfolio
        assert state is not None and portfolio is not None
        # Disputed at the moment the action began (a dispute can start during the day).
        began = day * 24.0 + np.asarray(hour, dtype=np.float64)
        disputed = (state.disputed_until[idx] >= day) & (state.disputed_at[idx] <= began)
        flags = (
            disputed.astype(np.int8)
            | ((state.hardship_until[idx] >= day).astype(np.int8) << 1)
            | (portfolio.vulnerable[idx].astype(np.int8) << 2)
        )
        hours = np.broadcast_to(np.asarray(hour, dtype=np.float32), (n,))
        self._chunks.append(
            {
                "account": idx.astype(np.int64),
                "day": np.full(n, day, np.int32),
                "hour": hours.copy(),
                "until": np.broadcast_to(
                    np.asarray(hours if until is None else until, dtype=np.float32), (n,)
                ).copy(),
                "action": np.full(n, code, np.int8),
                "outcome": outcome.astype(np.int8),
                "connected": np.zeros(n, bool) if connected is None else connected.astype(bool),
                "dpd": state.dpd[idx].astype(np.int16),
                "flags": flags.astype(np.int8),
                "collectors": np.full(n, collectors, np.int8),
            }
        )

    def record_blocked(
        self, day: int, action: str, idx: np.ndarray, hour: float, rule: str
    ) -> None:
        self.record(day, action, idx, hour, np.full(idx.size, RULE_CODE[rule], dtype=np.int8))

    def records(self) -> dict[str, np.ndarray]:
        """The full log as columns (see :attr:`COLUMNS`)."""
        if not self._chunks:
            return {
                "account": np.zeros(0, np.int64),
                "day": np.zeros(0, np.int32),
                "hour": np.zeros(0, np.float32),
                "until": np.zeros(0, np.float32),
                "action": np.zeros(0, np.int8),
                "outcome": np.zeros(0, np.int8),
                "connected": np.zeros(0, bool),
                "dpd": np.zeros(0, np.int16),
                "flags": np.zeros(0, np.int8),
                "collectors": np.zeros(0, np.int8),
            }
        return {c: np.concatenate([chunk[c] for chunk in self._chunks]) for c in self.COLUMNS}

    def blocked_by_rule(self) -> dict[str, int]:
        totals = self.counts.sum(axis=(0, 1))
        return {rule: int(totals[code]) for rule, code in RULE_CODE.items()}


class Compliance:
    """The rules of one run and the counters they need.

    Each ``allow_*`` method refuses (and logs, under the first rule that refuses) what the
    rules forbid and returns what may go ahead; the caller performs exactly that and no more.
    Each performed action is then re-checked by a ``post_check_*`` method, written apart from
    the refusals and read from the state as the action happens: whatever it finds performed
    against a rule is counted in :attr:`breaches` (always 0 unless the engine is wrong), so
    the default audit mode makes every check its "0 performed in breach" claims.
    """

    def __init__(self, rules: ComplianceRules, n: int, audit: AuditLog) -> None:
        self.rules = rules
        self.audit = audit
        self.attempts_today = np.zeros(n, np.int16)
        self.connected_today = np.zeros(n, np.int16)
        self.last_conversation = np.full(n, -np.inf)  # clock hours of the last conversation
        self.window = (
            np.zeros((7, n), np.int8) if rules.max_attempts_per_7_days is not None else None
        )
        self.day = 0
        self.breaches = 0  # actions found performed against a rule by the post-checks
        self.breaches_by_rule: dict[str, int] = {}

    def new_day(self, day: int) -> None:
        self.day = day
        self.attempts_today[:] = 0
        self.connected_today[:] = 0
        if self.window is not None:
            self.window[day % 7] = 0

    # ------------------------------------------------------------------ contacts
    def contact_refusals(
        self,
        action: str,
        idx: np.ndarray,
        hour: float,
        state: AccountState,
        until: float | None = None,
    ) -> np.ndarray:
        """Code of the first rule refusing one ``action`` attempt on each of ``idx`` (0: may
        go ahead), without logging anything."""
        rules, day = self.rules, self.day
        if not in_contact_hours(hour, until, rules):
            return np.full(idx.size, RULE_CODE["contact_hours"], np.int8)
        checks: list[tuple[str, np.ndarray]] = []
        if rules.no_contact_hardship:
            checks.append(("no_contact_hardship", state.hardship_until[idx] >= day))
        if action == "agency_contact" and rules.no_agency_disputed:
            checks.append(("agency_disputed", state.disputed_until[idx] >= day))
        if action in CALL_LIKE:
            if rules.max_attempts_per_day is not None:
                checks.append(
                    ("attempts_per_day", self.attempts_today[idx] >= rules.max_attempts_per_day)
                )
            if rules.max_connected_per_day is not None:
                checks.append(
                    ("connected_per_day", self.connected_today[idx] >= rules.max_connected_per_day)
                )
            if self.window is not None:
                week = np.add.reduce(self.window[:, idx], axis=0, dtype=np.int32)  # sum, no wrapper
                checks.append(("attempts_per_7_days", week >= rules.max_attempts_per_7_days))
            if rules.quiet_days_after_conversation is not None:
                # Days since the conversation's day; 0 is later on that same day.
                since = day - np.floor(self.last_conversation[idx] / 24.0)
                checks.append(
                    ("quiet_after_conversation", since <= rules.quiet_days_after_conversation)
                )
        return _first_refusal(idx.size, checks)

    def allow_contact(
        self,
        action: str,
        idx: np.ndarray,
        hour: float,
        state: AccountState,
        until: float | None = None,
    ) -> np.ndarray:
        """The subset of ``idx`` that may receive one ``action`` attempt at ``hour`` today.

        ``until`` is when the contact may last to (an agent's hour slot); it must also fall
        within the contact hours. Refused attempts are counted and logged here; the caller
        performs only what is returned and then calls :meth:`record_attempts`.
        """
        codes = self.contact_refusals(action, idx, hour, state, until)
        refused = codes > 0
        if np.count_nonzero(refused):
            self.audit.record(self.day, action, idx[refused], hour, codes[refused])
            return idx[~refused]
        return idx

    def _allowed(
        self, action: str, idx: np.ndarray, hour: float, checks: list[tuple[str, np.ndarray]]
    ) -> np.ndarray:
        """Mask over ``idx`` of actions no rule refuses; the refused ones are logged."""
        if not checks:
            return np.ones(idx.size, bool)
        blocked_by = _first_refusal(idx.size, checks)
        refused_any = blocked_by > 0
        if np.count_nonzero(refused_any):
            self.audit.record(self.day, action, idx[refused_any], hour, blocked_by[refused_any])
        return ~refused_any

    def record_attempts(
        self,
        action: str,
        idx: np.ndarray,
        connected: np.ndarray,
        hour: float,
        until: float | None = None,
        state: AccountState | None = None,
    ) -> None:
        """Count performed attempts (and connections), log them as performed, and re-check
        them against every contact rule (see :meth:`post_check_contacts`)."""
        self.audit.record(self.day, action, idx, hour, None, until=until, connected=connected)
        if state is not None:
            self.post_check_contacts(action, idx, hour, until, state)
        if action not in CALL_LIKE:
            return
        self.attempts_today[idx] += 1
        if self.window is not None:
            self.window[self.day % 7, idx] += 1
        hit = idx.compress(connected)  # as idx[connected], faster on a mixed mask
        self.connected_today[hit] += 1
        if action != "ivr":  # a conversation with an agent, the lender's or the agency's
            self.last_conversation[hit] = self.day * 24.0 + hour
        # Post-check: a performed attempt must leave every counter within its cap.
        rules = self.rules
        if rules.max_attempts_per_day is not None:
            self._breach("attempts_per_day", self.attempts_today[idx] > rules.max_attempts_per_day)
        if rules.max_connected_per_day is not None:
            self._breach(
                "connected_per_day", self.connected_today[hit] > rules.max_connected_per_day
            )
        if self.window is not None:
            week = np.add.reduce(self.window[:, idx], axis=0, dtype=np.int32)  # sum, no wrapper
            self._breach("attempts_per_7_days", week > rules.max_attempts_per_7_days)

    def post_check_contacts(
        self,
        action: str,
        idx: np.ndarray,
        hour: float,
        until: float | None,
        state: AccountState,
    ) -> None:
        """Count performed contacts that break the hours, breathing space, a dispute (agency)
        or the quiet period; called before the attempts update the counters."""
        rules, day = self.rules, self.day
        late = hour >= rules.contact_end_hour if until is None else until > rules.contact_end_hour
        if hour < rules.contact_start_hour or late:
            self._breach("contact_hours", np.ones(idx.size, bool))
        if rules.no_contact_hardship:
            self._breach("no_contact_hardship", state.hardship_until[idx] >= day)
        if action == "agency_contact" and rules.no_agency_disputed:
            self._breach("agency_disputed", state.disputed_until[idx] >= day)
        quiet = rules.quiet_days_after_conversation
        if action in CALL_LIKE and quiet is not None:
            last_day = np.floor(self.last_conversation[idx] / 24.0)
            self._breach("quiet_after_conversation", last_day >= day - quiet)

    def _breach(self, rule: str, bad: np.ndarray) -> None:
        self.count_breaches(rule, int(np.count_nonzero(bad)))

    def count_breaches(self, rule: str, count: int) -> None:
        """Add ``count`` actions performed against ``rule``."""
        if count:
            self.breaches += count
            self.breaches_by_rule[rule] = self.breaches_by_rule.get(rule, 0) + count

    # ------------------------------------------------------------------ visits
    def allow_visit(
        self,
        idx: np.ndarray,
        start_hour: np.ndarray | float,
        end_hour: np.ndarray | float,
        state: AccountState,
        portfolio: Portfolio,
        collectors: int,
        *,
        at_request: bool = False,
    ) -> np.ndarray:
        """Boolean mask over ``idx``: may a visit run from ``start_hour`` to ``end_hour``?

        At request time (``at_request``) the hours are not known yet and are not checked; the
        field team checks them again, with everything else, when it is about to start.
        """
        rules, day = self.rules, self.day
        hours_ok = (np.asarray(start_hour) >= rules.visit_start_hour) & (
            np.asarray(end_hour) <= rules.visit_end_hour
        )
        checks: list[tuple[str, np.ndarray]] = []
        if not at_request:
            checks.append(("visit_hours", ~np.broadcast_to(hours_ok, idx.shape)))
        checks.append(("visit_min_dpd", state.dpd[idx] < rules.visit_min_dpd))
        checks.append(("visit_gap", day - state.last_visit[idx] < rules.visit_min_gap_days))
        if rules.no_visit_vulnerable:
            checks.append(("visit_vulnerable", portfolio.vulnerable[idx]))
        if rules.no_visit_disputed:
            checks.append(("visit_disputed", state.disputed_until[idx] >= day))
        if rules.no_visit_hardship or rules.no_contact_hardship:
            checks.append(("visit_hardship", state.hardship_until[idx] >= day))
        if collectors < rules.min_collectors_per_visit:
            checks.append(("visit_collectors", np.ones(idx.size, bool)))
        if rules.first_visit_notice_days:
            # A first visit needs notice: send it now if none was sent, and wait the period.
            never = state.visit_notice[idx] == NEVER
            noticed = idx[never & (state.visits[idx] == 0)]
            if noticed.size:
                state.visit_notice[noticed] = day
                self.audit.record(
                    day, "visit_notice", noticed, 0.0, None
                )
            waiting = (state.visits[idx] == 0) & (
                day - state.visit_notice[idx] < rules.first_visit_notice_days
            )
            checks.append(("visit_notice", waiting))
        hour = float(np.min(start_hour)) if np.size(start_hour) else 0.0
        return self._allowed("visit", idx, hour, checks)

    def block_all(self, action: str, idx: np.ndarray, hour: float, rule: str) -> None:
        self.audit.record_blocked(self.day, action, idx, hour, rule)

    def post_check_visits(
        self,
        idx: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        state: AccountState,
        portfolio: Portfolio,
        collectors: int,
    ) -> None:
        """Count performed visits that break a rule (must stay 0); called just before the
        visits take effect, so the last-visit day is still the previous one."""
        rules, day = self.rules, self.day
        self._breach("visit_hours", (start < rules.visit_start_hour) | (end > rules.visit_end_hour))
        self._breach("visit_min_dpd", state.dpd[idx] < rules.visit_min_dpd)
        self._breach("visit_gap", day - state.last_visit[idx] < rules.visit_min_gap_days)
        if rules.no_visit_vulnerable:
            self._breach("visit_vulnerable", portfolio.vulnerable[idx])
        if rules.no_visit_disputed:
            began = day * 24.0 + start
            self._breach(
                "visit_disputed",
                (state.disputed_until[idx] >= day) & (state.disputed_at[idx] <= began),
            )
        if rules.no_visit_hardship or rules.no_contact_hardship:
            self._breach("visit_hardship", state.hardship_until[idx] >= day)
        if collectors < rules.min_collectors_per_visit:
            self._breach("visit_collectors", np.ones(idx.size, bool))
        if rules.first_visit_notice_days:
            first = state.visits[idx] == 0
            noticed = (state.visit_notice[idx] != NEVER) & (
                day - state.visit_notice[idx] >= rules.first_visit_notice_days
            )
            self._breach("visit_notice", first & ~noticed)

    # ------------------------------------------------------------------ escalation
    def escalation_checks(
        self, action: str, idx: np.ndarray, state: AccountState, portfolio: Portfolio
    ) -> list[tuple[str, np.ndarray]]:
        """The rules a legal filing or an agency placement must pass, as (rule, refused)."""
        rules, day = self.rules, self.day
        checks: list[tuple[str, np.ndarray]] = []
        if rules.no_contact_hardship:
            checks.append(("no_contact_hardship", state.hardship_until[idx] >= day))
        if action == "legal":
            if rules.no_legal_disputed:
                checks.append(("legal_disputed", state.disputed_until[idx] >= day))
            if rules.no_legal_vulnerable:
                checks.append(("legal_vulnerable", portfolio.vulnerable[idx]))
        elif action == "agency" and rules.no_agency_disputed:
            checks.append(("agency_disputed", state.disputed_until[idx] >= day))
        return checks

    def allow_escalation(
        self,
        action: str,
        idx: np.ndarray,
        hour: float,
        state: AccountState,
        portfolio: Portfolio,
    ) -> np.ndarray:
        """The accounts of ``idx`` that may be taken to court or placed with an agency now:
        not in breathing space (if contact stops then), not disputed, not vulnerable (legal,
        where the rules say so). The refused ones are logged."""
        checks = self.escalation_checks(action, idx, state, portfolio)
        return idx[self._allowed(action, idx, hour, checks)]

    def post_check_escalation(
        self, action: str, idx: np.ndarray, state: AccountState, portfolio: Portfolio
    ) -> None:
        """Count filings or placements performed against a rule (must stay 0)."""
        rules, day = self.rules, self.day
        if rules.no_contact_hardship:
            self._breach("no_contact_hardship", state.hardship_until[idx] >= day)
        disputed = state.disputed_until[idx] >= day
        if action == "legal":
            if rules.no_legal_disputed:
                self._breach("legal_disputed", disputed)
            if rules.no_legal_vulnerable:
                self._breach("legal_vulnerable", portfolio.vulnerable[idx])
        elif rules.no_agency_disputed:
            self._breach("agency_disputed", disputed)


def _first_refusal(n: int, checks: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Per action, the code of the first rule in ``checks`` that refuses it (0: none)."""
    blocked_by = np.zeros(n, np.int8)
    for rule, refused in checks:
        # np.count_nonzero rather than refused.any(): the same answer, without the Python
        # wrapper that makes .any() cost ~1.5 us on a small array (branches run many).
        if not np.count_nonzero(refused):  # nothing to mark (the common case): skip the passes
            continue
        # The first rule that refuses an action is the one it is counted under.
        blocked_by[(blocked_by == 0) & refused] = RULE_CODE[rule]
    return blocked_by


def in_contact_hours(hour: float, until: float | None, rules: ComplianceRules) -> bool:
    """Whether a contact at ``hour`` (lasting to ``until``, if given) is within the hours."""
    if hour < rules.contact_start_hour:
        return False
    if until is not None and until > hour:
        return until <= rules.contact_end_hour
    return hour < rules.contact_end_hour
