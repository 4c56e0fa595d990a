"""Sweeps: one scenario run over a grid of parameter values, on common random numbers.

A scenario file may hold a ``[sweep]`` table. Each of its keys is a scenario path, spelled as
``waifang validate`` names keys (list indices from 0), with the list of values to try::

    [sweep]
    "resources.regions[0].teams" = [2, 4, 6]
    "policies[0].rules[6].min_balance" = [2000, 5000]
    metric = "net_value"          # the metric charted over the grid (optional)

The points are the product of the lists, in the order written (the first path varies
slowest). Or list the points yourself::

    [sweep]
    points = [
      { "resources.regions[0].teams" = 2, "policies[0].rules[6].min_balance" = 2000 },
      { "resources.regions[0].teams" = 6, "policies[0].rules[6].min_balance" = 5000 },
    ]

A path addresses the file as written, before policy inheritance is resolved: changing a rung
of the champion changes it in every policy that ``extends`` the champion too. A key the file
leaves out (a default) can be swept all the same; a list item must be in the file.

Every point runs with the same seed, so replication r of every point and policy sees the
same borrowers wherever the swept parameter leaves them alone (common random numbers across
points, as across policies).
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from waifang.errors import InputError
from waifang.scenarios.schema import Scenario, _short, _unwrap, scenario_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RESERVED = ("points", "metric")
"""Keys of ``[sweep]`` that are not scenario paths."""

_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|(\.)")


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: the swept paths, the points and one scenario per point."""

    path: Path | None
    parameters: tuple[str, ...]
    """The swept paths, in the order written (one column each in the tables)."""
    points: tuple[dict[str, Any], ...]
    """Each point's value of every swept path."""
    scenarios: tuple[Scenario, ...]
    """The scenario of each point, validated."""
    metric: str | None = None
    """The metric charted over the grid (None: net_value where the engine reports it)."""

    @property
    def base(self) -> Scenario:
        return self.scenarios[0]


def load_sweep(path: str | Path) -> Sweep:
    """Read a scenario file with a ``[sweep]`` table; every point is validated now."""
    path = Path(path)
    from waifang.scenarios.schema import load_scenario

    load_scenario(path)  # the file itself first: its own errors name no sweep
    data = tomllib.loads(path.read_bytes().decode("utf-8"))
    if "sweep" not in data:
        raise InputError(f"{path}: no [sweep] table; `waifang run` runs a single scenario")
    return sweep_from_dict(data, path)


def has_sweep(path: str | Path) -> bool:
    """Whether the scenario file at ``path`` (already known to be valid TOML) has a sweep."""
    return "sweep" in tomllib.loads(Path(path).read_bytes().decode("utf-8"))


def sweep_from_dict(data: Mapping[str, Any], path: str | Path | None = None) -> Sweep:
    """Validate the ``[sweep]`` table of parsed scenario ``data`` and build every point."""
    where = f"{path}: " if path is not None else ""
    table = data.get("sweep")
    if not isinstance(table, Mapping):
        raise InputError(f"{where}sweep: must be a table (got {_short(table)})")
    base = {k: v for k, v in data.items() if k != "sweep"}
    metric = table.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise InputError(f"{where}sweep.metric: must be a metric name (got {_short(metric)})")
    parameters, points = _points(table, where)
    for parameter in parameters:
        check_path(base, parameter, where)
    scenarios = []
    for k, point in enumerate(points):
        changed = copy.deepcopy(base)
        for parameter, value in point.items():
            set_path(changed, parameter, value)
        try:
            scenarios.append(scenario_from_dict(changed, path))
        except InputError as err:
            message = str(err).removeprefix(where)
            values = ", ".join(f"{p} = {_short(v)}" for p, v in point.items())
            raise InputError(f"{where}sweep point {k} ({values}): {message}") from None
    return Sweep(
        path=Path(path) if path is not None else None,
        parameters=tuple(parameters),
        points=tuple(points),
        scenarios=tuple(scenarios),
        metric=metric,
    )


