"""An independent re-check of a full audit log against the rules.

This reads only the log (and the portfolio's fixed flags), not the engine's counters, so a
bug in the engine's enforcement shows up here as a violation.
"""

from __future__ import annotations

import numpy as np

from waifang.sim.compliance import ACTION_CODE, PERFORMED
from waifang.sim.rules import ComplianceRules
from waifang.sim.spec import World
from waifang.sim.state import AccountState, Portfolio

CONTACTS = ("sms", "ivr", "call")
CALL_LIKE = ("ivr", "call")


def _per_account_day_max(account: np.ndarray, day: np.ndarray) -> int:
    if account.size == 0:
        return 0
    key = account.astype(np.int64) * 100_000 + day
    return int(np.unique(key, return_counts=True)[1].max())


def check_audit(
    log: dict[str, np.ndarray],
    rules: ComplianceRules,
    portfolio: Portfolio,
    state: AccountState | None = None,
    world: World | None = None,
) -> list[str]:
    """Every performed action in ``log`` that breaks a rule, described; empty if none."""
    done = log["outcome"] == PERFORMED
    action = log["action"]
    problems: list[str] = []

    def performed(*names: str) -> np.ndarray:
        return done & np.isin(action, [ACTION_CODE[a] for a in names])

    contact = performed(*CONTACTS)
    hour = log["hour"]
    bad = contact & ((hour < rules.contact_start_hour) | (hour >= rules.contact_end_hour))
    problems += [f"contact at hour {h:.2f}" for h in hour[bad][:5]]

    calls = performed(*CALL_LIKE)
    acc, day = log["account"][calls], log["day"][calls]
    if rules.max_attempts_per_day is not None:
        worst = _per_account_day_max(acc, day)
        if worst > rules.max_attempts_per_day:
            problems.append(f"{worst} call attempts in a day (cap {rules.max_attempts_per_day})")
    connected = calls & log["connected"]
    if rules.max_connected_per_day is not None:
        worst = _per_account_day_max(log["account"][connected], log["day"][connected])
        if worst > rules.max_connected_per_day:
            problems.append(f"{worst} connected calls in a day (cap {rules.max_connected_per_day})")
    if rules.max_attempts_per_7_days is not None and acc.size:
        order = np.lexsort((day, acc))
        a, d = acc[order], day[order]
        cap = rules.max_attempts_per_7_days
        # The attempt cap+1 places later for the same account must be at least 7 days on.
        if a.size > cap:
            same = a[cap:] == a[:-cap]
            within = d[cap:] - d[:-cap] < 7
            if np.any(same & within):
                problems.append(f"more than {cap} call attempts within 7 days")
    if rules.quiet_days_after_conversation:
        talked = performed("call") & log["connected"]
        t_acc, t_day = log["account"][talked], log["day"][talked]
        c_acc, c_day = log["account"][performed("call")], log["day"][performed("call")]
        last_talk: dict[int, list[int]] = {}
        for a, d in zip(t_acc.tolist(), t_day.tolist(), strict=True):
            last_talk.setdefault(a, []).append(d)
        for a, d in zip(c_acc.tolist(), c_day.tolist(), strict=True):
            if any(0 < d - t <= rules.quiet_days_after_conversation for t in last_talk.get(a, ())):
                problems.append(f"call to account index {a} on day {d} inside the quiet period")
                break

    visits = performed("visit")
    v_acc, v_day = log["account"][visits], log["day"][visits]
    v_start, v_end = hour[visits], log["until"][visits]
    if np.any((v_start < rules.visit_start_hour) | (v_end > rules.visit_end_hour + 1e-6)):
        problems.append("visit outside the allowed hours")
    if np.any(log["dpd"][visits] < rules.visit_min_dpd):
        problems.append(f"visit below {rules.visit_min_dpd} dpd")
    flags = log["flags"][visits]
    if rules.no_visit_vulnerable and np.any(portfolio.vulnerable[v_acc]):
        problems.append("visit to a vulnerable borrower")
    if rules.no_visit_disputed and np.any(flags & 1):
        problems.append("visit to a disputed account")
    if (rules.no_visit_hardship or rules.no_contact_hardship) and np.any(flags & 2):
        problems.append("visit during a hardship plan")
    if v_acc.size > 1:
        order = np.lexsort((v_day, v_acc))
        a, d = v_acc[order], v_day[order]
        same = a[1:] == a[:-1]
        if np.any(same & (d[1:] - d[:-1] < rules.visit_min_gap_days)):
            problems.append(f"two visits to one account within {rules.visit_min_gap_days} days")
    if rules.no_contact_hardship and np.any(log["flags"][contact] & 2):
        problems.append("contact during a hardship plan / breathing space")
    if np.any(performed("third_party")):
        problems.append("third-party contact performed")
    if (
        world is not None
        and rules.vetted_agencies_only
        and not world.resources.agency_vetted
        and np.any(performed("agency"))
    ):
        problems.append("placement with an unvetted agency")
    return problems
