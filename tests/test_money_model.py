"""The money model's arrears (issue 7 item 6): what a judgement does to them.

Arrears are state, kept as dpd: 30 days per unpaid instalment (``instalment_share`` of the
balance). A judgement that pays all the arrears or more cures the account; one that pays less
brings dpd back 30 days per whole instalment it covers; on a charged-off account it only
reduces the balance. The money comes at the court hour, the arrears are posted that night.
Expected values are worked out here by hand from those rules.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from helpers import NO_PAYMENTS, flat_portfolio

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.engine import simulate
from waifang.sim.spec import LegalSpec, ResourcesSpec, TreatmentsSpec
from waifang.sim.state import CLOSED, CURRENT, DELINQUENT

DAYS = 20
START_DPD = 121  # five instalments due (months = ceil(dpd / 30)) until dpd 150


def _judged(ability: np.ndarray, recovery: float = 0.6, dpd: int = START_DPD):
    n = ability.size
    base = flat_portfolio(n, dpd=dpd, balance=1200.0)
    portfolio = dataclasses.replace(base, ability=ability.astype(np.float32))
    world = World(
        days=DAYS,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(legal=LegalSpec(judgement_recovery=recovery, share=0.1)),
        resources=ResourcesSpec(court_delay_days=2.0),
    )
    rung = LadderRule(action="legal", dpd_min=dpd, dpd_max=dpd)
    policy = LadderPolicy(PolicySpec(name="sue", rules=(rung,)), ("all",))
    result = simulate(world, portfolio, policy, resolve_rules("cn")[0],
                      seed=np.random.SeedSequence(4))
    return result


def test_a_judgement_that_pays_the_arrears_cures_and_less_reduces_them():
    # Balance 1,200: instalment 100, five due (arrears 500). A judgement of 0.6 x ability x
    # 1,200 pays 720 (ability 1: cures), 504 (0.7: pays more than the arrears, cures),
    # 360 (0.5: three whole instalments, dpd back 90), 72 (0.1: no whole instalment).
    ability = np.repeat([1.0, 0.7, 0.5, 0.1], 5)
    result = _judged(ability)
    state, borrowers = result.extra["state"], result.extra["borrowers"]
    assert result.summary["legal_cases"] == ability.size
    paid = state.collected_cents
    np.testing.assert_array_equal(
        paid, np.rint(120_000 * 0.6 * ability.astype(np.float32)).astype(np.int64)
    )
    cured = ability >= 0.7
    assert np.all(state.status[cured] == CURRENT) and np.all(state.dpd[cured] == 0)
    assert borrowers.cured_ever[cured].all() and not borrowers.cured_ever[~cured].any()
    assert np.all(state.status[~cured] == DELINQUENT)
    # dpd grows one a day (no payments, no plan); a judgement of 3 instalments takes 90 off.
    end = START_DPD + DAYS
    np.testing.assert_array_equal(state.dpd[ability == 0.5], end - 90)
    np.testing.assert_array_equal(state.dpd[ability == 0.1], end)
    assert result.summary["cure_rate"] == cured.mean()
    # Money is conserved to the cent; the lawyers' share is 10 % of what judgements paid.
    assert np.array_equal(state.collected_cents + state.balance_cents, state.opening_cents)
    fees = 800.0 * ability.size + 0.1 * paid.sum() / 100
    assert abs(result.summary["cost_legal"] - fees) < 1e-6


def test_a_judgement_of_the_whole_balance_closes_and_a_cured_account_stays_current():
    result = _judged(np.ones(4), recovery=1.0)
    state = result.extra["state"]
    assert np.all(state.status == CLOSED) and state.balance_cents.sum() == 0
    assert result.summary["collected"] == 4 * 1200.0


def test_a_judgement_on_a_charged_off_account_does_not_cure_it():
    n = 6
    base = flat_portfolio(n, dpd=179, balance=1200.0)
    world = World(days=DAYS, behaviour=NO_PAYMENTS,
                  treatments=TreatmentsSpec(legal=LegalSpec(judgement_recovery=0.9)),
                  resources=ResourcesSpec(court_delay_days=6.0))
    rung = LadderRule(action="legal", dpd_min=1, dpd_max=5, charged_off=True)
    result = simulate(world, base, LadderPolicy(PolicySpec(name="s", rules=(rung,)), ("all",)),
                      resolve_rules("cn")[0], seed=np.random.SeedSequence(1))
    state = result.extra["state"]
    assert result.summary["legal_cases"] == n
    assert (state.collected_cents > 0).all()
    assert not result.extra["borrowers"].cured_ever.any()
    assert result.extra["status_counts"]["charged_off"] == n
