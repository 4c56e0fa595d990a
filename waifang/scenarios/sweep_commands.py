"""``waifang sweep``: load a scenario with a ``[sweep]`` table -> run every point -> save.

Writes, all or nothing: ``summary.csv`` and ``comparison.csv`` (the run's tables with a
``point`` column and one column per swept path, named by its path), ``sweep_<metric>.png``
(the metric over the grid, mean and 95 % interval per policy) and ``manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from waifang.scenarios.cli_args import add_execution_flags, add_run_flags, run_request

if TYPE_CHECKING:
    from waifang.scenarios.sweep import SweepResults


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``waifang sweep`` to the ``waifang`` parser."""
    sweep = sub.add_parser(
        "sweep",
        help="run a scenario over the grid in its [sweep] table and write tidy tables",
        description="Run every point of a scenario's [sweep] table (every policy, every "
        "replication, common random numbers across points) and write summary.csv, "
        "comparison.csv, sweep_<metric>.png and manifest.json to the output folder.",
    )
    sweep.add_argument("file", metavar="FILE", help="scenario TOML file with a [sweep] table")
    sweep.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    add_run_flags(sweep)
    add_execution_flags(sweep, on_workers="the work runs on its workers",
                        resume="finish an interrupted sweep of the same file in DIR")
    sweep.add_argument("--metric", default=None, metavar="M",
                       help="metric to chart over the grid (default: the file's, or net_value)")
    sweep.set_defaults(handler=sweep_command)


def sweep_command(args: argparse.Namespace) -> int:
    import dataclasses

    from waifang.scenarios.checkpoint import Checkpoint
    from waifang.scenarios.progress import progress_reporter
    from waifang.scenarios.report import prepare_out_dir
    from waifang.scenarios.run_commands import scenario_path
    from waifang.scenarios.sweep import load_sweep, run_sweep

    path = scenario_path(args.file)
    sweep = load_sweep(path)
    if args.metric:
        sweep = dataclasses.replace(sweep, metric=args.metric)
    # What `run` checks before it simulates (flags against the caps, tape, memory), on the
    # point with the most accounts, before the output folder is touched.
    from waifang.scenarios.preflight import preflight

    largest = max(sweep.scenarios, key=lambda s: s.portfolio.accounts, default=sweep.base)
    preflight(largest, run_request(args))
    out = prepare_out_dir(args.out)
    checkpoint = Checkpoint(out, print_name=args.out)
    with progress_reporter(f"{sweep.base.name} sweep", quiet=args.quiet) as progress:
        results = run_sweep(
            sweep, seed=args.seed, replications=args.replications, workers=args.workers,
            scheduler=args.scheduler, progress=progress, checkpoint=checkpoint,
            resume=args.resume,
        )
    written = write_sweep(results, out, scenario_file=path)
    checkpoint.discard()
    print_sweep(results)
    if not args.quiet:
        print(f"wrote {', '.join(sorted(written))} to {out}")
    return 0


def write_sweep(
    results: SweepResults, out: str | Path, *, scenario_file: str | Path | None = None
) -> dict[str, Path]:
    """Write the sweep's files into ``out``, all or nothing; return name -> final path."""
    from waifang.scenarios.report import _version, _write_all, prepare_out_dir

    out = prepare_out_dir(out)
    chart = f"sweep_{results.metric}.png"
    writers = {
        "summary.csv": lambda p: results.summary.to_csv(p, index=False),
        "comparison.csv": lambda p: results.comparison.to_csv(p, index=False),
        chart: lambda p: p.write_bytes(sweep_chart(results)),
    }
    names = [*writers, "manifest.json"]
    writers["manifest.json"] = lambda p: p.write_text(
        json.dumps(_manifest(results, scenario_file, names, _version), indent=2) + "\n"
    )
    return _write_all(out, writers)


def _manifest(results, scenario_file, files, version) -> dict[str, Any]:
    import hashlib
    import platform

    from waifang.scenarios.report import VERSIONED_PACKAGES, resolved_policies

    path = Path(scenario_file) if scenario_file else results.sweep.path
    return {
        "scenario": results.sweep.base.name,
        "scenario_file": str(path.resolve()) if path else None,
        "scenario_sha256": hashlib.sha256(path.read_bytes()).hexdigest()
        if path and path.is_file()
        else None,
        "seed": results.seed,
        "replications": results.replications,
        "parameters": list(results.sweep.parameters),
        "points": [_jsonable(p) for p in results.sweep.points],
        "metric": results.metric,
        "champion": results.sweep.base.champion,
        "policies": [p.name for p in results.sweep.base.policies],
        "resolved_policies": [resolved_policies(s) for s in results.sweep.scenarios],
        "violations": int(results.summary["violations"].sum()),
        "versions": {
            **{p: version(p) for p in VERSIONED_PACKAGES},
            "python": platform.python_version(),
        },
        "files": files,
    }


def _jsonable(point: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in point.items()}


