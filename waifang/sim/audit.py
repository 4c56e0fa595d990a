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

CONTACTS = ("sms", "ivr", "call")
CALL_LIKE = ("ivr", "call")


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
            _quiet_breaches(log, performed("call"), rules.quiet_days_after_conversation),
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
    if rules.no_contact_hardship:
        reach = performed(*CONTACTS, "legal", "agency")
        report(
            "no_contact_hardship",
            reach & ((log["flags"] & 2) > 0),
            "contact or escalation during breathing space",
        )
    report("third_party", performed("third_party"), "third-party contact performed")
    if world is not None and rules.vetted_agencies_only and not world.resources.agency_vetted:
        report("unvetted_agency", performed("agency"), "placement with an unvetted agency")
    return breaches


def _quiet_breaches(log: dict[str, np.ndarray], calls: np.ndarray, quiet_days: int) -> int:
    """Calls made after a conversation, later that day or within ``quiet_days`` days."""
    account, day, hour = log["account"][calls], log["day"][calls], log["hour"][calls]
    talked = log["connected"][calls]
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
