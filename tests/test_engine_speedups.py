"""The engine's fast paths give exactly what the plain statements give.

- ``LadderPolicy.__call__`` (one table lookup per account finds the rungs due today) against an
  account-by-account loop written here from the rung definitions, and against
  ``LadderPolicy.by_rung`` (the rung-by-rung statement), on random ladders and random books;
- ``resources.largest_first`` against ``np.argsort(-balance, kind="stable")``;
- ``engine._split`` on a sorted request (no sort) against the same request shuffled and
  repeated (sorted and deduplicated by ``np.unique``).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from waifang.sim.engine import _split
from waifang.sim.policy import LadderPolicy, LadderRule, PolicySpec
from waifang.sim.portfolio import generate_portfolio
from waifang.sim.resources import largest_first
from waifang.sim.spec import PortfolioSpec
from waifang.sim.state import CHARGED_OFF, CLOSED, CURRENT, DELINQUENT, AccountState, LenderView

C = 180  # charge-off dpd of the books below


def _book(n: int, seed: int, day: int) -> LenderView:
    rng = np.random.default_rng(seed)
    p = generate_portfolio(PortfolioSpec(accounts=n), ("a", "b"), rng)
    s = AccountState.from_portfolio(p, 2.0, 2.5)
    status = rng.choice([CURRENT, DELINQUENT, CHARGED_OFF, CLOSED], n, p=[0.2, 0.6, 0.1, 0.1])
    s.status[:] = status
    dpd = rng.integers(1, C, n)
    dpd[status == CURRENT] = 0
    dpd[status == CHARGED_OFF] = C + 1
    dpd[status == CLOSED] = C + 2
    s.dpd[:] = dpd
    s.hardship_until[:] = np.where(rng.random(n) < 0.2, day + rng.integers(-3, 4, n), -10_000)
    s.chargeoff_day[:] = np.where(status == CHARGED_OFF, rng.integers(0, day + 1, n), -10_000)
    s.balance_cents[:] = rng.integers(0, 2_000_000, n)
    return LenderView(p, s)


def _expected(rules: tuple[LadderRule, ...], view: LenderView, day: int) -> dict[str, dict]:
    """{action: {account: attempts}}, one account at a time from the rungs' definitions."""
    out: dict[str, dict[int, int]] = {}
    status, dpd = view.status, view.dpd
    for i in range(status.size):
        for r in rules:
            if r.action == "sale":
                ok = status[i] == CHARGED_OFF and (int(dpd[i]) - r.dpd_min) % r.every_days == 0
            elif r.charged_off:
                since = day - int(view.chargeoff_day[i])
                ok = (
                    status[i] == CHARGED_OFF
                    and r.dpd_min <= since <= r.dpd_max
                    and (since - r.dpd_min) % r.every_days == 0
                )
            else:
                d = int(dpd[i])
                ok = (
                    status[i] == DELINQUENT
                    and (r.during_hardship or view.hardship_until[i] < day)
                    and r.dpd_min <= d <= r.dpd_max
                    and (d - r.dpd_min) % r.every_days == 0
                )
            bal = int(view.balance_cents[i])
            ok = ok and bal >= round(r.min_balance * 100)
            ok = ok and (r.max_balance is None or bal <= round(r.max_balance * 100))
            if ok:
                got = out.setdefault(r.action, {})
                attempts = r.attempts if r.action in ("call", "ivr") else 1
                got[i] = max(got.get(i, 0), attempts)
    return out


def _as_dict(requests) -> dict[str, dict]:
    out = {}
    for action, req in requests.items():
        idx, att = req if isinstance(req, tuple) else (req, np.ones(len(req), int))
        assert np.all(np.diff(idx) > 0), "requests are sorted without repeats"
        out[action] = dict(zip(idx.tolist(), att.tolist(), strict=True))
    return out


rung = st.builds(
    lambda action, lo, width, every, attempts, hardship, charged, min_bal: LadderRule(
        action=action,
        dpd_min=lo,
        dpd_max=lo + width,
        every_days=every,
        attempts=attempts,
        during_hardship=hardship,
        charged_off=charged and action in ("legal", "agency"),
        min_balance=min_bal,
    ),
    st.sampled_from(["sms", "ivr", "call", "freeze", "visit", "legal", "agency", "sale"]),
    st.integers(0, 200),
    st.integers(0, 120),
    st.integers(1, 31),
    st.integers(1, 4),
    st.booleans(),
    st.booleans(),
    st.sampled_from([0.0, 5000.0]),
)


