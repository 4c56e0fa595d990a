"""Money and time, exactly: every cost line of a small book recomputed from the audit log and
the collections as they happened, ``net_npv`` from our own discounting of the daily ledger,
and the terminal value at every bucket edge.

The recomputations below read only what happened (the full audit log, each collection with
its source and the day it happened, each account's status at the end of each day) and the
model as the README and the spec docstrings state it; none of them calls the ledger.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import flat_portfolio

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.behaviour import Borrowers
from waifang.sim.compliance import ACTION_CODE
from waifang.sim.engine import simulate, terminal_value_cents
from waifang.sim.spec import (
    AgencySpec,
    BehaviourSpec,
    CallCentreSpec,
    ContactSpec,
    EconomicsSpec,
    LegalSpec,
    RegionSpec,
    ResourcesSpec,
    Shift,
    TreatmentsSpec,
)
from waifang.sim.state import CHARGED_OFF, CLOSED, CURRENT, DELINQUENT, AccountState

CHARGE_OFF = 120
DAYS = 110
PLACEMENT_DAYS = 20
UNIT = {"sms": 0.07, "ivr": 0.31, "call": 2.9, "freeze": 1.25, "hardship": 17.0}
VISIT_COST = {"near": 310.0, "far": 455.5}
LEGAL_FEE, LEGAL_SHARE, AGENCY_SHARE, COMPLAINT_COST = 640.0, 0.12, 0.27, 185.0

WORLD = World(
    days=DAYS,
    charge_off_dpd=CHARGE_OFF,
    behaviour=BehaviourSpec(settlement_min_dpd=100, complaint_intensity=1.0),
    treatments=TreatmentsSpec(
        # Connect probabilities below one: a charge per answered message would show.
        sms=ContactSpec(cost=UNIT["sms"], connect_probability=0.6, lift=0.05,
                        complaint_probability=0.01),
        ivr=ContactSpec(cost=UNIT["ivr"], connect_probability=0.5, lift=0.1,
                        complaint_probability=0.01),
        call=ContactSpec(cost=UNIT["call"], connect_probability=0.4, lift=0.4,
                         promise_probability=0.3, complaint_probability=0.02),
        freeze_cost=UNIT["freeze"],
        hardship_cost=UNIT["hardship"],
        hardship_days=15,
        legal=LegalSpec(fee=LEGAL_FEE, share=LEGAL_SHARE, judgement_recovery=0.7),
        agency=AgencySpec(contingency_share=AGENCY_SHARE, daily_hazard=0.03,
                          placement_days=PLACEMENT_DAYS),
        sale_price=0.07,
    ),
    resources=ResourcesSpec(
        call_centre=CallCentreSpec(shifts=(Shift(start_hour=8, end_hour=21, agents=50),)),
        regions=(
            RegionSpec(name="near", teams=3, visit_cost=VISIT_COST["near"], travel_hours=0.5),
            RegionSpec(name="far", teams=2, visit_cost=VISIT_COST["far"], travel_hours=2.0),
        ),
        court_delay_days=8.0,
        legal_capacity=40,
        agency_capacity=60,
    ),
    economics=EconomicsSpec(discount_rate=0.35, complaint_cost=COMPLAINT_COST),
)

LADDER = PolicySpec(
    name="everything",
    rules=(
        LadderRule(action="sms", dpd_min=1, dpd_max=15, every_days=3),
        LadderRule(action="ivr", dpd_min=5, dpd_max=40, every_days=2, attempts=2),
        LadderRule(action="call", dpd_min=16, dpd_max=89, every_days=2, attempts=3),
        LadderRule(action="freeze", dpd_min=30),
        LadderRule(action="hardship", dpd_min=60, dpd_max=60, max_balance=3000.0),
        LadderRule(action="visit", dpd_min=90, every_days=10, min_balance=800.0),
        LadderRule(action="legal", dpd_min=95, every_days=30, min_balance=2500.0),
        # Delinquent late accounts, and charged-off ones from the day after charge-off.
        LadderRule(action="agency", dpd_min=100, dpd_max=CHARGE_OFF - 1, every_days=5),
        LadderRule(action="agency", charged_off=True, dpd_min=1),
        LadderRule(action="sale", dpd_min=CHARGE_OFF + 1, min_balance=6000.0),
    ),
)


def _book(n: int = 500, seed: int = 11):
    rng = np.random.default_rng(seed)
    p = flat_portfolio(n, dpd=rng.integers(1, CHARGE_OFF, n), regions=("near", "far"), seed=seed)
    return type(p)(
        **{
            **p.__dict__,
            "balance": np.round(rng.lognormal(7.5, 0.9, n), 2),
            "contactable": rng.random(n) < 0.8,
            "address_verified": rng.random(n) < 0.6,
            "ability": rng.random(n).astype(np.float32),
            "willingness": rng.random(n).astype(np.float32),
            "strategic": rng.random(n) < 0.1,
        }
    )


@pytest.fixture(scope="module")
def observed():
    """One run of the full ladder on a small book, with what happened written down as it
    happened: each collection (account, day, cents actually received, source) and each
    account's status at the end of each day."""
    events: list[tuple[np.ndarray, int, np.ndarray, str]] = []
    statuses: list[np.ndarray] = []
    complaints: list[int] = []
    paused: list[np.ndarray] = []
    original_collect, original_end = Borrowers.collect, Borrowers.end_of_day

    def collect(self, idx, amount_cents, day, source="borrower"):
        before = self.state.collected_cents[idx].copy()
        original_collect(self, idx, amount_cents, day, source)
        events.append((idx.copy(), day, self.state.collected_cents[idx] - before, source))

    def end_of_day(self, day):
        paused.append(self.agency_paused.copy())  # a rule stopped the agency today
        original_end(self, day)
        statuses.append(self.state.status.copy())
        complaints.append(int(self.state.complaints.sum()))

    portfolio = _book()
    rules, _ = resolve_rules("cn")
    mp = pytest.MonkeyPatch()
    mp.setattr(Borrowers, "collect", collect)
    mp.setattr(Borrowers, "end_of_day", end_of_day)
    try:
        result = simulate(
            WORLD,
            portfolio,
            LadderPolicy(LADDER, portfolio.segment_names),
            rules,
            seed=np.random.SeedSequence(2024),
            audit="full",
        )
    finally:
        mp.undo()
    account = np.concatenate([e[0] for e in events])
    day = np.concatenate([np.full(e[0].size, e[1]) for e in events])
    cents = np.concatenate([e[2] for e in events])
    source = np.concatenate([np.full(e[0].size, e[3]) for e in events])
    paid = cents > 0
    collections = {
        "account": account[paid],
        "day": day[paid],
        "cents": cents[paid],
        "source": source[paid],
        "paused": np.array(paused),  # [day, account]: the agency was stopped by a rule
    }
    result.extra["complaints_by_day"] = np.diff(complaints, prepend=0)
    return result, portfolio, collections, np.array(statuses)


