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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from waifang.errors import InputError
from waifang.optimise.problem import Capacity, Exclusions, Problem, Quota, make_problem
from waifang.optimise.result import Result, plan_frame

CAPACITY_COLUMNS = ("region", "option", "limit")
CANDIDATE_COLUMNS = ("account_id", "option", "region", "value", "cost")
TEXT_COLUMNS = ("account_id", "option", "region", "segment")
NUMBER_COLUMNS = ("value", "cost", "hours")
PARQUET_SUFFIXES = (".parquet", ".pq")
QUOTA_COLUMNS = ("segment", "option")


def read_csv(path: str | Path, required: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV as strings (numbers are parsed by the caller, so errors can name them)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
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
    """The candidates table, from CSV or Parquet (``.parquet``/``.pq``).

    A CSV is read by pyarrow's multi-threaded reader into typed columns (numbers parsed,
    text trimmed); if any cell does not parse, the slower all-text reader takes over so that
    :func:`make_problem` can name the bad row. A file with no candidate rows is refused: a
    plan of nothing would look like a result."""
    path = Path(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        frame = _read_parquet(path)
    else:
        frame = _read_csv_typed(path)
        if frame is None:
            frame = read_csv(path, CANDIDATE_COLUMNS)
    missing = [c for c in CANDIDATE_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)} (has {', '.join(frame.columns)})"
        )
    if len(frame) == 0:
        raise InputError(f"{path}: has a header but no candidate rows")
    return frame


def _read_csv_typed(path: Path) -> pd.DataFrame | None:
    """The fast path: pyarrow's CSV reader with numbers as float64 and names as text; None
    when the file needs the careful reader (a cell that does not parse, a padded header)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    types = {c: pa.string() for c in TEXT_COLUMNS} | {c: pa.float64() for c in NUMBER_COLUMNS}
    try:
        table = pa_csv.read_csv(
            path,
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                null_values=[],  # an empty number is an error the careful reader names
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    if any(name != name.strip() for name in table.column_names):
        return None
    for i, name in enumerate(table.column_names):
        if pa.types.is_string(table.schema.field(i).type):
            table = table.set_column(i, name, pc.utf8_trim_whitespace(table.column(i)))
    return table.to_pandas()


def _read_parquet(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"{path}: not a readable Parquet file ({err})") from None


def load_capacities(path: str | Path, candidates: pd.DataFrame) -> list[Capacity]:
    """Capacities from ``region, option, limit[, hours_limit][, period]``; a blank limit is
    none, a blank (or missing) period limits every period together."""
    frame = read_csv(path, CAPACITY_COLUMNS)
    options = set(candidates["option"].astype(str).unique())
    regions = set(candidates["region"].astype(str).unique())
    limits = _number(frame, path, "limit", optional=True)
    hours = (
        _number(frame, path, "hours_limit", optional=True)
        if "hours_limit" in frame.columns
        else [None] * len(frame)
    )
    periods = (
        _periods(frame, path, candidates) if "period" in frame.columns else [None] * len(frame)
    )
    seen: dict[tuple[str, str, int | None], int] = {}
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
        key = (region, option, periods[i])
        if key in seen:
            tail = "" if periods[i] is None else f", period {periods[i]}"
            raise InputError(f"{where}: ({region}, {option}{tail}) repeats row {seen[key] + 2}")
        seen[key] = i
        if hours[i] is not None and "hours" not in candidates.columns:
            raise InputError(f"{where}, column 'hours_limit': the candidates have no 'hours'")
        if limits[i] is None and hours[i] is None:
            raise InputError(f"{where}: neither 'limit' nor 'hours_limit' is given")
        if limits[i] is not None and limits[i] != int(limits[i]):
            raise InputError(
                f"{where}, column 'limit': {frame['limit'].iloc[i]!r} is not a whole number "
                "of slots (a count limit counts accounts)"
            )
        caps.append(
            Capacity(region, option, limit=limits[i], hours_limit=hours[i], period=periods[i])
        )
    return caps


def _periods(frame: pd.DataFrame, path, candidates: pd.DataFrame) -> list[int | None]:
    """The capacity file's ``period`` cells: whole numbers the candidates have, or blank."""
    if "period" not in candidates.columns:
        raise InputError(f"{path}: has a 'period' column but the candidates have none")
    known = set(pd.to_numeric(candidates["period"], errors="coerce").dropna().tolist())
    out: list[int | None] = []
    for i, raw in enumerate(frame["period"].tolist()):
        if raw == "":
            out.append(None)
            continue
        try:
            x = float(raw)
        except ValueError:
            x = float("nan")
        if not (np.isfinite(x) and x >= 0 and x == int(x)):
            raise InputError(
                f"{path}: row {i + 2}, column 'period': {raw!r} is not a whole number >= 0"
            )
        if x not in known:
            raise InputError(f"{path}: row {i + 2}, column 'period': no candidate is in period "
                             f"{int(x)}")
        out.append(int(x))
    return out


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


