"""Where the work of a run or a sweep happens: here, in a process pool, or on Dask.

The unit of work is one policy on one replication of one scenario (a sweep point is one
scenario). A unit builds its replication's portfolio from the replication's seed (cheap next
to a policy's simulation: 0.05 s against seconds on the baseline) and runs one policy on it,
so every policy of a replication still sees the same borrowers and the same luck (common
random numbers), while the work splits evenly over workers: 5 replications x 4 policies are
20 units, not 5 lumps for 2 workers.

Units finish in any order; each is handed to ``on_done`` as it finishes (the checkpoint
writes it then), and the tables are built later in a fixed order, so the results are
identical on 1 worker, a pool or a cluster.

On a pool or a cluster the units are handed out a few at a time, longest expected first
(:class:`LongestFirst`): a unit's expected time is what the same policy took at the same
sweep point on an earlier replication, so the short units (a digital-only policy takes half a
ladder's time) are left to fill the workers' last gaps instead of one long unit running alone
at the end. One worker runs the units in their listed order.

This module is all a worker process imports (numpy, pydantic and the simulator; not pandas
or scipy, which the tables need): a spawned worker starts in a third of the time.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import math
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from waifang.errors import InputError
from waifang.scenarios.schema import Scenario
from waifang.sim.compliance import ACTIONS
from waifang.sim.policy import LadderPolicy
from waifang.sim.results import RunResult
from waifang.sim.rng import replication_seeds
from waifang.sim.rules import RULES
from waifang.sim.state import Portfolio


@dataclass(frozen=True)
class PolicyRun:
    """One (replication, policy) run, reduced to what the tables need (cheap to pickle)."""

    policy: str
    replication: int
    summary: dict[str, float]
    daily: dict[str, np.ndarray]
    blocked_by_rule: dict[str, int]
    violations: int
    departures: tuple[str, ...]
    audit: dict[str, np.ndarray] | None = None


def _engine() -> tuple[Callable[..., Any], Callable[..., RunResult]]:
    """The simulator's portfolio generator and engine, imported only when a run starts."""
    from waifang.sim.engine import simulate
    from waifang.sim.portfolio import generate_portfolio

    return generate_portfolio, simulate


def build_portfolio(scenario: Scenario, rng: np.random.Generator) -> Portfolio:
    """The replication's accounts: the tape (latent traits drawn with ``rng``) or generated."""
    generate_portfolio, _ = _engine()
    tape = scenario.tape_path()
    if tape is not None:
        from waifang.sim.tape import load_tape

        return load_tape(
            tape,
            scenario.region_names(),
            rng=rng,
            charge_off_dpd=scenario.charge_off_dpd,
            segments=scenario.portfolio.segments,
        )
    return generate_portfolio(scenario.portfolio, scenario.region_names(), rng)


def _readable_audit(
    audit: dict[str, np.ndarray] | None, portfolio: Portfolio
) -> dict[str, np.ndarray] | None:
    """The engine's audit columns plus the account id and the action and outcome names."""
    if audit is None:
        return None
    out = dict(audit)
    out["account_id"] = portfolio.output_ids()[np.asarray(audit["account"], dtype=np.int64)]
    out["action_name"] = np.asarray(ACTIONS, dtype=object)[np.asarray(audit["action"], int)]
    outcomes = np.asarray(("performed", *RULES), dtype=object)
    out["outcome_name"] = outcomes[np.asarray(audit["outcome"], dtype=int)]
    return out


@dataclass(frozen=True, order=True)
class Unit:
    """One policy (by index) on one replication of one scenario (sweep point)."""

    point: int
    replication: int
    policy: int

    @property
    def key(self) -> str:
        """A file-name-safe name, used by the checkpoint."""
        return f"p{self.point}-r{self.replication}-{self.policy}"


def run_unit(scenario: Scenario, seed: int, replication: int, policy_index: int):
    """Policy ``policy_index`` of ``scenario`` on replication ``replication`` (a PolicyRun)."""
    portfolio_seed, run_seed = replication_seeds(seed, replication)
    portfolio = build_portfolio(scenario, np.random.default_rng(portfolio_seed))
    return run_policy(scenario, portfolio, policy_index, replication, seed, run_seed)


