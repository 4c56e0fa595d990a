"""Closed-loop benchmark: the optimised policy against the ladder on the same book.

In one process, on one generated book of the visit_optimisation scenario's world:

1. the ladder with its visit rung (rule_90dpd), timed;
2. the optimised policy (the same ladder without the visit rung, weekly plans), timed in its
   parts: training its values (drawing the training book included, as the runner does), the
   run itself (plans included), and the same run with the realised-value probe the scenario
   runner adds;
3. values for every account a visit may be asked for on day 0 (features + the fitted model).

Prints wall and CPU seconds, the load average, and the ratios of both (on a shared machine
the CPU ratio is the one to trust). Targets (issue 6): the optimised run at most 2x the
ladder's; values for 1 M accounts within 60 s.

Usage::

    PYTHONPATH=. python benchmarks/closed_loop.py                  # 1 M accounts x 180 days
    PYTHONPATH=. python benchmarks/closed_loop.py --accounts 100000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from waifang.optimise.policy import OptimisedPolicy, candidates
from waifang.optimise.training import RealisedProbe, train_value_model
from waifang.scenarios.optimised import training_book
from waifang.scenarios.runner import build_portfolio
from waifang.scenarios.schema import scenario_from_dict
from waifang.sim.engine import simulate
from waifang.sim.fork import simulate_probed
from waifang.sim.policy import LadderPolicy
from waifang.sim.rng import replication_seeds

try:
    import tomllib
except ImportError:  # pragma: no cover
    import tomli as tomllib

from waifang.scenarios.run_commands import scenario_path


class Clock:
    def __init__(self, label: str) -> None:
        self.label = label

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        print(f"{self.label:<44} {self.wall:8.2f} s wall {self.cpu:8.2f} s cpu  "
              f"load {os.getloadavg()[0]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--horizon-periods", type=int, default=4,
                        help="also time weekly plans over this many weeks (1: skip)")
    args = parser.parse_args()
    path = scenario_path("visit_optimisation")
    raw = tomllib.loads(path.read_text())
    raw["portfolio"]["accounts"] = args.accounts
    # Budgets scale with the book (the scenario's are for 50,000 accounts).
    scale = args.accounts / 50_000
    for policy in raw["policies"][1:]:
        budgets = policy["optimiser"]["budget_per_period"]
        policy["optimiser"]["budget_per_period"] = [b * scale for b in budgets]
    scenario = scenario_from_dict(raw, path)
    world = scenario.world()
    portfolio_seed, run_seed = replication_seeds(args.seed, 0)
    with Clock(f"portfolio of {args.accounts:,} accounts"):
        portfolio = build_portfolio(scenario, np.random.default_rng(portfolio_seed))
    rule_rules, _ = scenario.rules_for(0)
    with Clock("ladder (rule_90dpd), 180 days") as ladder:
        simulate(world, portfolio, LadderPolicy(scenario.policies[0], portfolio.segment_names),
                 rule_rules, seed=run_seed)
    spec = scenario.policies[2]
    rules, _ = scenario.rules_for(2)
    base = LadderPolicy(spec, portfolio.segment_names)
    book_accounts = min(spec.optimiser.training_accounts, args.accounts)
    with Clock(f"training the values ({book_accounts:,}-account book drawn)") as training:
        book = training_book(scenario, spec.optimiser.training_accounts, build_portfolio,
                             np.random.default_rng(np.random.SeedSequence(args.seed + 1)))
        model = train_value_model(world, book, len(portfolio), base, rules, spec.optimiser,
                                  np.random.SeedSequence(args.seed, spawn_key=(0, 2, 1)))
    with Clock("values for every eligible account, day 0") as values:
        from waifang.sim.fork import checkpoints

        (cp,) = checkpoints(world, portfolio, base, rules, seed=run_seed, days=[0])
        table = candidates(cp.view, 0, world, rules, model, scenario.region_names())
    print(f"  {len(table):,} eligible accounts valued")
    with Clock(f"values for all {len(portfolio):,} accounts, day 0") as every:
        from waifang.optimise.values import features

        everyone = np.arange(len(portfolio))
        feats = features(cp.view, everyone, 0, world.days)
        feats["balance"] = cp.view.balance
        model.predict(feats)
    names = scenario.region_names()
    policy = OptimisedPolicy(base, spec.optimiser, world, rules, names, model, run_seed)
    with Clock("optimised policy, 180 days, weekly plans") as optimised:
        simulate(world, portfolio, policy, rules, seed=run_seed)
    policy = OptimisedPolicy(base, spec.optimiser, world, rules, names, model, run_seed)
    probe = RealisedProbe(policy, base, np.random.SeedSequence(args.seed, spawn_key=(0, 3)))
    with Clock("optimised policy + realised-value probe") as probed:
        simulate_probed(world, portfolio, policy, rules, seed=run_seed, probe=probe)
    horizon = None
    if args.horizon_periods > 1:
        long = spec.optimiser.model_copy(update={"horizon_periods": args.horizon_periods})
        policy = OptimisedPolicy(base, long, world, rules, names, model, run_seed)
        with Clock(f"optimised policy, plans over {args.horizon_periods} weeks") as horizon:
            simulate(world, portfolio, policy, rules, seed=run_seed)
    for kind in ("wall", "cpu"):
        ladder_s, run_s = getattr(ladder, kind), getattr(optimised, kind)
        train_s, probe_s = getattr(training, kind), getattr(probed, kind)
        print(f"ratio optimised / ladder ({kind}): {run_s / ladder_s:.2f} (run), "
              f"{(run_s + train_s) / ladder_s:.2f} (with training), "
              f"{(probe_s + train_s) / ladder_s:.2f} (with training and probe)"
              + (f", {getattr(horizon, kind) / ladder_s:.2f} (run, {args.horizon_periods}-week "
                 "plans)" if horizon else ""))
    print(f"closed_loop accounts={args.accounts} ladder_s={ladder.wall:.2f} "
          f"optimised_s={optimised.wall:.2f} training_s={training.wall:.2f} "
          f"probed_s={probed.wall:.2f} values_s={values.wall:.2f} "
          f"ladder_cpu={ladder.cpu:.2f} optimised_cpu={optimised.cpu:.2f} "
          f"training_cpu={training.cpu:.2f} probed_cpu={probed.cpu:.2f} "
          f"values_cpu={values.cpu:.2f} every_account_values_cpu={every.cpu:.2f}"
          + (f" horizon_cpu={horizon.cpu:.2f}" if horizon else ""))


if __name__ == "__main__":
    main()
