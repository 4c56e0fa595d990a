"""``waifang visit-budgets``: the champion's visit spending per planning period, as budgets.

A challenger that should "spend no more on visits than the champion" (``random_visits`` and
``optimised`` in ``visit_optimisation.toml``) gets a budget per planning period equal to what
the champion (the scenario's first policy) spends on visits in that period: its mean over the
scenario's replications and seed, rounded down to ``--step`` (100 by default). The budgets add
up to less than the champion's mean visit spend, and a challenger's visits cost at most what
its plans asked for, so its mean visit spend cannot exceed the champion's.

What the champion spends is read from its ``daily.csv`` columns: each region's
``visits_performed[<region>]`` at the region's ``visit_cost`` plus its
``visits_called_off[<region>]`` at its ``travel_cost``, per day, summed per period. That is
checked against the ledger's own ``cost_visit`` of every replication.

The engine changes, and the champion's spending with it, so the budgets are derived, never
typed in:

- ``waifang visit-budgets visit_optimisation`` runs the champion alone (same seed and
  replications as the scenario) and prints the schedule as a TOML list;
- ``--check`` also compares it with every optimised policy's ``budget_per_period`` and exits
  with code 1 (one line per policy) where they differ.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd

from waifang.errors import InputError

STEP = 100.0
"""Budgets are rounded down to this many currency units."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``waifang visit-budgets`` to the parser."""
    p = sub.add_parser(
        "visit-budgets",
        help="the champion's visit spending per planning period, as the challengers' budgets",
        description="Run a scenario's champion (its first policy) alone and print what it "
        "spends on visits in each planning period (mean over the replications, rounded down): "
        "the budget_per_period of challengers that must spend no more on visits.",
    )
    p.add_argument("file", metavar="SCENARIO", help="scenario TOML file, or a shipped name")
    p.add_argument("--period-days", type=int, default=None, metavar="P",
                   help="days per period (default: the optimised policies' period_days)")
    p.add_argument("--step", type=float, default=STEP, metavar="X",
                   help=f"round each budget down to a multiple of X (default {STEP:g})")
    p.add_argument("--workers", type=int, default=1, metavar="K",
                   help="local processes (default 1)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 if an optimised policy's budget_per_period differs")
    p.set_defaults(handler=visit_budgets_command)


