"""Budget frontier: net value against budget, for one or more field-capacity levels.

Each point is a full solve; the table also carries the marginal value of one more unit of
budget (the budget's shadow price) and of one more slot of the chosen option in each region
(the shadow price of that region's count capacity). Capacity levels scale every count and
hours limit of that option, e.g. 1.25 = a quarter more field teams.

Example
-------
Three visits worth 900, 700 and 500 at 300 each, two slots (three at scale 1.5):

>>> import tempfile, pathlib
>>> import pandas as pd
>>> from waifang.optimise.problem import Capacity, make_problem
>>> candidates = pd.DataFrame({"account_id": ["a", "b", "c"], "option": ["visit"] * 3,
...                            "region": ["north"] * 3, "value": [900.0, 700.0, 500.0],
...                            "cost": [300.0] * 3})
>>> problem = make_problem(candidates, [Capacity("north", "visit", 2)])
>>> table = budget_frontier(problem, budgets=[300, 900], capacity_scales=[1.0, 1.5])
>>> for row in table[["capacity_scale", "budget", "net_value", "slot_price[north]"]].values:
...     print(row.tolist())
[1.0, 300.0, 600.0, 0.0]
[1.0, 900.0, 1000.0, 200.0]
[1.5, 300.0, 600.0, 0.0]
[1.5, 900.0, 1200.0, 0.0]
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> [p.name for p in save_frontier(table, folder / "frontier.csv")]
['frontier.csv', 'frontier.png']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from waifang.errors import InputError
from waifang.optimise.io import atomic_write_all
from waifang.optimise.marginal import marginal_values
from waifang.optimise.problem import Problem
from waifang.optimise.solve import solve

# Marginal values re-solve each point once per region: done by default up to this size.
MARGINAL_MAX_CANDIDATES = 2_000
# Re-solves for marginal values run to at least this gap: a value is a difference of two
# optima, and two solves each 1e-4 short could make it wrong by 1e-4 of the whole objective.
MARGINAL_GAP = 1e-6


def scale_capacity(problem: Problem, option: str, scale: float) -> Problem:
    """The problem with every count and hours limit of ``option`` multiplied by ``scale``
    (count limits rounded down to whole slots)."""
    if scale < 0:
        raise InputError(f"capacity scale must be non-negative, got {scale:g}")
    caps = [
        replace(
            cap,
            # Whole slots: a fraction of a slot is no slot (1e-9 forgives 3 x 1.1 = 3.3000...4).
            limit=None if cap.limit is None else float(np.floor(cap.limit * scale + 1e-9)),
            hours_limit=None if cap.hours_limit is None else cap.hours_limit * scale,
        )
        if cap.option == option
        else cap
        for cap in problem.capacities
    ]
    return problem.with_capacities(caps)


def budget_frontier(
    problem: Problem,
    budgets: Sequence[float],
    *,
    capacity_scales: Sequence[float] = (1.0,),
    option: str = "visit",
    gap: float = 1e-4,
    backend: str = "auto",
    solver: str = "highs",
    time_limit: float | None = None,
    marginals: bool | None = None,
    warm_start: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Solve at every (capacity scale, budget); one tidy row per point.

    ``progress``, if given, is called with (points done, points) after each solve.

    Columns: ``capacity_scale, budget, net_value, bound, gap, status, budget_price,
    spent, n_chosen, n_<option>`` and ``slot_price[<region>]`` (LP dual of one more
    ``option`` slot) and ``hour_price[<region>]`` (of one more field hour) for each region with
    such a limit. With ``marginals`` (default: up to :data:`MARGINAL_MAX_CANDIDATES` rows) also
    the honest one-sided values found by re-solving (see
    :func:`~waifang.optimise.marginal.marginal_values`): ``budget_value`` (net value per unit
    of budget, from 1 % more budget) and ``slot_value[<region>]`` (from one more slot).

    Warm starts: by default (``warm_start=None``) the decomposition (large problems) starts
    each point's price search from the prices of the next smaller budget at the same capacity
    instead of a sample LP (``benchmarks/optimise.py --frontier-accounts`` prints the
    speed-up). ``warm_start=True`` also starts each point from that budget's plan (still
    feasible there) instead of greedy's: with HiGHS 1.16 on the pulp path that was measured
    slower, not faster (README): started at a plan that is already optimal (a budget that no
    longer binds) HiGHS took four to five times the CPU of a start from greedy.
    ``warm_start=False``: every point cold.
    """
    if option not in problem.options:
        raise InputError(f"option '{option}' is not among the candidates' options")
    if len(budgets) == 0:
        raise InputError("the frontier needs at least one budget")
    o = problem.options.index(option)
    if marginals is None:
        marginals = problem.n_candidates <= MARGINAL_MAX_CANDIDATES
    records = []
    for scale in capacity_scales:
        scaled = scale_capacity(problem, option, scale)
        names = scaled.coupling.names
        slot_rows = _rows_of(names, option, "count")
        hour_rows = _rows_of(names, option, "hours")
        start = prices = None
        by_budget = {}
        for budget in sorted(budgets):  # ascending: each plan fits the next budget
            p = scaled.with_budget(budget)
            result = solve(
                p,
                backend=backend,
                solver=solver,
                gap=gap,
                time_limit=time_limit,
                start=start,
                prices=prices,
            )
            if warm_start and result.status.has_plan:
                start = result.chosen
            if warm_start is not False and result.status.has_plan:
                prices = result.shadow_prices
            by_budget[budget] = (p, result)
        for budget in budgets:
            p, result = by_budget[budget]
            record = {
                "capacity_scale": float(scale),
                "budget": float(budget),
                "net_value": result.objective,
                "bound": result.bound,
                "gap": result.gap,
                "status": result.status.value,
                "budget_price": result.budget_price,
                "spent": float(p.cost[result.chosen].sum()),
                "n_chosen": int(len(result.chosen)),
                f"n_{option}": int(np.sum(p.option[result.chosen] == o)),
            }
            for region, k in sorted(slot_rows.items()):
                record[f"slot_price[{region}]"] = float(result.shadow_prices[k])
            for region, k in sorted(hour_rows.items()):
                record[f"hour_price[{region}]"] = float(result.shadow_prices[k])
            if marginals:
                record.update(
                    _marginal_columns(p, result, slot_rows, names, gap, backend, solver, time_limit)
                )
            records.append(record)
            if progress is not None:
                progress(len(records), len(budgets) * len(capacity_scales))
    return pd.DataFrame.from_records(records)


