"""Parallel replications: the baseline on 1 worker, on 2 local workers and on a Dask cluster.

The work is split into (policy, replication) units (``waifang.scenarios.execution``), so
5 replications x 4 policies = 20 units share 2 workers evenly instead of 5 whole replications.
All three runs must give identical tables; the script checks it and fails loudly otherwise.

Printed per run: wall time; CPU time split into the units' own work (measured inside the
process that ran each unit), the workers' start-up and everything else (this process's
scheduling, pickling, tables), so a parallel run's extra CPU shows where it goes; the load
averages (1/5/15 min) before and after; and the speed-up against 1 worker measured in this
same process. The Dask run counts its cluster's start-up and shut-down in its CPU (the
cluster's processes are this process's children), and its wall time without them.
The last line is machine-readable::

    serial_s=<float> pool_s=<float> dask_s=<float> pool_speedup=<float> dask_speedup=<float>
    serial_cpu=<float> pool_cpu=<float> dask_cpu=<float> pool_unit_cpu_ratio=<float>

Target: pool_speedup >= 1.7 on 2 cores when nothing else runs (the load averages say whether
that was so). ``pool_unit_cpu_ratio`` is the units' own CPU in the pool over the same units'
CPU on 1 worker: above 1 when the two workers slow each other down (shared memory bandwidth
and caches), which no change to the pool can remove.

Usage::

    PYTHONPATH=. python benchmarks/replications.py                    # the baseline as shipped
    PYTHONPATH=. python benchmarks/replications.py --accounts 20000 --replications 3
"""

from __future__ import annotations

import argparse
import os
import resource
import time

# Only what a worker needs at the top: spawned workers import this module (to find
# measured_unit) and re-import the main script, so pandas and the runner are imported in
# main() -- a worker of `waifang run` does not import them either.
from waifang.scenarios import execution

_run_unit = execution.run_unit


def measured_unit(scenario, seed, replication, policy_index):
    """``run_unit`` with the CPU seconds it took in the process that ran it attached."""
    cpu0 = time.process_time()
    run = _run_unit(scenario, seed, replication, policy_index)
    object.__setattr__(run, "_bench_cpu", time.process_time() - cpu0)
    return run


def _scenario(accounts: int | None):
    from waifang.scenarios.schema import BASELINE, load_scenario, scenario_from_dict

    scenario = load_scenario(BASELINE)
    if accounts is None:
        return scenario
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    data = tomllib.loads(BASELINE.read_text())
    data["portfolio"]["accounts"] = accounts
    return scenario_from_dict(data, BASELINE)


def _cpu(who) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _loads() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


class Timed:
    """Wall and CPU (this process, its reaped children, the units' own) of a block."""

    def __init__(self, label: str):
        self.label = label
        self.runs = []  # the units' runs, as they finish (run_scenario's progress)

    def __enter__(self):
        self.loads_before = _loads()
        self.self0, self.children0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall0
        self.own = _cpu(resource.RUSAGE_SELF) - self.self0
        self.children = _cpu(resource.RUSAGE_CHILDREN) - self.children0
        self.cpu = self.own + self.children
        return False

    def progress(self, done, total, run) -> None:
        self.runs.append(run)

    def report(self, wall: float | None = None) -> None:
        if wall is not None:
            self.wall = wall
        runs = self.runs
        self.units = sum(getattr(r, "_bench_cpu", float("nan")) for r in runs)
        self.n_units = len(runs)
        rest = self.cpu - self.units
        print(
            f"{self.label:<34} wall {self.wall:7.2f} s  CPU {self.cpu:7.2f} s = units "
            f"{self.units:6.2f} + other {rest:5.2f} (this process {self.own:6.2f}, children "
            f"{self.children:6.2f}); load {self.loads_before} -> {_loads()}",
            flush=True,
        )


def _same(a, b) -> None:
    import pandas as pd

    for name in ("summary", "daily", "comparison"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=None, help="override the baseline's")
    parser.add_argument("--replications", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster run")
    args = parser.parse_args()
    # Units are submitted by name from the module (pool and Dask alike): measure each one.
    from benchmarks import replications as this  # importable by the workers (PYTHONPATH=.)
    from waifang.scenarios.runner import run_scenario

    execution.run_unit = this.measured_unit
    scenario = _scenario(args.accounts)
    common = {"scenario": scenario, "replications": args.replications}
    reps = args.replications or scenario.replications
    print(
        f"baseline: {scenario.portfolio.accounts:,} accounts x {scenario.days} days, "
        f"{reps} replications x {len(scenario.policies)} policies; {os.cpu_count()} cores"
    )
    with Timed("1 worker") as serial:
        serial_results = run_scenario(workers=1, progress=serial.progress, **common)
    serial.report()
    with Timed(f"{args.workers} workers (process pool)") as pool:
        pool_results = run_scenario(workers=args.workers, progress=pool.progress, **common)
    pool.report()
    _same(serial_results, pool_results)
    dask_s = dask_cpu = float("nan")
    if not args.no_dask:
        from dask.distributed import LocalCluster

        with Timed(f"Dask LocalCluster ({args.workers} processes)") as dask:
            with LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster:
                t0 = time.perf_counter()
                dask_results = run_scenario(
                    scheduler=cluster.scheduler_address, progress=dask.progress, **common
                )
                dask_s = time.perf_counter() - t0
        dask.report(wall=dask_s)
        dask_cpu = dask.cpu
        _same(serial_results, dask_results)
    print("identical tables on 1 worker, the pool" + ("" if args.no_dask else " and Dask"))
    ratio = pool.units / serial.units
    print(
        f"speed-up (wall): pool {serial.wall / pool.wall:.2f}x, Dask {serial.wall / dask_s:.2f}x;"
        f" CPU: pool {pool.cpu / serial.cpu:.2f}x serial's, of which the units' own work "
        f"{ratio:.2f}x (workers slowing each other) and start-up/pickling/scheduling "
        f"{pool.cpu - pool.units - (serial.cpu - serial.units):+.2f} s"
    )
    print(
        f"serial_s={serial.wall:.3f} pool_s={pool.wall:.3f} dask_s={dask_s:.3f} "
        f"pool_speedup={serial.wall / pool.wall:.3f} dask_speedup={serial.wall / dask_s:.3f} "
        f"serial_cpu={serial.cpu:.2f} pool_cpu={pool.cpu:.2f} dask_cpu={dask_cpu:.2f} "
        f"pool_unit_cpu_ratio={ratio:.3f}"
    )


if __name__ == "__main__":
    main()