def _points(table: Mapping[str, Any], where: str) -> tuple[list[str], list[dict[str, Any]]]:
    grid = {k: v for k, v in table.items() if k not in RESERVED}
    if "points" in table:
        if grid:
            raise InputError(
                f"{where}sweep.{next(iter(grid))}: give either lists of values or 'points', "
                "not both"
            )
        points = table["points"]
        if not isinstance(points, list) or not points:
            raise InputError(f"{where}sweep.points: must be a non-empty list of tables")
        _check_point_count(len(points), f"{where}sweep.points")
        parameters: list[str] = []
        for k, point in enumerate(points):
            if not isinstance(point, Mapping) or not point:
                raise InputError(f"{where}sweep.points[{k}]: must be a table of path = value")
            for parameter in point:
                if parameter not in parameters:
                    parameters.append(parameter)
        for k, point in enumerate(points):
            missing = [p for p in parameters if p not in point]
            if missing:
                raise InputError(
                    f"{where}sweep.points[{k}]: no value for {missing[0]!r} (every point sets "
                    "every swept path)"
                )
        return parameters, [dict(p) for p in points]
    if not grid:
        raise InputError(f"{where}sweep: no parameter to sweep (a path = [values], or points)")
    for parameter, values in grid.items():
        if not isinstance(values, list) or not values:
            raise InputError(
                f"{where}sweep.{_quote(parameter)}: must be a non-empty list of values "
                f"(got {_short(values)})"
            )
    parameters = list(grid)
    _check_point_count(math.prod(len(v) for v in grid.values()), f"{where}sweep")
    points = [
        dict(zip(parameters, combination, strict=True))
        for combination in itertools.product(*grid.values())
    ]
    return parameters, points


MAX_SWEEP_POINTS = 1000
"""Most points one sweep runs (each point is a whole scenario run: every policy, every
replication); checked before the grid is built, so a typo'd list cannot make millions."""


def _check_point_count(count: int, where: str) -> None:
    if count > MAX_SWEEP_POINTS:
        raise InputError(
            f"{where}: {count:,} points, at most {MAX_SWEEP_POINTS:,} (each point is a "
            "whole run; split the sweep)"
        )


def _quote(parameter: str) -> str:
    return f'"{parameter}"' if not parameter.isidentifier() else parameter


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------


def parse_path(path: str) -> list[str | int]:
    """``"policies[0].rules[6].min_balance"`` -> ``["policies", 0, "rules", 6, "min_balance"]``.

    >>> parse_path("resources.regions[0].teams")
    ['resources', 'regions', 0, 'teams']
    """
    parts: list[str | int] = []
    position = 0
    expect_name = True
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None:
            raise ValueError(f"unexpected {path[position]!r} at character {position + 1}")
        name, index, dot = match.groups()
        if name is not None:
            if not expect_name:
                raise ValueError(f"a '.' is missing before {name!r}")
            parts.append(name)
            expect_name = False
        elif index is not None:
            if expect_name:
                raise ValueError("an index must follow a name")
            parts.append(int(index))
        elif dot is not None:
            if expect_name:
                raise ValueError(f"empty name at character {position + 1}")
            expect_name = True
        position = match.end()
    if expect_name:
        raise ValueError("the path ends without a name")
    return parts


