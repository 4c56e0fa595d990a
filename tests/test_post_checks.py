"""The engine's post-checks count a breach exactly when the naive reference refuses the action.

``violations: 0`` in every summary rests on :class:`~waifang.sim.compliance.Compliance`'s
post-checks: each performed contact, visit, filing and placement is re-checked, apart from the
refusals, and whatever breaks a rule is counted. The engine never performs a forbidden
action, so in a run the post-checks never fire and nothing shows whether they would. Here
each one is fed actions directly, one account at a time, on random account states (the
states of ``test_reference_units``), and compared with the naive reference model
(``benchmarks/naive_reference.py``, written apart from the engine): an action is counted as a
breach if and only if the reference refuses it, and the rule the reference names is among
the rules counted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from helpers import examples
from hypothesis import example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from naive_reference import NaiveModel  # noqa: E402
from test_reference_units import N, naive_account, random_accounts  # noqa: E402

from waifang.sim import PolicySpec, World  # noqa: E402
from waifang.sim.compliance import AuditLog, Compliance  # noqa: E402
from waifang.sim.rules import PRESETS, ComplianceRules  # noqa: E402

# Every rule on at once, with small caps, so that every post-check has something to count.
STRICT = ComplianceRules(
    max_attempts_per_day=4,
    max_connected_per_day=2,
    max_attempts_per_7_days=6,
    quiet_days_after_conversation=3,
    no_contact_hardship=True,
    first_visit_notice_days=7,
    no_legal_vulnerable=True,
)
RULE_SETS = {**PRESETS, "strict": STRICT}


def _setup(rules, seed: int, day: int):
    p, s = random_accounts(seed, day)
    rng = np.random.default_rng(seed + 7)
    p.vulnerable[:] = rng.random(N) < 0.3
    compliance = Compliance(rules, N, AuditLog(day + 1, full=False))
    compliance.new_day(day)
    naive = NaiveModel(
        World(), PolicySpec(name="x"), rules, p.segment_names, np.random.SeedSequence(0)
    )
    return p, s, rng, compliance, naive


def _counted(compliance: Compliance, before: dict[str, int]) -> dict[str, int]:
    return {
        rule: n - before.get(rule, 0)
        for rule, n in compliance.breaches_by_rule.items()
        if n != before.get(rule, 0)
    }


def _refusal(naive: NaiveModel, ask) -> str | None:
    """The rule the reference names when ``ask()`` refuses (it counts it in ``blocked``)."""
    before = dict(naive.blocked)
    if ask():
        return None
    (rule,) = [r for r, n in naive.blocked.items() if n != before.get(r, 0)]
    return rule


def _check(compliance: Compliance, before: dict[str, int], refused: str | None, where) -> None:
    counted = _counted(compliance, before)
    if refused is None:
        assert counted == {}, where
    else:
        assert refused in counted, (where, refused, counted)
        assert set(counted.values()) == {1}, (where, counted)  # one action, once per rule
    assert compliance.breaches == sum(compliance.breaches_by_rule.values())


@settings(max_examples=examples(40), deadline=None)
@given(
    rules=st.sampled_from(sorted(RULE_SETS)),
    action=st.sampled_from(["sms", "ivr", "call", "agency_contact"]),
    hour=st.sampled_from([7.0, 8.0, 9.0, 18.0, 19.0, 19.5, 20.0, 21.0, 22.0]),
    seed=st.integers(0, 10_000),
    day=st.integers(7, 200),
)
# A message sent at the very hour contact ends is late (the end hour is not allowed).
@example(rules="us_reg_f", action="sms", hour=21.0, seed=1, day=30)
def test_contact_post_checks_count_what_the_reference_refuses(rules, action, hour, seed, day):
    rules = RULE_SETS[rules]
    p, s, rng, compliance, naive = _setup(rules, seed, day)
    compliance.attempts_today[:] = rng.integers(0, 7, N)
    compliance.connected_today[:] = rng.integers(0, 4, N)
    talked = (day - rng.integers(0, 9, N)) * 24.0 + rng.uniform(9.0, 21.0, N)
    compliance.last_conversation[:] = np.where(rng.random(N) < 0.5, talked, -np.inf)
    if compliance.window is not None:
        compliance.window[:] = rng.integers(0, 3, (7, N))
        compliance.window[day % 7] = compliance.attempts_today
    until = hour + 1.0 if action in ("call", "agency_contact") else None
    for i in range(N):
        a = naive_account(p, s, i)
        a.attempts_today = int(compliance.attempts_today[i])
        a.connected_today = int(compliance.connected_today[i])
        talked_at = compliance.last_conversation[i]
        a.last_conversation = int(talked_at // 24) if np.isfinite(talked_at) else -10_000
        if compliance.window is not None:
            a.week = compliance.window[:, i].astype(int).tolist()
        refused = _refusal(naive, lambda a=a: naive.may_contact(a, action, hour, day, until))
        before = dict(compliance.breaches_by_rule)
        compliance.record_attempts(
            action, np.array([i]), np.array([True]), hour, until=until, state=s
        )
        _check(compliance, before, refused, (action, hour, i))


@settings(max_examples=examples(40), deadline=None)
@given(
    rules=st.sampled_from(sorted(RULE_SETS)),
    collectors=st.integers(1, 3),
    start=st.sampled_from([7.0, 8.0, 12.0]),
    end=st.sampled_from([13.0, 20.0, 21.0]),
    seed=st.integers(0, 10_000),
    day=st.integers(0, 200),
)
def test_visit_post_checks_count_what_the_reference_refuses(
    rules, collectors, start, end, seed, day
):
    rules = RULE_SETS[rules]
    p, s, _, compliance, naive = _setup(rules, seed, day)
    for i in range(N):
        a = naive_account(p, s, i)
        refused = naive.visit_refusal(a, day, collectors, (start, end))
        before = dict(compliance.breaches_by_rule)
        compliance.post_check_visits(
            np.array([i]), np.array([start]), np.array([end]), s, p, collectors
        )
        _check(compliance, before, refused, ("visit", i))


@settings(max_examples=examples(40), deadline=None)
@given(
    rules=st.sampled_from(sorted(RULE_SETS)),
    action=st.sampled_from(["legal", "agency"]),
    seed=st.integers(0, 10_000),
    day=st.integers(0, 200),
)
def test_escalation_post_checks_count_what_the_reference_refuses(rules, action, seed, day):
    rules = RULE_SETS[rules]
    p, s, _, compliance, naive = _setup(rules, seed, day)
    refusals = set()
    for i in range(N):
        a = naive_account(p, s, i)
        refused = _refusal(naive, lambda a=a: naive.may_escalate(a, day, action))
        before = dict(compliance.breaches_by_rule)
        compliance.post_check_escalation(action, np.array([i]), s, p)
        _check(compliance, before, refused, (action, i))
        refusals.add(refused)
        # The refusals at request time agree with the reference too.
        allowed = compliance.allow_escalation(action, np.array([i]), 9.0, s, p)
        assert (allowed.size == 1) == (refused is None)
    assert refusals - {None}


def test_an_empty_full_log_has_the_columns_and_types_of_a_written_one():
    # A run in which nothing was asked for still writes an audit table of the same shape.
    empty = AuditLog(2, full=True).records()
    log = AuditLog(2, full=True)
    p, s = random_accounts(0, 1)
    log.watch(s, p)
    log.record(1, "call", np.array([0, 1]), 9.0, np.zeros(2, np.int8), until=10.0,
               connected=np.array([True, False]))
    log.record_blocked(1, "visit", np.array([2]), 8.0, "visit_gap")
    written = log.records()
    assert list(empty) == list(written) == list(AuditLog.COLUMNS)
    assert {c: v.dtype for c, v in empty.items()} == {c: v.dtype for c, v in written.items()}
    assert all(v.size == 0 for v in empty.values())
    assert all(v.size == 3 for v in written.values())


def test_a_visit_is_checked_for_its_hours_unless_asked_at_request_time():
    # The field team's check before it starts (the default) includes the hours; at request
    # time the hours are unknown and are not checked. A visit 7:00-9:00 breaks cn's 8:00 start.
    rules = PRESETS["cn"]
    p, s, _, compliance, naive = _setup(rules, 11, 150)
    idx = np.arange(N)
    before = s.visit_notice.copy()
    asked = compliance.allow_visit(idx, 7.0, 9.0, s, p, 2, at_request=True)
    s.visit_notice[:] = before
    started = compliance.allow_visit(idx, 7.0, 9.0, s, p, 2)
    assert not started.any()
    expected = []
    for i in idx:
        a = naive_account(p, s, int(i))
        a.visit_notice = int(before[i])
        expected.append(naive.visit_refusal(a, 150, 2, None) is None)
    assert asked.tolist() == expected and any(expected)
