"""Queues that really queue (issue 8, items 6 and 7).

The field teams of a region are a simpy Resource served first come, first served by the first
team free (waifang.sim.queues.TeamPool). Checked here:

- an exact event log of a tiny pool (who takes what, when, and who goes home);
- with Poisson requests and exponential visits, the pool's mean wait and utilisation match
  the M/M/c values of Erlang C (computed here from the textbook formula), within sampling
  error from batch means on a fixed seed; the same statistic rejects a service rate 10 % off;
- the engine's one-batch plan of an uncongested day gives the same run, bit for bit, as the
  team processes;
- on a congested engine run, no more visits are in progress at once than there are teams;
- a court case is a simpy process holding one of the court's places: Little's law on the
  court's queue; filings, queue, waits and utilisation against a first-come-first-served
  queue computed by hand; the judgement comes after the agents' 09:00 calls; every place is
  given back (withdrawals, refusals); a copied run continues a congested court bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import simpy
from helpers import NO_PAYMENTS, flat_portfolio

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim import resources as resources_module
from waifang.sim.compliance import ACTION_CODE
from waifang.sim.engine import _Run, simulate
from waifang.sim.fork import checkpoints
from waifang.sim.queues import TeamPool
from waifang.sim.spec import AgencySpec, LegalSpec, RegionSpec, ResourcesSpec, TreatmentsSpec
from waifang.sim.state import DELINQUENT


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


# ---------------------------------------------------------------- courts: a process per case


def court_world(capacity: int, days: int, delay: float, recovery: float = 0.0, **treatments):
    return World(
        days=days,
        charge_off_dpd=720,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(legal=LegalSpec(judgement_recovery=recovery), **treatments),
        resources=ResourcesSpec(court_delay_days=delay, legal_capacity=capacity),
    )


def asking(per_day: list[int]):
    """A policy that takes ``per_day[d]`` new accounts to court on day d, in index order."""
    starts = np.concatenate([[0], np.cumsum(per_day)])

    def policy(view, day):
        return {"legal": np.arange(starts[day], starts[day + 1])} if day < len(per_day) else {}

    return policy, int(starts[-1])


def run_court(world: World, per_day: list[int], seed: int = 5):
    policy, n = asking(per_day)
    rules, _ = resolve_rules("cn")
    run = _Run(world, flat_portfolio(n, dpd=100), policy, rules, np.random.SeedSequence(seed),
               "counts")
    return run, run.run()


def fifo_court(per_day: list[int], capacity: int, days: int):
    """The court by hand, for cases heard the day after they are filed: every place is free
    again at each day's session, so a day files min(capacity, queue); first come, first served.
    Per day: (filed, waiting after the session, days waited by the cases filed)."""
    queue: list[int] = []  # the day each waiting request was made, oldest first
    filed, waiting, waited = [], [], []
    for day in range(days):
        queue += [day] * (per_day[day] if day < len(per_day) else 0)
        now, queue = queue[:capacity], queue[capacity:]
        filed.append(len(now))
        waiting.append(len(queue))
        waited.append(sum(day - asked for asked in now))
    return np.array(filed), np.array(waiting), np.array(waited, float)


def test_court_waits_match_a_first_come_first_served_queue_by_hand():
    """Cases heard exactly one day after filing (a mean delay of 0.01 days rounds up to the
    one-day minimum) hold their place for one day, so the court's queue is a plain FIFO queue
    with ``capacity`` places a day, computed here by hand. Filings, the queue, the mean wait
    and the utilisation in daily.csv must be that queue's, and at the end every case process
    has given its place back."""
    capacity, days = 7, 40
    per_day = [3, 12, 0, 9, 15, 2, 0, 0, 11, 4, 7, 20, 1, 0, 0, 6, 8] + [5] * 10
    run, result = run_court(court_world(capacity, days, delay=0.01), per_day)
    d = result.daily
    filed, waiting, waited = fifo_court(per_day, capacity, days)
    assert waiting.max() > 10 and filed.sum() == sum(per_day)  # a real queue, drained
    assert np.array_equal(d["legal_requested"][: len(per_day)], per_day)
    assert np.array_equal(d["legal_filed"], filed)
    assert np.array_equal(d["legal_waiting"], waiting)
    assert np.allclose(d["legal_mean_wait_days"], waited / np.maximum(filed, 1), rtol=0, atol=1e-12)
    assert np.allclose(d["legal_utilisation"], filed / capacity)
    assert np.all(d["legal_dropped"] == 0)
    courts = run.courts
    # The simpy side agrees: no request left in the Container's queue, and every place free
    # but those of the cases still in court (filed on the last day, heard after the horizon).
    assert len(courts.places.get_queue) == courts.waiting.size == 0
    assert courts.cases.size == filed[-1]
    assert courts.places.level == capacity - courts.cases.size
    assert all(p.is_alive for p in courts.in_court)


def test_agency_waits_match_the_same_queue_by_hand():
    """Placements of one day (``placement_days = 1``) free their place that night, so the
    agencies are the same FIFO queue with ``capacity`` places a day: placements, queue, mean
    wait and utilisation must be the hand-computed queue's."""
    capacity, days = 6, 40
    per_day = [2, 14, 0, 9, 15, 1, 0, 0, 11, 4, 7, 20, 1, 0, 0, 6, 8] + [4] * 10
    world = World(
        days=days,
        charge_off_dpd=720,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(agency=AgencySpec(placement_days=1, daily_hazard=0.0)),
        resources=ResourcesSpec(agency_capacity=capacity),
    )
    starts = np.concatenate([[0], np.cumsum(per_day)])

    def policy(view, day):
        return {"agency": np.arange(starts[day], starts[day + 1])} if day < len(per_day) else {}

    rules, _ = resolve_rules("cn")
    d = simulate(world, flat_portfolio(int(starts[-1]), dpd=100), policy, rules,
                 seed=np.random.SeedSequence(3)).daily
    placed, waiting, waited = fifo_court(per_day, capacity, days)
    assert waiting.max() > 10 and placed.sum() == sum(per_day)
    assert np.array_equal(d["agency_placed"], placed)
    assert np.array_equal(d["agency_waiting"], waiting)
    assert np.allclose(d["agency_mean_wait_days"], waited / np.maximum(placed, 1), rtol=0,
                       atol=1e-12)
    assert np.allclose(d["agency_utilisation"], placed / capacity)
    assert np.all(d["agency_left_queue"] == 0)


