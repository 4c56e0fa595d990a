"""Small-branch benchmark: what one simulated day of a small branch costs.

The closed loop's fixed costs are small branches: training values a sample of 1,500 accounts
by paired branches of up to 90 days, the realised-value probe continues 200 planned accounts
the same way. Their cost is per-day overhead (simpy steps, a few hundred small numpy calls,
Python), hardly the accounts themselves. In one process, on one visit_optimisation book:

1. the ladder (the optimised policy's base) runs to day ``--day`` and is paused there;
2. for each size, ``--reps`` times: the checkpoint is cut to that many delinquent accounts
   (timed: the copy) and continued with and without a visit for ``--days`` days (timed: CPU
   ms per simulated branch-day);
3. a fixed reference workload of small numpy calls and Python, unchanged by any change to
   waifang, is timed in the same process: its time per call is printed, and each figure
   beside it as a multiple of it, so runs on a loaded machine compare by that ratio too.

Prints CPU (``time.process_time``) and wall seconds and the load average; the last line is
machine-readable::

    branches copy_ms[200]=<f> day_ms[200]=<f> ... reference_us=<f> loadavg=<1 min>

Usage::

    PYTHONPATH=. python benchmarks/branches.py                     # 200 and 1,500 accounts
    PYTHONPATH=. python benchmarks/branches.py --book 1000000      # copies out of a 1 M run
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from waifang.scenarios.run_commands import scenario_path
from waifang.scenarios.runner import build_portfolio
from waifang.scenarios.schema import scenario_from_dict
from waifang.sim.fork import checkpoints
from waifang.sim.policy import LadderPolicy
from waifang.sim.rng import replication_seeds
from waifang.sim.state import DELINQUENT

try:
    import tomllib
except ImportError:  # pragma: no cover
    import tomli as tomllib


def reference_us(rounds: int = 20_000) -> float:
    """CPU microseconds per round of a fixed mix of small numpy calls and Python (what a
    small branch's day is made of), independent of waifang's code."""
    x = np.arange(200, dtype=np.int64)
    f = np.linspace(0.0, 1.0, 200)
    start = time.process_time()
    total = 0
    for k in range(rounds):
        y = x[f < (k % 7) / 7.0]
        total += int(y.sum()) + len({"a": k, "b": y.size})
    return (time.process_time() - start) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=int, default=100_000, help="accounts of the paused run")
    parser.add_argument("--day", type=int, default=60, help="the day the run is paused")
    parser.add_argument("--days", type=int, default=90, help="days each branch runs")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1500])
    parser.add_argument("--reps", type=int, default=4, help="branch pairs per size")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    path = scenario_path("visit_optimisation")
    raw = tomllib.loads(path.read_text())
    raw["portfolio"]["accounts"] = args.book
    scenario = scenario_from_dict(raw, path)
    world = scenario.world()
    portfolio_seed, run_seed = replication_seeds(args.seed, 0)
    portfolio = build_portfolio(scenario, np.random.default_rng(portfolio_seed))
    spec = scenario.policies[2]  # the optimised policy's base ladder (no visit rung)
    rules, _ = scenario.rules_for(2)
    base = LadderPolicy(spec, portfolio.segment_names)
    start = time.process_time()
    (cp,) = checkpoints(world, portfolio, base, rules, seed=run_seed, days=[args.day])
    print(f"run of {args.book:,} accounts to day {args.day}: "
          f"{time.process_time() - start:.2f} s cpu", flush=True)
    delinquent = np.flatnonzero(cp.view.status == DELINQUENT)
    until = min(world.days, args.day + args.days)
    rng = np.random.default_rng(args.seed)
    reference = reference_us()
    figures = {}
    for size in args.sizes:
        copy_cpu = branch_cpu = 0.0
        wall = time.perf_counter()
        for rep in range(args.reps):
            pick = np.sort(rng.choice(delinquent, min(size, delinquent.size), replace=False))
            t = time.process_time()
            sub = cp.subset(pick)
            copy_cpu += time.process_time() - t
            seed = np.random.SeedSequence(args.seed, spawn_key=(size, rep))
            t = time.process_time()
            sub.branch(base, extra={"visit": np.arange(sub.n)}, seed=seed, until=until,
                       unlimited_field=True)
            sub.branch(base, seed=seed, until=until, unlimited_field=True)
            branch_cpu += time.process_time() - t
        wall = time.perf_counter() - wall
        branch_days = 2 * args.reps * (until - args.day)
        copy_ms = copy_cpu / args.reps * 1e3
        day_ms = branch_cpu / branch_days * 1e3
        figures[size] = (copy_ms, day_ms)
        print(f"{size:>6,} accounts: {day_ms:6.3f} ms cpu per branch-day "
              f"({day_ms * 1e3 / reference:6.0f} reference calls), copy {copy_ms:7.2f} ms cpu; "
              f"{branch_days} branch-days, {wall:.2f} s wall, load {os.getloadavg()[0]:.2f}",
              flush=True)
    print(f"reference workload: {reference:.2f} us cpu per call")
    print("branches " + " ".join(f"copy_ms[{s}]={c:.3f} day_ms[{s}]={d:.4f}"
                                 for s, (c, d) in figures.items())
          + f" reference_us={reference:.3f} loadavg={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
