"""The ``waifang optimise`` and ``waifang frontier`` sub-commands: load, solve, save.

A thin shell over :mod:`waifang.optimise`; notebooks call the same functions
(:func:`~waifang.optimise.io.load_problem`, :func:`~waifang.optimise.solve.solve`,
:func:`~waifang.optimise.explain.explain`, :func:`~waifang.optimise.frontier.budget_frontier`).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from waifang.errors import InfeasibleError, InputError
from waifang.scenarios.cli_args import check_output_file


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to the ``waifang`` parser."""
    opt = sub.add_parser(
        "optimise",
        help="choose which accounts get which costly treatment under budget and capacity",
        description="Maximise total (value - cost) with at most one option per account, "
        "total cost <= budget and every (region, option) capacity respected.",
    )
    _problem_arguments(opt)
    opt.add_argument("--budget", required=True, help="total cost allowed")
    opt.add_argument("--out", required=True, help="PLAN.csv (PLAN.json is written beside it)")
    opt.add_argument("--reasons", help="also write every candidate's decision and reason here")
    opt.add_argument(
        "--marginals",
        default="auto",
        choices=["auto", "on", "off"],
        help="re-solve for the value of +1 slot and +1%% budget, cited in the reasons and "
        "PLAN.json (auto: up to 2,000 candidate rows)",
    )
    opt.set_defaults(handler=run_optimise)

    fr = sub.add_parser(
        "frontier",
        help="net value against budget (and field capacity), with marginal values",
        description="Solve over a range of budgets and capacity levels; write CSV and PNG.",
    )
    _problem_arguments(fr)
    fr.add_argument(
        "--budgets",
        required=True,
        help="START:STOP:N (N evenly spaced budgets) or a comma-separated list",
    )
    fr.add_argument(
        "--capacity-scales",
        default="1",
        help="comma-separated multipliers of the option's capacity (default 1)",
    )
    fr.add_argument("--option", default="visit", help="option whose capacity is scaled")
    fr.add_argument("--out", required=True, help="FRONTIER.csv (FRONTIER.png beside it)")
    fr.set_defaults(handler=run_frontier)


def _problem_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--candidates",
        required=True,
        help="C.csv: account_id, option, region, value, cost[, hours][, segment]",
    )
    p.add_argument("--capacity", help="K.csv: region, option, limit[, hours_limit]")
    p.add_argument(
        "--quotas", help="Q.csv: segment, option[, min_count, max_count, min_share, max_share]"
    )
    p.add_argument("--exclusions", help="X.csv: account_id[, option] or option")
    p.add_argument("--gap", default="1e-4", help="relative gap target (default 1e-4)")
    p.add_argument("--time-limit", default=None, help="seconds per solve")
    p.add_argument("--solver", default="highs", help="highs (default), cbc, or a pulp solver")
    p.add_argument("--backend", default="auto", choices=["auto", "pulp", "decompose"])


def run_optimise(args: argparse.Namespace) -> int:
    from waifang.optimise.explain import explain, reasons_frame
    from waifang.optimise.io import load_problem, write_plan
    from waifang.optimise.problem import quota_label
    from waifang.optimise.result import Status
    from waifang.optimise.solve import solve

    # Every output is checked before the solve, so a bad --reasons cannot leave a new plan
    # beside an old reasons file.
    for flag, path in (("--out", args.out), ("--reasons", args.reasons)):
        if path is not None:
            check_output_file(flag, path)
    problem = _load(args, _budget(args.budget), load_problem)
    result = solve(
        problem,
        backend=args.backend,
        solver=args.solver,
        gap=_gap(args.gap),
        time_limit=_time_limit(args.time_limit),
    )
    if result.status is Status.INFEASIBLE:
        minimums = [
            f"{quota_label(i, q, args.quotas)} min_count {q.min_count:g}"
            if q.min_count is not None
            else f"{quota_label(i, q, args.quotas)} min_share {q.min_share:g}"
            for i, q in enumerate(problem.quotas)
            if q.min_count is not None or q.min_share is not None
        ]
        raise InfeasibleError(
            "no plan satisfies the constraints: "
            + (
                "; ".join(minimums) + " cannot all be met within the budget and capacities"
                if minimums
                else result.message
            )
        )
    if not result.status.has_plan:
        raise InputError(f"the solver found no plan ({result.status.value}): {result.message}")
    marginals = _marginals(args, problem, result)
    also = []
    if args.reasons:  # staged and renamed with PLAN.csv and PLAN.json
        table = reasons_frame(problem, result, marginals)
        also.append((args.reasons, lambda tmp: table.to_csv(tmp, index=False)))
    reasons = explain(problem, result, result.chosen, marginals)
    json_path = write_plan(args.out, problem, result, reasons, marginals, also=also)
    print(
        f"{result.status.value}: {len(result.chosen)} of {problem.n_candidates} candidates "
        f"chosen, net value {result.objective:,.2f}, bound {result.bound:,.2f}, "
        f"gap {result.gap:.2e}, {result.solver} in {result.seconds:.2f}s -> {args.out}, "
        f"{json_path}"
    )
    return 0


