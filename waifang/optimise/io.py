"""Files in and out of the optimiser: validated CSV loading, atomic writing of plans.

Every message about bad input names the file, the row (as the line number in the file,
header = line 1), the column and the bad value. Outputs are written to a temporary file in
the target folder and renamed, so a crash never leaves a partial file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from waifang.errors import InputError
from waifang.optimise.problem import Capacity, Exclusions, Problem, Quota, make_problem
from waifang.optimise.result import Result, plan_frame

CAPACITY_COLUMNS = ("region", "option", "limit")
QUOTA_COLUMNS = ("segment", "option")


def read_csv(path: str | Path, required: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV as strings (numbers are parsed by the caller, so errors can name them)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)} (has {', '.join(frame.columns)})"
        )
    return frame.apply(lambda col: col.str.strip())


# Largest limits and quota counts (shares are checked against 1 where quotas are built).
_MAXIMA = {"limit": 1e9, "min_count": 1e9, "max_count": 1e9, "hours_limit": 1e12}


def _number(frame: pd.DataFrame, path, col: str, *, optional: bool) -> list[float | None]:
    out: list[float | None] = []
    for i, raw in enumerate(frame[col].tolist()):
        if raw == "" and optional:
            out.append(None)
            continue
        try:
            x = float(raw)
        except ValueError:
            x = float("nan")
        if not np.isfinite(x) or x < 0:
            raise InputError(
                f"{path}: row {i + 2}, column '{col}': {raw!r} is not a non-negative number"
            )
        if x > _MAXIMA.get(col, 1e12):
            raise InputError(
                f"{path}: row {i + 2}, column '{col}': {raw!r} is above "
                f"{_MAXIMA.get(col, 1e12):,.0f}"
            )
        out.append(x)
    return out


def load_candidates(path: str | Path) -> pd.DataFrame:
    """The candidates table (numbers still as text: :func:`make_problem` checks them)."""
    return read_csv(path, ("account_id", "option", "region", "value", "cost"))


def load_capacities(path: str | Path, candidates: pd.DataFrame) -> list[Capacity]:
    """Capacities from ``region, option, limit[, hours_limit]``; a blank limit is none."""
    frame = read_csv(path, CAPACITY_COLUMNS)
    options = set(candidates["option"])
    regions = set(candidates["region"])
    limits = _number(frame, path, "limit", optional=True)
    hours = (
        _number(frame, path, "hours_limit", optional=True)
        if "hours_limit" in frame.columns
        else [None] * len(frame)
    )
    seen: dict[tuple[str, str], int] = {}
    caps = []
    for i, (region, option) in enumerate(zip(frame["region"], frame["option"], strict=True)):
        where = f"{path}: row {i + 2}"
        if option not in options:
            raise InputError(
                f"{where}, column 'option': capacity for unknown option '{option}' "
                f"(the candidates have {', '.join(sorted(options))})"
            )
        if region not in regions:
            raise InputError(f"{where}, column 'region': no candidate is in region '{region}'")
        if (region, option) in seen:
            raise InputError(
                f"{where}: ({region}, {option}) repeats row {seen[(region, option)] + 2}"
            )
        seen[(region, option)] = i
        if hours[i] is not None and "hours" not in candidates.columns:
            raise InputError(f"{where}, column 'hours_limit': the candidates have no 'hours'")
        if limits[i] is None and hours[i] is None:
            raise InputError(f"{where}: neither 'limit' nor 'hours_limit' is given")
        caps.append(Capacity(region, option, limit=limits[i], hours_limit=hours[i]))
    return caps


def load_quotas(path: str | Path) -> list[Quota]:
    """Quotas from ``segment, option[, min_count][, max_count][, min_share][, max_share]``."""
    frame = read_csv(path, QUOTA_COLUMNS)
    fields = [f for f in ("min_count", "max_count", "min_share", "max_share") if f in frame]
    values = {f: _number(frame, path, f, optional=True) for f in fields}
    return [
        Quota(seg, opt, **{f: values[f][i] for f in fields})
        for i, (seg, opt) in enumerate(zip(frame["segment"], frame["option"], strict=True))
    ]


def load_exclusions(path: str | Path) -> Exclusions:
    """Exclusions from ``account_id[, option]`` (a blank option excludes the whole account)
    or ``option`` alone (excludes an option for everyone)."""
    frame = read_csv(path, ())
    if "account_id" not in frame.columns and "option" not in frame.columns:
        raise InputError(f"{path}: needs an 'account_id' and/or an 'option' column")
    accounts, options, pairs = set(), set(), set()
    acc = frame["account_id"] if "account_id" in frame else [""] * len(frame)
    opt = frame["option"] if "option" in frame else [""] * len(frame)
    for a, o in zip(acc, opt, strict=True):
        if a and o:
            pairs.add((a, o))
        elif a:
            accounts.add(a)
        elif o:
            options.add(o)
    return Exclusions(frozenset(accounts), frozenset(options), frozenset(pairs))


def load_problem(
    candidates: str | Path,
    capacity: str | Path | None,
    budget: float,
    *,
    quotas: str | Path | None = None,
    exclusions: str | Path | None = None,
) -> Problem:
    """Load and validate the files of ``waifang optimise`` into a :class:`Problem`."""
    frame = load_candidates(candidates)
    caps = load_capacities(capacity, frame) if capacity is not None else []
    return make_problem(
        frame,
        caps,
        budget,
        quotas=load_quotas(quotas) if quotas is not None else (),
        exclusions=load_exclusions(exclusions) if exclusions is not None else None,
        source=str(candidates),
        quota_source=None if quotas is None else str(quotas),
    )


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` and rename the result onto ``path`` only if it succeeded."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as err:
        raise InputError(f"{path}: cannot write in {path.parent} ({err.strerror})") from None
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write ({err.strerror or err})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_plan(path: str | Path, problem: Problem, result: Result, reasons: pd.Series) -> Path:
    """Write ``PLAN.csv`` (chosen rows with reasons) and ``PLAN.json`` beside it."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        raise InputError(f"--out {path}: the plan is a CSV; PLAN.json is written beside it")
    plan = plan_frame(problem, result)[["account_id", "option", "value", "cost"]]
    plan["reason"] = reasons.to_numpy()
    atomic_write(path, lambda tmp: plan.to_csv(tmp, index=False))
    summary = result.summary()
    summary.update(n_candidates=problem.n_candidates, n_excluded=problem.n_excluded)
    json_path = path.with_suffix(".json")
    atomic_write(json_path, lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"))
    return json_path