@settings(max_examples=examples(40), deadline=None)
@given(rules=st.lists(rung, min_size=1, max_size=12), seed=st.integers(0, 10_000))
def test_ladder_fast_path_matches_account_by_account(rules, seed):
    day = 40
    view = _book(300, seed, day)
    policy = LadderPolicy(PolicySpec(name="p", rules=tuple(rules)), view._portfolio.segment_names)
    want = _expected(tuple(rules), view, day)
    fast = policy(view, day)
    assert _as_dict(fast) == want
    assert _as_dict(policy.by_rung(view, day)) == want
    for action, req in fast.items():  # same arrays, same dtypes, as the rung-by-rung path
        slow = policy.by_rung(view, day)[action]
        pairs = zip(
            req if isinstance(req, tuple) else (req,),
            slow if isinstance(slow, tuple) else (slow,),
            strict=True,
        )
        for a, b in pairs:
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_ladder_with_more_rungs_than_table_bits_goes_rung_by_rung():
    rules = tuple(LadderRule(action="sms", dpd_min=k, dpd_max=k + 5) for k in range(70))
    view = _book(200, 1, 10)
    policy = LadderPolicy(PolicySpec(name="p", rules=rules), view._portfolio.segment_names)
    assert policy._table is None
    assert _as_dict(policy(view, 10)) == _expected(rules, view, 10)


def test_largest_first_is_the_stable_descending_order():
    rng = np.random.default_rng(3)
    for m in (0, 1, 2, 7, 1000, 20_000):
        for balance in (
            rng.integers(0, 5, m),  # many ties: position order decides
            rng.lognormal(10, 2, m).astype(np.int64),
            np.full(m, 12345, np.int64),
            rng.integers(0, 2**61, m),  # too wide for one key: the stable argsort
        ):
            assert np.array_equal(largest_first(balance), np.argsort(-balance, kind="stable"))


def test_split_sorted_request_equals_shuffled_and_repeated():
    rng = np.random.default_rng(4)
    idx = np.unique(rng.integers(0, 1000, 300))
    attempts = rng.integers(0, 4, idx.size).astype(np.int16)
    fast = _split("call", (idx, attempts), 1000)
    # The same request shuffled, each account asked twice with the same attempts.
    order = rng.permutation(2 * idx.size)
    both = (np.concatenate([idx, idx])[order], np.concatenate([attempts, attempts])[order])
    slow = _split("call", both, 1000)
    for a, b in zip(fast, slow, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert not (fast[1] == 0).any() and fast[0].size == (attempts > 0).sum()


@pytest.mark.parametrize("charge_off", [45, 100, 180, 400])
@pytest.mark.parametrize("small_book", [0, 5_000], ids=["per-edge", "histogram"])
def test_daily_bucket_counts_match_a_count_of_every_account(charge_off, small_book,
                                                              monkeypatch):
    """The nightly bucket columns against each account's dpd as the next morning sees it,
    bucketed one account at a time: bucket (d - 1) // 30, the last bucket taking every dpd
    up to the charge-off point. Both ways the engine counts: a comparison per bucket edge (a
    large book; forced here with SMALL_BOOK = 0) and one histogram (a small book)."""
    from waifang.sim import World, engine, resolve_rules
    from waifang.sim.engine import _Run
    from waifang.sim.spec import BUCKETS

    monkeypatch.setattr(engine, "SMALL_BOOK", small_book)

    world = World(days=40, charge_off_dpd=charge_off)
    names = tuple(r.name for r in world.resources.regions)
    book = generate_portfolio(PortfolioSpec(accounts=400), names, np.random.default_rng(2))
    rules, _ = resolve_rules("cn")
    ladder = PolicySpec(name="calls", rules=(LadderRule(action="call", dpd_min=1),))
    run = _Run(
        world,
        book,
        LadderPolicy(ladder, book.segment_names),
        rules,
        np.random.SeedSequence(5),
        "counts",
    )
    mornings: dict[int, np.ndarray] = {}
    run.observer = lambda r, day, requests: mornings.__setitem__(day, r.state.dpd.copy())
    daily = run.run().daily
    last = len(BUCKETS) - 1
    for day in range(1, world.days):  # the morning of ``day`` is the night of ``day - 1``
        want = {name: 0 for name in ("current", "charged_off", "closed", *BUCKETS)}
        for d in mornings[day].tolist():
            if d == 0:
                want["current"] += 1
            elif d == charge_off + 1:
                want["charged_off"] += 1
            elif d == charge_off + 2:
                want["closed"] += 1
            else:
                assert 1 <= d < charge_off
                want[BUCKETS[min((d - 1) // 30, last)]] += 1
        got = {
            k: int(
                daily[k if k in ("current", "charged_off", "closed") else f"bucket_{k}"][day - 1]
            )
            for k in want
        }
        assert got == want, day
    assert daily["charged_off"][-1] > 0 or charge_off > 40  # the short books charge off


@pytest.mark.parametrize("request_", [[-1, 2], [0, 5], [5], [-1], [3, 1, 7], [2, -1, 1]])
def test_split_refuses_an_index_outside_the_book_sorted_or_not(request_):
    from waifang.errors import InputError

    with pytest.raises(InputError, match="outside 0..4"):
        _split("sms", np.array(request_), 5)
