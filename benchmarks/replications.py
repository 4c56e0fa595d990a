"""Parallel replications: the baseline on 1 worker, on 2 local workers and on a Dask cluster.

The work is split into (policy, replication) units (``waifang.scenarios.execution``), so
5 replications x 4 policies = 20 units share 2 workers evenly instead of 5 whole replications.
All three runs must give identical tables; the script checks it and fails loudly otherwise.

Printed per run: wall time, CPU time (this process and its finished children), the load
average before the run, and the speed-up against 1 worker measured in this same process.
The last line is machine-readable::

    serial_s=<float> pool_s=<float> dask_s=<float> pool_speedup=<float> dask_speedup=<float>

Target: pool_speedup >= 1.7 on 2 cores when nothing else runs (the load average says whether
that was so).

Usage::

    PYTHONPATH=. python benchmarks/replications.py                    # the baseline as shipped
    PYTHONPATH=. python benchmarks/replications.py --accounts 20000 --replications 3
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

from waifang.scenarios.runner import run_scenario
from waifang.scenarios.schema import BASELINE, load_scenario, scenario_from_dict


def _scenario(accounts: int | None):
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


def _timed(label: str, **kwargs):
    load = os.getloadavg()[0]
    cpu0, wall0 = os.times(), time.perf_counter()
    results = run_scenario(**kwargs)
    wall = time.perf_counter() - wall0
    cpu1 = os.times()
    cpu = sum(cpu1[:4]) - sum(cpu0[:4])
    print(f"{label:<28} wall {wall:7.2f} s   cpu {cpu:7.2f} s   load before {load:5.2f}",
          flush=True)
    return wall, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=None, help="override the baseline's")
    parser.add_argument("--replications", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster run")
    args = parser.parse_args()

    scenario = _scenario(args.accounts)
    common = {"scenario": scenario, "replications": args.replications}
    reps = args.replications or scenario.replications
    print(f"baseline: {scenario.portfolio.accounts:,} accounts x {scenario.days} days, "
          f"{reps} replications x {len(scenario.policies)} policies; {os.cpu_count()} cores")
    serial_s, serial = _timed("1 worker", workers=1, **common)
    pool_s, pool = _timed(f"{args.workers} workers (process pool)", workers=args.workers,
                          **common)
    for name in ("summary", "daily", "comparison"):
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(pool, name))
    dask_s = float("nan")
    if not args.no_dask:
        from dask.distributed import LocalCluster

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            dask_s, on_dask = _timed(f"Dask LocalCluster ({args.workers} processes)",
                                     scheduler=cluster.scheduler_address, **common)
        for name in ("summary", "daily", "comparison"):
            pd.testing.assert_frame_equal(getattr(serial, name), getattr(on_dask, name))
    print("identical tables on 1 worker, the pool" + ("" if args.no_dask else " and Dask"))
    print(f"speed-up: pool {serial_s / pool_s:.2f}x, Dask {serial_s / dask_s:.2f}x")
    print(f"serial_s={serial_s:.3f} pool_s={pool_s:.3f} dask_s={dask_s:.3f} "
          f"pool_speedup={serial_s / pool_s:.3f} dask_speedup={serial_s / dask_s:.3f}")


if __name__ == "__main__":
    main()
