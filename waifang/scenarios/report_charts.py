"""The report's charts, each a PNG (embedded in report.html and written beside it).

Each chart function takes the run's :class:`~waifang.scenarios.runner.ScenarioResults` and
returns a matplotlib figure, or None when the run has nothing to show for it. :func:`charts`
renders them all, in the report's order, as ``(file name, title, PNG bytes)``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from waifang.scenarios.runner import ScenarioResults
from waifang.sim.results import SUMMARY_COLUMNS, is_cost_line
from waifang.sim.spec import BUCKETS

FOREST_METRICS = ("net_value", "net_npv", "collected", "cost_total")
"""Metrics whose paired differences the forest plot shows (those the run reports)."""


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig) -> bytes:
    """The figure as PNG, with no timestamp in its metadata (same results, same bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return buffer.getvalue()


def forest_plot(results: ScenarioResults):
    """Paired difference to the champion with its 95 % interval, per policy and metric."""
    plt = _plt()
    policies = [p for p in results.policies if p != results.scenario.champion]
    comparison = results.comparison.set_index(["policy", "metric"])
    metrics = [m for m in FOREST_METRICS if (results.policies[0], m) in comparison.index]
    if not policies or not metrics:
        return None
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(3.0 * len(metrics) + 1.2, 1.4 + 0.45 * len(policies)),
        squeeze=False, sharey=True,
    )
    y = np.arange(len(policies))
    for ax, metric in zip(axes[0], metrics, strict=True):
        rows = comparison.loc[[(p, metric) for p in policies]]
        diff = rows["diff_vs_champion"].to_numpy(float)
        low, high = rows["diff_ci_low"].to_numpy(float), rows["diff_ci_high"].to_numpy(float)
        has_ci = np.isfinite(low)
        err = np.vstack([np.where(has_ci, diff - low, 0), np.where(has_ci, high - diff, 0)])
        sure = has_ci & ((low > 0) | (high < 0))
        colours = np.where(sure, np.where(diff > 0, "#2a7d2a", "#b22222"), "#555555")
        for k in range(len(policies)):
            ax.errorbar(diff[k], y[k], xerr=err[:, k : k + 1], fmt="o", color=colours[k],
                        capsize=4)
        ax.axvline(0.0, color="#888", linewidth=0.8)
        ax.set_title(f"Δ {metric}", fontsize=9)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    axes[0][0].set_yticks(y, policies)
    axes[0][0].invert_yaxis()
    fig.suptitle(
        f"paired difference vs {results.scenario.champion} (95 % CI; green/red: interval "
        "excludes 0)", fontsize=9,
    )
    fig.tight_layout()
    return fig


def cumulative_collections(results: ScenarioResults):
    """Cash collected to date, by policy (mean over replications)."""
    daily = results.daily
    if "collected" not in daily or "day" not in daily:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ordered = daily.sort_values(["policy", "replication", "day"])
    cumulative = ordered.groupby(["policy", "replication"], sort=False)["collected"].cumsum()
    frame = ordered.assign(cumulative=cumulative)
    mean = frame.groupby(["policy", "day"], sort=False)["cumulative"].mean()
    for policy in results.policies:
        series = mean.loc[policy]
        ax.plot(series.index, series.to_numpy(), label=policy)
    ax.set_xlabel("day")
    ax.set_ylabel("collected to date")
    ax.legend(fontsize=7)
    return fig


def simulated_roll_rates(daily: pd.DataFrame, days: int = 30) -> pd.DataFrame:
    """Monthly roll rate from each bucket to the next, per policy, from the bucket counts:
    ``bucket[k+1](t + 30) / bucket[k](t)`` (an account in bucket k that clears nothing for
    30 days is in bucket k+1 thirty days later), averaged over the days t where both exist.

    Rows: policies; columns: the transitions ``1-30 -> 31-60`` and so on.
    """
    columns = [f"bucket_{b}" for b in BUCKETS]
    out = {}
    for policy, frame in daily.groupby("policy", sort=False):
        mean = frame.groupby("day")[columns].mean().sort_index()
        rates = {}
        for k in range(len(BUCKETS) - 1):
            now = mean[columns[k]].to_numpy(float)[:-days] if len(mean) > days else np.array([])
            later = mean[columns[k + 1]].to_numpy(float)[days:]
            ok = now > 0
            label = f"{BUCKETS[k]} → {BUCKETS[k + 1]}"
            rates[label] = float(later[ok].sum() / now[ok].sum()) if ok.any() else np.nan
        out[policy] = rates
    return pd.DataFrame(out).T


def roll_rates(results: ScenarioResults):
    """Simulated monthly roll rates by bucket against the data's (DESIGN.md section 6)."""
    from waifang.sim import spec

    data_rates = getattr(spec, "MONTHLY_ROLL_RATES", None)
    if any(f"bucket_{b}" not in results.daily for b in BUCKETS) or results.scenario.days <= 30:
        return None
    simulated = simulated_roll_rates(results.daily)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    x = np.arange(simulated.shape[1])
    series = [(p, simulated.loc[p].to_numpy(float)) for p in results.policies]
    if data_rates is not None:
        series.append(("data (card accounts)", np.asarray(data_rates[: len(x)], float)))
    width = 0.8 / len(series)
    for j, (label, values) in enumerate(series):
        ax.bar(x + (j - (len(series) - 1) / 2) * width, values, width, label=label,
               color="black" if label.startswith("data") else f"C{j}")
    ax.set_xticks(x, simulated.columns, fontsize=7)
    ax.set_ylabel("monthly roll rate")
    ax.legend(fontsize=7)
    return fig


