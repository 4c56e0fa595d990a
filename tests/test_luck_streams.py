"""Each random purpose draws its own luck: a call's connection is not an SMS's, a partial
payment's size is not the draw that decided it would not be a cure. A call site that reads
another purpose's stream makes two outcomes move together; these tests see that."""

from __future__ import annotations

import numpy as np
from helpers import flat_portfolio

from waifang.sim import LadderPolicy, LadderRule, PolicySpec, World, resolve_rules
from waifang.sim.behaviour import Borrowers
from waifang.sim.compliance import ACTION_CODE
from waifang.sim.economics import Ledger
from waifang.sim.engine import simulate
from waifang.sim.spec import BehaviourSpec, ContactSpec, TreatmentsSpec
from waifang.sim.state import DELINQUENT, AccountState


def _first_attempts(log, action):
    """(account, day) -> connected, for the first performed attempt of the day."""
    done = np.flatnonzero((log["outcome"] == 0) & (log["action"] == ACTION_CODE[action]))
    order = done[np.lexsort((log["hour"][done], log["day"][done], log["account"][done]))]
    first = {}
    for i in order:
        first.setdefault((int(log["account"][i]), int(log["day"][i])), bool(log["connected"][i]))
    return first


def test_call_ivr_and_sms_connect_on_their_own_luck():
    """With every borrower reachable and each channel connecting half the time, the first
    SMS, IVR and call of a day to one borrower agree about half the time, not always."""
    half = dict(connect_probability=0.5, lift=0.0)
    world = World(
        days=12,
        treatments=TreatmentsSpec(
            sms=ContactSpec(cost=0.1, **half),
            ivr=ContactSpec(cost=0.3, **half),
            call=ContactSpec(cost=3.0, **half),
        ),
    )
    portfolio = flat_portfolio(400, dpd=20)
    policy = PolicySpec(
        name="all",
        rules=tuple(LadderRule(action=a, dpd_min=1) for a in ("sms", "ivr", "call")),
    )
    rules, _ = resolve_rules("cn")
    result = simulate(world, portfolio, LadderPolicy(policy, ("all",)), rules,
                      seed=np.random.SeedSequence(4), audit="full")
    first = {a: _first_attempts(result.audit, a) for a in ("sms", "ivr", "call")}
    for a, b in (("call", "sms"), ("call", "ivr"), ("ivr", "sms")):
        both = sorted(set(first[a]) & set(first[b]))
        assert len(both) > 500, (a, b)
        agree = np.mean([first[a][k] == first[b][k] for k in both])
        assert 0.4 < agree < 0.6, f"{a} and {b} agree on {agree:.0%} of first attempts"


def test_partial_payments_are_sized_by_their_own_draw():
    """Borrowers who pay but do not cure pay whole instalments: a share drawn uniformly
    between 0.2 and 0.8 (the spec's defaults) of the five instalments due at 150 dpd,
    rounded down: one, two or three, each a third of the time, whatever the draw that
    decided they would not cure."""
    # Cures likely (0.5 + 0.4 x 0.5 = 0.7 at average ability): a partial payment whose size
    # reused the cure draw would then always be large.
    world = World(days=5, behaviour=BehaviourSpec(cure_share_low=0.5, cure_share_high=0.9))
    n = 6000
    portfolio = flat_portfolio(n, dpd=150, balance=1200.0)
    b = world.behaviour
    state = AccountState.from_portfolio(portfolio, b.ability_weight, b.willingness_weight)
    borrowers = Borrowers(world, portfolio, state, Ledger(world.economics, world.days),
                          np.random.SeedSequence(12))
    borrowers.pay(np.arange(n), day=0)
    partial = state.status == DELINQUENT
    assert abs(partial.mean() - 0.3) < 0.03
    instalments = (150 - state.dpd[partial].astype(int)) // 30
    for k in (1, 2, 3):
        assert abs(np.mean(instalments == k) - 1 / 3) < 0.05, k


def test_a_few_draws_are_the_same_bits_as_the_same_accounts_in_a_crowd():
    """keyed_uniform computes a few draws in Python integers and many in numpy arrays: an
    account's draw (any lane, negative indices wrapping as uint64) is the same bits either
    way, drawn alone, in a small batch or in a crowd of 200."""
    from waifang.sim.rng import keyed_uniform

    rng = np.random.default_rng(5)
    key = np.uint64(0xC0FFEE1234567890)
    crowd = np.concatenate([[-3, 0, 1], rng.integers(2, 2**40, 197)])
    lanes = rng.integers(0, 300, crowd.size).astype(np.int16)
    for day in (0, 7, 179):
        for lane in (0, 3, lanes):
            everyone = keyed_uniform(key, crowd, day, lane)
            assert everyone.dtype == np.float64 and ((everyone >= 0) & (everyone < 1)).all()
            for size in range(0, 21):
                pick = rng.choice(crowd.size, size, replace=False)
                few_lanes = lane[pick] if isinstance(lane, np.ndarray) else lane
                few = keyed_uniform(key, crowd[pick], day, few_lanes)
                assert few.dtype == np.float64 and few.shape == (size,)
                assert few.tobytes() == everyone[pick].tobytes(), (day, size)


def test_draws_for_several_purposes_at_once_are_each_purposes_own():
    """keyed_uniforms (several keys in one pass) gives, row by row, what one keyed_uniform
    call per key gives: the same bits, few accounts or many, one lane or one per account."""
    from waifang.sim.rng import keyed_uniform, keyed_uniforms

    rng = np.random.default_rng(9)
    keys = [np.uint64(k) for k in rng.integers(0, 2**63, 3, dtype=np.int64)]
    for size in (0, 1, 2, 3, 4, 5, 6, 11, 40):
        accounts = rng.integers(-2, 2**40, size)
        for lane in (0, 5, rng.integers(0, 9, size).astype(np.int16)):
            for k in (1, 2, 3):
                rows = keyed_uniforms(keys[:k], accounts, 17, lane)
                assert rows.shape == (k, size) and rows.dtype == np.float64
                for r in range(k):
                    one = keyed_uniform(keys[r], accounts, 17, lane)
                    assert rows[r].tobytes() == one.tobytes(), (size, k, r)
