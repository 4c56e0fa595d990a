"""Queues that really queue (issue 8, items 6 and 7).

The field teams of a region are a simpy Resource served first come, first served by the first
team free (waifang.sim.queues.TeamPool). Checked here:

- an exact event log of a tiny pool (who takes what, when, and who goes home);
- with Poisson requests and exponential visits, the pool's mean wait and utilisation match
  the M/M/c values of Erlang C (computed here from the textbook formula), within sampling
  error from batch means on a fixed seed; the same statistic rejects a service rate 10 % off;
- the engine's one-batch plan of an uncongested day gives the same run, bit for bit, as the
  team processes;
- on a congested engine run, no more visits are in progress at once than there are teams.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy
from helpers import NO_PAYMENTS, flat_portfolio

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim import resources as resources_module
from waifang.sim.compliance import ACTION_CODE
from waifang.sim.engine import simulate
from waifang.sim.fork import checkpoints
from waifang.sim.queues import TeamPool
from waifang.sim.spec import LegalSpec, RegionSpec, ResourcesSpec, TreatmentsSpec


def test_the_first_team_back_takes_the_next_visit_and_goes_home_when_it_cannot_finish():
    env = simpy.Environment()
    pool = TeamPool(env, teams=2)
    pool.open(base=48.0, start=8.0, end=12.0)  # day 2, 08:00-12:00

    def day():
        yield env.timeout(48.0 + 8.0)
        # (travel, visit) per job; two teams leave at 08:00.
        trips = [(1.0, 1.0), (0.5, 0.5), (1.0, 2.0), (1.0, 1.0), (0.1, 0.1)]
        out = pool.submit(range(5), [t for t, _ in trips], [v for _, v in trips], leave=8.0)
        assert out == 2
        yield pool.home

    env.run(env.process(day()))
    # job, taken at, arrival, finish, waited (hours). Team B (job 1) is back at 09:00 and
    # takes job 2; team A (job 0) is back at 10:00 and takes job 3; at 12:00 team B is back
    # first, job 4 would end at 12:20, after the window: it waits for another day and both
    # teams go home.
    assert pool.trips == [
        (1, 8.0, 8.5, 9.0, 0.0),
        (0, 8.0, 9.0, 10.0, 0.0),
        (2, 9.0, 10.0, 12.0, 1.0),
        (3, 10.0, 11.0, 12.0, 2.0),
    ]
    assert pool.not_started == [4]
    assert pool.on_duty == 0 and pool.idle.level == 2
    assert env.now == 48.0 + 12.0


def erlang_c(c: int, arrival_rate: float, service_rate: float) -> tuple[float, float]:
    """M/M/c: (mean wait in queue, utilisation), from the Erlang C probability of waiting."""
    a = arrival_rate / service_rate
    rho = a / c
    assert rho < 1
    top = a**c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * service_rate - arrival_rate), rho


def mmc_run(c: int, arrival_rate: float, service_rate: float, jobs: int, seed: int):
    """Drive a TeamPool with Poisson requests and exponential visits (no travel, no window)."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1 / arrival_rate, jobs)
    service = rng.exponential(1 / service_rate, jobs)
    env = simpy.Environment()
    pool = TeamPool(env, teams=c)
    pool.open(base=0.0, start=0.0, end=math.inf)

    def requests():
        for j in range(jobs):
            yield env.timeout(gaps[j])
            pool.submit([j], [0.0], [service[j]])

    env.run(env.process(requests()))
    env.run()  # the teams finish what is queued
    trips = sorted(pool.trips)
    assert [t[0] for t in trips] == list(range(jobs))  # every request served, none lost
    waited = np.array([t[4] for t in trips])
    arrived = np.cumsum(gaps)
    return waited, arrived, service


def batch_means(values: np.ndarray, batches: int) -> tuple[float, float]:
    """Mean and its standard error from ``batches`` consecutive batch means."""
    means = np.array([b.mean() for b in np.array_split(values, batches)])
    return float(means.mean()), float(means.std(ddof=1) / np.sqrt(batches))


