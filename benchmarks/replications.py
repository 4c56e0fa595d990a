"""Parallel replications: the baseline on 1 worker, on 2 local workers and on a Dask cluster.

The work is split into (policy, replication) units (``waifang.scenarios.execution``), so
5 replications x 4 policies = 20 units share 2 workers; a pool or a cluster is handed them a
few at a time, longest expected first. All three runs must give identical tables; the script
checks it and fails loudly otherwise.

Printed per run:
- wall time, and where it went on each worker: start-up (from the run's start to the
  worker's first unit: spawning, imports), the units themselves, gaps between units, and
  idle at the end (the worker done, another still busy);
- CPU time split into the units' own work (the thread that ran each unit, measured where it
  ran), this process (scheduling, pickling, tables; on Dask also the scheduler, the client
  and the nannies, which a LocalCluster runs here) and the workers' other CPU (start-up; on
  Dask the worker's event loop, heartbeats and monitors);
- the load averages (1/5/15 min) before and after, and the speed-up against 1 worker measured
  in this same process.

The Dask cluster (2 worker processes, 1 thread each, no dashboard) is started first, its
workers warmed (waifang and the engine imported, as on a cluster that has run before), and
that start-up is timed and printed on its own line. ``dask_s`` and ``dask_speedup`` are the
run on the started cluster, from ``run_scenario`` called to its tables back, which is what
``waifang run --scheduler ADDR`` costs on a running cluster; ``dask_startup_s`` and
``dask_cold_speedup`` add the start-up, for a cluster started for one run. Dask settings
(this script's, for its own cluster; the README says the same for any cluster running
waifang): a worker holds only the unit it runs (``distributed.scheduler.worker-saturation =
1.0``: units are seconds long, so a second one queued on a worker would only wait there while
another worker may be idle; with nothing queued on workers there is nothing to steal, so
``work-stealing`` is off); and the periodic work every Dask process does while the units run is
made rarer -- the workers' statistical profiler off (it samples the running thread 100 times a
second), the event-loop health check every 1 s instead of 20 ms, the system monitor every 2 s
instead of 0.5 s and the memory monitor every 1 s instead of 0.1 s. On an idle LocalCluster of
2 workers that took this process from 0.36-0.49 s of CPU per 10 s to 0.08 s, and each worker
from 0.17-0.33 s to 0.03-0.04 s. Last, the workers start without ``MALLOC_TRIM_THRESHOLD_``,
which Dask's nanny sets to 65536 to hand freed memory back to the system sooner: setting it
stops glibc from raising its mmap threshold, so every numpy temporary of 128 kB or more is
mapped and unmapped again, and zeroed page by page. Four baseline units in one process took
13-20x the page faults (159-248 k against 12 k) and 0.25-0.47 s of system time against
0.02-0.06 s with it. ``--dask-defaults`` runs Dask as it comes.

The last line is machine-readable::

    serial_s=<float> pool_s=<float> dask_s=<float> pool_speedup=<float> dask_speedup=<float>
    serial_cpu=<float> pool_cpu=<float> dask_cpu=<float> pool_unit_cpu_ratio=<float>
    dask_startup_s=<float> dask_cold_speedup=<float> dask_unit_cpu_ratio=<float>

Target: pool_speedup and dask_speedup >= 1.7 on 2 cores when nothing else runs (the load
averages say whether that was so). ``*_unit_cpu_ratio`` is the units' own CPU in the pool (on
Dask) over the same units' CPU on 1 worker: above 1 when the two workers slow each other
down (shared memory bandwidth and caches), which no change to the scheduling can remove.

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

DASK_SETTINGS = {
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.scheduler.work-stealing": False,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
    # Dask's default minus MALLOC_TRIM_THRESHOLD_=65536, which fixes glibc's mmap threshold:
    # every numpy temporary of 128 kB or more is then mapped and unmapped, page by page.
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1,
    },
}
"""This script's settings for its LocalCluster (the README's benchmark section says why)."""


def measured_unit(scenario, seed, replication, policy_index):
    """``run_unit`` with where and when it ran attached: the process id, its start and end
    (``time.time()``, comparable across processes) and the CPU seconds of the thread that ran
    it (a Dask worker's own threads -- event loop, heartbeats -- are not the unit's work)."""
    start, cpu0 = time.time(), time.thread_time()
    run = _run_unit(scenario, seed, replication, policy_index)
    object.__setattr__(run, "_bench", (os.getpid(), start, time.time(),
                                       time.thread_time() - cpu0))
    return run


def warm_worker() -> int:
    """Import what a unit needs (run on each Dask worker before the timed run)."""
    execution._engine()
    return os.getpid()


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


def _tree_cpu() -> dict[int, float]:
    """CPU seconds so far of each live child process (Dask's workers live until the cluster
    closes, so they are read here rather than reaped)."""
    import psutil

    out = {}
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        out[child.pid] = times.user + times.system
    return out


class Timed:
    """Wall and CPU (this process, its children, the units' own) of a block."""

    def __init__(self, label: str, live_children: bool = False):
        self.label = label
        self.live_children = live_children
        self.runs = []  # the units' runs, as they finish (run_scenario's progress)

    def __enter__(self):
        self.loads_before = _loads()
        self.self0, self.children0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
        self.tree0 = _tree_cpu() if self.live_children else {}
        self.start = time.time()
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall0
        self.end = time.time()
        self.own = _cpu(resource.RUSAGE_SELF) - self.self0
        self.children = _cpu(resource.RUSAGE_CHILDREN) - self.children0
        if self.live_children:
            tree = _tree_cpu()
            self.children += sum(t - self.tree0.get(pid, 0.0) for pid, t in tree.items())
        self.cpu = self.own + self.children
        return False

    def progress(self, done, total, run) -> None:
        self.runs.append(run)

    def report(self) -> None:
        stamps = [r._bench for r in self.runs]
        self.units = sum(s[3] for s in stamps)
        rest = self.cpu - self.units
        print(
            f"{self.label:<34} wall {self.wall:7.2f} s  CPU {self.cpu:7.2f} s = units "
            f"{self.units:6.2f} + this process {self.own - self._units_here():5.2f} + "
            f"workers' other {rest - (self.own - self._units_here()):5.2f}; "
            f"load {self.loads_before} -> {_loads()}",
            flush=True,
        )
        by_worker: dict[int, list] = {}
        for pid, start, end, _ in stamps:
            by_worker.setdefault(pid, []).append((start, end))
        last_end = max(end for _, _, end, _ in stamps)
        parts = []
        for spans in by_worker.values():
            spans.sort()
            busy = sum(e - s for s, e in spans)
            first, idle = spans[0][0] - self.start, last_end - spans[-1][1]
            gaps = (spans[-1][1] - spans[0][0]) - busy
            parts.append(f"{len(spans)} units: start-up {first:.2f} + units {busy:.2f} + "
                         f"gaps {gaps:.2f} + idle at the end {idle:.2f} s")
        print(f"{'':<34} per worker: " + "; ".join(parts)
              + f"; then tables (and shut-down) {self.end - last_end:.2f} s", flush=True)

    def _units_here(self) -> float:
        """The units' CPU that ran in this process (1 worker), counted in ``own``."""
        return sum(r._bench[3] for r in self.runs if r._bench[0] == os.getpid())


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
    parser.add_argument("--no-pool", action="store_true", help="skip the process pool run")
    parser.add_argument("--dask-defaults", action="store_true",
                        help="run Dask with its default settings (not DASK_SETTINGS)")
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
    nan = float("nan")
    pool = Timed(f"{args.workers} workers (process pool)")
    pool.wall = pool.cpu = pool.units = nan
    if not args.no_pool:
        with pool:
            pool_results = run_scenario(workers=args.workers, progress=pool.progress, **common)
        pool.report()
        _same(serial_results, pool_results)
    dask = Timed(f"Dask LocalCluster ({args.workers} processes)", live_children=True)
    dask.wall = dask.cpu = dask.units = startup_s = nan
    if not args.no_dask:
        import dask as dask_module
        from dask.distributed import Client, LocalCluster

        settings = {} if args.dask_defaults else DASK_SETTINGS
        with dask_module.config.set(settings):
            loads = _loads()
            cpu0 = _cpu(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            with LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster:
                with Client(cluster) as client:
                    client.run(this.warm_worker)
                startup_s = time.perf_counter() - t0
                startup_cpu = _cpu(resource.RUSAGE_SELF) - cpu0 + sum(_tree_cpu().values())
                print(
                    f"{'Dask cluster start-up':<34} wall {startup_s:7.2f} s  CPU "
                    f"{startup_cpu:7.2f} s (this process and the workers; workers warmed: "
                    f"waifang and the engine imported); load {loads} -> {_loads()}"
                    + ("; Dask defaults" if args.dask_defaults else f"; settings {settings}"),
                    flush=True,
                )
                with dask:
                    dask_results = run_scenario(
                        scheduler=cluster.scheduler_address, progress=dask.progress, **common
                    )
        dask.report()
        _same(serial_results, dask_results)
    done = ["1 worker"] + ["the pool"] * (not args.no_pool) + ["Dask"] * (not args.no_dask)
    print("identical tables on " + ", ".join(done))
    pool_ratio = pool.units / serial.units
    dask_ratio = dask.units / serial.units
    cold = serial.wall / (startup_s + dask.wall)
    print(
        f"speed-up (wall): pool {serial.wall / pool.wall:.2f}x, Dask {serial.wall / dask.wall:.2f}x"
        f" on the started cluster ({cold:.2f}x counting its start-up of {startup_s:.2f} s);"
        f" units' own CPU against 1 worker's: pool {pool_ratio:.2f}x, Dask {dask_ratio:.2f}x"
        " (above 1: the workers slow each other)"
    )
    print(
        f"serial_s={serial.wall:.3f} pool_s={pool.wall:.3f} dask_s={dask.wall:.3f} "
        f"pool_speedup={serial.wall / pool.wall:.3f} dask_speedup={serial.wall / dask.wall:.3f} "
        f"serial_cpu={serial.cpu:.2f} pool_cpu={pool.cpu:.2f} dask_cpu={dask.cpu:.2f} "
        f"pool_unit_cpu_ratio={pool_ratio:.3f} dask_startup_s={startup_s:.3f} "
        f"dask_cold_speedup={cold:.3f} dask_unit_cpu_ratio={dask_ratio:.3f}"
    )


if __name__ == "__main__":
    main()