def _marginals(args, problem, result):
    """Re-solved marginal values of the binding limits, when asked for (or small enough)."""
    from waifang.optimise.frontier import MARGINAL_GAP, MARGINAL_MAX_CANDIDATES
    from waifang.optimise.marginal import marginal_values

    wanted = args.marginals == "on" or (
        args.marginals == "auto" and problem.n_candidates <= MARGINAL_MAX_CANDIDATES
    )
    if not wanted:
        return None
    return marginal_values(
        problem,
        result,
        backend=args.backend,
        solver=args.solver,
        gap=min(_gap(args.gap), MARGINAL_GAP),
        time_limit=_time_limit(args.time_limit),
    )


MAX_FRONTIER_POINTS = 500
"""Most (budget, capacity scale) points one ``waifang frontier`` solves: each is a MIP, so
more is hours of work (and ``--budgets 0:1e6:1e9`` a billion solves); split a larger study."""


def run_frontier(args: argparse.Namespace) -> int:
    from waifang.optimise.frontier import budget_frontier, save_frontier
    from waifang.optimise.io import load_problem

    budgets = _budget_list(args.budgets)
    scales = _float_list(args.capacity_scales)
    points = len(budgets) * len(scales)
    if points > MAX_FRONTIER_POINTS:
        raise InputError(
            f"--budgets x --capacity-scales: {len(budgets):,} x {len(scales):,} = {points:,} "
            f"points, at most {MAX_FRONTIER_POINTS} (each is a solve; split the study)"
        )
    # Both outputs are checked before any solve, not after the last one.
    out = Path(args.out)
    if out.suffix.lower() == ".png":
        raise InputError(f"--out {out}: the PNG is written beside the CSV; name the CSV")
    for path in (out, out.with_suffix(".png")):
        check_output_file("--out", path)
    problem = _load(args, max(budgets), load_problem)

    def progress(done: int, total: int) -> None:
        print(f"frontier point {done}/{total} solved", file=sys.stderr, flush=True)

    table = budget_frontier(
        problem,
        budgets,
        capacity_scales=scales,
        option=args.option,
        gap=_gap(args.gap),
        backend=args.backend,
        solver=args.solver,
        time_limit=_time_limit(args.time_limit),
        progress=progress,
    )
    csv_path, png_path = save_frontier(table, args.out)
    print(f"{len(table)} frontier points -> {csv_path}, {png_path}")
    return 0


def _load(args, budget, load_problem):
    return load_problem(
        args.candidates, args.capacity, budget, quotas=args.quotas, exclusions=args.exclusions
    )


# Parsed in the handlers, not as argparse types: argparse would turn an InputError into a
# usage error (exit 2); the contract is one line naming the value and exit 1.
def _number(text: str, what: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise InputError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(x):
        raise InputError(f"{what} must be finite, got {text!r}")
    return x


def _budget(text: str) -> float:
    from waifang.optimise.problem import MAX_BUDGET

    x = _number(text, "--budget")
    if x < 0:
        raise InputError(f"--budget must be non-negative, got {text}")
    if x > MAX_BUDGET:
        raise InputError(f"--budget must be at most {MAX_BUDGET:g}, got {text}")
    return x


def _gap(text: str) -> float:
    x = _number(text, "--gap")
    if not 0 <= x < 1:
        raise InputError(f"--gap must lie in [0, 1), got {text}")
    return x


def _time_limit(text: str | None) -> float | None:
    if text is None:
        return None
    x = _number(text, "--time-limit")
    if x <= 0:
        raise InputError(f"--time-limit must be positive, got {text}")
    return x


def _float_list(text: str) -> list[float]:
    values = [_number(t, "--capacity-scales") for t in text.split(",") if t.strip()]
    if not values or min(values) < 0:
        raise InputError(f"--capacity-scales needs non-negative numbers, got {text!r}")
    return values


def _budget_list(text: str) -> list[float]:
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise InputError(f"--budgets START:STOP:N, got {text!r}")
        start, stop = _budget(parts[0]), _budget(parts[1])
        n = _number(parts[2], "--budgets N")
        if n < 1 or n != int(n):
            raise InputError(f"--budgets N must be a positive whole number, got {parts[2]!r}")
        if n > MAX_FRONTIER_POINTS:  # before linspace allocates them
            raise InputError(
                f"--budgets N: at most {MAX_FRONTIER_POINTS} points, got {parts[2]!r}"
            )
        return [float(b) for b in np.linspace(start, stop, int(n))]
    values = [_budget(t) for t in text.split(",") if t.strip()]
    if not values:
        raise InputError("--budgets is empty")
    return values
