"""An independent re-check of a full audit log against the rules.

This reads only the log (and the portfolio's fixed flags), not the engine's counters, so a
bug in the engine's enforcement shows up here as a breach.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from waifang.sim.compliance import ACTION_CODE, PERFORMED
from waifang.sim.rules import ComplianceRules
from waifang.sim.spec import World
from waifang.sim.state import Portfolio

CONTACTS = ("sms", "ivr", "call", "agency_contact")
CALL_LIKE = ("ivr", "call", "agency_contact")  # count toward the caps, lender's or agency's
CONVERSATIONS = ("call", "agency_contact")  # a connected one starts the quiet period


class Breach(NamedTuple):
    """Performed actions that break one rule."""

    rule: str
    count: int
    example: str


def _counts_per_account_day(account: np.ndarray, day: np.ndarray) -> np.ndarray:
    if account.size == 0:
        return np.zeros(0, np.int64)
    key = account.astype(np.int64) * 100_000 + day
    return np.unique(key, return_counts=True)[1]


def check_audit(
    log: dict[str, np.ndarray],
    rules: ComplianceRules,
    portfolio: Portfolio,
    world: World | None = None,
) -> list[Breach]:
    """Every rule that performed actions in ``log`` break, with how many; empty if none."""
    done = log["outcome"] == PERFORMED
    action = log["action"]
    breaches: list[Breach] = []

    def performed(*names: str) -> np.ndarray:
        return done & np.isin(action, [ACTION_CODE[a] for a in names])

    def report(rule: str, bad: np.ndarray | int, example: str) -> None:
        count = int(np.count_nonzero(bad)) if isinstance(bad, np.ndarray) else int(bad)
        if count:
            breaches.append(Breach(rule, count, example))

    hour, until = log["hour"], log["until"]
    contact = performed(*CONTACTS)
    slot = until > hour  # an agent's hour slot: it must end within the hours too
    outside = (hour < rules.contact_start_hour) | np.where(
        slot, until > rules.contact_end_hour, hour >= rules.contact_end_hour
    )
    report("contact_hours", contact & outside, "contact outside the allowed hours")

    calls = performed(*CALL_LIKE)
    acc, day = log["account"][calls], log["day"][calls]
    if rules.max_attempts_per_day is not None:
        per_day = _counts_per_account_day(acc, day)
        report(
            "attempts_per_day",
            np.maximum(per_day - rules.max_attempts_per_day, 0).sum(),
            f"more than {rules.max_attempts_per_day} call attempts in a day",
        )
    connected = calls & log["connected"]
    if rules.max_connected_per_day is not None:
        per_day = _counts_per_account_day(log["account"][connected], log["day"][connected])
        report(
            "connected_per_day",
            np.maximum(per_day - rules.max_connected_per_day, 0).sum(),
            f"more than {rules.max_connected_per_day} connected calls in a day",
        )
    cap = rules.max_attempts_per_7_days
    if cap is not None and acc.size > cap:
        order = np.lexsort((day, acc))
        a, d = acc[order], day[order]
        # The attempt cap places later for the same account must be at least 7 days on.
        report(
            "attempts_per_7_days",
            (a[cap:] == a[:-cap]) & (d[cap:] - d[:-cap] < 7),
            f"more than {cap} call attempts within 7 days",
        )
    if rules.quiet_days_after_conversation is not None:
        report(
            "quiet_after_conversation",
            _quiet_breaches(log, performed(*CALL_LIKE), rules.quiet_days_after_conversation),
            "a call inside the quiet period after a conversation",
        )

    visits = performed("visit")
    v_acc, v_day = log["account"][visits], log["day"][visits]
    report(
        "visit_hours",
        (hour[visits] < rules.visit_start_hour) | (until[visits] > rules.visit_end_hour + 1e-6),
        "visit outside the allowed hours",
    )
    report(
        "visit_min_dpd",
        log["dpd"][visits] < rules.visit_min_dpd,
        f"visit below {rules.visit_min_dpd} dpd",
    )
    flags = log["flags"][visits]
    if rules.no_visit_vulnerable:
        report("visit_vulnerable", portfolio.vulnerable[v_acc], "visit to a vulnerable borrower")
    if rules.no_visit_disputed:
        report("visit_disputed", (flags & 1) > 0, "visit to a disputed account")
    if rules.no_visit_hardship or rules.no_contact_hardship:
        report("visit_hardship", (flags & 2) > 0, "visit during a hardship plan")
    if v_acc.size > 1:
        order = np.lexsort((v_day, v_acc))
        a, d = v_acc[order], v_day[order]
        report(
            "visit_gap",
            (a[1:] == a[:-1]) & (d[1:] - d[:-1] < rules.visit_min_gap_days),
            f"two visits to one account within {rules.visit_min_gap_days} days",
        )
    # A visit whose collectors were not recorded cannot be shown to have had enough.
    collectors = log["collectors"][visits] if "collectors" in log else np.zeros(v_acc.size)
    report(
        "visit_collectors",
        collectors < rules.min_collectors_per_visit,
        f"visit by fewer than {rules.min_collectors_per_visit} collectors",
    )
    if rules.first_visit_notice_days:
        report(
            "visit_notice",
            _notice_breaches(log, visits, rules.first_visit_notice_days),
            f"first visit without {rules.first_visit_notice_days} days' written notice",
        )
    all_flags = log["flags"]
    if rules.no_contact_hardship:
        reach = performed(*CONTACTS, "legal", "agency")
        report(
            "no_contact_hardship",
            reach & ((all_flags & 2) > 0),
            "contact or escalation during breathing space",
        )
    legal = performed("legal")
    if rules.no_legal_disputed:
        report("legal_disputed", legal & ((all_flags & 1) > 0), "legal filing on a disputed debt")
    if rules.no_legal_vulnerable:
        report(
            "legal_vulnerable",
            legal & ((all_flags & 4) > 0),
            "legal filing against a vulnerable borrower",
        )
    if rules.no_agency_disputed:
        report(
            "agency_disputed",
            performed("agency", "agency_contact") & ((all_flags & 1) > 0),
            "agency placement or call on a disputed debt",
        )
    report("third_party", performed("third_party"), "third-party contact performed")
    if world is not None and rules.vetted_agencies_only and not world.resources.agency_vetted:
        report(
            "unvetted_agency",
            performed("agency", "agency_contact"),
            "placement with or call by an unvetted agency",
        )
    return breaches


def _notice_breaches(log: dict[str, np.ndarray], visits: np.ndarray, notice_days: int) -> int:
    """First visits to an account (in the log) without a notice logged ``notice_days`` before.

    Accounts start the run never visited (the tape has no visit history), so an account's
    first performed visit in the log is its first visit.
    """
    v_acc, v_day = log["account"][visits], log["day"][visits]
    if v_acc.size == 0:
        return 0
    order = np.lexsort((v_day, v_acc))
    v_acc, v_day = v_acc[order], v_day[order]
    first = np.ones(v_acc.size, bool)
    first[1:] = v_acc[1:] != v_acc[:-1]
    v_acc, v_day = v_acc[first], v_day[first]
    notices = (log["outcome"] == PERFORMED) & (log["action"] == ACTION_CODE["visit_notice"])
    n_acc, n_day = log["account"][notices], log["day"][notices]
    # The earliest notice per account.
    order = np.lexsort((n_day, n_acc))
    n_acc, n_day = n_acc[order], n_day[order]
    keep = np.ones(n_acc.size, bool)
    keep[1:] = n_acc[1:] != n_acc[:-1]
    n_acc, n_day = n_acc[keep], n_day[keep]
    if n_acc.size == 0:
        return int(v_acc.size)
    where = np.minimum(np.searchsorted(n_acc, v_acc), n_acc.size - 1)
    sent = np.where(n_acc[where] == v_acc, n_day[where], np.inf)
    return int(np.count_nonzero(v_day - sent < notice_days))


def _quiet_breaches(log: dict[str, np.ndarray], calls: np.ndarray, quiet_days: int) -> int:
    """Calls (lender's or agency's) made after a conversation, later that day or within
    ``quiet_days`` days. A connected IVR message is not a conversation."""
    account, day, hour = log["account"][calls], log["day"][calls], log["hour"][calls]
    talked = log["connected"][calls] & np.isin(
        log["action"][calls], [ACTION_CODE[a] for a in CONVERSATIONS]
    )
    # Sort each account's calls in time; carry the time of its latest conversation forward.
    clock = day * 24.0 + hour
    order = np.lexsort((clock, account))
    account, day, clock, talked = account[order], day[order], clock[order], talked[order]
    count = 0
    last_account, last_talk = -1, -np.inf
    for a, d, t, was_talk in zip(
        account.tolist(), day.tolist(), clock.tolist(), talked.tolist(), strict=True
    ):
        if a != last_account:
            last_account, last_talk = a, -np.inf
        if last_talk < t and d - np.floor(last_talk / 24.0) <= quiet_days:
            count += 1
        if was_talk:
            last_talk = t
    return count