def period_visit_spend(daily: pd.DataFrame, regions, period_days: int) -> pd.DataFrame:
    """Visit spending per (replication, period) of one policy's ``daily`` rows: each region's
    performed visits at its ``visit_cost`` plus its called-off visits at its ``travel_cost``
    (``regions``: the world's region specs). Rows: replications; columns: periods 0, 1, ...
    """
    spend = np.zeros(len(daily))
    for r in regions:
        spend += daily[f"visits_performed[{r.name}]"].to_numpy(np.float64) * r.visit_cost
        called_off = f"visits_called_off[{r.name}]"
        if called_off in daily:
            spend += daily[called_off].to_numpy(np.float64) * r.travel_cost
    frame = pd.DataFrame({"replication": daily["replication"].to_numpy(),
                          "period": daily["day"].to_numpy() // period_days, "spend": spend})
    return frame.pivot_table(index="replication", columns="period", values="spend",
                             aggfunc="sum", fill_value=0.0)


def budget_schedule(spend: pd.DataFrame, step: float = STEP) -> tuple[float, ...]:
    """Per period, the mean spend over the replications, rounded down to ``step``."""
    mean = spend.mean(axis=0).to_numpy()
    # The small tolerance keeps a mean that is a whole multiple of step (up to float
    # rounding of the sum) on that multiple.
    return tuple(float(step * math.floor(m / step + 1e-9)) for m in mean)


def champion_schedule(scenario, period_days: int, step: float = STEP, workers: int = 1
                      ) -> tuple[tuple[float, ...], pd.DataFrame, pd.Series]:
    """Run the champion of ``scenario`` alone (its seed and replications) and derive its
    schedule: (budgets, spend per replication and period, the ledger's ``cost_visit`` per
    replication). Raises if the daily columns do not add up to the ledger's visit cost."""
    from waifang.scenarios.runner import run_scenario

    champion = scenario.model_copy(update={"policies": scenario.policies[:1]})
    results = run_scenario(champion, workers=workers)
    name = scenario.policies[0].name
    daily = results.daily[results.daily["policy"] == name]
    spend = period_visit_spend(daily, scenario.world(0).resources.regions, period_days)
    ledger = results.summary[results.summary["policy"] == name].set_index("replication")[
        "cost_visit"]
    gap = np.abs(spend.sum(axis=1).to_numpy() - ledger.loc[spend.index].to_numpy())
    if gap.max(initial=0.0) > 1e-6 * max(1.0, float(ledger.abs().max())):
        raise RuntimeError(
            f"the daily visit columns add up to {spend.sum(axis=1).tolist()} but cost_visit is "
            f"{ledger.tolist()}: the region costs read here are not the ones the engine paid"
        )
    return budget_schedule(spend, step), spend, ledger


def _period_days(scenario, asked: int | None) -> int:
    if asked is not None:
        if asked < 1:
            raise InputError(f"--period-days: must be at least 1 (got {asked})")
        return asked
    days = {p.optimiser.period_days for p in scenario.policies if p.optimiser is not None}
    if len(days) != 1:
        raise InputError(
            "--period-days: the scenario's optimised policies "
            + ("have different period_days " + str(sorted(days)) if days else "are none")
            + "; say which period to use"
        )
    return days.pop()


def toml_list(budgets: tuple[float, ...], per_line: int = 7) -> str:
    """``budget_per_period = [...]`` as it is written in a scenario file."""
    lines = [", ".join(f"{b:.1f}" for b in budgets[i : i + per_line])
             for i in range(0, len(budgets), per_line)]
    return "budget_per_period = [\n" + "".join(f"  {line},\n" for line in lines) + "]"


def mismatches(scenario, budgets: tuple[float, ...], period_days: int) -> list[str]:
    """One line per optimised policy whose ``budget_per_period`` is not ``budgets``."""
    out = []
    for i, p in enumerate(scenario.policies):
        opt = p.optimiser
        if opt is None or opt.period_days != period_days:
            continue
        have = opt.budget_per_period
        have = tuple(have) if isinstance(have, tuple) else (have,)
        if tuple(float(b) for b in have) != budgets:
            out.append(
                f"policies[{i}] ({p.name}): budget_per_period sums to {sum(have):,.0f} over "
                f"{len(have)} periods, the champion's spending to {sum(budgets):,.0f} over "
                f"{len(budgets)}; first difference in period "
                f"{_first_difference(have, budgets)}"
            )
    return out


def _first_difference(a, b) -> int:
    for k, (x, y) in enumerate(zip(a, b, strict=False)):
        if float(x) != float(y):
            return k
    return min(len(a), len(b))


def visit_budgets_command(args: argparse.Namespace) -> int:
    from waifang.scenarios.run_commands import scenario_path
    from waifang.scenarios.schema import load_scenario

    if args.step <= 0 or not math.isfinite(args.step):
        raise InputError(f"--step: must be a positive number (got {args.step!r})")
    if args.workers < 1:
        raise InputError(f"--workers: must be at least 1 (got {args.workers})")
    scenario = load_scenario(scenario_path(args.file))
    period_days = _period_days(scenario, args.period_days)
    budgets, spend, ledger = champion_schedule(scenario, period_days, args.step, args.workers)
    champion = scenario.policies[0].name
    print(f"# {champion}: visit spending per {period_days}-day period, mean over "
          f"{len(spend)} replications (seed {scenario.seed}), rounded down to {args.step:g}")
    print(f"# its mean cost_visit {ledger.mean():,.2f}; these budgets add up to "
          f"{sum(budgets):,.1f}")
    print(toml_list(budgets))
    if not args.check:
        return 0
    wrong = mismatches(scenario, budgets, period_days)
    for line in wrong:
        print(f"differs: {line}")
    if not wrong:
        print("ok: every optimised policy's budget_per_period is the champion's spending")
    return 1 if wrong else 0
