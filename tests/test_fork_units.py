"""Fast in-process checks of waifang/sim/fork.py, one behaviour each (also the first file of its
selection for mutation testing, tests/mutation.py): a branch's luck, the extra requests of a
treatment, a subset's queues and requests in its own indices, the unlimited teams and places
of a branch, the argument checks, and the refusals of a copy that would share state with the
run it came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from waifang.scenarios.runner import build_portfolio
from waifang.scenarios.schema import load_scenario
from waifang.sim.eligible import escalation_allowed, visit_allowed
from waifang.sim.engine import simulate
from waifang.sim.fork import _restrict, _WithExtra, checkpoints, simulate_probed
from waifang.sim.policy import LadderPolicy

SMALL = Path(__file__).parent / "data" / "small.toml"


@pytest.fixture(scope="module")
def small():
    scenario = load_scenario(SMALL)
    portfolio = build_portfolio(scenario, np.random.default_rng(1))
    rules, _ = scenario.rules_for(0)
    spec = scenario.policies[0]
    ladder = LadderPolicy(spec, portfolio.segment_names)
    quiet = spec.model_copy(update={"rules": tuple(r for r in spec.rules
                                                   if r.action not in ("visit", "legal"))})
    return scenario.world(), portfolio, rules, ladder, LadderPolicy(quiet,
                                                                    portfolio.segment_names)


def test_a_branch_on_a_seed_has_that_seeds_luck_alone(small):
    """On day 0 nothing has happened yet: runs on two seeds, paused there and continued on a
    third, are the same run. Every keyed draw (calls answered, visit times, court delays)
    must come from the branch's seed, not from the run the checkpoint was taken from."""
    world, portfolio, rules, ladder, _ = small
    seed = np.random.SeedSequence(5)
    branches = []
    for run_seed in (1, 2):
        (cp,) = checkpoints(world, portfolio, ladder, rules,
                            seed=np.random.SeedSequence(run_seed), days=[0])
        assert cp.run_seed.entropy == run_seed
        branches.append(cp.branch(ladder, seed=seed, until=40))
    a, b = branches
    assert a.performed == b.performed
    np.testing.assert_array_equal(a.value, b.value)
    # ... and a branch with the run's own streams (no seed) is the run itself.
    (cp,) = checkpoints(world, portfolio, ladder, rules, seed=np.random.SeedSequence(1),
                        days=[0])
    run = simulate(world, portfolio, ladder, rules, seed=np.random.SeedSequence(1))
    assert cp.branch(ladder).value.sum() == pytest.approx(run.summary["net_value"], rel=1e-12)
    assert cp.branch(ladder).value.sum() != pytest.approx(a.value.sum(), rel=1e-6)


def test_extra_requests_come_first_and_only_on_their_day():
    def base(view, day):
        return {"visit": np.array([4, 5]), "call": (np.array([1, 2]), np.array([2, 3]))}

    # An action the policy did not ask for first: the rest are still merged after it.
    policy = _WithExtra(base, 7, {"legal": np.array([8]), "visit": np.array([9]),
                                  "call": np.array([3])})
    on = policy(None, 7)
    np.testing.assert_array_equal(on["visit"], [9, 4, 5])
    # A plain index list merged with (accounts, attempts): one attempt each for the plain one.
    np.testing.assert_array_equal(on["call"][0], [3, 1, 2])
    np.testing.assert_array_equal(on["call"][1], [1, 2, 3])
    np.testing.assert_array_equal(on["legal"], [8])
    off = policy(None, 8)
    assert set(off) == {"visit", "call"}
    np.testing.assert_array_equal(off["visit"], [4, 5])
    plain = _WithExtra(lambda v, d: {"call": np.array([1, 2])}, 0,
                       {"call": (np.array([6]), np.array([4], np.int16))})(None, 0)
    np.testing.assert_array_equal(plain["call"][0], [6, 1, 2])
    np.testing.assert_array_equal(plain["call"][1], [4, 1, 1])
    # Attempts stay whole numbers.
    assert plain["call"][1].dtype == np.int16
    both = _WithExtra(lambda v, d: {"call": (np.array([1]), np.array([2], np.int16))}, 0,
                      {"call": np.array([5])})(None, 0)
    assert both["call"][1].tolist() == [1, 2] and both["call"][1].dtype == np.int16


