"""Checks of a candidates table that :func:`~waifang.optimise.problem.make_problem` runs:
numbers, one region per account, and compliance exclusions that match what they name.

Each raises :class:`~waifang.errors.InputError` with one line naming the source, the row (as
the line number in the file, header = line 1) and the bad value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from waifang.errors import InputError


def check_one_region_per_account(frame: pd.DataFrame, source: str) -> None:
    """An account lives in one region: two would put it under two capacities at once."""
    pairs = frame[["account_id", "region"]].astype(str).drop_duplicates()
    twice = pairs["account_id"].duplicated(keep=False).to_numpy()
    if twice.any():
        account = pairs["account_id"].to_numpy()[twice][0]
        rows = np.flatnonzero((frame["account_id"].astype(str) == account).to_numpy())
        regions = frame["region"].astype(str).to_numpy()[rows]
        other = rows[regions != regions[0]][0]
        raise InputError(
            f"{source}: account {account} is in two regions: {regions[0]} (row "
            f"{rows[0] + 2}) and {frame['region'].iloc[other]} (row {other + 2})"
        )


def check_exclusions(frame: pd.DataFrame, exclusions, source: str) -> None:
    """Exclusions that name an unknown option or match no candidate are refused."""
    options = set(frame["option"].astype(str))
    accounts = set(frame["account_id"].astype(str))
    pairs = set(zip(frame["account_id"].astype(str), frame["option"].astype(str), strict=True))
    named = exclusions.options | {o for _, o in exclusions.pairs}
    unknown = sorted(named - options)
    if unknown:
        raise InputError(
            f"exclusions: unknown option '{unknown[0]}' (the candidates in {source} have "
            f"{', '.join(sorted(options))})"
        )
    missing = sorted(exclusions.accounts - accounts)
    if missing:
        raise InputError(f"exclusions: no candidate in {source} has account '{missing[0]}'")
    unmatched = sorted(exclusions.pairs - pairs)
    if unmatched:
        a, o = unmatched[0]
        raise InputError(f"exclusions: account '{a}' has no '{o}' candidate in {source}")


def numeric_column(column: pd.Series, source: str, name: str) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{source}: row {i + 2}, column '{name}' is not a finite number: {column.iloc[i]!r}"
        )
    return values