def _marginal_columns(p, result, slot_rows, names, gap, backend, solver, time_limit) -> dict:
    """``budget_value`` and ``slot_value[<region>]`` of one frontier point, by re-solving."""
    rows = (["budget"] if p.budget > 0 else []) + [names[k] for _, k in sorted(slot_rows.items())]
    found = marginal_values(
        p,
        result,
        rows=rows,
        backend=backend,
        solver=solver,
        gap=min(gap, MARGINAL_GAP),
        time_limit=time_limit,
    )
    out = {"budget_value": found["budget"].per_unit if "budget" in found else float("nan")}
    for region, k in sorted(slot_rows.items()):
        out[f"slot_value[{region}]"] = found[names[k]].value if names[k] in found else np.nan
    return out


def _rows_of(names, option: str, kind: str) -> dict[str, int]:
    """Region -> coupling row of that region's ``option`` capacity of the given kind."""
    return {
        name[len("capacity[") : name.index("/")]: k
        for k, name in enumerate(names)
        if name.startswith("capacity[") and name.endswith(f"/{option}].{kind}")
    }


def save_frontier(table: pd.DataFrame, csv_path: str | Path, png_path: str | Path | None = None):
    """Write the frontier CSV and a PNG (net value and budget price against budget)."""
    csv_path = Path(csv_path)
    png_path = csv_path.with_suffix(".png") if png_path is None else Path(png_path)
    atomic_write_all(
        [
            (csv_path, lambda tmp: table.to_csv(tmp, index=False)),
            (png_path, lambda tmp: _plot(table, tmp)),
        ]
    )
    return csv_path, png_path


def _plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.2))
    for scale, part in table.groupby("capacity_scale"):
        part = part.sort_values("budget")
        label = f"field capacity x {scale:g}"
        ax1.plot(part["budget"], part["net_value"], marker="o", label=label)
        ax2.plot(part["budget"], part["budget_price"], marker="o", label=label)
    ax1.set(xlabel="budget", ylabel="net value (value - cost)", title="Net value vs budget")
    ax2.set(
        xlabel="budget",
        ylabel="extra net value per unit of budget",
        title="Marginal value of budget",
    )
    # One more slot per region, at the first capacity level.
    first = table[table["capacity_scale"] == table["capacity_scale"].iloc[0]]
    first = first.sort_values("budget")
    slots = [c for c in table.columns if c.startswith("slot_price[")]
    for col in slots:
        ax3.plot(first["budget"], first[col], marker=".", label=col[len("slot_price[") : -1])
    ax3.set(
        xlabel="budget",
        ylabel="extra net value per slot",
        title=f"Marginal value of one more slot (capacity x {first['capacity_scale'].iloc[0]:g})",
    )
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", ncol=2 if ax is ax3 and len(slots) > 8 else 1)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