def _performed(log, action):
    return (log["outcome"] == 0) & (log["action"] == ACTION_CODE[action])


def test_the_book_exercises_every_cost_line(observed):
    """Otherwise the exact checks below would pass on zeros."""
    result, _, collections, _ = observed
    s = result.summary
    for line in ("sms", "ivr", "call", "freeze", "hardship", "visit", "legal", "agency"):
        assert s[f"cost_{line}"] > 0, line
    assert s["complaints"] > 0
    assert set(collections["source"]) == {"borrower", "judgement", "sale"}
    log = result.audit
    for action in ("sms", "ivr", "call"):
        done = _performed(log, action)
        assert 0 < log["connected"][done].sum() < done.sum(), action  # some, not all, answered


@pytest.mark.parametrize("action", ["sms", "ivr", "call", "freeze", "hardship"])
def test_each_message_call_and_plan_is_charged_once_answered_or_not(observed, action):
    """SMS, IVR and call attempts cost their unit price each, sent or answered alike (the
    spec: "cost is per attempt"); a freeze and a hardship plan cost theirs once each."""
    result, _, _, _ = observed
    count = int(_performed(result.audit, action).sum())
    assert count > 0
    assert result.summary[f"cost_{action}"] == pytest.approx(count * UNIT[action], rel=1e-12)


def test_each_visit_costs_its_region_price(observed):
    result, portfolio, _, _ = observed
    log = result.audit
    visited = log["account"][_performed(log, "visit")]
    regions = np.asarray(portfolio.region_names)[portfolio.region[visited]]
    assert set(regions) == {"near", "far"}
    expected = sum(VISIT_COST[r] for r in regions)
    assert result.summary["cost_visit"] == pytest.approx(expected, rel=1e-12)
    assert result.summary["visits"] == visited.size


def test_legal_costs_the_fee_per_filing_and_the_share_of_judgements(observed):
    result, _, collections, _ = observed
    filings = int(_performed(result.audit, "legal").sum())
    judged = collections["cents"][collections["source"] == "judgement"].sum()
    assert filings > 0 and judged > 0
    expected = filings * LEGAL_FEE + LEGAL_SHARE * judged / 100.0
    assert result.summary["cost_legal"] == pytest.approx(expected, rel=1e-12)