def test_the_queue_length_is_the_containers():
    """While requests wait, the court's record of its queue is the Container's own queue, and
    the cases in court hold every place."""
    capacity = 5
    world = court_world(capacity, days=6, delay=20.0)
    run, result = run_court(world, [4, 9, 3])
    courts = run.courts
    assert result.daily["legal_filed"].sum() == capacity  # nobody heard within 6 days
    assert len(courts.places.get_queue) == courts.waiting.size == 16 - capacity
    assert courts.places.level == 0 and courts.in_court.size == capacity


def test_judgements_come_after_the_agents_09_00_calls():
    """The judgement day's 09:00 call hour runs before the court's session: a judgement that
    pays the whole balance (the borrower can pay it all, the court awards all of it) closes
    the account at the session, after that morning's call. So the calls made on a day are the
    accounts still open the night before. A court sitting before the 09:00 calls (as a
    hearing timeout scheduled at filing did) would close the account first and lose the call."""
    n = 40
    world = World(
        days=30,
        charge_off_dpd=720,
        behaviour=NO_PAYMENTS,
        treatments=TreatmentsSpec(
            legal=LegalSpec(judgement_recovery=1.0),
            call=TreatmentsSpec().call.model_copy(update={"promise_probability": 0.0}),
        ),
        resources=ResourcesSpec(court_delay_days=8.0, legal_capacity=n),
    )
    p = flat_portfolio(n, dpd=100, ability=1.0)

    def policy(view, day):
        asks = {"call": np.flatnonzero(view.status == DELINQUENT)}
        if day == 0:
            asks["legal"] = np.arange(n)
        return asks

    rules, _ = resolve_rules("cn")
    d = simulate(world, p, policy, rules, seed=np.random.SeedSequence(2)).daily
    closed = d["closed"]
    assert closed[-1] == n and np.count_nonzero(np.diff(closed)) > 3  # judged over many days
    open_at_dawn = n - np.concatenate([[0], closed[:-1]])
    assert np.array_equal(d["actions_call"], open_at_dawn)


def test_every_place_is_given_back_with_withdrawals_and_refusals():
    """Borrowers pay off at random (cases withdrawn, in court or still waiting) and some
    requests are refused at filing (a hardship plan started while they waited): at the end
    the free places and the cases in court add up to the capacity, and the Container's queue
    is the court's. Every request, to the court or the agencies, is served, still waiting, or
    counted the day it left the queue."""
    world = World(
        days=90,
        charge_off_dpd=720,
        behaviour=NO_PAYMENTS.model_copy(update={"base_hazard": (0.03,) * 6}),
        treatments=TreatmentsSpec(legal=LegalSpec(judgement_recovery=0.4)),
        resources=ResourcesSpec(court_delay_days=10.0, legal_capacity=40, agency_capacity=150),
    )
    per_day = [30] * 40
    policy, n = asking(per_day)

    def with_plans(view, day):
        asks = dict(policy(view, day))
        asks["agency"] = asks.get("legal", np.zeros(0, np.int64))  # the agencies queue too
        if day == 5:
            asks["hardship"] = np.arange(150, 200)  # waiting by then: refused at filing
        return asks

    rules, _ = resolve_rules("uk_fca")  # no legal action during a hardship plan
    run = _Run(world, flat_portfolio(n, dpd=100), with_plans, rules, np.random.SeedSequence(8),
               "counts")
    result = run.run()
    d, courts = result.daily, run.courts
    assert result.blocked_by_rule["no_contact_hardship"] > 0  # refused while waiting
    assert d["legal_waiting"].max() > 100
    left = d["legal_requested"].sum() - d["legal_filed"].sum() - courts.waiting.size
    assert left > 100  # requests that left the queue unfiled (withdrawn or refused)
    # Every request is filed, still waiting, or counted the day it left the queue.
    flow = np.cumsum(d["legal_requested"] - d["legal_filed"] - d["legal_left_queue"])
    assert np.array_equal(flow, d["legal_waiting"])
    assert d["legal_left_queue"].sum() == left
    flow = np.cumsum(d["agency_requested"] - d["agency_placed"] - d["agency_left_queue"])
    assert d["agency_waiting"].max() > 100 and np.array_equal(flow, d["agency_waiting"])
    assert courts.places.level + courts.cases.size == courts.capacity
    assert len(courts.places.get_queue) == courts.waiting.size
    assert courts.in_court.size == courts.cases.size
    assert all(p.is_alive for p in courts.in_court)


