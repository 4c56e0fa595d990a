"""Fast in-process checks of waifang/sim/fork.py, one behaviour each (also its selection for
mutation testing, tests/mutation.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from waifang.scenarios.runner import build_portfolio
from waifang.scenarios.schema import load_scenario
from waifang.sim.engine import simulate
from waifang.sim.fork import checkpoints
from waifang.sim.policy import LadderPolicy

SMALL = Path(__file__).parent / "data" / "small.toml"


@pytest.fixture(scope="module")
def small():
    scenario = load_scenario(SMALL)
    portfolio = build_portfolio(scenario, np.random.default_rng(1))
    rules, _ = scenario.rules_for(0)
    spec = scenario.policies[0]
    ladder = LadderPolicy(spec, portfolio.segment_names)
    quiet = spec.model_copy(update={"rules": tuple(r for r in spec.rules
                                                   if r.action not in ("visit", "legal"))})
    return scenario.world(), portfolio, rules, ladder, LadderPolicy(quiet,
                                                                    portfolio.segment_names)


def test_a_branch_on_a_seed_has_that_seeds_luck_alone(small):
    """On day 0 nothing has happened yet: runs on two seeds, paused there and continued on a
    third, are the same run. Every keyed draw (calls answered, visit times, court delays)
    must come from the branch's seed, not from the run the checkpoint was taken from."""
    world, portfolio, rules, ladder, _ = small
    seed = np.random.SeedSequence(5)
    branches = []
    for run_seed in (1, 2):
        (cp,) = checkpoints(world, portfolio, ladder, rules,
                            seed=np.random.SeedSequence(run_seed), days=[0])
        assert cp.run_seed.entropy == run_seed
        branches.append(cp.branch(ladder, seed=seed, until=40))
    a, b = branches
    assert a.performed == b.performed
    np.testing.assert_array_equal(a.value, b.value)
    # ... and a branch with the run's own streams (no seed) is the run itself.
    (cp,) = checkpoints(world, portfolio, ladder, rules, seed=np.random.SeedSequence(1),
                        days=[0])
    run = simulate(world, portfolio, ladder, rules, seed=np.random.SeedSequence(1))
    assert cp.branch(ladder).value.sum() == pytest.approx(run.summary["net_value"], rel=1e-12)
    assert cp.branch(ladder).value.sum() != pytest.approx(a.value.sum(), rel=1e-6)
