"""The visit-selection problem as a frozen spec: candidates, capacities, budget, quotas.

A :class:`Problem` holds one row per eligible (account, option) candidate as numpy columns,
sorted by account, with small integer codes for accounts, options, regions and segments. Every
constraint that couples accounts (the budget, each capacity's count and hours limit, each
quota) is one row of the sparse matrix :attr:`Problem.coupling`, ``A x <= b``; the only other
constraint is "at most one option per account". Backends read the spec and never change it.

Several planning periods (weeks) go in one problem through an optional ``period`` column: a
candidate row is then one (account, option, period), "at most one option per account" holds
over the whole horizon (the optimiser chooses *when* as well as *what*), a capacity may be
given per period (``Capacity.period``; None is a limit on the whole horizon) and a budget per
period (``period_budgets``) beside the horizon's total budget.

Loading and validating the CSV files of the ``waifang optimise`` command lives in
:mod:`waifang.optimise.io`; this module validates what a Python caller can get wrong.

Example
-------
>>> import pandas as pd
>>> from waifang.optimise.problem import Capacity, make_problem
>>> cands = pd.DataFrame({"account_id": ["a", "a", "b"], "option": ["visit", "legal", "visit"],
...                       "region": ["north"] * 3, "value": [900.0, 500.0, 700.0],
...                       "cost": [200.0, 100.0, 200.0]})
>>> problem = make_problem(cands, [Capacity("north", "visit", limit=1)], budget=300)
>>> problem.n_candidates, problem.n_accounts, problem.coupling.names[:2]
(3, 2, ('budget', 'capacity[north/visit].count'))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from waifang.errors import InfeasibleError, InputError
from waifang.optimise.checks import (
    check_one_region_per_account,
    excluded_rows,
    numeric_column,
    text_codes,
)

REQUIRED_COLUMNS = ("account_id", "option", "region", "value", "cost")


@dataclass(frozen=True)
class Capacity:
    """Capacity of one (region, option): a count limit and/or an hours limit (None: no limit).

    ``period`` limits only the candidate rows of that planning period; None limits the rows
    of every period together (for candidates without periods, simply all rows). ``region``
    None limits the option's rows of every region together (a court or agency that serves
    the whole book; from Python only)."""

    region: str | None
    option: str
    limit: float | None = None
    hours_limit: float | None = None
    period: int | None = None

    @property
    def label(self) -> str:
        """The name of its coupling rows without the kind, e.g. ``capacity[north/visit]``
        or, for one period, ``capacity[north/visit/2]``."""
        tail = "" if self.period is None else f"/{self.period}"
        region = "*" if self.region is None else self.region
        return f"capacity[{region}/{self.option}{tail}]"


@dataclass(frozen=True)
class Quota:
    """Minimum/maximum number or share of chosen ``option`` rows that fall in ``segment``.

    Shares are of all chosen rows of that option (e.g. "at most 40% of visits go to segment
    'young'"). A bound left as None is not imposed.
    """

    segment: str
    option: str = "visit"
    min_count: float | None = None
    max_count: float | None = None
    min_share: float | None = None
    max_share: float | None = None


@dataclass(frozen=True)
class Exclusions:
    """Compliance exclusions: whole accounts, whole options, or single (account, option) pairs."""

    accounts: frozenset[str] = frozenset()
    options: frozenset[str] = frozenset()
    pairs: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Coupling:
    """The rows that couple accounts, ``A x <= b``; row 0 is always the budget."""

    A: sp.csc_matrix
    b: np.ndarray
    names: tuple[str, ...]
    kinds: tuple[str, ...]  # "budget", "period_budget", "count", "hours", "quota"
    capacity_keys: tuple[tuple[int, int, int] | None, ...] = ()
    """Per row, (region code or -1 for all regions, option code, period or -1 for all
    periods) of a capacity row; None for the other rows (so callers need not parse names)."""

    @property
    def n_rows(self) -> int:
        return len(self.b)


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated selection problem; arrays are read-only and rows are sorted by account.

    Attributes
    ----------
    account, option, region : int codes per candidate row into ``account_ids``, ``options``,
        ``regions``.
    value, cost : expected extra recovery and cost of the treatment, per row.
    hours : field hours per row (zeros when the candidates gave none).
    segment : int code into ``segments`` per row, or -1 when the candidates gave none.
    period : planning period per row (0 when the candidates gave none).
    budget : total cost allowed (over every period).
    period_budgets : (period, budget) pairs: the cost allowed in one period.
    capacities, quotas : the capacity and quota specs, in the order of their coupling rows.
    n_excluded : candidate rows dropped by compliance exclusions.
    has_periods : the candidates had a ``period`` column.
    """

    account_ids: np.ndarray
    options: tuple[str, ...]
    regions: tuple[str, ...]
    segments: tuple[str, ...]
    account: np.ndarray
    option: np.ndarray
    region: np.ndarray
    segment: np.ndarray
    value: np.ndarray
    cost: np.ndarray
    hours: np.ndarray
    budget: float
    capacities: tuple[Capacity, ...] = ()
    quotas: tuple[Quota, ...] = ()
    n_excluded: int = 0
    has_hours: bool = False
    source: str = "candidates"
    period: np.ndarray | None = None
    period_budgets: tuple[tuple[int, float], ...] = ()
    has_periods: bool = False

    def __post_init__(self) -> None:
        if self.period is None:  # a spec built without periods: every row in period 0
            zeros = np.zeros(len(self.value), dtype=np.int64)
            zeros.setflags(write=False)
            object.__setattr__(self, "period", zeros)

    @property
    def periods(self) -> tuple[int, ...]:
        """The distinct periods of the candidate rows, ascending."""
        return tuple(int(p) for p in np.unique(self.period))

    @property
    def n_candidates(self) -> int:
        return len(self.value)

    @property
    def n_accounts(self) -> int:
        return len(self.account_ids)

    @property
    def profit(self) -> np.ndarray:
        """Net value of each row, ``value - cost``: the objective coefficient."""
        return self.value - self.cost

    @cached_property
    def account_starts(self) -> np.ndarray:
        """Index of each account's first row (rows are sorted by account)."""
        return np.searchsorted(self.account, np.arange(self.n_accounts))

    @cached_property
    def coupling(self) -> Coupling:
        return _build_coupling(self)

    def with_budget(self, budget: float) -> Problem:
        """The same problem under another budget."""
        return _replace(self, budget=_check_budget(budget))

    def with_capacities(self, capacities: Sequence[Capacity]) -> Problem:
        """The same problem under other capacities (validated against options and regions)."""
        caps = _check_capacities(list(capacities), self.options, self.regions, self.has_hours,
                                 self.periods if self.has_periods else None)
        return _replace(self, capacities=caps)

    def label(self, row: int) -> str:
        """Human name of a candidate row, e.g. ``'A0012/visit'``."""
        return f"{self.account_ids[self.account[row]]}/{self.options[self.option[row]]}"


def _replace(problem: Problem, **changes) -> Problem:
    kwargs = {f.name: getattr(problem, f.name) for f in fields(problem)}
    kwargs.update(changes)
    return Problem(**kwargs)


def make_problem(
    candidates: pd.DataFrame,
    capacities: Iterable[Capacity] = (),
    budget: float = float("inf"),
    *,
    quotas: Iterable[Quota] = (),
    exclusions: Exclusions | None = None,
    source: str = "candidates",
    quota_source: str | None = None,
    period_budgets: dict[int, float] | None = None,
) -> Problem:
    """Validate a candidates table and the constraints, and freeze them into a :class:`Problem`.

    ``candidates`` has columns ``account_id, option, region, value, cost`` and optionally
    ``hours``, ``segment`` and ``period``; one row per eligible (account, option), or with
    ``period`` per (account, option, period). ``period_budgets`` maps a period to the cost
    allowed in it. Raises
    :class:`~waifang.errors.InputError` naming the source, row and column of anything wrong.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in candidates.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)}")
    frame = candidates.reset_index(drop=True)
    # Every text column as integer codes into its sorted distinct values: the checks and the
    # problem's columns work on the codes, and each distinct text is handled once.
    text = {
        col: text_codes(frame[col], source, col)
        for col in ("account_id", "option", "region")
        + (("segment",) if "segment" in frame.columns else ())
    }
    numeric = {}
    for col in ("value", "cost") + (("hours",) if "hours" in frame.columns else ()):
        numeric[col] = numeric_column(frame[col], source, col)
    for col in ("cost", "hours"):
        if col in numeric and (numeric[col] < 0).any():
            i = int(np.flatnonzero(numeric[col] < 0)[0])
            raise InputError(
                f"{source}: row {i + 2}, column '{col}' is negative ({numeric[col][i]:g})"
            )
    acc_code, acc_names = text["account_id"]
    opt_code, option_names = text["option"]
    reg_code, region_names = text["region"]
    has_periods = "period" in frame.columns
    period = _period_column(frame, source) if has_periods else np.zeros(len(frame), np.int64)
    key = acc_code * len(option_names) + opt_code  # one per (account, option)
    # One row per (account, option[, period]).
    row_key = key * (int(period.max()) + 1) + period if len(period) else key
    dup = pd.Series(row_key).duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = rows[0]
        twin = rows[row_key[rows] == row_key[first]][1]
        what = "(account_id, option, period)" if has_periods else "(account_id, option)"
        tail = f", {period[first]}" if has_periods else ""
        raise InputError(
            f"{source}: duplicate {what} = "
            f"({acc_names[acc_code[first]]}, {option_names[opt_code[first]]}{tail}) in rows "
            f"{first + 2} and {twin + 2}"
        )
    check_one_region_per_account(text["account_id"], text["region"], source)
    keep = np.ones(len(frame), dtype=bool)
    if exclusions is not None:
        keep = ~excluded_rows(text["account_id"], text["option"], key, exclusions, source)
    n_excluded = int((~keep).sum())
    # Capacity rows are named "kind/region/option" by the models; a "/" inside a name would
    # make two rows alike, so it is refused here.
    for column, (codes, names) in (("region", text["region"]), ("option", text["option"])):
        slashed = np.flatnonzero(["/" in name for name in names])
        if len(slashed):
            row = int(np.flatnonzero(codes == slashed[0])[0])
            raise InputError(
                f"{source}: row {row + 2}, column {column}: names may not contain '/' "
                f"(got {names[slashed[0]]!r})"
            )
    # Options and regions are known from all rows, so excluding every visit in a region
    # does not turn its capacity row into an "unknown region" error.
    options = tuple(option_names)
    regions = tuple(region_names)
    numeric = {k: v[keep] for k, v in numeric.items()}
    used, account = np.unique(acc_code[keep], return_inverse=True)
    account_ids = acc_names[used]
    option = opt_code[keep]
    region = reg_code[keep]
    if "segment" in frame.columns:
        seg_code, seg_names = text["segment"]
        seg_used, segment = np.unique(seg_code[keep], return_inverse=True)
        segments = tuple(seg_names[seg_used])
    else:
        segments, segment = (), np.full(int(keep.sum()), -1)
    hours = numeric.get("hours", np.zeros(int(keep.sum())))
    order = np.argsort(account, kind="stable")

    def col(x, dtype):
        arr = np.ascontiguousarray(np.asarray(x)[order], dtype=dtype)
        arr.setflags(write=False)
        return arr

    periods = tuple(int(p) for p in np.unique(period)) if has_periods else None
    capacities = _check_capacities(list(capacities), options, regions, "hours" in numeric,
                                   periods)
    problem = Problem(
        account_ids=account_ids,
        options=options,
        regions=regions,
        segments=segments,
        account=col(account, np.int64),
        option=col(option, np.int32),
        region=col(region, np.int32),
        segment=col(segment, np.int32),
        value=col(numeric["value"], np.float64),
        cost=col(numeric["cost"], np.float64),
        hours=col(hours, np.float64),
        budget=_check_budget(budget),
        capacities=capacities,
        quotas=tuple(quotas),
        n_excluded=n_excluded,
        has_hours="hours" in numeric,
        source=source,
        period=col(period[keep], np.int64),
        period_budgets=_check_period_budgets(period_budgets, periods),
        has_periods=has_periods,
    )
    _check_quotas(problem, quota_source)
    return problem


MAX_PERIOD = 10_000
"""Largest period number (weeks of a horizon are numbered from 0)."""


def _period_column(frame: pd.DataFrame, source: str) -> np.ndarray:
    """The ``period`` column as whole numbers 0..MAX_PERIOD; a bad cell names its row."""
    raw = frame["period"]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0) | (values > MAX_PERIOD) | (values != np.round(values))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{source}: row {i + 2}, column 'period': {raw.iloc[i]!r} is not a whole number "
            f"from 0 to {MAX_PERIOD}"
        )
    return values.astype(np.int64)


def _check_period_budgets(
    budgets: dict[int, float] | None, periods: tuple[int, ...] | None
) -> tuple[tuple[int, float], ...]:
    if not budgets:
        return ()
    if periods is None:
        raise InputError("period budgets need candidates with a 'period' column")
    out = []
    for p, b in sorted(budgets.items()):
        if int(p) != p or p < 0:
            raise InputError(f"period budget: period must be a whole number >= 0, got {p!r}")
        out.append((int(p), _check_budget(b)))
    return tuple(out)


MAX_BUDGET = 1e15
"""Largest budget: a million candidates at MAX_MONEY each."""


def _check_budget(budget: float) -> float:
    try:
        budget = float(budget)
    except (TypeError, ValueError):
        raise InputError(f"budget must be a number, got {budget!r}") from None
    if np.isnan(budget) or budget < 0:
        raise InputError(f"budget must be a non-negative number, got {budget:g}")
    if MAX_BUDGET < budget < np.inf:  # inf: no budget (make_problem's default)
        raise InputError(f"budget must be at most {MAX_BUDGET:g}, got {budget:g}")
    return budget


def _check_capacities(
    capacities: list[Capacity],
    options: Sequence[str],
    regions: Sequence[str],
    has_hours: bool,
    periods: Sequence[int] | None = None,
) -> tuple[Capacity, ...]:
    seen: dict[tuple[str, str, int | None], int] = {}
    for i, cap in enumerate(capacities):
        tail = "" if cap.period is None else f", period {cap.period}"
        where = f"capacity {i + 1} ({cap.region}, {cap.option}{tail})"
        if cap.option not in options:
            raise InputError(
                f"{where}: unknown option '{cap.option}'; the candidates have {', '.join(options)}"
            )
        if cap.region is not None and cap.region not in regions:
            raise InputError(f"{where}: unknown region '{cap.region}'; no candidate is in it")
        if cap.period is not None and periods is None:
            raise InputError(f"{where}: sets a period but the candidates have no 'period'")
        if cap.period is not None and cap.period not in periods:
            raise InputError(f"{where}: unknown period {cap.period}; no candidate is in it")
        key = (cap.region, cap.option, cap.period)
        if key in seen:
            raise InputError(f"{where}: repeats capacity {seen[key] + 1}")
        seen[key] = i
        for name in ("limit", "hours_limit"):
            x = getattr(cap, name)
            if x is not None and not (np.isfinite(x) and x >= 0):
                raise InputError(f"{where}: {name} must be a non-negative number, got {x!r}")
        if cap.limit is not None and cap.limit != int(cap.limit):
            raise InputError(
                f"{where}: limit must be a whole number of slots (it counts accounts), "
                f"got {cap.limit!r}"
            )
        if cap.hours_limit is not None and not has_hours:
            raise InputError(f"{where}: sets hours_limit but the candidates have no 'hours'")
    return tuple(capacities)


def quota_label(i: int, quota: Quota, source: str | None = None) -> str:
    """How messages name quota ``i``: its file and line when it came from a file."""
    where = f"quota {i + 1}" if source is None else f"{source}: row {i + 2}"
    return f"{where} (segment {quota.segment}, option {quota.option})"


def _check_quotas(problem: Problem, source: str | None = None) -> None:
    for i, q in enumerate(problem.quotas):
        where = quota_label(i, q, source)
        if not problem.segments:
            raise InputError(f"{where}: the candidates have no 'segment' column")
        if q.segment not in problem.segments:
            raise InputError(f"{where}: unknown segment '{q.segment}'")
        if q.option not in problem.options:
            raise InputError(f"{where}: unknown option '{q.option}'")
        for name in ("min_share", "max_share"):
            s = getattr(q, name)
            if s is not None and not 0 <= s <= 1:
                raise InputError(f"{where}: {name} must lie in [0, 1], got {s!r}")
        for name in ("min_count", "max_count"):
            c = getattr(q, name)
            if c is not None and not (np.isfinite(c) and c >= 0):
                raise InputError(f"{where}: {name} must be a non-negative number, got {c!r}")
        if q.min_count is None:
            continue
        o = problem.options.index(q.option)
        s = problem.segments.index(q.segment)
        rows = (problem.option == o) & (problem.segment == s)
        available = len(np.unique(problem.account[rows]))
        if q.min_count > available:
            raise InfeasibleError(
                f"{where}: min_count {q.min_count:g} exceeds the {available} eligible accounts"
            )
        if q.max_count is not None and q.min_count > q.max_count:
            raise InfeasibleError(
                f"{where}: min_count {q.min_count:g} exceeds max_count {q.max_count:g}"
            )
        # Capacity reachable by this segment: a region with no count limit is unbounded.
        limits = {(c.region, c.option): c.limit for c in problem.capacities
                  if c.period is None and c.region is not None}
        seg_regions = {problem.regions[r] for r in np.unique(problem.region[rows])}
        caps = [limits.get((r, q.option)) for r in seg_regions]
        if caps and all(c is not None for c in caps) and q.min_count > sum(caps):
            raise InfeasibleError(
                f"{where}: min_count {q.min_count:g} exceeds the capacity "
                f"{sum(caps):g} of option '{q.option}' in regions {', '.join(sorted(seg_regions))}"
            )
        # Every chosen row costs money: the cheapest min_count accounts must fit the budget.
        cheapest = np.sort(problem.cost[rows])[: int(np.ceil(q.min_count))].sum()
        if cheapest > problem.budget:
            raise InfeasibleError(
                f"{where}: min_count {q.min_count:g} needs at least {cheapest:,.2f} "
                f"but the budget is {problem.budget:,.2f}"
            )


def _build_coupling(problem: Problem) -> Coupling:
    n = problem.n_candidates
    rows, cols, vals, b, names, kinds, cap_keys = [], [], [], [], [], [], []

    def add(name, kind, idx, coef, rhs, cap_key=None):
        k = len(b)
        rows.append(np.full(len(idx), k, dtype=np.int64))
        cols.append(np.asarray(idx, dtype=np.int64))
        vals.append(np.asarray(coef, dtype=np.float64))
        b.append(float(rhs))
        names.append(name)
        kinds.append(kind)
        cap_keys.append(cap_key)

    every = np.arange(n)
    add("budget", "budget", every, problem.cost, problem.budget)
    for p, budget in problem.period_budgets:
        idx = np.flatnonzero(problem.period == p)
        add(f"budget[{p}]", "period_budget", idx, problem.cost[idx], budget)
    key = problem.region.astype(np.int64) * len(problem.options) + problem.option
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(len(problem.regions) * len(problem.options) + 1))
    for cap in problem.capacities:
        o = problem.options.index(cap.option)
        if cap.region is None:
            r = -1
            idx = np.flatnonzero(problem.option == o)
        else:
            r = problem.regions.index(cap.region)
            k = r * len(problem.options) + o
            idx = order[bounds[k] : bounds[k + 1]]
        if cap.period is not None:
            idx = idx[problem.period[idx] == cap.period]
        cap_key = (r, o, -1 if cap.period is None else cap.period)
        if cap.limit is not None:
            add(f"{cap.label}.count", "count", idx, np.ones(len(idx)), cap.limit, cap_key)
        if cap.hours_limit is not None:
            add(f"{cap.label}.hours", "hours", idx, problem.hours[idx], cap.hours_limit, cap_key)
    for q in problem.quotas:
        o = problem.options.index(q.option)
        s = problem.segments.index(q.segment)
        of_option = np.flatnonzero(problem.option == o)
        in_seg = (problem.segment[of_option] == s).astype(np.float64)
        label = f"quota[{q.segment}/{q.option}]"
        if q.max_count is not None:
            add(f"{label}.max_count", "quota", of_option, in_seg, q.max_count)
        if q.min_count is not None:
            add(f"{label}.min_count", "quota", of_option, -in_seg, -q.min_count)
        if q.max_share is not None:  # in_seg - share * 1 <= 0 over chosen rows of the option
            add(f"{label}.max_share", "quota", of_option, in_seg - q.max_share, 0.0)
        if q.min_share is not None:
            add(f"{label}.min_share", "quota", of_option, q.min_share - in_seg, 0.0)
    A = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(b), n)
    )
    A.eliminate_zeros()
    b_arr = np.asarray(b)
    b_arr.setflags(write=False)
    return Coupling(A=A, b=b_arr, names=tuple(names), kinds=tuple(kinds),
                    capacity_keys=tuple(cap_keys))
