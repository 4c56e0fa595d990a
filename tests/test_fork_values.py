"""Counterfactual branches of a paused run, and visit values pooled from them.

The per-account values are checked against the engine's own totals (a branch that continues a
run reproduces it), and the pooled values against brute-force counterfactuals that treat one
account at a time on the whole book, with the real field teams.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import one_at_a_time

from waifang.optimise.values import LEVELS, ValueModel, treatment_effects
from waifang.scenarios.runner import build_portfolio
from waifang.scenarios.schema import load_scenario
from waifang.sim.eligible import visit_allowed
from waifang.sim.engine import simulate
from waifang.sim.fork import checkpoints, simulate_probed
from waifang.sim.policy import LadderPolicy

SMALL = Path(__file__).parent / "data" / "small.toml"
BOOK = 6000  # accounts of the out-of-sample test's book
TRAIN_REPS = 8


@pytest.fixture(scope="module")
def small():
    scenario = load_scenario(SMALL)
    portfolio = build_portfolio(scenario, np.random.default_rng(1)).subset(np.arange(600))
    rules, _ = scenario.rules_for(0)
    spec = scenario.policies[0]
    ladder = LadderPolicy(spec, portfolio.segment_names)
    no_visits = spec.model_copy(update={"rules": tuple(r for r in spec.rules
                                                       if r.action != "visit")})
    base = LadderPolicy(no_visits, portfolio.segment_names)
    return scenario.world(), portfolio, rules, ladder, base


def test_branch_continuing_the_run_reproduces_it(small):
    world, portfolio, rules, ladder, _ = small
    seed = np.random.SeedSequence(11)
    full = simulate(world, portfolio, ladder, rules, seed=seed)
    first, later = checkpoints(world, portfolio, ladder, rules, seed=seed, days=[0, 25])
    from_start = first.branch(ladder)
    assert from_start.value.sum() == pytest.approx(full.summary["net_value"], rel=1e-12)
    # From day 25: what was collected and spent before, plus the branch, is the whole run.
    rest = later.branch(ladder)
    before = later._npv_before / 100.0 - later._cost_before
    assert before + rest.value.sum() == pytest.approx(full.summary["net_value"], rel=1e-12)
    assert rest.performed["visit"] + int(full.daily["actions_visit"][:25].sum()) == (
        full.summary["visits"]
    )


def test_probe_sees_the_run_without_changing_it(small):
    world, portfolio, rules, ladder, _ = small
    seed = np.random.SeedSequence(3)
    seen = []

    def probe(live):
        if live.day % 20 == 0:
            seen.append(live.checkpoint(np.arange(0, 600, 7)).n)

    probed = simulate_probed(world, portfolio, ladder, rules, seed=seed, probe=probe)
    plain = simulate(world, portfolio, ladder, rules, seed=seed)
    assert probed.summary == plain.summary
    assert seen == [len(range(0, 600, 7))] * 3


def test_subset_of_everyone_is_the_whole_checkpoint(small):
    world, portfolio, rules, ladder, _ = small
    (cp,) = checkpoints(world, portfolio, ladder, rules, seed=np.random.SeedSequence(4),
                        days=[20])
    seed = np.random.SeedSequence(9)
    whole = cp.branch(ladder, seed=seed)
    same = cp.subset(np.arange(cp.n)).branch(ladder, seed=seed)
    np.testing.assert_array_equal(whole.value, same.value)


def test_branches_of_one_seed_share_their_luck(small):
    world, portfolio, rules, ladder, _ = small
    (cp,) = checkpoints(world, portfolio, ladder, rules, seed=np.random.SeedSequence(4),
                        days=[15])
    a = cp.branch(ladder, seed=np.random.SeedSequence(21))
    again = cp.branch(ladder, seed=np.random.SeedSequence(21))
    other = cp.branch(ladder, seed=np.random.SeedSequence(22))
    np.testing.assert_array_equal(a.value, again.value)
    # Another seed is other luck for the payments, the contacts and the keyed draws alike.
    assert (a.value != other.value).mean() > 0.2
    assert a.performed["call"] == again.performed["call"]


def _allowed(world, rules, cp):
    collectors = np.array([r.collectors_per_team for r in world.resources.regions])
    return np.flatnonzero(
        visit_allowed(rules, cp.view, np.arange(cp.n), cp.day, collectors[cp.portfolio.region])
    )


def _z(value, pooled_se, brute):
    """Standardised gap between the pooled total and the brute-force total over the accounts."""
    brute_se = brute.std(axis=1, ddof=1) / np.sqrt(brute.shape[1])
    gap = value.sum() - brute.mean(axis=1).sum()
    return gap / np.sqrt(pooled_se**2 + (brute_se**2).sum())


def test_pooled_values_agree_with_one_account_at_a_time(small):
    """Brute force on the whole book with the real field teams, one account treated at a
    time, against values pooled from the all-treated branches of a subset."""
    world, portfolio, rules, _, base = small
    (cp,) = checkpoints(world, portfolio, base, rules, seed=np.random.SeedSequence(5), days=[8])
    allowed = _allowed(world, rules, cp)
    effects = treatment_effects(cp, allowed, base, reps=6, horizon=None,
                                seed=np.random.SeedSequence(77))
    model = ValueModel.fit(effects.frame(), levels=LEVELS[-3:], min_accounts=15)
    picked = np.random.default_rng(0).choice(allowed, 10, replace=False)
    brute = one_at_a_time(cp, base, picked, "visit")
    brute += effects.cost[np.searchsorted(allowed, picked)][:, None]
    frame = effects.frame().set_index("account").loc[picked].reset_index()
    value, se, level = model.predict(frame)
    assert abs(_z(value, _pooled_se(model, frame, se, level), brute)) < 3


@pytest.fixture(scope="module")
def halves():
    """A larger book at day 8: effects on one half of the eligible accounts to fit on, and
    per-account brute force (24 seeds) on the other half to predict."""
    scenario = load_scenario(SMALL)
    scenario = scenario.model_copy(update={"portfolio": scenario.portfolio.model_copy(
        update={"accounts": BOOK})})
    portfolio = build_portfolio(scenario, np.random.default_rng(2))
    rules, _ = scenario.rules_for(0)
    spec = scenario.policies[0]
    base = LadderPolicy(spec.model_copy(update={"rules": tuple(r for r in spec.rules
                                                               if r.action != "visit")}),
                        portfolio.segment_names)
    world = scenario.world()
    (cp,) = checkpoints(world, portfolio, base, rules, seed=np.random.SeedSequence(6), days=[8])
    allowed = _allowed(world, rules, cp)
    order = np.random.default_rng(1).permutation(allowed.size)
    train, test = np.sort(allowed[order[::2]]), np.sort(allowed[order[1::2]])
    fits = {
        measure: ValueModel.fit(
            treatment_effects(cp, train, base, reps=TRAIN_REPS, horizon=None, measure=measure,
                              seed=np.random.SeedSequence(78)).frame(),
            levels=LEVELS[-4:], min_accounts=20)
        for measure in ("net_value", "net_npv")
    }
    brute = treatment_effects(cp, test, base, reps=24, horizon=None,
                              seed=np.random.SeedSequence(79))
    return fits, brute


def _pooled_se(model, frame, se, level):
    """Standard error of the sum of pooled values: the accounts of one cell share its ratio,
    so their errors add up linearly within the cell and in quadrature across cells."""
    cells = [(k, *frame.loc[i, list(model.levels[k])]) for i, k in enumerate(level)]
    by_cell: dict[tuple, float] = {}
    for cell, s in zip(cells, se, strict=True):
        by_cell[cell] = by_cell.get(cell, 0.0) + s
    return np.sqrt(sum(v**2 for v in by_cell.values()))


def _out_of_sample_z(model, brute):
    frame = brute.frame()
    value, se, level = model.predict(frame)
    brute_se = brute.spread / np.sqrt(brute.reps)
    gap = value.sum() - brute.gross.sum()
    return gap / np.sqrt(_pooled_se(model, frame, se, level) ** 2 + (brute_se**2).sum())


def test_pooled_values_predict_accounts_they_were_not_fitted_on(halves):
    fits, brute = halves
    assert abs(_out_of_sample_z(fits["net_value"], brute)) < 3


def test_a_planted_bias_is_caught(halves):
    # Valuing by net_npv drops the credit for cures: pooled values biased low against the
    # brute force (which measures net_value); the same check must see it.
    fits, brute = halves
    assert _out_of_sample_z(fits["net_npv"], brute) < -3


def test_information_value_is_zero_without_a_rung_that_uses_it_and_not_with_one(small):
    from waifang.optimise.values import information_value
    from waifang.sim.policy import LadderRule

    world, portfolio, rules, _, base = small
    (cp,) = checkpoints(world, portfolio, base, rules, seed=np.random.SeedSequence(5), days=[8])
    allowed = _allowed(world, rules, cp)
    seed = np.random.SeedSequence(31)
    full, withheld = information_value(cp, allowed, base, reps=2, horizon=30, seed=seed)
    np.testing.assert_array_equal(full.gross, withheld.gross)
    # A hardship rung for borrowers a visit showed unable to pay uses the information.
    spec = base.spec
    hardship = LadderRule(action="hardship", dpd_min=90, dpd_max=179, every_days=1,
                          max_revealed_ability=0.45)
    using = LadderPolicy(spec.model_copy(update={"rules": (*spec.rules, hardship)}),
                         portfolio.segment_names)
    full, withheld = information_value(cp, allowed, using, reps=2, horizon=30, seed=seed)
    differs = full.gross != withheld.gross
    assert differs.sum() >= 3