def check_exclusions(path: str | Path, candidates: pd.DataFrame) -> None:
    """Refuse an exclusion row that names an option the candidates do not have, or that
    matches no candidate: a typo in a compliance list must not silently exclude nothing."""
    frame = read_csv(path, ())
    acc = frame["account_id"] if "account_id" in frame else [""] * len(frame)
    opt = frame["option"] if "option" in frame else [""] * len(frame)
    known_options = set(candidates["option"].astype(str).unique())
    named = candidates["account_id"].astype(str)
    named = candidates[named.isin(set(acc) - {""}).to_numpy()]
    known_accounts = set(named["account_id"].astype(str))
    known_pairs = set(
        zip(named["account_id"].astype(str), named["option"].astype(str), strict=True)
    )
    for i, (a, o) in enumerate(zip(acc, opt, strict=True)):
        where = f"{path}: row {i + 2}"
        if o and o not in known_options:
            raise InputError(
                f"{where}, column 'option': unknown option '{o}' "
                f"(the candidates have {', '.join(sorted(known_options))})"
            )
        if a and a not in known_accounts:
            raise InputError(f"{where}, column 'account_id': no candidate has account '{a}'")
        if a and o and (a, o) not in known_pairs:
            raise InputError(f"{where}: account '{a}' has no '{o}' candidate to exclude")
        if not a and not o:
            raise InputError(f"{where}: names neither an account nor an option")


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
    if exclusions is not None:
        check_exclusions(exclusions, frame)
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
    atomic_write_all([(path, write)])


def atomic_write_all(outputs: list[tuple[str | Path, Callable[[Path], None]]]) -> None:
    """Write every ``(path, write)`` to a temporary file beside its target, and only when all
    of them succeeded rename them onto their targets, one after another: a failure while
    writing leaves every old file as it was (files that belong together, like PLAN.csv and
    PLAN.json, are never a new one beside an old one)."""
    staged: list[tuple[Path, str]] = []
    try:
        for path, write in outputs:
            path = Path(path)
            staged.append((path, _stage(path)))
            write(Path(staged[-1][1]))
        umask = os.umask(0)
        os.umask(umask)
        for path, tmp in staged:
            try:
                os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
            except OSError as err:
                raise InputError(f"{path}: cannot write ({err.strerror or err})") from None
        for path, tmp in staged:
            try:
                os.replace(tmp, path)
            except OSError as err:
                raise InputError(f"{path}: cannot write ({err.strerror or err})") from None
    except OSError as err:
        path = staged[-1][0] if staged else Path(outputs[0][0])
        raise InputError(f"{path}: cannot write ({err.strerror or err})") from None
    finally:
        for _, tmp in staged:
            Path(tmp).unlink(missing_ok=True)  # renamed ones are gone already


def _stage(path: Path) -> str:
    if path.parent and not path.parent.exists():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as err:
        raise InputError(f"{path}: cannot write in {path.parent} ({err.strerror})") from None
    os.close(fd)
    return tmp


def write_plan(
    path: str | Path,
    problem: Problem,
    result: Result,
    reasons: pd.Series,
    marginals: dict | None = None,
    also: list[tuple[str | Path, Callable[[Path], None]]] = (),
) -> Path:
    """Write ``PLAN.csv`` (chosen rows with reasons) and ``PLAN.json`` beside it; with
    ``marginals`` (row name -> :class:`~waifang.optimise.marginal.Marginal`) PLAN.json also
    holds the re-solved values of +1 slot and +1 % budget. Both files, and any ``also``
    outputs (e.g. the reasons file), are staged and renamed together."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        raise InputError(f"--out {path}: the plan is a CSV; PLAN.json is written beside it")
    plan = plan_frame(problem, result)[["account_id", "option", "period", "value", "cost"]]
    plan["reason"] = reasons.to_numpy()
    summary = result.summary()
    summary.update(n_candidates=problem.n_candidates, n_excluded=problem.n_excluded)
    if marginals is not None:
        summary["marginal_values"] = {
            name: {"step": m.step, "value": m.value, "per_unit": m.per_unit, "lp_price": m.lp_price}
            for name, m in marginals.items()
        }
        summary["marginal_values_note"] = (
            "net value gained by re-solving with the row's limit raised by 'step' (one slot; "
            "1 % of the budget), from this plan and to the same gap"
        )
    json_path = path.with_suffix(".json")
    atomic_write_all(
        [
            (path, lambda tmp: plan.to_csv(tmp, index=False)),
            (json_path, lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n")),
            *also,
        ]
    )
    return json_path