def check_path(data: Mapping[str, Any], path: str, where: str = "") -> None:
    """Raise a one-line InputError unless ``path`` names a key a scenario can have in ``data``
    (present in the file, or a field of the schema with a default)."""
    try:
        parts = parse_path(path)
    except ValueError as err:
        raise InputError(f"{where}sweep: {path!r} is not a scenario path ({err})") from None
    node: Any = data
    model: Any = Scenario
    done = ""
    for part in parts:
        label = f"{done}[{part}]" if isinstance(part, int) else (
            f"{done}.{part}" if done else part
        )
        if isinstance(part, int):
            if not isinstance(node, list):
                raise InputError(
                    f"{where}sweep: unknown path {path!r}: {done or 'the top level'} is not a "
                    "list in the file (write the list out to sweep one of its items)"
                )
            if part >= len(node):
                raise InputError(
                    f"{where}sweep: unknown path {path!r}: {done} has {len(node)} item(s) "
                    f"(0 to {len(node) - 1})"
                )
            node = node[part]
            model = _item_model(model)
        else:
            fields = _fields(model)
            present = list(node) if isinstance(node, Mapping) else []
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif model is dict:
                node = None  # a free-form table, e.g. compliance.overrides: any rule name
            elif fields is None and node is not None and not isinstance(node, Mapping):
                raise InputError(
                    f"{where}sweep: unknown path {path!r}: {done} is a value, not a table"
                )
            elif fields is not None and part in fields:
                node = None
            else:
                known = sorted(set(fields or ()) | set(present))
                close = difflib.get_close_matches(str(part), known, n=1)
                hint = f"did you mean {_join(done, close[0])!r}?" if close else (
                    f"keys there are {known}"
                )
                raise InputError(f"{where}sweep: unknown path {path!r}; {hint}")
            model = _field_model(model, part)
        done = label
    return None


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` in ``data`` to ``value`` (tables on the way are created)."""
    parts = parse_path(path)
    node: Any = data
    for part, following in zip(parts[:-1], parts[1:], strict=True):
        if isinstance(part, int):
            node = node[part]
        else:
            if part not in node or not isinstance(node[part], dict | list):
                node[part] = [] if isinstance(following, int) else {}
            node = node[part]
    node[parts[-1]] = value


def _join(done: str, name: str) -> str:
    return f"{done}.{name}" if done else name


def _fields(model: Any) -> tuple[str, ...] | None:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return tuple(model.model_fields)
    return None


def _field_model(model: Any, name: str) -> Any:
    if isinstance(model, type) and issubclass(model, BaseModel) and name in model.model_fields:
        annotation = model.model_fields[name].annotation
        unwrapped = _unwrap(annotation)
        if isinstance(unwrapped, type) and issubclass(unwrapped, BaseModel):
            return _Container(unwrapped) if _is_sequence(annotation) else unwrapped
        if _is_mapping(annotation):
            return dict
    return None


class _Container:
    """A list of ``model`` items."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model


def _item_model(model: Any) -> Any:
    return model.model if isinstance(model, _Container) else None


def _is_sequence(annotation: Any) -> bool:
    import typing

    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) in (tuple, list):
            return True
    return False


def _is_mapping(annotation: Any) -> bool:
    import typing

    return any(
        typing.get_origin(arg) is dict or arg is dict
        for arg in (annotation, *typing.get_args(annotation))
    )


# --------------------------------------------------------------------------------------------
# Running and tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResults:
    """A sweep's tables: the per-point results with one column per swept path."""

    sweep: Sweep
    seed: int
    replications: int
    summary: pd.DataFrame
    """``point``, one column per swept path, then the run's summary columns."""
    comparison: pd.DataFrame
    """``point``, one column per swept path, then the run's comparison columns (the paired
    difference is to the champion at the same point)."""
    points: tuple[Any, ...]
    """Each point's :class:`~waifang.scenarios.runner.ScenarioResults`."""

    @property
    def metric(self) -> str:
        if self.sweep.metric:
            return self.sweep.metric
        return "net_value" if "net_value" in set(self.comparison["metric"]) else "net_npv"


def run_sweep(
    sweep: Sweep,
    *,
    seed: int | None = None,
    replications: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    progress=None,
    checkpoint=None,
    resume: bool = False,
) -> SweepResults:
    """Run every point of ``sweep`` (all policies, all replications; one pool for all)."""
    from waifang.scenarios.runner import check_policies, check_run_options, run_units, tabulate

    seed, replications = check_run_options(sweep.base, seed, replications, workers)
    for scenario in sweep.scenarios:
        check_policies(scenario)
    policies = [tuple(p.name for p in s.policies) for s in sweep.scenarios]
    if len(set(policies)) != 1:
        raise InputError("sweep: every point must have the same policies")

    def labelled(done, total, run):
        if progress:
            progress(done, total, run)

    runs = run_units(
        list(sweep.scenarios), seed, replications, workers=workers, scheduler=scheduler,
        progress=labelled, checkpoint=checkpoint, resume=resume,
    )
    results = [
        tabulate(s, r, seed=seed, replications=replications, workers=workers,
                 scheduler=scheduler)
        for s, r in zip(sweep.scenarios, runs, strict=True)
    ]
    if sweep.metric and sweep.metric not in set(results[0].comparison["metric"]):
        known = sorted(set(results[0].comparison["metric"]))
        close = difflib.get_close_matches(sweep.metric, known, n=1)
        raise InputError(
            f"sweep.metric: no metric {sweep.metric!r}"
            + (f"; did you mean {close[0]!r}?" if close else f"; metrics are {known}")
        )
    return SweepResults(
        sweep=sweep,
        seed=seed,
        replications=replications,
        summary=_stack(sweep, [r.summary for r in results]),
        comparison=_stack(sweep, [r.comparison for r in results]),
        points=tuple(results),
    )


def value_label(value: Any) -> Any:
    """A swept value as a chart groups and labels it: numbers, strings and booleans as they
    are, a list (or table) as a readable string of its items, ``[1.0, 0.8]`` or
    ``{teams = 2}``, which is hashable and reads as in the scenario file."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {value_label(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(value_label(v)) for v in value) + "]"
    return value


def _stack(sweep: Sweep, frames: list[pd.DataFrame]) -> pd.DataFrame:
    stacked = []
    for k, (point, frame) in enumerate(zip(sweep.points, frames, strict=True)):
        frame = frame.copy()
        for parameter in reversed(sweep.parameters):
            frame.insert(0, parameter, [point[parameter]] * len(frame))
        frame.insert(0, "point", k)
        stacked.append(frame)
    return pd.concat(stacked, ignore_index=True)
