"""``waifang validate`` and ``waifang run``: load -> run -> save, nothing more.

``FILE`` is a path to a scenario TOML file, or the word ``baseline`` for the scenario shipped
with the package (``waifang/scenarios/baseline.toml``); a local file that happens to be called
``baseline`` is reached as ``./baseline``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from waifang.scenarios.cli_args import add_execution_flags, add_run_flags, run_request

if TYPE_CHECKING:
    from waifang.scenarios.runner import ScenarioResults

BUILTIN_NAME = "baseline"


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to the ``waifang`` parser."""
    file_help = (
        f"scenario TOML file, or the name of a shipped scenario ({', '.join(SHIPPED_NAMES)})"
    )

    validate = sub.add_parser(
        "validate",
        help="check a scenario file and print 'ok' or the first problem",
        description="Check a scenario file: keys, bounds, actions, rules, presets, tape.",
    )
    validate.add_argument("file", metavar="FILE", help=file_help)
    add_run_flags(validate, "as `run` would be given")
    validate.set_defaults(handler=validate_command)

    run = sub.add_parser(
        "run",
        help="run every policy of a scenario and write the results",
        description="Run every policy of a scenario on common random numbers and write "
        "summary.csv, comparison.csv, daily.csv|parquet, blocked.csv, manifest.json and "
        "report.html to the output folder.",
    )
    run.add_argument("file", metavar="FILE", help=file_help)
    run.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    add_run_flags(run)
    add_execution_flags(
        run,
        on_workers="replications run on its workers",
        resume="finish an interrupted run of the same scenario in DIR (redo only what was lost)",
    )
    run.set_defaults(handler=run_command)


SHIPPED_NAMES: tuple[str, ...] = (
    BUILTIN_NAME, "calibrated_cards", "visit_optimisation", "risk_transfer",
    "visit_optimisation_variants",
)
"""Scenarios shipped with the package, run by name (``waifang run calibrated_cards``)."""


def scenario_path(file: str) -> Path:
    """The path ``FILE`` stands for (a shipped scenario for its name, e.g. ``baseline``)."""
    if file in SHIPPED_NAMES:
        from waifang.scenarios.schema import BASELINE

        return BASELINE.with_name(f"{file}.toml")
    return Path(file)


def validate_command(args: argparse.Namespace) -> int:
    from waifang.scenarios.preflight import preflight
    from waifang.scenarios.schema import load_scenario

    scenario = load_scenario(scenario_path(args.file))
    # The same checks `run` makes before it simulates.
    checked = preflight(scenario, run_request(args))
    from waifang.scenarios.sweep import has_sweep, load_sweep

    if has_sweep(scenario_path(args.file)):
        sweep = load_sweep(scenario_path(args.file))  # every point of the sweep, too
        checked.append(f"sweep: {len(sweep.points):,} points, each a valid scenario")
    print("ok")
    for line in checked:
        print(f"  checked {line}")
    return 0


def run_command(args: argparse.Namespace) -> int:
    from waifang.scenarios.preflight import preflight
    from waifang.scenarios.report import prepare_out_dir, write_results
    from waifang.scenarios.runner import run_scenario
    from waifang.scenarios.schema import load_scenario

    path = scenario_path(args.file)
    scenario = load_scenario(path)
    # Everything `validate` checks, with this run's flags, before the output folder is touched.
    preflight(scenario, run_request(args))
    out = prepare_out_dir(args.out)  # fail before hours of simulation, not after
    import sys

    from waifang.scenarios.optimised import notes

    for line in notes(scenario):
        print(line, file=sys.stderr)

    from waifang.scenarios.checkpoint import Checkpoint
    from waifang.scenarios.progress import progress_reporter

    checkpoint = Checkpoint(out, print_name=args.out)
    with progress_reporter(scenario.name, quiet=args.quiet) as progress:
        results = run_scenario(
            scenario,
            seed=args.seed,
            replications=args.replications,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=progress,
            checkpoint=checkpoint,
            resume=getattr(args, "resume", False),
        )
    written = write_results(results, out, scenario_file=path)
    checkpoint.discard()  # only now: the final files are all in place
    print_comparison(results)
    if not args.quiet:
        print(f"wrote {', '.join(sorted(written))} to {out}")
    return 0


def money(value: float) -> str:
    """Currency for a table cell: millions as ``166.35M``, smaller amounts in full."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.2f}M"
    return f"{value:,.0f}"


def significant(row) -> bool:
    """Whether a comparison row's paired 95 % interval excludes 0 (False without one)."""
    low, high = row["diff_ci_low"], row["diff_ci_high"]
    return bool(low > 0 or high < 0)  # NaN compares False: no interval, no claim