def _agency_fee_cents(result, collections, statuses) -> np.ndarray:
    """Per collection: the agency's fee base (its cents if a borrower paid while placed)."""
    log = result.audit
    placed = _performed(log, "agency")
    place_account, place_day = log["account"][placed], log["day"][placed]
    ended = (statuses == CURRENT) | (statuses == CLOSED)  # [day, account]
    base = np.zeros(collections["cents"].size, np.int64)
    for i in np.flatnonzero(collections["source"] == "borrower"):
        a, d = collections["account"][i], collections["day"][i]
        for p in place_day[place_account == a]:
            last = p + PLACEMENT_DAYS - 1
            after = np.flatnonzero(ended[p:, a])
            if after.size:
                last = min(last, p + after[0])
            if p <= d <= last:
                base[i] = 0 if collections["paused"][d, a] else collections["cents"][i]
                break
    return base


def test_agency_fee_is_its_share_of_what_it_collects_while_placed(observed):
    """The agency takes its contingency share of every borrower payment made while the
    account is placed: from the placement day through ``placement_days`` days, or until the
    account cures or closes (that day's payment included), except on days a rule stops the
    agency (a dispute). Judgements and sales pay no fee."""
    result, _, collections, statuses = observed
    assert _performed(result.audit, "agency").any()
    fee_cents = int(_agency_fee_cents(result, collections, statuses).sum())
    assert fee_cents > 0
    assert result.summary["cost_agency"] == pytest.approx(
        AGENCY_SHARE * fee_cents / 100.0, rel=1e-9
    )


def _daily_spending(observed) -> np.ndarray:
    """What was spent each day, from the log, the collections and the complaints."""
    result, portfolio, collections, statuses = observed
    log = result.audit
    expected = np.zeros(DAYS)
    for action, unit in UNIT.items():
        done = _performed(log, action)
        np.add.at(expected, log["day"][done], unit)
    visits = _performed(log, "visit")
    region = np.asarray(portfolio.region_names)[portfolio.region[log["account"][visits]]]
    np.add.at(expected, log["day"][visits], [VISIT_COST[r] for r in region])
    np.add.at(expected, log["day"][_performed(log, "legal")], LEGAL_FEE)
    judged = collections["source"] == "judgement"
    np.add.at(expected, collections["day"][judged],
              LEGAL_SHARE * collections["cents"][judged] / 100.0)
    fee = _agency_fee_cents(result, collections, statuses)
    np.add.at(expected, collections["day"], AGENCY_SHARE * fee / 100.0)
    expected += result.extra["complaints_by_day"] * COMPLAINT_COST
    assert result.summary["visits_called_off"] == 0  # (they would cost travel only)
    return expected


def test_daily_cost_is_each_day_s_spending(observed):
    """The daily ``cost`` column, day by day, from the log, the collections and the
    complaints of each day."""
    result = observed[0]
    expected = _daily_spending(observed)
    np.testing.assert_allclose(result.daily["cost"], expected, rtol=1e-9, atol=1e-6)
    assert result.daily["cost"].sum() == pytest.approx(result.summary["cost_total"], rel=1e-9)


def test_cost_lines_are_the_documented_ones(observed):
    """One ``cost_`` column per treatment that can be performed, none for third-party
    contact (never performed), and the daily counts are whole numbers."""
    result, _, _, _ = observed
    costs = {k for k in result.summary if k.startswith("cost_")}
    assert "cost_third_party" not in costs
    assert {"cost_sms", "cost_visit", "cost_agency", "cost_complaints", "cost_total",
            "cost_npv"} <= costs
    for column in ("payments", "current", "closed", "actions_call"):
        assert np.issubdtype(np.asarray(result.daily[column]).dtype, np.integer), column


def test_complaints_cost_their_handling_price(observed):
    result, _, _, _ = observed
    s = result.summary
    complaints = int(result.extra["state"].complaints.sum())
    assert complaints == s["complaints"] > 0
    assert s["cost_complaints"] == pytest.approx(complaints * COMPLAINT_COST, rel=1e-12)


def test_cost_total_is_the_sum_of_its_lines(observed):
    result, _, _, _ = observed
    s = result.summary
    lines = [k for k in s if k.startswith("cost_") and k not in ("cost_total", "cost_npv")]
    assert "cost_complaints" in lines and "cost_agency" in lines
    assert s["cost_total"] == pytest.approx(sum(s[k] for k in lines), rel=1e-12)


