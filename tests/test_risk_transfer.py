"""Risk transfer in the engine: premiums, claims, shared recoveries and transfers, exactly.

Each check recomputes the contract's money from what happened, written down as it happened
(every collection with its day and source; each account's balance, dpd and status at the end
of each day, before the contracts act), and from the contract's terms as the spec states them.
None of the recomputations calls waifang.sim.cover.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import flat_portfolio

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.behaviour import Borrowers
from waifang.sim.engine import simulate
from waifang.sim.fork import checkpoints
from waifang.sim.spec import BehaviourSpec, RiskTransfer
from waifang.sim.state import CHARGED_OFF, CURRENT, DELINQUENT

CHARGE_OFF = 120
DAYS = 150
TRIGGER = 60
RATE = 0.0125  # premium per 30 days on the balance
RATIO, DEDUCTIBLE = 0.85, 25.0

WORLD = World(
    days=DAYS,
    charge_off_dpd=CHARGE_OFF,
    behaviour=BehaviourSpec(settlement_min_dpd=90),
)
LADDER = PolicySpec(
    name="ladder",
    rules=(
        LadderRule(action="call", dpd_min=16, dpd_max=89, every_days=2, attempts=2),
        LadderRule(action="visit", dpd_min=90, every_days=15, min_balance=800.0),
        LadderRule(action="legal", dpd_min=95, every_days=30, min_balance=2500.0),
        LadderRule(action="agency", charged_off=True, dpd_min=1),
        LadderRule(action="sale", dpd_min=CHARGE_OFF + 1, min_balance=6000.0),
    ),
)
GUARANTEE = RiskTransfer(
    name="guarantee", kind="guarantee", trigger_dpd=TRIGGER, premium=RATE, cover_ratio=RATIO,
    deductible=DEDUCTIBLE, min_balance=500.0,
)
FLOW = RiskTransfer(name="flow", kind="forward_flow", cover_ratio=0.11, premium=1.5,
                    premium_basis="account")


def _book(n: int = 800, seed: int = 5):
    rng = np.random.default_rng(seed)
    p = flat_portfolio(n, dpd=rng.integers(1, CHARGE_OFF, n), regions=("near", "far"), seed=seed)
    return type(p)(**{
        **p.__dict__,
        "balance": np.round(rng.lognormal(7.6, 0.9, n), 2),
        "ability": rng.random(n).astype(np.float32),
        "willingness": rng.random(n).astype(np.float32),
    })


def _run(contracts, portfolio=None, policy=LADDER, seed=7, record=False):
    """One run; with ``record``, what happened as it happened (see the module docstring)."""
    portfolio = _book() if portfolio is None else portfolio
    world = WORLD.model_copy(update={"risk_transfer": tuple(contracts)})
    rules, _ = resolve_rules("cn")
    events: list[tuple[np.ndarray, int, np.ndarray]] = []
    ends: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    mp = pytest.MonkeyPatch()
    if record:
        original_collect, original_end = Borrowers.collect, Borrowers.end_of_day

        def collect(self, idx, amount_cents, day, source="borrower"):
            before = self.state.collected_cents[idx].copy()
            original_collect(self, idx, amount_cents, day, source)
            events.append((idx.copy(), day, self.state.collected_cents[idx] - before))

        def end_of_day(self, day):
            original_end(self, day)
            s = self.state
            ends.append((s.balance_cents.copy(), s.dpd.copy(), s.status.copy()))

        mp.setattr(Borrowers, "collect", collect)
        mp.setattr(Borrowers, "end_of_day", end_of_day)
    try:
        result = simulate(world, portfolio, LadderPolicy(policy, portfolio.segment_names), rules,
                          seed=np.random.SeedSequence(seed))
    finally:
        mp.undo()
    if not record:
        return result, portfolio
    n = len(portfolio)
    paid = np.zeros((DAYS, n), np.int64)  # cents each account paid each day
    for idx, day, cents in events:
        np.add.at(paid[day], idx, cents)
    balance = np.array([e[0] for e in ends])
    dpd = np.array([e[1] for e in ends])
    status = np.array([e[2] for e in ends])
    return result, portfolio, paid, balance, dpd, status


@pytest.fixture(scope="module")
def observed():
    return _run([GUARANTEE, FLOW], record=True)


def _expected(portfolio, paid, balance, dpd, status):
    """The contracts' money per day, recomputed from the terms (the guarantee passes pro rata,
    the forward flow buys at charge-off)."""
    n = len(portfolio)
    cents0 = np.rint(portfolio.balance * 100).astype(np.int64)
    g_covered = (cents0 >= 50_000) & (portfolio.dpd < TRIGGER)
    f_covered = portfolio.dpd < CHARGE_OFF
    premiums = np.zeros(DAYS, np.int64)
    claims = np.zeros(DAYS, np.int64)
    passed = np.zeros(DAYS, np.int64)
    claim_day = np.full(n, -1)
    claim_cents = np.zeros(n, np.int64)
    share = np.zeros(n)
    gone = np.zeros(n, bool)  # transferred to the forward-flow buyer
    received = np.zeros(n, np.int64)  # forward-flow price on each account
    passed_so_far = np.zeros(n, np.int64)
    start_status = np.where(portfolio.dpd > 0, DELINQUENT, CURRENT)
    for day in range(DAYS):
        if day % 30 == 0:
            # Start of the day: the balance and status the day before left (day 0: the book).
            bal = cents0 if day == 0 else balance[day - 1]
            st = start_status if day == 0 else status[day - 1]
            open_ = ((st == DELINQUENT) | (st == CURRENT)) & ~gone
            g = np.flatnonzero(open_ & g_covered & (claim_day < 0))
            premiums[day] += int(np.rint(bal[g] * RATE).astype(np.int64).sum())
            premiums[day] += 150 * int((open_ & f_covered).sum())
        # End of the day: balance, dpd and status before the contracts act.
        bal, d, st = balance[day], dpd[day], status[day]
        for a in np.flatnonzero(g_covered & (claim_day < 0) & (st == DELINQUENT) & (d == TRIGGER)
                                & ~gone):
            amount = max(int(np.rint(bal[a] * RATIO)) - int(DEDUCTIBLE * 100), 0)
            if amount > 0:
                claim_day[a], claim_cents[a] = day, amount
                share[a] = amount / bal[a]
                claims[day] += amount
        just_charged = (st == CHARGED_OFF) & ((day == 0) | (status[day - 1] != CHARGED_OFF))
        for a in np.flatnonzero(f_covered & just_charged & ~gone):
            price = int(np.rint(bal[a] * 0.11))
            if price > 0:
                claims[day] += price
                received[a] += price
                gone[a] = True
        after = np.zeros(n, np.int64)
        for a in np.flatnonzero(claim_day >= 0):
            after[a] = paid[claim_day[a] + 1: day + 1, a].sum() + received[a]
        due = np.rint(share * after).astype(np.int64) - passed_so_far
        due = np.maximum(due, 0)
        passed[day] = due.sum()
        passed_so_far += due
    return premiums, claims, passed, claim_day


def test_the_contracts_money_is_exact_day_by_day(observed):
    result, portfolio, paid, balance, dpd, status = observed
    premiums, claims, passed, claim_day = _expected(portfolio, paid, balance, dpd, status)
    assert premiums.sum() > 0 and passed.sum() > 0 and (claim_day >= 0).sum() > 20
    daily = result.daily
    np.testing.assert_array_equal(np.rint(daily["cover_premiums"] * 100), premiums)
    np.testing.assert_array_equal(np.rint(daily["cover_claims"] * 100), claims)
    np.testing.assert_array_equal(np.rint(daily["cover_recoveries_passed"] * 100), passed)
    s = result.summary
    assert round(s["cover_premiums"] * 100) == premiums.sum()
    assert round(s["cover_claims"] * 100) == claims.sum()
    assert round(s["cover_recoveries_passed"] * 100) == passed.sum()
    assert s["cover_claimed_accounts"] > (claim_day >= 0).sum()  # the flow's too


def test_money_is_conserved_across_borrower_lender_and_providers(observed):
    """Borrowers' payments, the balances that stay, go or are written off, and each party's
    cash add up exactly in cents; the lender's net moves by exactly the cover's cash."""
    result, portfolio, paid, balance, _, _ = observed
    s = result.summary
    opening = int(np.rint(portfolio.balance * 100).sum())
    borrowers_paid = int(paid.sum())
    assert borrowers_paid == round(s["collected"] * 100)
    transferred = round(s["cover_transferred"] * 100)
    assert transferred > 0
    assert opening == (borrowers_paid + round(s["written_off"] * 100)
                       + round(s["outstanding"] * 100) + transferred)
    lender_cover = round((s["cover_claims"] - s["cover_premiums"]
                          - s["cover_recoveries_passed"]) * 100)
    providers = round((s["cover_premiums"] + s["cover_recoveries_passed"]
                       - s["cover_claims"]) * 100)
    assert lender_cover + providers == 0 and lender_cover != 0
    # The lender's net: its NPV moves by the cover's cash, discounted day by day here.
    d = result.daily
    discount = (1.0 + WORLD.economics.discount_rate) ** (-np.arange(DAYS) / 365.0)
    cash = d["cover_claims"] - d["cover_premiums"] - d["cover_recoveries_passed"]
    assert s["net_npv"] - s["net_npv_without_cover"] == pytest.approx(
        float((cash * discount).sum()), abs=1e-6)


def test_a_claim_is_paid_on_the_trigger_day_and_never_twice(observed):
    _, portfolio, paid, balance, dpd, status = observed
    _, _, _, claim_day = _expected(portfolio, paid, balance, dpd, status)
    claimed = np.flatnonzero(claim_day >= 0)
    at_trigger = (dpd == TRIGGER) & (status == DELINQUENT)  # [day, account]
    first = np.argmax(at_trigger[:, claimed], axis=0)
    np.testing.assert_array_equal(claim_day[claimed], first)
    # Accounts that paid part, fell back below the trigger and reached it again: one claim.
    again = at_trigger[:, claimed].sum(axis=0) > 1
    assert again.sum() >= 3


def test_the_stop_loss_limits_the_claims_and_the_last_one_is_paid_in_part():
    free = GUARANTEE.model_copy(update={"premium": 0.0})
    unlimited, portfolio, paid, balance, dpd, status = _run([free], record=True)
    total = round(unlimited.summary["cover_claims"] * 100)
    limit = total // 3 + 1234  # cents: falls inside some claim
    capped, _ = _run([free.model_copy(update={"stop_loss": limit / 100})], portfolio)
    s = capped.summary
    assert round(s["cover_claims"] * 100) == limit
    # Which accounts were paid: triggers in order of day, then account, until the limit.
    daily = np.rint(unlimited.daily["cover_claims"] * 100).astype(np.int64)
    reached = np.cumsum(daily)
    last_day = int(np.argmax(reached >= limit))
    np.testing.assert_array_equal(
        np.rint(capped.daily["cover_claims"][:last_day] * 100), daily[:last_day])
    assert np.rint(capped.daily["cover_claims"][last_day] * 100) == limit - reached[last_day - 1]
    assert (capped.daily["cover_claims"][last_day + 1:] == 0).all()
    # Fewer accounts claimed, so fewer recoveries passed on.
    assert s["cover_claimed_accounts"] < unlimited.summary["cover_claimed_accounts"]
    assert s["cover_recoveries_passed"] < unlimited.summary["cover_recoveries_passed"]


@pytest.mark.parametrize("after_claim", ["lender_collects_and_passes", "leaves_book"])
def test_a_contract_with_no_premium_and_no_cover_changes_nothing(after_claim):
    portfolio = _book(500, seed=9)
    plain, _ = _run([], portfolio)
    nothing = [
        GUARANTEE.model_copy(update={"premium": 0.0, "cover_ratio": 0.0,
                                     "after_claim": after_claim}),
        FLOW.model_copy(update={"premium": 0.0, "cover_ratio": 0.0}),
    ]
    covered, _ = _run(nothing, portfolio)
    assert set(plain.summary) <= set(covered.summary)
    for key, value in plain.summary.items():
        assert covered.summary[key] == value, key  # bit for bit
    for key, value in plain.daily.items():
        np.testing.assert_array_equal(covered.daily[key], value, err_msg=key)


def test_a_forward_flow_at_a_dpd_takes_the_account_off_the_book():
    flow = RiskTransfer(name="f90", kind="forward_flow", trigger_dpd=90, cover_ratio=0.2)
    result, portfolio, paid, balance, dpd, status = _run([flow], record=True)
    reached = (dpd == 90) & (status == DELINQUENT)
    first = np.where(reached.any(axis=0), np.argmax(reached, axis=0), -1)
    sold = np.flatnonzero((first >= 0) & (portfolio.dpd < 90))
    assert sold.size > 20
    # Nothing is paid on a sold account after the day of the sale.
    for a in sold:
        assert paid[first[a] + 1:, a].sum() == 0
    price = sum(int(np.rint(balance[first[a], a] * 0.2)) for a in sold)
    assert round(result.summary["cover_claims"] * 100) == price
    assert round(result.summary["cover_transferred"] * 100) == sum(
        int(balance[first[a], a]) for a in sold)


def test_policies_can_act_on_covered_and_claimed_accounts():
    """A rung with ``claimed = false`` spares the accounts the guarantee has paid for."""
    only_unclaimed = PolicySpec(name="calls", rules=(
        LadderRule(action="call", dpd_min=16, dpd_max=100, claimed=False),))
    only_claimed = PolicySpec(name="calls", rules=(
        LadderRule(action="call", dpd_min=16, dpd_max=100, claimed=True),))
    only_covered = PolicySpec(name="calls", rules=(
        LadderRule(action="call", dpd_min=16, dpd_max=100, covered=True),))
    free = GUARANTEE.model_copy(update={"premium": 0.0})
    portfolio = _book(400, seed=3)
    a, _ = _run([free], portfolio, only_unclaimed)
    b, _ = _run([free], portfolio, only_claimed)
    c, _ = _run([], portfolio, only_covered)  # no contract: nothing is covered
    calls_a, calls_b = a.summary["calls_performed"], b.summary["calls_performed"]
    assert calls_a > 0 and calls_b > 0
    assert c.summary["calls_performed"] == 0
    claimed_calls = b.extra["state"].claimed
    assert claimed_calls.any()


def test_a_visit_on_a_claimed_account_is_worth_only_the_lenders_share():
    """After a claim that passes 80 % of recoveries on, what a visit recovers is worth 20 %
    of what it is worth when nothing is passed on (the same borrowers, the same luck)."""
    book = _book(600, seed=21)
    # Accounts 35-59 dpd on day 0: covered, claimed at 60 dpd, 60-99 at the checkpoint and
    # visited (from 60 dpd: an override) well before charge-off.
    portfolio = type(book)(**{**book.__dict__, "dpd": np.random.default_rng(2).integers(
        35, 60, 600).astype(np.int16)})
    rules, _ = resolve_rules("cn", {"visit_min_dpd": 60})
    base = LadderPolicy(PolicySpec(name="calls", rules=LADDER.rules[:1]), portfolio.segment_names)
    effects = {}
    for share in (0.8, 0.0):
        contract = GUARANTEE.model_copy(update={"premium": 0.0, "recovery_share": share})
        world = WORLD.model_copy(update={"risk_transfer": (contract,)})
        (cp,) = checkpoints(world, portfolio, base, rules, seed=np.random.SeedSequence(4),
                            days=[40])
        claimed = np.flatnonzero(cp.view.claimed & (cp.view.dpd >= 60)
                                 & (cp.view.status == DELINQUENT))
        seed = np.random.SeedSequence(99)
        without = cp.branch(base, seed=seed, until=DAYS, unlimited_field=True)
        visited = cp.branch(base, extra={"visit": claimed}, seed=seed, until=DAYS,
                            unlimited_field=True)
        # What the visit changed in what the lender keeps: its value before costs.
        effects[share] = ((visited.value + visited.cost) - (without.value + without.cost),
                          claimed)
    kept, claimed = effects[0.8]
    whole, claimed_b = effects[0.0]
    np.testing.assert_array_equal(claimed, claimed_b)
    assert claimed.size > 20
    whole, kept = whole[claimed], kept[claimed]
    assert np.abs(whole).sum() > 1000  # visits changed what these accounts paid
    np.testing.assert_allclose(kept, 0.2 * whole, atol=0.02)
