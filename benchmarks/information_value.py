"""What a visit's information is worth on the visit_optimisation book (docs/closed-loop.md).

A visit that meets the borrower reveals ability against willingness; the ladder's hardship rung
(``max_revealed_ability = 0.3``) uses it. On replication 0's book, the run of the `optimised`
policy's base ladder (rule_90dpd without its visit rung) is copied at the start of day 0 and
day 28; on a seeded sample of the accounts a visit may be asked for, the visit's effect is
measured with the revelation used and with it withheld (``WithheldRevelation``), on the same
seeds (``waifang.optimise.values.information_value``). Deterministic for a given seed.

Usage::

    PYTHONPATH=. python benchmarks/information_value.py [--accounts 1500] [--reps 3]
"""

from __future__ import annotations

import argparse

import numpy as np

from waifang.optimise.values import information_value, sample
from waifang.scenarios.execution import build_portfolio
from waifang.scenarios.run_commands import scenario_path
from waifang.scenarios.schema import load_scenario
from waifang.sim.eligible import visit_allowed
from waifang.sim.fork import checkpoints
from waifang.sim.policy import LadderPolicy
from waifang.sim.rng import replication_seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1500)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--days", default="0,28")
    args = parser.parse_args()
    scenario = load_scenario(scenario_path("visit_optimisation"))
    index = [p.name for p in scenario.policies].index("optimised")
    portfolio_seed, run_seed = replication_seeds(scenario.seed, 0)
    portfolio = build_portfolio(scenario, np.random.default_rng(portfolio_seed))
    world = scenario.world(index)
    rules, _ = scenario.rules_for(index)
    base = LadderPolicy(scenario.policies[index], portfolio.segment_names)
    days = sorted({int(d) for d in args.days.split(",")})
    taken = checkpoints(world, portfolio, base, rules, seed=run_seed, days=days)
    for day, cp in zip(days, taken, strict=True):
        collectors = np.array([r.collectors_per_team for r in world.resources.regions])
        allowed = visit_allowed(rules, cp.view, np.arange(cp.n), day,
                                collectors[cp.portfolio.region])
        accounts = sample(np.random.SeedSequence(3), np.flatnonzero(allowed), args.accounts,
                          "info")
        full, withheld = information_value(cp, accounts, base, reps=args.reps,
                                           seed=np.random.SeedSequence(4))
        gain = full.gross - withheld.gross
        half_width = 1.96 * gain.std(ddof=1) / np.sqrt(gain.size)
        print(f"day {day}: {accounts.size} accounts; visit effect (gross) "
              f"{full.gross.mean():.1f}, withheld {withheld.gross.mean():.1f}; information "
              f"value per visit {gain.mean():.1f} +- {half_width:.1f} (95 %); share of gross "
              f"{gain.mean() / full.gross.mean():.3f}")


if __name__ == "__main__":
    main()