def test_collections_add_up_by_day_and_by_account(observed):
    result, portfolio, collections, _ = observed
    state = result.extra["state"]
    per_account = np.bincount(collections["account"], weights=collections["cents"],
                              minlength=len(portfolio))
    assert np.array_equal(per_account.astype(np.int64), state.collected_cents)
    per_day = np.bincount(collections["day"], weights=collections["cents"], minlength=DAYS)
    np.testing.assert_allclose(result.daily["collected"] * 100.0, per_day, rtol=0, atol=1e-6)
    assert result.summary["collected"] * 100 == pytest.approx(per_day.sum(), abs=1e-6)


def test_net_npv_discounts_the_daily_ledger(observed):
    """Our own discounting: a recovery or a cost on day d (the first day is day 0) is worth
    (1 + r) ** (-d / 365) of its face at the start, with r the annual cost of funds. The
    costs are our own reconstruction of each day's spending, not the ledger's."""
    result, _, _, _ = observed
    s, r = result.summary, WORLD.economics.discount_rate
    daily = result.daily["collected"]
    npv = sum(amount / (1.0 + r) ** (d / 365.0) for d, amount in enumerate(daily))
    spent = _daily_spending(observed)
    cost_npv = sum(amount / (1.0 + r) ** (d / 365.0) for d, amount in enumerate(spent))
    assert s["collected_npv"] == pytest.approx(npv, rel=1e-9)
    assert s["cost_npv"] == pytest.approx(cost_npv, rel=1e-9)
    assert s["net_npv"] == pytest.approx(npv - cost_npv, rel=1e-9)
    # Spending is spread over the horizon, so discounting it matters at this precision.
    assert s["cost_total"] - cost_npv > 1e-4 * s["cost_total"]
    # The horizon's terminal value is discounted from the last day's end (day DAYS).
    horizon = (1.0 + r) ** (-DAYS / 365.0)
    assert s["net_value"] == pytest.approx(
        npv + s["terminal_value"] * horizon - s["cost_total"], rel=1e-9
    )
    assert s["collected_npv"] < s["collected"]  # a positive rate discounts


# ------------------------------------------------------------------------ terminal value

CURES = (0.9995, 0.9844, 0.8053, 0.4899, 0.2520, 0.0931)  # README: cure before charge-off
BUCKET_OF = {  # README's daily bucket names: dpd range -> index of its cure chance
    range(1, 31): 0, range(31, 61): 1, range(61, 91): 2,
    range(91, 121): 3, range(121, 151): 4, range(151, 181): 5,
}
EDGES = [1, 29, 30, 31, 59, 60, 61, 89, 90, 91, 119, 120, 121, 149, 150, 151, 179, 180]


def _bucket(dpd: int) -> int:
    return next(b for r, b in BUCKET_OF.items() if dpd in r)


@pytest.mark.parametrize("dpd", EDGES)
def test_terminal_value_at_every_bucket_edge(dpd):
    """A delinquent balance is worth 0.9 of face times the chance that an account of its
    bucket cures before charge-off in the data (the README's table)."""
    p = flat_portfolio(3, dpd=np.array([dpd, dpd, 0]), balance=250.0)
    state = AccountState.from_portfolio(p, 0.0, 0.0)
    state.status[:] = [DELINQUENT, CHARGED_OFF, CURRENT]
    world = World(days=30, charge_off_dpd=180)
    expected = 0.9 * 25_000 * CURES[_bucket(dpd)] + 0.9 * 25_000  # + the current account
    assert terminal_value_cents(state, world) == pytest.approx(expected, rel=1e-12)


def test_payments_column_counts_each_day_s_payments(observed):
    result, _, collections, _ = observed
    per_day = np.bincount(collections["day"], minlength=DAYS)
    assert per_day.sum() > 0
    assert np.array_equal(result.daily["payments"], per_day)


def test_cure_and_charge_off_rates_from_the_statuses_day_by_day(observed):
    """An account charges off at the end of a day, so the end-of-day statuses show every
    charge-off; a cure shows as a current account that night unless the payment also paid
    the balance off (then the account is closed)."""
    result, _, _, statuses = observed
    s = result.summary
    ever_charged = (statuses == CHARGED_OFF).any(axis=0)
    assert 0 < ever_charged.mean() == pytest.approx(s["chargeoff_rate"], rel=1e-12)
    ever_current = (statuses == CURRENT).any(axis=0)
    ever_closed = (statuses == CLOSED).any(axis=0)
    assert 0 < ever_current.mean() <= s["cure_rate"] <= (ever_current | ever_closed).mean()


def test_late_recoveries_reach_charged_off_accounts(observed):
    """After charge-off only agency, legal, sale or a small self-cure recover money: the
    ladder's agency rung places charged-off accounts and sales sell them."""
    result, _, _, _ = observed
    log = result.audit
    for action in ("agency", "sale"):
        done = _performed(log, action)
        assert np.any(log["dpd"][done] == CHARGE_OFF + 1), action