def test_requests_restricted_to_a_subset_are_renumbered():
    requests = {"visit": np.array([7, 2, 5]), "call": (np.array([5, 1, 7]), np.array([1, 2, 3]))}
    accounts = np.array([5, 7])
    out = _restrict(requests, accounts, 10)
    # by hand: account 5 is position 0, account 7 position 1, the others leave
    np.testing.assert_array_equal(out["visit"], [1, 0])
    np.testing.assert_array_equal(out["call"][0], [0, 1])
    np.testing.assert_array_equal(out["call"][1], [1, 3])
    same = _restrict(requests, np.arange(10), 10)
    assert same == requests and same is not requests


def _members(entries, kept):
    """``entries`` (original indices) of the accounts in ``kept``, renumbered, in order."""
    position = {int(a): i for i, a in enumerate(kept)}
    return [position[int(a)] for a in entries if int(a) in position]


def test_a_subset_keeps_its_accounts_queues_and_plans_in_its_own_numbers(small):
    world, portfolio, rules, ladder, _ = small
    # Three places in court: filings wait for a place.
    world = world.model_copy(update={"resources": world.resources.model_copy(
        update={"legal_capacity": 3})})
    (cp,) = checkpoints(world, portfolio, ladder, rules, seed=np.random.SeedSequence(1),
                        days=[4])
    run = cp._run
    waiting, cases = run.courts.waiting, run.courts.cases
    queued = np.concatenate([r.queue for r in run.field.regions])
    assert queued.size and waiting.size and cases.size
    keep = np.union1d(np.arange(0, cp.n, 2), np.concatenate([queued, waiting, cases[::2]]))
    keep = keep[keep >= waiting.min()]  # the subset's first account waits for a court
    sub = cp.subset(keep)
    assert sub.n == keep.size and sub.day == cp.day
    np.testing.assert_array_equal(sub.accounts, keep)
    np.testing.assert_array_equal(sub.view.balance, cp.view.balance[keep])
    np.testing.assert_array_equal(sub.portfolio.account_id, portfolio.account_id[keep])
    for old, new in zip(run.field.regions, sub._run.field.regions, strict=True):
        assert new.queue.tolist() == _members(old.queue, keep)
        inside = np.isin(old.queue, keep)
        np.testing.assert_array_equal(new.since, old.since[inside])
        np.testing.assert_array_equal(new.asked_dpd, old.asked_dpd[inside])
    courts = sub._run.courts
    assert courts.waiting.tolist() == _members(waiting, keep) and 0 in courts.waiting
    assert courts.cases.tolist() == _members(cases, keep)
    np.testing.assert_array_equal(courts.judgement_day,
                                  run.courts.judgement_day[np.isin(cases, keep)])
    promised = run.borrowers.promises_due
    assert sum(len(c) for v in promised.values() for c in v) > 0
    for day, chunks in promised.items():
        got = np.concatenate(sub._run.borrowers.promises_due[day] or [np.zeros(0, int)])
        assert got.tolist() == _members(np.concatenate(chunks or [np.zeros(0, int)]), keep)
    # The requests of the day: the ladder's, by the accounts' dpd that morning.
    dpd = cp.view.dpd
    assert (dpd[cp.requests["sms"]] <= 15).all() and (dpd[cp.requests["sms"]] >= 1).all()
    calls = cp.requests["call"][0]
    assert calls.size and ((dpd[calls] >= 16) & (dpd[calls] <= 179)).all()
    for action, request in cp.requests.items():
        idx = request[0] if isinstance(request, tuple) else request
        new = sub.requests[action]
        new = new[0] if isinstance(new, tuple) else new
        assert new.tolist() == _members(idx, keep), action
    # A subset of a subset names the original accounts.
    inner = sub.subset(np.array([1, 3]))
    np.testing.assert_array_equal(inner.accounts, keep[[1, 3]])
    # Money before the checkpoint is the run's, whatever the subset.
    assert sub._npv_before == cp._npv_before and sub._cost_before == cp._cost_before
    assert inner.branch(ladder, until=10).value.shape == (2,)


