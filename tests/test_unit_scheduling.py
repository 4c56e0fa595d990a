"""How a pool or a cluster is fed: untimed (point, policy) units first in their listed order,
then the longest expected first, so the short units fill the workers' last gaps. Checked
against a hand-written schedule and against a simulated two-worker pool."""

from __future__ import annotations

import heapq
import itertools

import pytest

from waifang.scenarios.execution import LongestFirst, Unit, _feed, all_units


def test_untimed_units_come_first_in_listed_order_then_the_longest():
    units = all_units(1, 3, 3)
    order = LongestFirst(units)
    first = [order.pop() for _ in range(3)]
    assert first == [Unit(0, 0, 0), Unit(0, 0, 1), Unit(0, 0, 2)]
    for unit, seconds in zip(first, (2.0, 1.0, 3.0), strict=True):
        order.record(unit, seconds)
    # Policy 2 took longest, then 0, then 1; replication 1 before 2 among equals.
    assert [order.pop() for _ in range(6)] == [
        Unit(0, 1, 2), Unit(0, 2, 2), Unit(0, 1, 0), Unit(0, 2, 0), Unit(0, 1, 1),
        Unit(0, 2, 1),
    ]
    assert len(order) == 0


def test_the_expected_time_is_the_mean_of_the_same_point_and_policy():
    order = LongestFirst(all_units(2, 3, 2))
    order.record(Unit(0, 0, 1), 1.0)
    order.record(Unit(0, 1, 1), 2.0)
    order.record(Unit(1, 0, 1), 10.0)
    assert order.expected(Unit(0, 2, 1)) == pytest.approx(1.5)
    assert order.expected(Unit(1, 2, 1)) == pytest.approx(10.0)
    assert order.expected(Unit(0, 2, 0)) == float("inf")


def _reference_order(units, seconds, in_flight):
    """The rule stated plainly: each time, scan every unit left for the largest mean time of
    its (point, policy) so far (untimed: infinite), the first listed among equals."""
    todo, times, order, running = list(units), {}, [], []

    def expected(u):
        seen = times.get((u.point, u.policy))
        return sum(seen) / len(seen) if seen else float("inf")

    while todo or running:
        while todo and len(running) < in_flight:
            best = max(range(len(todo)), key=lambda i: (expected(todo[i]), -i))
            running.append(todo.pop(best))
            order.append(running[-1])
        done = running.pop(0)
        times.setdefault((done.point, done.policy), []).append(seconds[done])
    return order


@pytest.mark.parametrize("seed", range(20))
def test_the_heap_hands_out_what_a_plain_scan_would(seed):
    import random

    rng = random.Random(seed)
    units = all_units(rng.randint(1, 4), rng.randint(1, 6), rng.randint(1, 5))
    units = [u for u in units if rng.random() < 0.8]  # a resumed run: some already done
    # Times drawn from few values, so that ties (listed order) are exercised too.
    seconds = {u: rng.choice((0.5, 1.0, 1.0, 2.0)) * (1 + u.point) for u in units}
    in_flight = rng.randint(1, 4)
    order = LongestFirst(units)
    got, running = [], []
    while len(order) or running:
        while len(order) and len(running) < in_flight:
            running.append(order.pop())
            got.append(running[-1])
        done = running.pop(0)
        order.record(done, seconds[done])
    assert got == _reference_order(units, seconds, in_flight)


class _Future:
    def __init__(self, unit, seconds):
        self.unit, self.seconds = unit, seconds

    def result(self):
        return f"run {self.unit.key}", self.seconds


def _makespan(costs: dict[Unit, float], units, workers: int, in_flight: int):
    """Feed ``units`` to a simulated pool of ``workers`` (a FIFO queue in front, as a
    ProcessPoolExecutor's) and return (the time the last unit ends, the results)."""
    clock = 0.0
    queue: list[_Future] = []
    free = workers
    ends: list[tuple[float, int, _Future]] = []
    tie = itertools.count()

    def dispatch():
        nonlocal free
        while queue and free:
            future = queue.pop(0)
            free -= 1
            heapq.heappush(ends, (clock + future.seconds, next(tie), future))

    def start(unit):
        future = _Future(unit, costs[unit])
        queue.append(future)
        dispatch()
        return future

    def wait_some(futures):
        nonlocal clock, free
        end, _, future = heapq.heappop(ends)
        clock = end
        free += 1
        dispatch()
        return {future}

    done = []
    out = _feed(units, start, wait_some, in_flight, lambda u, run: done.append(u))
    assert sorted(done) == sorted(units) and out == {u: f"run {u.key}" for u in units}
    return clock


@pytest.mark.parametrize(
    "seconds",
    [
        (1.45, 0.75, 1.45, 1.5),  # the baseline's shape: digital-only takes half the time
        (0.5, 0.5, 0.5, 3.0),  # one slow policy listed last
        (1.0, 1.0, 2.5),
    ],
)
@pytest.mark.parametrize("replications", [3, 5])
def test_longest_first_leaves_at_most_half_the_shortest_unit_idle(seconds, replications):
    units = all_units(1, replications, len(seconds))
    costs = {u: seconds[u.policy] for u in units}
    total = sum(costs.values())
    fed = _makespan(costs, units, workers=2, in_flight=3)
    # On two workers the one finishing first waits for the other at most half the
    # shortest unit, when the longest go first (once every policy has been timed).
    assert fed <= total / 2 + min(seconds) / 2 + 1e-9
    # Handed out as listed, a slow policy listed last can run alone at the end.
    listed = _makespan(costs, units, workers=2, in_flight=len(units))
    if max(seconds) > 2 * min(seconds) and seconds[-1] == max(seconds):
        assert listed >= fed + min(seconds)


def test_spawned_workers_get_one_blas_thread_and_this_process_keeps_its_own(monkeypatch):
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from waifang.scenarios.execution import BLAS_THREAD_VARIABLES, _one_blas_thread_in_workers

    for name in BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # a user's own setting is kept
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        with _one_blas_thread_in_workers():
            first = pool.submit(os.getenv, "OPENBLAS_NUM_THREADS")
        seen = [pool.submit(os.getenv, name).result() for name in BLAS_THREAD_VARIABLES]
        assert first.result() == "1"
    finally:
        pool.shutdown()
    assert seen == ["1", "1", "3"]
    assert "OPENBLAS_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ
    assert os.environ["MKL_NUM_THREADS"] == "3"
