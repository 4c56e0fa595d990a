"""Checks of a candidates table that :func:`~waifang.optimise.problem.make_problem` runs:
numbers, one region per account, and compliance exclusions that match what they name.

Each raises :class:`~waifang.errors.InputError` with one line naming the source, the row (as
the line number in the file, header = line 1) and the bad value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from waifang.errors import InputError
from waifang.sim.spec import MAX_MONEY


def text_codes(column: pd.Series, source: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, names)``: each row's int64 code into the sorted distinct texts ``names`` (an
    object array). An empty or missing cell is refused, naming its row."""
    missing = column.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise InputError(f"{source}: row {i + 2}, column '{name}' is empty")
    if not pd.api.types.is_string_dtype(column) or column.dtype == object:
        column = column.astype(str)
    codes, names = pd.factorize(column, sort=True)
    names = np.asarray(names, dtype=object)
    blank = (pd.Series(names, dtype=object).str.strip() == "").to_numpy()
    if blank.any():
        i = int(np.flatnonzero(np.isin(codes, np.flatnonzero(blank)))[0])
        raise InputError(f"{source}: row {i + 2}, column '{name}' is empty")
    return codes.astype(np.int64), names


def check_one_region_per_account(accounts, regions, source: str) -> None:
    """An account lives in one region: two would put it under two capacities at once.
    ``accounts`` and ``regions`` are :func:`text_codes` of the two columns."""
    acc, acc_names = accounts
    reg, reg_names = regions
    pairs = np.unique(acc * len(reg_names) + reg)
    per_account = np.bincount(pairs // len(reg_names), minlength=len(acc_names))
    if (per_account > 1).any():
        a = int(np.flatnonzero(per_account > 1)[0])
        rows = np.flatnonzero(acc == a)
        other = rows[reg[rows] != reg[rows[0]]][0]
        raise InputError(
            f"{source}: account {acc_names[a]} is in two regions: {reg_names[reg[rows[0]]]} "
            f"(row {rows[0] + 2}) and {reg_names[reg[other]]} (row {other + 2})"
        )


def excluded_rows(accounts, options, key: np.ndarray, exclusions, source: str) -> np.ndarray:
    """Rows the :class:`~waifang.optimise.problem.Exclusions` remove (a boolean mask).

    Exclusions that name an unknown option or match no candidate are refused: a typo in a
    compliance list must not silently exclude nothing. ``key`` is ``account * n_options +
    option`` per row."""
    acc, acc_names = accounts
    opt, opt_names = options
    acc_index = pd.Index(acc_names)
    opt_index = pd.Index(opt_names)
    named = exclusions.options | {o for _, o in exclusions.pairs}
    unknown = sorted(o for o in named if o not in opt_index)
    if unknown:
        raise InputError(
            f"exclusions: unknown option '{unknown[0]}' (the candidates in {source} have "
            f"{', '.join(opt_names)})"
        )
    missing = sorted(
        a for a in exclusions.accounts | {a for a, _ in exclusions.pairs} if a not in acc_index
    )
    if missing:
        raise InputError(f"exclusions: no candidate in {source} has account '{missing[0]}'")
    pair_keys = {
        (a, o): acc_index.get_loc(a) * len(opt_names) + opt_index.get_loc(o)
        for a, o in exclusions.pairs
    }
    present = set(np.asarray(key)[np.isin(key, list(pair_keys.values()))].tolist())
    unmatched = sorted(pair for pair, k in pair_keys.items() if k not in present)
    if unmatched:
        a, o = unmatched[0]
        raise InputError(f"exclusions: account '{a}' has no '{o}' candidate in {source}")
    out = np.isin(acc, acc_index.get_indexer(list(exclusions.accounts)))
    out |= np.isin(opt, opt_index.get_indexer(list(exclusions.options)))
    if pair_keys:
        out |= np.isin(key, list(pair_keys.values()))
    return out


MAX_HOURS = 10_000.0
"""Largest ``hours`` of one candidate (field time of one visit, however long)."""


def numeric_column(column: pd.Series, source: str, name: str) -> np.ndarray:
    """The column as float64 (parsed unless it already is numbers); a cell that is not a
    finite number, or beyond the column's bound, is refused, naming its row. A blank
    ``hours`` cell is 0: an option that takes no field time."""
    if name == "hours":
        blank = column.isna() | (column.astype(str).str.strip() == "")
        if blank.any():
            column = column.astype(object).where(~blank, 0)
    if pd.api.types.is_float_dtype(column) or pd.api.types.is_integer_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{source}: row {i + 2}, column '{name}' is not a finite number: {column.iloc[i]!r}"
        )
    # Bounds that keep sums and the solver's arithmetic meaningful (1e300 would "win").
    limit = MAX_HOURS if name == "hours" else MAX_MONEY
    bad = np.abs(values) > limit
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{source}: row {i + 2}, column '{name}' is beyond ±{limit:,.0f}: {values[i]:g}"
        )
    return values
