"""Field teams as a simpy queue: a region's teams serve visits first come, first served.

:class:`TeamPool` keeps a region's teams at the base in a :class:`simpy.Container` (its level
is the teams free). A team on duty is a simpy process: it takes the visit at the head of the
queue, drives there (travel), stays (the visit) and takes the next one, as long as it can
finish the visit inside the hours window; the first visit it cannot finish in time stays
queued (for another day) and the team goes home (back into the container). A visit that arrives
while every team is out waits in the queue; the next team back takes it. That is the M/M/c
discipline (c teams, first come first served, the first free team serves), which
``tests/test_queueing_reference.py`` checks against Erlang C with Poisson arrivals.

Times are hours. The pool records each trip made (job, when the team took it, arrival,
finish) and the time each job had waited for a team.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Sequence

import simpy


class TeamPool:
    """The field teams of one region: a :class:`simpy.Container` of the teams at the base and
    one simpy process per team, asleep at the base until it is sent out.

    Parameters
    ----------
    env
        The run's clock (hours).
    teams
        Teams in the region (at least 1).

    Each day (or once, for a continuous queue) :meth:`open` sets the hours window; jobs come
    with :meth:`submit`. Trip times are the job's own (drawn by the caller from keyed luck):
    a trip started at ``s`` arrives at ``finish - visit`` and finishes at
    ``s + (travel + visit)``, ``s`` counted from the window's start for the first trip of a
    team and from its last finish after that (the same sums as a team's cumulative day).

    Examples
    --------
    >>> env = simpy.Environment()
    >>> pool = TeamPool(env, teams=1)
    >>> pool.open(base=0.0, start=8.0, end=20.0)
    >>> pool.submit([0, 1], [1.0, 1.0], [1.0, 1.0], leave=8.0)
    1
    >>> env.run(pool.home)
    >>> [(job, arrive, finish) for job, _, arrive, finish, _ in pool.trips]
    [(0, 9.0, 10.0), (1, 11.0, 12.0)]
    """

    def __init__(self, env: simpy.Environment, teams: int) -> None:
        if teams < 1:
            raise ValueError(f"a team pool needs at least one team (got {teams})")
        self.env = env
        self.size = teams
        # The teams at the base: a team going out takes one, a team going home puts it back.
        self.idle = simpy.Container(env, capacity=teams, init=teams)
        # Jobs waiting for a team, in batches as submitted: [jobs, travel, visit, submitted at,
        # position of the next one]. A day's queue is read no further than the teams get, so
        # a long queue costs nothing beyond what is served.
        self.batches: deque[list] = deque()
        self.waiting = 0
        self.on_duty = 0
        # A team at the base sleeps on an event of its own; sending it out triggers that with
        # the hour it leaves. Teams are made once, when first needed (not every day).
        self.asleep: list[simpy.Event] = []
        self.home = env.event()  # fires when the last team out is back at the base
        self.home.succeed()
        self.base = 0.0
        self.start = 0.0
        self.end = math.inf
        # (job, taken at, arrive, finish, waited): times in hours from ``base``.
        self.trips: list[tuple[int, float, float, float, float]] = []
        self.not_started: list[int] = []

    def __deepcopy__(self, memo: dict[int, object]) -> TeamPool:
        """A copy on the copied clock (``memo`` maps the clock to its copy), with every team at
        the base (a run is copied between days, waifang.sim.fork): its sleeping processes stay
        with the original; the copy makes its own when it first sends teams out (a team at
        the base has no state of its own, so the trips are the same)."""
        if self.on_duty:
            raise RuntimeError("a team pool is copied only while every team is at the base")
        out = TeamPool(copy.deepcopy(self.env, memo), self.size)
        memo[id(self)] = out
        out.base, out.start, out.end = self.base, self.start, self.end
        out.trips, out.not_started = list(self.trips), list(self.not_started)
        out.batches = copy.deepcopy(self.batches, memo)
        out.waiting = self.waiting
        return out

    def open(self, base: float, start: float, end: float) -> None:
        """A new window: hours ``start`` to ``end`` counted from the clock time ``base``.
        Forgets the trips recorded so far."""
        self.base, self.start, self.end = base, start, end
        self.trips, self.not_started = [], []

    def submit(
        self,
        jobs: Sequence[int],
        travel: Sequence[float],
        visit: Sequence[float],
        leave: float | None = None,
    ) -> int:
        """Queue ``jobs`` (with their trip times, in hours) now and send out idle teams.

        ``leave`` is the hour (from ``base``) the teams sent out now leave; by default the
        clock's hour now. Returns how many teams went out (a team already out takes further
        jobs when it is back); :attr:`home` fires when every team is back."""
        if not len(jobs) == len(travel) == len(visit):
            raise ValueError("jobs, travel and visit differ in length")
        env = self.env
        now = env.now
        if len(jobs):
            self.batches.append([jobs, travel, visit, now, 0])
            self.waiting += len(jobs)
        hour = now - self.base if leave is None else leave
        out = min(self.size - self.on_duty, self.waiting)
        if out == 0:
            return 0
        if self.on_duty == 0:
            self.home = env.event()
        self.on_duty += out
        self.idle.get(out)  # there are ``out`` teams at the base: they leave at once
        for _ in range(out):
            if self.asleep:
                self.asleep.pop().succeed(hour)
            else:
                env.process(self._team(hour))
        return out

    def clear(self) -> None:
        """Forget the jobs no team took."""
        self.batches.clear()
        self.waiting = 0

    def _take(self) -> tuple[int, float, float, float]:
        """The job at the head of the queue: (job, travel, visit, submitted at)."""
        batch = self.batches[0]
        i = batch[4]
        batch[4] = i + 1
        if i + 1 == len(batch[0]):
            self.batches.popleft()
        self.waiting -= 1
        return batch[0][i], batch[1][i], batch[2][i], batch[3]

    def _team(self, leave: float):
        """One team: each shift (from hour ``leave``) makes trips back to back until the queue
        is empty or the next visit would end after the window, then the team sleeps at the
        base until it is sent out again with the hour it leaves.

        A trip is one timeout, to its finish: the team needs the clock only when it is back
        for the next visit. Its arrival (``finish - visit``) is not an event because nothing
        on the clock acts at that moment: a dispute opened before it is found afterwards from
        its timestamp (the visit is then called off and the travel paid)."""
        env = self.env
        while True:
            worked = 0.0
            while self.waiting:
                job, travel, visit, queued = self._take()
                taken = env.now
                done = worked + (travel + visit)
                finish = leave + done
                if finish > self.end:
                    # The team cannot finish this visit in the hours it may work: the visit
                    # waits for another day and the team goes home.
                    self.not_started.append(job)
                    break
                yield env.timeout(max(0.0, self.base + finish - env.now))  # travel, visit
                self.trips.append((job, taken - self.base, finish - visit, finish, taken - queued))
                worked = done
            self.on_duty -= 1
            self.idle.put(1)
            if self.on_duty == 0:
                self.home.succeed()
            wake = env.event()
            self.asleep.append(wake)
            leave = yield wake
