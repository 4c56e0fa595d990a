"""Benchmark of the visit-selection optimiser against the plain pulp + CBC model.

Random instances (benchmarks use :func:`waifang.optimise.synthetic.synthetic_instance`:
accounts x 3-4 options, 30 regions, budget and every capacity set to bind) of ~10 k, ~100 k
and ~1 M candidate rows. For each size, in a fresh child process (so that peak memory is
that run's own):

* the fast path: validate + build the problem, then the decomposition (smoothed Lagrangian
  prices, working-set LP in HiGHS from sparse arrays, rounding, greedy fill, MIP polish);
* the greedy rule (net value per unit of cost; and, for contrast, by net value), to show
  how far it falls short;
* at 10 k and 100 k the reference: the same instance built as a plain pulp model and solved
  by CBC with the same relative gap target.

Run: ``python benchmarks/optimise.py [--sizes 10000,100000,1000000] [--gap 0.001]``.
The last line is a one-line key=value summary.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time

ROWS_PER_ACCOUNT = 3.64  # 4 options, 12% of the non-visit rows dropped (see synthetic.py)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_fast(rows: int, gap: float, seed: int) -> dict:
    import numpy as np

    from waifang.optimise.decompose import solve_decomposed
    from waifang.optimise.greedy import greedy
    from waifang.optimise.problem import make_problem
    from waifang.optimise.result import plan_objective
    from waifang.optimise.synthetic import synthetic_instance

    inst = synthetic_instance(round(rows / ROWS_PER_ACCOUNT), seed=seed)
    t0 = time.perf_counter()
    problem = make_problem(inst.candidates, inst.capacities, inst.budget)
    problem.coupling  # noqa: B018 -- build the sparse coupling matrix inside the timing
    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = solve_decomposed(problem, gap=gap)
    solve = time.perf_counter() - t1
    peak = _peak_mb()
    t2 = time.perf_counter()
    greedy_value = plan_objective(problem, greedy(problem))
    greedy_seconds = time.perf_counter() - t2
    greedy_net_value = plan_objective(problem, greedy(problem, rule="net"))
    c = problem.coupling
    used = np.asarray(c.A[:, result.chosen].sum(axis=1)).ravel()
    at_limit = used >= c.b - 1e-6 * np.maximum(1.0, c.b) - 1.0 * (np.array(c.kinds) == "count")
    # A capacity "binds" when any of its rows (count or hours) has a positive shadow price.
    caps = {}
    for k, name in enumerate(c.names):
        if name.startswith("capacity["):
            key = name.split("]")[0]
            caps[key] = caps.get(key, False) or result.shadow_prices[k] > 1e-9
    return {
        "rows": problem.n_candidates,
        "accounts": problem.n_accounts,
        "coupling_rows": c.n_rows,
        "build": build,
        "solve": solve,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "status": result.status.value,
        "peak_mb": peak,
        "greedy": greedy_value,
        "greedy_seconds": greedy_seconds,
        "greedy_net": greedy_net_value,
        "budget_price": result.budget_price,
        "capacities_priced": sum(caps.values()),
        "capacities": len(caps),
        "rows_at_limit": int(at_limit.sum()),
    }


def run_reference(rows: int, gap: float, seed: int, time_limit: float) -> dict:
    import pulp

    from waifang.optimise.problem import make_problem
    from waifang.optimise.pulp_model import build_pulp_model
    from waifang.optimise.result import check_plan, plan_objective
    from waifang.optimise.synthetic import synthetic_instance

    inst = synthetic_instance(round(rows / ROWS_PER_ACCOUNT), seed=seed)
    problem = make_problem(inst.candidates, inst.capacities, inst.budget)
    t0 = time.perf_counter()
    model = build_pulp_model(problem)
    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    model.lp.solve(pulp.PULP_CBC_CMD(msg=False, gapRel=gap, timeLimit=time_limit, threads=1))
    solve = time.perf_counter() - t1
    chosen = [j for j, v in enumerate(model.x) if (v.varValue or 0) > 0.5]
    return {
        "build": build,
        "solve": solve,
        "status": pulp.LpStatus[model.lp.status],
        "objective": plan_objective(problem, chosen),
        "feasible": not check_plan(problem, chosen),
        "hit_time_limit": solve >= time_limit * 0.98,
        "peak_mb": _peak_mb(),
    }


def write_command_files(n_accounts: int, drop_share: float, seed: int, folder: str) -> dict:
    """Write C.csv (pyarrow's writer: fast) and K.csv of a synthetic instance; its figures."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from waifang.optimise.synthetic import synthetic_instance

    inst = synthetic_instance(n_accounts, seed=seed, drop_share=drop_share)
    c = os.path.join(folder, "C.csv")
    pa_csv.write_csv(pa.Table.from_pandas(inst.candidates, preserve_index=False), c)
    pd.DataFrame(
        [
            {"region": x.region, "option": x.option, "limit": x.limit, "hours_limit": x.hours_limit}
            for x in inst.capacities
        ]
    ).to_csv(os.path.join(folder, "K.csv"), index=False)
    return {"rows": len(inst.candidates), "budget": inst.budget, "mb": os.path.getsize(c) / 1e6}


def run_command(folder: str, budget: float, gap: float) -> dict:
    """``waifang optimise`` on the files, as a user runs it (read, validate, solve, reasons,
    PLAN.csv + PLAN.json), timed in wall and CPU seconds, with this process's peak memory."""
    import contextlib
    import io
    import json

    from waifang.scenarios.cli import main

    argv = [
        "optimise",
        "--candidates",
        os.path.join(folder, "C.csv"),
        "--capacity",
        os.path.join(folder, "K.csv"),
        "--budget",
        repr(budget),
        "--gap",
        repr(gap),
        "--out",
        os.path.join(folder, "PLAN.csv"),
    ]
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(argv)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    with open(os.path.join(folder, "PLAN.json")) as fh:
        plan = json.load(fh)
    return {
        "code": code,
        "wall": wall,
        "cpu": cpu,
        "peak_mb": _peak_mb(),
        "line": out.getvalue(),
        "gap": plan["gap"],
        "status": plan["status"],
        "solve": plan["seconds"],
        "build": plan["build_seconds"],
        "load": os.getloadavg(),
    }


def frontier_speedup(n_accounts: int, seed: int, gap: float = 1e-4) -> dict:
    """The frontier on the decomposition path, each point's price search started from the
    previous budget's prices (the default) against every point cold (marginal values off in
    both), in wall and CPU seconds."""
    import numpy as np

    from waifang.optimise.frontier import budget_frontier
    from waifang.optimise.problem import make_problem
    from waifang.optimise.synthetic import synthetic_instance

    inst = synthetic_instance(n_accounts, seed=seed)
    problem = make_problem(inst.candidates, inst.capacities, inst.budget)
    problem.coupling  # noqa: B018 -- built once, outside both timings
    budgets = list(np.linspace(0.6, 1.1, 6) * inst.budget)
    out = {"rows": problem.n_candidates, "points": len(budgets)}
    for name, warm in (("cold", False), ("warm", None)):
        cpu0, t0 = time.process_time(), time.perf_counter()
        table = budget_frontier(
            problem, budgets, gap=gap, backend="decompose", marginals=False, warm_start=warm
        )
        out[name] = time.perf_counter() - t0
        out[f"{name}_cpu"] = time.process_time() - cpu0
        out[f"{name}_value"] = float(table["net_value"].sum())
        out[f"{name}_gap"] = float(table["gap"].max())
    out["load"] = os.getloadavg()
    return out


def _loads(loads) -> str:
    return "/".join(f"{x:.1f}" for x in loads) + " (1/5/15 min)"


def in_child(fn, *args):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--reference-sizes", default="10000,100000")
    parser.add_argument("--gap", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reference-time-limit", type=float, default=900.0)
    parser.add_argument(
        "--command-accounts",
        default="",
        help="whole-command runs, ACCOUNTS:DROP_SHARE[:GAP],...; the issue's instances are "
        "2000000:0.5833:1e-4 (4.5 M rows) and 4000000:0.5:1e-3 (10 M rows)",
    )
    parser.add_argument(
        "--frontier-accounts",
        type=int,
        default=0,
        help="frontier warm-start speed-up at this many accounts (0: skip)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    ref_sizes = {int(s) for s in args.reference_sizes.split(",") if s}
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}; gap target {args.gap:g}; seed {args.seed}"
    )
    summary = {}
    for rows in sizes:
        fast = in_child(run_fast, rows, args.gap, args.seed)
        total = fast["build"] + fast["solve"]
        short = (fast["objective"] - fast["greedy"]) / fast["objective"]
        tag = f"{rows // 1000}k"
        print(
            f"\n[{tag}] {fast['rows']:,} rows, {fast['accounts']:,} accounts, "
            f"{fast['coupling_rows']} coupling rows; {fast['capacities_priced']} of "
            f"{fast['capacities']} capacities and the budget (price "
            f"{fast['budget_price']:.3g}) priced > 0; {fast['rows_at_limit']} rows at limit"
        )
        print(
            f"  decompose/highs: build {fast['build']:.2f}s, solve {fast['solve']:.2f}s, "
            f"status {fast['status']}, objective {fast['objective']:,.0f}, bound "
            f"{fast['bound']:,.0f}, gap {fast['gap']:.2e}, peak memory {fast['peak_mb']:,.0f} MB"
        )
        print(
            f"  greedy rule (net/cost): objective {fast['greedy']:,.0f} "
            f"({fast['greedy_seconds']:.1f}s), short of the optimiser by {100 * short:.2f}%"
        )
        short_net = (fast["objective"] - fast["greedy_net"]) / fast["objective"]
        print(
            f"  greedy by net value instead: objective {fast['greedy_net']:,.0f}, short by "
            f"{100 * short_net:.2f}%"
        )
        summary.update(
            {
                f"fast_{tag}_s": round(total, 2),
                f"gap_{tag}": f"{fast['gap']:.1e}",
                f"peak_{tag}_mb": round(fast["peak_mb"]),
                f"greedy_short_{tag}_pct": round(100 * short, 2),
                f"greedy_net_short_{tag}_pct": round(100 * short_net, 2),
            }
        )
        if rows in ref_sizes:
            ref = in_child(run_reference, rows, args.gap, args.seed, args.reference_time_limit)
            ref_total = ref["build"] + ref["solve"]
            limit_note = (
                " (hit the time limit: ratio is a lower bound)" if ref["hit_time_limit"] else ""
            )
            print(
                f"  reference pulp+CBC: build {ref['build']:.2f}s, solve {ref['solve']:.2f}s, "
                f"status {ref['status']}, objective {ref['objective']:,.0f} (feasible by our "
                f"check: {ref['feasible']}), peak memory {ref['peak_mb']:,.0f} MB{limit_note}"
            )
            print(
                f"  ratio reference/fast: total {ref_total / total:.1f}x, solve only "
                f"{ref['solve'] / fast['solve']:.1f}x; objective fast/reference "
                f"{fast['objective'] / ref['objective']:.6f}"
            )
            summary.update(
                {
                    f"cbc_{tag}_s": round(ref_total, 2),
                    f"speedup_{tag}": round(ref_total / total, 1),
                }
            )
    for spec in [x for x in args.command_accounts.split(",") if x]:
        parts = spec.split(":")
        n_accounts, drop = int(parts[0]), float(parts[1])
        gap = float(parts[2]) if len(parts) > 2 else args.gap
        with tempfile.TemporaryDirectory() as folder:
            made = in_child(write_command_files, n_accounts, drop, args.seed, folder)
            run = in_child(run_command, folder, made["budget"], gap)
        tag = f"cmd_{made['rows'] / 1e6:.1f}M"
        print(
            f"\n[{tag}] waifang optimise on {made['rows']:,} rows ({n_accounts:,} accounts, "
            f"30 regions, C.csv {made['mb']:,.0f} MB): wall {run['wall']:.1f}s, CPU "
            f"{run['cpu']:.1f}s, peak memory {run['peak_mb']:,.0f} MB, load averages "
            f"{_loads(run['load'])} on {os.cpu_count()} cores; solve {run['solve']:.1f}s, status "
            f"{run['status']}, gap {run['gap']:.2e} (target {gap:g})"
        )
        summary.update(
            {
                f"{tag}_wall_s": round(run["wall"], 1),
                f"{tag}_cpu_s": round(run["cpu"], 1),
                f"{tag}_peak_mb": round(run["peak_mb"]),
                f"{tag}_gap": f"{run['gap']:.1e}",
            }
        )
    if args.frontier_accounts:
        fr = in_child(frontier_speedup, args.frontier_accounts, args.seed)
        print(
            f"\n[frontier] {fr['points']} budgets on {fr['rows']:,} rows (decompose, gap 1e-4): "
            f"cold wall {fr['cold']:.1f}s CPU {fr['cold_cpu']:.1f}s; prices warm-started wall "
            f"{fr['warm']:.1f}s CPU {fr['warm_cpu']:.1f}s; speed-up wall "
            f"{fr['cold'] / fr['warm']:.2f}x, CPU {fr['cold_cpu'] / fr['warm_cpu']:.2f}x "
            f"(net values cold {fr['cold_value']:,.0f}, warm {fr['warm_value']:,.0f}; worst gap "
            f"cold {fr['cold_gap']:.1e}, warm {fr['warm_gap']:.1e}); load averages "
            f"{_loads(fr['load'])}"
        )
        summary["frontier_speedup_wall"] = round(fr["cold"] / fr["warm"], 2)
        summary["frontier_speedup_cpu"] = round(fr["cold_cpu"] / fr["warm_cpu"], 2)
    print("\nsummary " + " ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