def run_policy(
    scenario: Scenario,
    portfolio: Portfolio,
    policy_index: int,
    replication: int,
    seed: int,
    run_seed: int,
):
    """Policy ``policy_index`` on a replication's ``portfolio`` (a PolicyRun); the one place
    where a scenario's policy becomes an engine run, for units and whole replications."""
    _, simulate = _engine()
    spec = scenario.policies[policy_index]
    rules, departures = scenario.rules_for(policy_index)
    if spec.optimiser is not None:
        from waifang.scenarios.optimised import run_optimised

        result = run_optimised(scenario, spec, portfolio, rules, departures, replication, seed,
                               run_seed, build_portfolio)
    else:
        result = simulate(
            scenario.world(policy_index),
            portfolio,
            LadderPolicy(spec, portfolio.segment_names),
            rules,
            seed=run_seed,
            departures=departures,
            audit=scenario.output.audit,
        )
    return PolicyRun(
        policy=spec.name,
        replication=replication,
        summary=dict(result.summary),
        daily=dict(result.daily),
        blocked_by_rule=dict(result.blocked_by_rule),
        violations=int(result.violations),
        departures=tuple(departures),
        audit=_readable_audit(result.audit, portfolio)
        if scenario.output.audit == "full"
        else None,
    )


def all_units(points: int, replications: int, policies: int) -> list[Unit]:
    """Every unit, replication by replication (so early results cover every policy)."""
    return [
        Unit(k, r, i) for r in range(replications) for k in range(points) for i in range(policies)
    ]


class LongestFirst:
    """The units still to start, handed out longest expected first.

    A unit's expected time is the mean time its (sweep point, policy) took on the replications
    done so far. A (point, policy) not yet timed comes first, in the listed order, so every
    policy is timed early (on replication 0) and only the units whose length is known are
    ordered by it; among equals, the listed order. Any order gives the same results: only the
    wall time changes.

    The units wait in one queue per (point, policy), in listed order, and the queues' heads in
    a heap (a new entry whenever a queue's rank changes; the old one is skipped when it comes
    up), so a sweep of 10^5 units costs O(log) per unit, not a scan of all that remain.
    """

    def __init__(self, units: Sequence[Unit]) -> None:
        self._queues: dict[tuple[int, int], collections.deque[tuple[int, Unit]]] = {}
        for index, unit in enumerate(units):
            self._queues.setdefault((unit.point, unit.policy), collections.deque()).append(
                (index, unit)
            )
        self._left = len(units)
        self._totals: dict[tuple[int, int], tuple[float, int]] = {}  # seconds summed, count
        self._heap = [(self._rank(key), key) for key in self._queues]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return self._left

    def expected(self, unit: Unit) -> float:
        """Expected seconds of ``unit`` (infinite while its point and policy are untimed)."""
        total, count = self._totals.get((unit.point, unit.policy), (0.0, 0))
        return total / count if count else math.inf

    def _rank(self, key: tuple[int, int]) -> tuple[float, int]:
        """Heap order of a queue: longest expected first (untimed: infinite), then the
        listed order of its next unit."""
        total, count = self._totals.get(key, (0.0, 0))
        return (-(total / count) if count else -math.inf, self._queues[key][0][0])

    def pop(self) -> Unit:
        """The next unit to start: the longest expected (the first listed among equals)."""
        while True:
            rank, key = heapq.heappop(self._heap)
            if key not in self._queues or rank != self._rank(key):
                continue  # an entry left behind: the queue's current one was pushed since
            queue = self._queues[key]
            _, unit = queue.popleft()
            if queue:
                heapq.heappush(self._heap, (self._rank(key), key))
            else:
                del self._queues[key]
            self._left -= 1
            return unit

    def record(self, unit: Unit, seconds: float) -> None:
        """``unit`` took ``seconds`` (measured where it ran)."""
        key = (unit.point, unit.policy)
        total, count = self._totals.get(key, (0.0, 0))
        self._totals[key] = (total + seconds, count + 1)
        if key in self._queues:  # its units move up or down: an entry at the new rank
            heapq.heappush(self._heap, (self._rank(key), key))


def timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``function(*args)`` and the wall seconds it took, measured in the process running it
    (a worker), so the time excludes queueing and the trip back."""
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def _feed(
    units: Sequence[Unit],
    start: Callable[[Unit], Any],
    wait_some: Callable[[Any], Any],
    in_flight: int,
    on_done: Callable[[Unit, object], None] | None,
) -> dict[Unit, object]:
    """Keep ``in_flight`` units started (``start(unit)`` returns a future of ``timed``),
    the longest expected first; hand each finished unit to ``on_done`` in unit order among
    those finishing together. ``wait_some(futures)`` blocks until some are done and returns
    them."""
    order = LongestFirst(units)
    running: dict[Any, Unit] = {}
    out: dict[Unit, object] = {}
    while order or running:
        while order and len(running) < in_flight:
            unit = order.pop()
            running[start(unit)] = unit
        for future in sorted(wait_some(running), key=lambda f: running[f]):
            unit = running.pop(future)
            out[unit], seconds = future.result()
            order.record(unit, seconds)
            if on_done:
                on_done(unit, out[unit])
    return out


def execute(
    scenarios: Sequence[Scenario],
    units: Sequence[Unit],
    seed: int,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    on_done: Callable[[Unit, object], None] | None = None,
) -> dict[Unit, object]:
    """Run ``units`` (``unit.point`` indexes ``scenarios``); return unit -> PolicyRun."""
    if scheduler:
        return _on_dask(scenarios, units, seed, scheduler, on_done)
    if workers > 1 and len(units) > 1:
        return _in_pool(scenarios, units, seed, workers, on_done)
    out = {}
    for unit in units:
        out[unit] = run_unit(scenarios[unit.point], seed, unit.replication, unit.policy)
        if on_done:
            on_done(unit, out[unit])
    return out


def _in_pool(scenarios, units, seed, workers, on_done) -> dict[Unit, object]:
    # spawn, not fork: no inherited state (simpy, numpy threads) and the same on every OS.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(units)), mp_context=context, initializer=_ignore_sigint
    )
    started = False

    def start(u: Unit):
        nonlocal started
        # run_unit is looked up at each call, so a patched one (tests, the benchmark) is what
        # the workers run.
        args = (timed, run_unit, scenarios[u.point], seed, u.replication, u.policy)
        if started:
            return pool.submit(*args)
        started = True
        # The first submission starts the workers.
        with _workers_ignore_sigint(), _one_blas_thread_in_workers():
            return pool.submit(*args)

    def wait_some(futures):
        return wait(futures, return_when=FIRST_COMPLETED).done

    try:
        # One unit queued beyond the workers' own, so a worker that finishes finds the next
        # one waiting while this process picks the one after.
        out = _feed(units, start, wait_some, min(workers, len(units)) + 1, on_done)
    except BaseException:
        # On an error or Ctrl-C, drop the queued units and end the running ones now.
        _stop_pool(pool)
        raise
    # Every unit is back: the workers are told to stop and exit while this process goes on
    # to the tables (their exit is joined by the executor's own thread).
    pool.shutdown(wait=False)
    return out


@contextlib.contextmanager
def _workers_ignore_sigint():
    """Ignore SIGINT here while the workers start: an ignored signal stays ignored across
    exec, so a Ctrl-C that reaches the whole process group cannot interrupt a worker still
    importing (a traceback per worker) before its initializer runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Set to 1 in the workers a pool spawns (unless already set here), as Dask's nanny does."""


@contextlib.contextmanager
def _one_blas_thread_in_workers():
    """Spawned workers start with one BLAS thread each: a worker is one core's share of the
    work, and the two threads OpenBLAS would start in each (one per core, waiting on a spin
    after every call) compete with the other workers for the same cores. The variables are
    read when numpy loads, so they are set in this process's environment, which the workers
    inherit, while they are spawned, then put back."""
    import os

    added = [name for name in BLAS_THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = "1"
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them (no traceback from each worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Ctrl-C or an error: drop the queued units and end the workers now.

    ``shutdown(wait=True)`` would let every worker finish the unit it holds first, seconds to
    minutes on a large book. ``_processes`` is private, but it is the only handle on the
    workers the executor gives; without it they still end, only later.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(1)


def _on_dask(scenarios, units, seed, address, on_done) -> dict[Unit, object]:
    from waifang.scenarios import runner

    try:
        from dask.distributed import Client
        from dask.distributed import wait as dask_wait
    except ImportError:
        raise InputError(
            "--scheduler: dask.distributed is not installed (pip install 'waifang[dask]')"
        ) from None
    from waifang.scenarios.preflight import probe_scheduler

    # Client's timeout does not cover the handshake: probe first, under a hard deadline.
    probe_scheduler(address, float(runner.DASK_CONNECT_TIMEOUT.removesuffix("s")))
    try:
        client = Client(address, timeout=runner.DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(f"--scheduler: cannot connect to {address!r} ({err})") from None
    try:
        # Each scenario goes to the cluster once, not once per unit.
        shipped = [client.scatter(s, broadcast=True) for s in scenarios]

        def start(u: Unit):
            return client.submit(timed, run_unit, shipped[u.point], seed, u.replication,
                                 u.policy, pure=False)

        def wait_some(futures):
            return dask_wait(list(futures), return_when="FIRST_COMPLETED").done

        # As on a pool: as many units as worker threads, plus one waiting; the rest handed out
        # as units finish, longest expected first.
        threads = sum(client.nthreads().values()) or 1
        return _feed(units, start, wait_some, threads + 1, on_done)
    finally:
        client.close()