C, ARRIVALS, SERVICE = 3, 2.4, 1.0  # 3 teams, 2.4 requests an hour, visits of 1 hour: rho 0.8


@pytest.fixture(scope="module")
def mmc():
    waited, arrived, service = mmc_run(C, ARRIVALS, SERVICE, jobs=40_000, seed=20261129)
    warm = 2_000  # the queue starts empty; drop the first requests
    return waited[warm:], arrived[warm:], service[warm:]


def test_visit_queue_matches_erlang_c(mmc):
    waited, arrived, service = mmc
    wait_ref, rho_ref = erlang_c(C, ARRIVALS, SERVICE)
    wait, wait_se = batch_means(waited, 30)
    # Utilisation per batch: team-hours of the visits asked in it over the team-hours between
    # its first and last request.
    chunks = np.array_split(np.arange(waited.size), 30)
    busy = np.array([service[i].sum() / (C * (arrived[i[-1]] - arrived[i[0]])) for i in chunks])
    rho, rho_se = float(busy.mean()), float(busy.std(ddof=1) / np.sqrt(busy.size))
    assert abs(wait - wait_ref) < 3 * wait_se, (wait, wait_ref, wait_se)
    assert abs(rho - rho_ref) < 3 * rho_se, (rho, rho_ref, rho_se)
    # The statistic can tell: a service rate 10 % off either way is rejected.
    for wrong in (0.9 * SERVICE, 1.1 * SERVICE):
        wait_wrong, rho_wrong = erlang_c(C, ARRIVALS, wrong)
        assert abs(wait - wait_wrong) > 3 * wait_se, wrong
        assert abs(rho - rho_wrong) > 3 * rho_se, wrong


def test_a_pool_with_a_team_missing_is_rejected(monkeypatch):
    """The same comparison on a pool that sends out one team too few (a planted bug) fails."""
    original = TeamPool.__init__

    def one_team_short(self, env, teams):
        original(self, env, teams)
        self.size = teams - 1

    monkeypatch.setattr(TeamPool, "__init__", one_team_short)
    waited, *_ = mmc_run(C, 1.6, SERVICE, jobs=15_000, seed=7)  # rho 0.8 on the 2 sent out
    wait_ref, _ = erlang_c(C, 1.6, SERVICE)
    wait, wait_se = batch_means(waited[2_000:], 30)
    assert abs(wait - wait_ref) > 3 * wait_se


def visit_world(teams: int, days: int = 20) -> World:
    return World(
        days=days,
        resources=ResourcesSpec(
            regions=(RegionSpec(name="north", teams=teams, travel_hours=1.5, visit_hours=1.0),),
            visit_queue_days=3,
        ),
    )


VISITS = PolicySpec(
    name="visits",
    rules=(
        LadderRule(action="call", dpd_min=1, dpd_max=179, every_days=2),
        LadderRule(action="visit", dpd_min=60, dpd_max=179, every_days=7),
    ),
)


def run_visits(world: World, n: int = 1500, audit: str = "counts", seed: int = 3):
    p = flat_portfolio(n, dpd=np.random.default_rng(seed).integers(60, 170, n), regions=("north",))
    rules, _ = resolve_rules("cn")
    policy = LadderPolicy(VISITS, p.segment_names)
    return simulate(world, p, policy, rules, seed=np.random.SeedSequence(seed), audit=audit)


def test_the_one_batch_plan_is_the_team_pool_on_an_uncongested_day(monkeypatch):
    world = visit_world(teams=5000)
    batched = run_visits(world)
    assert batched.summary["visits"] > 500
    monkeypatch.setattr(resources_module.FieldRegion, "batch", False)
    pooled = run_visits(world)
    assert pooled.summary == batched.summary
    assert pooled.daily.keys() == batched.daily.keys()
    for column, values in batched.daily.items():
        assert np.array_equal(pooled.daily[column], values), column