def test_a_subset_cuts_the_risk_transfer_accounts_too():
    from waifang.sim import LadderPolicy, PolicySpec, PortfolioSpec, World, resolve_rules
    from waifang.sim.cover import PER_ACCOUNT
    from waifang.sim.portfolio import generate_portfolio
    from waifang.sim.spec import RiskTransfer

    cover = RiskTransfer(name="guarantee", kind="guarantee", trigger_dpd=30, premium=0.0125,
                         cover_ratio=0.85, deductible=25.0, min_balance=100.0)
    world = World(days=60, risk_transfer=(cover,))
    names = tuple(r.name for r in world.resources.regions)
    book = generate_portfolio(PortfolioSpec(accounts=400), names, np.random.default_rng(3))
    rules, _ = resolve_rules("cn")
    policy = LadderPolicy(PolicySpec(name="none"), book.segment_names)
    (cp,) = checkpoints(world, book, policy, rules, seed=np.random.SeedSequence(2), days=[40])
    keep = np.arange(5, 400, 3)
    sub = cp.subset(keep)
    for name in PER_ACCOUNT:
        whole = getattr(cp._run.cover, name)
        np.testing.assert_array_equal(getattr(sub._run.cover, name), whole[keep], err_msg=name)
    assert cp._run.cover.claim_cents[keep].any()  # claims were paid on the subset's accounts
    assert sub.branch(policy, until=50).cover_npv.shape == (keep.size,)


def test_unlimited_teams_and_places_make_every_allowed_request_that_day(small):
    world, portfolio, rules, _, quiet = small
    world = world.model_copy(update={"resources": world.resources.model_copy(
        update={"legal_capacity": 10})})
    (cp,) = checkpoints(world, portfolio, quiet, rules, seed=np.random.SeedSequence(2),
                        days=[30])
    every = np.arange(cp.n)
    collectors = np.array([r.collectors_per_team for r in world.resources.regions])
    visits = every[visit_allowed(rules, cp.view, every, cp.day, collectors[portfolio.region])]
    legal = every[escalation_allowed(rules, cp.view, every, cp.day, "legal",
                                     world.resources.agency_vetted)]
    assert visits.size > 20 and legal.size > world.resources.legal_capacity
    seed = np.random.SeedSequence(3)
    one_day = dict(seed=seed, until=cp.day + 1)
    limited = cp.branch(quiet, extra={"visit": visits}, **one_day)
    unlimited = cp.branch(quiet, extra={"visit": visits}, unlimited_field=True, **one_day)
    assert limited.performed["visit"] < visits.size == unlimited.performed["visit"]
    filed = cp.branch(quiet, extra={"legal": legal}, until=cp.day + 1, seed=seed)
    opened = cp.branch(quiet, extra={"legal": legal}, until=cp.day + 1, seed=seed,
                       unlimited_escalation=True)
    # As if the courts had a place for every account (the run up to the checkpoint, with no
    # legal action in it, is the same).
    roomy = world.model_copy(update={"resources": world.resources.model_copy(
        update={"legal_capacity": cp.n})})
    (wide,) = checkpoints(roomy, portfolio, quiet, rules, seed=np.random.SeedSequence(2),
                          days=[30])
    courts = wide.branch(quiet, extra={"legal": legal}, until=cp.day + 1, seed=seed)
    assert filed.performed["legal"] == 10
    assert opened.performed["legal"] == courts.performed["legal"] > legal.size - 5
    np.testing.assert_array_equal(opened.value, courts.value)
    assert unlimited.day == cp.day and unlimited.until == cp.day + 1
    # The branches changed nothing of the checkpoint: it branches the same again.
    again = cp.branch(quiet, extra={"visit": visits}, unlimited_field=True, **one_day)
    np.testing.assert_array_equal(again.value, unlimited.value)
    assert all(r.spec.teams < cp.n for r in cp._run.field.regions)


