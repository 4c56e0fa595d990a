"""Which accounts the rules would let a lender ask a visit for today, without asking.

A planner (the optimised policy, the candidates table) must leave out every account the
engine would refuse. It asks the engine's own request-time check,
:meth:`waifang.sim.compliance.Compliance.allow_visit` with ``at_request=True``, on copies of
what the lender sees, so nothing is logged, no notice is sent and the run is not touched. The
rules are therefore written once, in :mod:`waifang.sim.compliance`.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from waifang.sim.compliance import AuditLog, Compliance
from waifang.sim.rules import ComplianceRules
from waifang.sim.state import DELINQUENT, LenderView

_VISIT_STATE = ("dpd", "last_visit", "disputed_until", "hardship_until", "visits", "visit_notice")


def visit_allowed(
    rules: ComplianceRules,
    view: LenderView,
    idx: np.ndarray,
    day: int,
    collectors: np.ndarray,
    ahead: int = 0,
) -> np.ndarray:
    """Mask over ``idx``: would a visit request on ``day`` pass the rules' request-time check?

    ``collectors`` is the number of collectors the account's region sends (per account).
    Only delinquent accounts not already waiting for a team can be asked for at all.

    With ``ahead`` > 0 the question is asked of day ``day + ahead`` on one assumed path: the
    account pays nothing meanwhile (its dpd grows by ``ahead``) and nothing else the rules
    look at changes (no visit, dispute or hardship plan starts). A planner uses it to see who
    could be visited in a later week.

    Examples
    --------
    >>> import numpy as np
    >>> from waifang.sim import PortfolioSpec, World, resolve_rules
    >>> from waifang.sim.portfolio import generate_portfolio
    >>> from waifang.sim.state import AccountState, LenderView
    >>> p = generate_portfolio(PortfolioSpec(accounts=50), ("a",), np.random.default_rng(1))
    >>> view = LenderView(p, AccountState.from_portfolio(p, 2.0, 2.5))
    >>> rules, _ = resolve_rules("cn")
    >>> ok = visit_allowed(rules, view, np.arange(50), 0, np.full(50, 2))
    >>> bool((view.dpd[ok] >= 90).all()), bool((view.vulnerable[ok] == False).all())
    (True, True)
    """
    idx = np.asarray(idx, dtype=np.int64)
    collectors = np.asarray(collectors)
    ok = (view.status[idx] == DELINQUENT) & ~view.visit_queued[idx]
    local = SimpleNamespace(**{name: getattr(view, name)[idx].copy() for name in _VISIT_STATE})
    if ahead:
        local.dpd = local.dpd.astype(np.int64) + ahead
    portfolio = SimpleNamespace(vulnerable=view.vulnerable[idx])
    check = Compliance(rules, 0, AuditLog(day + ahead + 1, full=False))
    check.day = day + ahead
    for c in np.unique(collectors):
        part = np.flatnonzero(collectors == c)
        ok[part] &= check.allow_visit(part, 0.0, 0.0, local, portfolio, int(c), at_request=True)
    return ok


def escalation_allowed(
    rules: ComplianceRules,
    view: LenderView,
    idx: np.ndarray,
    day: int,
    action: str,
    agency_vetted: bool = True,
) -> np.ndarray:
    """Mask over ``idx``: would a legal filing or an agency placement (``action``) asked for on
    ``day`` pass the rules, by the engine's own checks
    (:meth:`waifang.sim.compliance.Compliance.escalation_checks`)?

    Only delinquent accounts not already in a case (legal) or placed (agency) can be asked
    for; an unvetted agency refuses everyone where the rules demand vetted agencies.
    """
    if action not in ("legal", "agency"):
        raise ValueError(f"action must be 'legal' or 'agency', got {action!r}")
    idx = np.asarray(idx, dtype=np.int64)
    ok = view.status[idx] == DELINQUENT
    if action == "legal":
        ok &= ~view.in_legal[idx]
    else:
        ok &= view.placed_until[idx] < day
        if rules.vetted_agencies_only and not agency_vetted:
            ok[:] = False
    local = SimpleNamespace(hardship_until=view.hardship_until[idx],
                            disputed_until=view.disputed_until[idx])
    portfolio = SimpleNamespace(vulnerable=view.vulnerable[idx])
    check = Compliance(rules, 0, AuditLog(day + 1, full=False))
    check.day = day
    for _, refused in check.escalation_checks(action, np.arange(idx.size), local, portfolio):
        ok &= ~refused
    return ok