def test_no_more_visits_at_once_than_teams():
    teams = 3
    result = run_visits(visit_world(teams=teams), n=600, audit="full")
    log = result.audit
    made = (log["action"] == ACTION_CODE["visit"]) & (log["outcome"] == 0)
    visits = {k: np.asarray(log[k])[made] for k in ("day", "hour", "until")}
    d = result.daily
    assert d["visits_waiting[north]"].max() > 0  # the teams are the bottleneck
    busiest = 0
    for day in np.unique(visits["day"]):
        today = visits["day"] == day
        v = {k: a[today] for k, a in visits.items()}
        # Visits in progress at each visit's arrival (a visit is [arrival, finish)).
        start, end = v["hour"], v["until"]
        at_once = ((start[:, None] >= start[None, :]) & (start[:, None] < end[None, :])).sum(1)
        assert at_once.max() <= teams, (day, at_once.max())
        busiest = max(busiest, int(at_once.max()))
    assert busiest == teams
    util = d["visits_utilisation[north]"]
    assert np.all(util <= 1.0) and util.max() > 0.5


def test_littles_law_on_the_court_queue():
    """Requests that find the courts full wait. Counted once a day, the queue's length summed
    over the days is the days waited summed over the requests (L = lambda W, as a sample-path
    identity: each request is in the queue on each day it waited); with the queue drained by
    the horizon, nothing is left out. A court that counted its queue before the day's filings
    would break it."""
    days, per_day, delay, capacity = 150, 30, 10.0, 280  # 300 places needed on average
    world = World(
        days=days,
        charge_off_dpd=720,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(legal=LegalSpec(judgement_recovery=0.0)),
        resources=ResourcesSpec(court_delay_days=delay, legal_capacity=capacity),
    )
    asking = 90  # requests on the first 90 days only: the queue drains before the horizon
    n = asking * per_day
    p = flat_portfolio(n, dpd=100)

    def policy(view, day):
        return {"legal": np.arange(day * per_day, (day + 1) * per_day)} if day < asking else {}

    rules, _ = resolve_rules("cn")
    result = simulate(world, p, policy, rules, seed=np.random.SeedSequence(5), audit="counts")
    d = result.daily
    assert d["legal_requested"].sum() == n == d["legal_filed"].sum()
    assert d["legal_waiting"][-1] == 0 and d["legal_waiting"].max() > 50  # a real queue
    waited = (d["legal_filed"] * d["legal_mean_wait_days"]).sum()  # days, over requests
    queue_days = d["legal_waiting"].sum()  # requests, over days
    assert waited > 1000
    assert queue_days == pytest.approx(waited, rel=1e-9)
    # Little's law as rates: mean queue over the days asked = arrivals a day x mean wait.
    mean_wait = waited / n
    assert queue_days / asking == pytest.approx(per_day * mean_wait, rel=1e-9)


def test_a_copy_of_a_congested_run_continues_it_bit_for_bit():
    """A run copied between days (waifang.sim.fork) carries its team pools: the copy's teams
    serve the queue as the original's would, so a branch with the run's own policy ends
    where the run ends."""
    world = visit_world(teams=3, days=16)
    p = flat_portfolio(600, dpd=np.random.default_rng(3).integers(60, 170, 600), regions=("north",))
    rules, _ = resolve_rules("cn")
    policy = LadderPolicy(VISITS, p.segment_names)
    seed = np.random.SeedSequence(3)
    full = simulate(world, p, policy, rules, seed=seed)
    assert full.daily["visits_waiting[north]"][:8].max() > 0  # the teams were the bottleneck
    (later,) = checkpoints(world, p, policy, rules, seed=seed, days=[8])
    rest = later.branch(policy)
    assert (
        rest.performed["visit"] + int(full.daily["actions_visit"][:8].sum())
        == (full.summary["visits"])
    )
    before = later._npv_before / 100.0 - later._cost_before
    assert before + rest.value.sum() == pytest.approx(full.summary["net_value"], rel=1e-12)