def sweep_chart(results: SweepResults) -> bytes:
    """The chart metric over the grid: x is the first swept path, one panel per combination
    of the others, one line per policy, with 95 % intervals; PNG bytes."""
    import io

    import matplotlib
    import numpy as np

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from waifang.scenarios.sweep import value_label

    metric = results.metric
    sweep = results.sweep
    table = results.comparison[results.comparison["metric"] == metric].copy()
    # A swept value may be a list (a whole `behaviour.stress`, say): group and label by a
    # readable string form of it; numbers and strings stay as they are.
    for name in sweep.parameters:
        table[name] = table[name].map(value_label)
    points = [{n: value_label(p[n]) for n in sweep.parameters} for p in sweep.points]
    x_name, others = sweep.parameters[0], list(sweep.parameters[1:])
    panels = (
        [()]
        if not others
        else list(dict.fromkeys(tuple(p[o] for o in others) for p in points))
    )
    fig, axes = plt.subplots(
        2, len(panels), figsize=(min(4.2 * len(panels), 16), 6.4), squeeze=False,
        sharey="row", sharex="col",
    )
    numeric = all(isinstance(p[x_name], int | float) and not isinstance(p[x_name], bool)
                  for p in points)
    policies = list(dict.fromkeys(table["policy"]))
    champion = sweep.base.champion
    for column, panel in enumerate(panels):
        rows = table
        for name, value in zip(others, panel, strict=True):
            rows = rows[rows[name] == value]
        xs_all = sorted(set(rows[x_name])) if numeric else list(dict.fromkeys(rows[x_name]))
        # Policies side by side around each x, so their intervals do not hide each other.
        spread = (0.3 * min(b - a for a, b in zip(xs_all, xs_all[1:], strict=False))
                  if numeric and len(xs_all) > 1 else 0.3)
        for j, policy in enumerate(policies):
            mine = rows[rows["policy"] == policy]
            shift = (j - (len(policies) - 1) / 2) * spread / max(len(policies) - 1, 1)
            base = mine[x_name].to_numpy(float) if numeric else np.array(
                [xs_all.index(v) for v in mine[x_name]], float)
            for ax, centre, low_col, high_col in (
                (axes[0][column], "mean", "ci_low", "ci_high"),
                (axes[1][column], "diff_vs_champion", "diff_ci_low", "diff_ci_high"),
            ):
                if centre == "diff_vs_champion" and policy == champion:
                    continue
                mid = mine[centre].to_numpy(float)
                err = np.vstack([mid - mine[low_col].to_numpy(float),
                                 mine[high_col].to_numpy(float) - mid])
                ax.errorbar(base + shift, mid, yerr=None if np.isnan(err).any() else err,
                            marker="o", capsize=3, label=policy, color=f"C{j}")
        axes[1][column].axhline(0.0, color="#888", linewidth=0.8)
        axes[1][column].set_xlabel(x_name)
        if not numeric:
            axes[1][column].set_xticks(range(len(xs_all)), [str(v) for v in xs_all])
        if panel:
            axes[0][column].set_title(
                ", ".join(f"{n} = {v}" for n, v in zip(others, panel, strict=True)), fontsize=8
            )
    axes[0][0].set_ylabel(f"{metric}\n(mean, 95 % CI)")
    axes[1][0].set_ylabel(f"Δ {metric} vs {champion}\n(paired, 95 % CI)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"{sweep.base.name}: {metric} over the sweep ({results.replications} "
                 "replications per point)", fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def print_sweep(results: SweepResults) -> None:
    """Per point and policy: the metric's mean ± CI and the paired difference to the champion
    (``*``: significant at 95 %), on stdout."""
    from rich.console import Console
    from rich.table import Table

    from waifang.scenarios.run_commands import money, significant

    metric = results.metric
    champion = results.sweep.base.champion
    table = Table(
        title=f"{results.sweep.base.name} sweep: {metric}, {results.replications} replications "
        f"per point, seed {results.seed} (± is the 95 % CI half-width)",
        caption="* the paired difference is significant at 95 % (its interval excludes 0)",
    )
    for header in ("point", *results.sweep.parameters, "policy", metric,
                   f"Δ vs {champion}"):
        table.add_column(header, justify="left" if header == "policy" else "right")
    rows = results.comparison[results.comparison["metric"] == metric]
    for values in rows.to_dict("records"):
        mean = money(values["mean"]) if abs(values["mean"]) >= 1 else f"{values['mean']:.4g}"
        if not math.isnan(values["ci_low"]):
            mean += f" ± {money(values['mean'] - values['ci_low'])}"
        if values["policy"] == champion:
            diff = "—"
        else:
            diff = money(values["diff_vs_champion"])
            if not math.isnan(values["diff_ci_low"]):
                diff += f" ± {money(values['diff_vs_champion'] - values['diff_ci_low'])}"
            diff += " *" if significant(values) else ""
        table.add_row(
            str(values["point"]),
            *(str(values[p]) for p in results.sweep.parameters),
            values["policy"], mean, diff,
        )
    Console(width=max(Console().width, 160)).print(table)
    print(f"compliance: {int(results.summary['violations'].sum())} performed in breach")