def test_a_copy_of_a_run_with_a_court_queue_continues_it_bit_for_bit():
    """waifang.sim.fork copies a run between days: the copy makes its own case processes (in
    court, and queued in order) and continues as the run does."""
    world = court_world(30, days=40, delay=6.0, recovery=0.5)
    policy, n = asking([20] * 25)
    p = flat_portfolio(n, dpd=100)
    rules, _ = resolve_rules("cn")
    seed = np.random.SeedSequence(4)
    full = simulate(world, p, policy, rules, seed=seed)
    assert full.daily["legal_waiting"][:10].max() > 20
    (later,) = checkpoints(world, p, policy, rules, seed=seed, days=[10])
    rest = later.branch(policy)
    assert rest.performed["legal"] + int(full.daily["legal_filed"][:10].sum()) == (
        full.summary["legal_cases"]
    )
    before = later._npv_before / 100.0 - later._cost_before
    assert before + rest.value.sum() == pytest.approx(full.summary["net_value"], rel=1e-12)


def test_a_branch_with_open_courts_and_agencies_files_and_places_everything_asked():
    """``unlimited_escalation`` gives a branch as many court and agency places as accounts,
    free but for its own cases and placements, even when the run it is copied from has every
    place taken and requests waiting (before, only the count was raised: the branch still
    had the run's full Containers and filed and placed nothing)."""
    world = World(days=30, charge_off_dpd=720, behaviour=NO_PAYMENTS,
                  resources=ResourcesSpec(court_delay_days=60.0, legal_capacity=5,
                                          agency_capacity=5))
    p = flat_portfolio(100, dpd=100)

    def policy(view, day):
        return {"legal": np.arange(10), "agency": np.arange(10)} if day == 0 else {}

    rules, _ = resolve_rules("cn")
    (cp,) = checkpoints(world, p, policy, rules, seed=np.random.SeedSequence(1), days=[5])
    asked = {"legal": np.arange(50, 70), "agency": np.arange(50, 70)}

    def quiet(view, day):
        return {}

    full = cp.branch(quiet, extra=asked, until=7)
    assert full.performed["legal"] == full.performed["agency"] == 0  # all places taken
    opened = cp.branch(quiet, extra=asked, until=7, unlimited_escalation=True)
    # The 5 requests waiting since day 0 and the 20 asked now.
    assert opened.performed["legal"] == opened.performed["agency"] == 25


def test_a_congested_court_gives_the_same_tables_again_and_on_two_workers(tmp_path):
    """Court cases as processes keep runs reproducible: the shipped baseline with a court and
    agencies far too small (requests queue every day) gives identical tables on a second run
    and on two worker processes."""
    from waifang.scenarios.runner import run_scenario
    from waifang.scenarios.schema import BASELINE, load_scenario

    text = BASELINE.read_text()
    for old, new in (("accounts = 100_000", "accounts = 1_000"), ("days = 180", "days = 80"),
                     ("replications = 5 ", "replications = 2 "),
                     ("legal_capacity = 2000", "legal_capacity = 1"),
                     ("court_delay_days = 90.0", "court_delay_days = 10.0"),
                     ("agency_capacity = 20_000", "agency_capacity = 15")):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "congested.toml"
    path.write_text(text)
    scenario = load_scenario(path)
    first = run_scenario(scenario, workers=1)
    daily = first.daily
    assert daily["legal_filed"].sum() > 10 and daily["legal_waiting"].max() > 3
    assert daily["agency_waiting"].max() > 10
    assert (first.summary["violations"] == 0).all()
    # Each pool's requests are served, still waiting, or counted the day they left the queue.
    for pool, done in (("legal", "filed"), ("agency", "placed")):
        assert daily[f"{pool}_left_queue"].sum() > 0, pool
        for _, run in daily.groupby(["policy", "replication"]):
            flow = np.cumsum(run[f"{pool}_requested"] - run[f"{pool}_{done}"]
                             - run[f"{pool}_left_queue"])
            assert np.array_equal(flow.to_numpy(), run[f"{pool}_waiting"].to_numpy()), pool
    again = run_scenario(scenario, workers=1)
    parallel = run_scenario(scenario, workers=2)
    for other in (again, parallel):
        pd.testing.assert_frame_equal(first.summary, other.summary)
        pd.testing.assert_frame_equal(first.daily, other.daily)