_REGION_COLUMN = re.compile(r"visits_(requested|performed|waiting|dropped|utilisation)\[(.+)\]")


def region_capacity(daily: pd.DataFrame) -> pd.DataFrame:
    """Field capacity by policy and region from the daily ``visits_<what>[<region>]``
    columns: visits requested, performed and dropped per replication (summed over days,
    averaged over replications), the mean daily queue (``waiting``) and mean utilisation.

    One row per (policy, region); empty when the daily table has no such columns.
    """
    found = [(c, *m.groups()) for c in daily.columns if (m := _REGION_COLUMN.fullmatch(c))]
    if not found:
        return pd.DataFrame()
    rows = []
    per_run = daily.groupby(["policy", "replication"], sort=False)
    for column, what, region in found:
        flow = what in ("requested", "performed", "dropped")
        values = per_run[column].sum() if flow else per_run[column].mean()
        for policy, value in values.groupby(level="policy", sort=False).mean().items():
            rows.append({"policy": policy, "region": region, "figure": what, "value": value})
    table = pd.DataFrame(rows).pivot_table(
        index=["policy", "region"], columns="figure", values="value", sort=False
    )
    table.columns.name = None
    return table.reset_index()


def capacity_by_region(results: ScenarioResults):
    """Field capacity by region: visits performed, dropped, the mean queue and utilisation
    per policy, from daily.csv's per-region columns; without them, the run's totals."""
    plt = _plt()
    table = region_capacity(results.daily)
    if not table.empty:
        figures = [f for f in ("performed", "dropped", "waiting", "utilisation") if f in table]
        titles = {"performed": "visits performed per replication",
                  "dropped": "visits dropped per replication",
                  "waiting": "visits waiting (mean daily queue)",
                  "utilisation": "field-team utilisation (mean)"}
        fig, axes = plt.subplots(1, len(figures), figsize=(min(3.8 * len(figures), 15), 3.4),
                                 squeeze=False)
        for ax, figure in zip(axes[0], figures, strict=True):
            frame = table.pivot_table(index="region", columns="policy", values=figure,
                                      sort=False)
            frame[[p for p in results.policies if p in frame]].plot.bar(ax=ax, legend=False)
            ax.set_title(titles[figure], fontsize=9)
            ax.set_xlabel("")
            ax.tick_params(axis="x", labelsize=7, rotation=30)
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        return fig
    wanted = [c for c in ("visits", "visits_waiting", "visits_dropped") if c in results.summary]
    if not wanted:
        return None
    totals = results.summary.groupby("policy", sort=False)[wanted].mean().loc[
        list(results.policies)
    ]
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.45 * len(totals)))
    totals.rename(columns={"visits": "performed", "visits_waiting": "waiting",
                           "visits_dropped": "dropped"}).plot.barh(ax=ax)
    ax.invert_yaxis()
    ax.set_xlabel("visits per replication, all regions (the engine reports no per-region split)")
    ax.legend(fontsize=7)
    return fig


def costs_by_treatment(results: ScenarioResults):
    """Cost of each treatment by policy (mean over replications)."""
    policies = list(results.policies)
    cost_columns = [c for c in SUMMARY_COLUMNS if is_cost_line(c)]
    costs = results.summary.groupby("policy", sort=False)[cost_columns].mean().loc[policies]
    costs = costs.loc[:, (costs > 0).any()]
    if costs.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.45 * len(policies)))
    left = np.zeros(len(policies))
    for column in costs.columns:
        ax.barh(policies, costs[column], left=left, label=column.removeprefix("cost_"))
        left += costs[column].to_numpy()
    ax.invert_yaxis()
    ax.set_xlabel("cost (mean over replications)")
    # Beside the bars, not over them: inside the axes it hid the longest bar's last treatments.
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


def blocked_by_rule(results: ScenarioResults):
    """Actions the compliance rules refused, by rule and policy (per replication)."""
    policies = list(results.policies)
    blocked = results.blocked_by_rule.pivot_table(
        index="rule", columns="policy", values="blocked_per_replication", sort=False
    )
    blocked = blocked.loc[(blocked > 0).any(axis=1)]
    if blocked.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.3 * len(blocked) * max(len(policies), 2) ** 0.5))
    blocked[[p for p in policies if p in blocked]].plot.barh(ax=ax)
    ax.invert_yaxis()
    ax.set_xlabel("blocked actions per replication")
    ax.legend(fontsize=7)
    return fig


CHARTS: tuple[tuple[str, str, Callable], ...] = (
    ("chart_forest.png", "Paired differences against the champion", forest_plot),
    ("chart_collections.png", "Cumulative collections over time", cumulative_collections),
    ("chart_roll_rates.png", "Monthly roll rates by bucket, against the data's",
     roll_rates),
    ("chart_capacity.png", "Field capacity by region", capacity_by_region),
    ("chart_costs.png", "Costs by treatment", costs_by_treatment),
    ("chart_blocked.png", "Blocked actions by rule", blocked_by_rule),
)
"""(file name, title, chart function), in the report's order."""


def charts(results: ScenarioResults) -> list[tuple[str, str, bytes]]:
    """Every chart the run has data for, rendered: (file name, title, PNG bytes)."""
    out = []
    for name, title, draw in CHARTS:
        fig = draw(results)
        if fig is not None:
            out.append((name, title, png_bytes(fig)))
    return out