def spread_table(results: ScenarioResults, comparison):
    """Beside the means: the spread of net value and net NPV over the replications (standard
    deviation and 5th percentile; cover is bought to cut the bad years, which means hide)."""
    from rich.table import Table

    table = Table(title="spread over replications (sd: standard deviation; p5: 5th percentile)")
    metrics = [m for m in ("net_value", "net_npv") if (results.policies[0], m) in comparison.index]
    table.add_column("policy", justify="left")
    for metric in metrics:
        label = metric.replace("_", " ").replace("npv", "NPV")
        table.add_column(f"{label} sd", justify="right")
        table.add_column(f"{label} p5", justify="right")
    for policy in results.policies:
        cells = []
        for metric in metrics:
            row = comparison.loc[(policy, metric)]
            cells += [money(row["std"]) if row["std"] == row["std"] else "—", money(row["p05"])]
        table.add_row(policy, *cells)
    return table


def print_comparison(results: ScenarioResults) -> None:
    """The per-policy table and the compliance line, on stdout."""
    from rich.console import Console
    from rich.table import Table

    comparison = results.comparison.set_index(["policy", "metric"])

    def mean(policy: str, metric: str) -> float:
        return float(comparison.loc[(policy, metric), "mean"])

    def plus_minus(policy: str, metric: str, centre: str, low: str) -> str:
        row = comparison.loc[(policy, metric)]
        if row[low] != row[low]:  # NaN: a single replication has no interval
            return money(row[centre])
        return f"{money(row[centre])} ± {money(row[centre] - row[low])}"

    def difference(policy: str, metric: str) -> str:
        if policy == results.scenario.champion:
            return "—"
        cell = plus_minus(policy, metric, "diff_vs_champion", "diff_ci_low")
        return cell + (" *" if significant(comparison.loc[(policy, metric)]) else "")

    # net_value (net NPV plus the value of balances still open at the horizon) is shown when
    # the engine reports it: a policy that cures more is not penalised for collecting later.
    has_net_value = (results.policies[0], "net_value") in comparison.index
    table = Table(
        title=f"{results.scenario.name}: {results.replications} replications, seed "
        f"{results.seed} (means; ± is the 95 % CI half-width; M = million)",
        caption="* the paired difference is significant at 95 % (its interval excludes 0); "
        "blocked: mean per replication; violations: total over all replications",
    )
    for header in (
        "policy",
        "collected",
        "cost",
        "net NPV",
        f"Δ net NPV vs {results.scenario.champion}",
        *(("net value", f"Δ net value vs {results.scenario.champion}") if has_net_value else ()),
        "recovery",
        "visits",
        "complaints",
        "blocked",
        "violations",
    ):
        table.add_column(header, justify="left" if header == "policy" else "right")
    for policy in results.policies:
        table.add_row(
            policy,
            money(mean(policy, "collected")),
            money(mean(policy, "cost_total")),
            plus_minus(policy, "net_npv", "mean", "ci_low"),
            difference(policy, "net_npv"),
            *(
                (
                    plus_minus(policy, "net_value", "mean", "ci_low"),
                    difference(policy, "net_value"),
                )
                if has_net_value
                else ()
            ),
            f"{mean(policy, 'recovery_rate'):.1%}",
            f"{mean(policy, 'visits'):,.0f}",
            f"{mean(policy, 'complaints'):,.1f}",
            f"{mean(policy, 'blocked'):,.0f}",
            f"{int(results.summary.loc[results.summary.policy == policy, 'violations'].sum())}",
        )
    # Wide enough for all columns when piped or captured; a terminal keeps its own width if wider.
    console = Console(width=max(Console().width, 190))
    console.print(table)
    console.print(spread_table(results, comparison))

    blocked = results.blocked_by_rule.groupby("rule", sort=False)["blocked"].sum()
    blocked = blocked[blocked > 0]
    by_rule = ", ".join(f"{rule} {int(n):,}" for rule, n in blocked.items()) or "none"
    # Totals, where the table's "blocked" is a mean per replication: say so on both.
    print(
        f"compliance: {int(blocked.sum()):,} actions blocked in total over "
        f"{results.replications} replications of {len(results.policies)} policies "
        f"(by rule: {by_rule}), {results.violations} performed in breach"
    )
    for policy, departures in results.departures.items():
        for departure in departures:
            print(f"departure ({policy}): {departure}")