def test_branch_and_checkpoint_days_are_checked(small):
    world, portfolio, rules, ladder, _ = small
    assert checkpoints(world, portfolio, ladder, rules, seed=np.random.SeedSequence(1),
                       days=[]) == []
    taken = checkpoints(world, portfolio, ladder, rules, seed=np.random.SeedSequence(1),
                        days=[20, 0, 20, world.days - 1])
    assert [cp.day for cp in taken] == [0, 20, world.days - 1]
    for bad in ([-1], [world.days], [3, world.days + 5]):
        with pytest.raises(ValueError, match=r"checkpoint days must lie in \[0, 59\]"):
            checkpoints(world, portfolio, ladder, rules, seed=np.random.SeedSequence(1),
                        days=bad)
    cp = taken[1]
    for until in (20, 19, world.days + 1):
        with pytest.raises(ValueError, match=rf"until must lie in \(20, 60\], got {until}"):
            cp.branch(ladder, until=until)
    assert cp.branch(ladder, until=21).until == 21
    assert cp.branch(ladder).until == world.days == cp.branch(ladder, until=world.days).until
    assert cp.world is world and cp.rules is rules and cp.portfolio is portfolio


def test_a_probed_run_is_the_plain_run_with_its_departures_and_audit(small):
    world, portfolio, rules, ladder, _ = small
    seed = np.random.SeedSequence(8)
    days = []

    def probe(live):
        days.append(live.day)
        if live.day == 10:
            cp = live.checkpoint(np.array([5, 1]))
            np.testing.assert_array_equal(cp.accounts, [5, 1])
            np.testing.assert_array_equal(cp.view.balance, live.view.balance[[5, 1]])

    probed = simulate_probed(world, portfolio, ladder, rules, seed=seed, probe=probe,
                             departures=("visit_min_dpd",), audit="full")
    plain = simulate(world, portfolio, ladder, rules, seed=seed, departures=("visit_min_dpd",),
                     audit="full")
    assert days == list(range(world.days))
    assert probed.summary == plain.summary
    assert probed.departures == plain.departures == ("visit_min_dpd",)
    assert probed.audit is not None and len(probed.audit) == len(plain.audit) > 0


def test_a_copy_refuses_state_it_does_not_know_how_to_cut_or_share(small):
    world, portfolio, rules, ladder, _ = small
    (cp,) = checkpoints(world, portfolio, ladder, rules, seed=np.random.SeedSequence(1),
                        days=[5])
    cp._run.borrowers.new_array = np.zeros(cp.n)
    with pytest.raises(RuntimeError, match="Borrowers.new_array looks per-account .* add it there"):
        cp.subset(np.arange(3))
    del cp._run.borrowers.new_array
    cp._run.compliance.other = np.zeros((2, cp.n))
    with pytest.raises(RuntimeError, match="Compliance.other looks per-account"):
        cp.subset(np.arange(3))
    del cp._run.compliance.other
    assert cp.subset(np.arange(3)).n == 3

    def closure_over(run):
        return lambda: run.state

    cp._run.borrowers.hook = closure_over(cp._run)
    with pytest.raises(RuntimeError, match="Borrowers.hook holds a closure over the original"):
        cp.branch(ladder, until=10)
    cp._run.courts.hooks = {"a": closure_over(cp._run.ledger)}
    del cp._run.borrowers.hook
    with pytest.raises(RuntimeError, match="Courts.hooks holds a closure"):
        cp.branch(ladder, until=10)
