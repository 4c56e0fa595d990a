"""Engine benchmark: the full collection ladder on a large portfolio, against the naive reference.

Runs, in one process and on one world,

1. the naive reference (``naive_reference.simulate_naive``: one simpy process per account) on
   a subsample of the portfolio (the portfolio is generated in random order, so its first
   accounts are a random sample);
2. the fast engine (``waifang.sim.engine.simulate``) on the whole portfolio, timed;
3. the fast engine again under ``tracemalloc`` (numpy's allocations are traced) around
   portfolio generation and the run, for the peak memory per account.

Account-days per second are accounts x days / seconds of the simulation itself (portfolio
generation is timed and printed apart), by the wall clock and per second of CPU time (the
process's own, ``time.process_time``): on a machine shared with other work the wall figure
falls with the load while the CPU figure moves much less, so the load average is printed
beside both. The last two lines are machine-readable::

    cpu: engine_account_days_per_cpu_s=<float> naive_account_days_per_cpu_s=<float> \
speedup_cpu=<float> loadavg=<1 min>,<5 min>,<15 min>
    engine_account_days_per_s=<float> naive_account_days_per_s=<float> speedup=<float> \
bytes_per_account=<float>

Targets: >= 20 M account-days/s, >= 30x the naive reference, <= 500 bytes peak per account.

Usage::

    PYTHONPATH=. python benchmarks/engine.py                       # 1 M x 180, naive 3,000
    PYTHONPATH=. python benchmarks/engine.py --accounts 100000 --naive-accounts 500
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from naive_reference import simulate_naive  # noqa: E402

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, PortfolioSpec, World  # noqa: E402
from waifang.sim.engine import simulate  # noqa: E402
from waifang.sim.portfolio import generate_portfolio  # noqa: E402
from waifang.sim.rules import resolve_rules  # noqa: E402
from waifang.sim.spec import CallCentreSpec, RegionSpec, ResourcesSpec, Shift  # noqa: E402

REGIONS = ("north", "east", "south", "west", "central")

FULL_LADDER = PolicySpec(
    name="full_ladder",
    description="reminders early, calls and freeze mid, visits 90+ on large balances, legal, "
    "agency, sale at charge-off",
    rules=(
        LadderRule(action="sms", dpd_min=1, dpd_max=15, every_days=3),
        LadderRule(action="ivr", dpd_min=5, dpd_max=15, every_days=5),
        LadderRule(action="call", dpd_min=16, dpd_max=89, every_days=2, attempts=2),
        LadderRule(action="freeze", dpd_min=30, dpd_max=179),
        LadderRule(action="visit", dpd_min=90, dpd_max=179, every_days=15, min_balance=5000),
        LadderRule(action="legal", dpd_min=120, dpd_max=179, every_days=30, min_balance=10000),
        LadderRule(action="agency", dpd_min=150, dpd_max=179, every_days=30),
        LadderRule(action="sale"),
    ),
)


def scaled_world(accounts: int, days: int) -> World:
    """Resources in proportion to the portfolio, so that the ladder is realistic at any size.

    Per 100,000 accounts: 200 call agents on a 09-21 shift (the default call centre), 10 field
    teams per region, 2,000 concurrent legal cases and 20,000 agency places (the defaults).
    """
    scale = accounts / 100_000
    resources = ResourcesSpec(
        call_centre=CallCentreSpec(
            shifts=(Shift(start_hour=9, end_hour=21, agents=max(1, round(200 * scale))),)
        ),
        regions=tuple(RegionSpec(name=n, teams=max(1, round(10 * scale))) for n in REGIONS),
        legal_capacity=max(1, round(2000 * scale)),
        agency_capacity=max(1, round(20_000 * scale)),
    )
    return World(days=days, resources=resources)


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = loadavg(" ")
    return (
        f"machine: nproc={cpus} cpu={model!r} python={platform.python_version()} "
        f"numpy={np.__version__} loadavg={load}"
    )


def loadavg(sep: str) -> str:
    """The 1, 5 and 15 minute load averages."""
    return sep.join(f"{x:.2f}" for x in os.getloadavg())


def max_rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_engine(world: World, accounts: int, seed: int):
    """Generate the portfolio and run the ladder: (portfolio, result, generation s, run s,
    run CPU s)."""
    t0 = time.perf_counter()
    portfolio = generate_portfolio(
        PortfolioSpec(accounts=accounts), REGIONS, np.random.default_rng(seed)
    )
    t1 = time.perf_counter()
    c1 = time.process_time()
    rules, _ = resolve_rules("cn")
    result = simulate(
        world,
        portfolio,
        LadderPolicy(FULL_LADDER, portfolio.segment_names),
        rules,
        seed=np.random.SeedSequence(seed),
    )
    t2 = time.perf_counter()
    return portfolio, result, t1 - t0, t2 - t1, time.process_time() - c1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--naive-accounts", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument(
        "--skip-memory",
        action="store_true",
        help="skip the tracemalloc pass (bytes_per_account printed as nan)",
    )
    args = parser.parse_args(argv)
    world = scaled_world(args.accounts, args.days)
    rules, _ = resolve_rules("cn")
    print(machine())

    # 1. The naive reference on a subsample of the same portfolio, same world.
    k = min(args.naive_accounts, args.accounts)
    sample = generate_portfolio(
        PortfolioSpec(accounts=args.accounts), REGIONS, np.random.default_rng(args.seed)
    ).subset(np.arange(k))
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    naive = simulate_naive(world, sample, FULL_LADDER, rules, seed=np.random.SeedSequence(1))
    naive_seconds, naive_cpu = time.perf_counter() - t0, time.process_time() - c0
    naive_rate = k * args.days / naive_seconds
    naive_cpu_rate = k * args.days / naive_cpu
    print(
        f"naive reference: {k} accounts x {args.days} days in {naive_seconds:.2f} s "
        f"(CPU {naive_cpu:.2f} s) = {naive_rate:,.0f} account-days/s "
        f"({naive_cpu_rate:,.0f} per CPU-second) "
        f"(cure {naive['cure_rate']:.3f}, "
        f"charge-off {naive['chargeoff_rate']:.3f}, recovery {naive['recovery_rate']:.3f})"
    )
    del sample, naive
    gc.collect()

    # 2. The fast engine on the whole portfolio, timed without tracemalloc.
    portfolio, result, gen_seconds, sim_seconds, sim_cpu = run_engine(
        world, args.accounts, args.seed
    )
    engine_rate = args.accounts * args.days / sim_seconds
    engine_cpu_rate = args.accounts * args.days / sim_cpu
    s = result.summary
    print(
        f"engine: {args.accounts} accounts x {args.days} days in {sim_seconds:.2f} s "
        f"(CPU {sim_cpu:.2f} s) = {engine_rate:,.0f} account-days/s "
        f"({engine_cpu_rate:,.0f} per CPU-second; load average {loadavg(' ')}) "
        f"(portfolio generation {gen_seconds:.2f} s)"
    )
    print(
        f"engine ladder: cure {s['cure_rate']:.3f} charge-off {s['chargeoff_rate']:.3f} "
        f"recovery {s['recovery_rate']:.3f}; calls {s['calls_performed']:.0f} "
        f"(dropped {s['calls_dropped']:.0f}), visits {s['visits']:.0f} "
        f"(dropped {s['visits_dropped']:.0f}), legal {s['legal_cases']:.0f}, "
        f"agency {s['agency_placements']:.0f}, blocked {s['blocked']:.0f}, "
        f"violations {s['violations']:.0f}"
    )
    del portfolio, result
    gc.collect()

    # 3. Peak traced memory of generation + run, per account.
    bytes_per_account = float("nan")
    if not args.skip_memory:
        tracemalloc.start()
        portfolio, result, *_ = run_engine(world, args.accounts, args.seed)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        bytes_per_account = peak / args.accounts
        print(
            f"engine peak traced memory (generation + run): {peak / 2**20:,.1f} MiB "
            f"= {bytes_per_account:.1f} bytes/account"
        )
        del portfolio, result
    print(f"process max RSS: {max_rss_bytes() / 2**20:,.1f} MiB")
    print(
        f"wall-clock rates; CPU-time speedup {(naive_cpu / k) / (sim_cpu / args.accounts):.1f}; "
        f"load average at the end: {loadavg(' ')}"
    )
    print(
        f"cpu: engine_account_days_per_cpu_s={engine_cpu_rate:.1f} "
        f"naive_account_days_per_cpu_s={naive_cpu_rate:.1f} "
        f"speedup_cpu={engine_cpu_rate / naive_cpu_rate:.1f} loadavg={loadavg(',')}"
    )
    print(
        f"engine_account_days_per_s={engine_rate:.1f} naive_account_days_per_s={naive_rate:.1f} "
        f"speedup={engine_rate / naive_rate:.1f} bytes_per_account={bytes_per_account:.1f}"
    )


if __name__ == "__main__":
    main()
