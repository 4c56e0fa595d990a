"""A one-file HTML report of a scenario run: charts as embedded PNGs, tables, compliance.

Charts: net NPV by policy with its 95 % interval, bucket occupancy over time per policy
(mean over replications), costs by treatment, blocked actions by rule.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

from waifang.scenarios.runner import ScenarioResults
from waifang.sim.results import SUMMARY_COLUMNS
from waifang.sim.spec import BUCKETS

_KEY_METRICS = (
    "collected",
    "collected_npv",
    "cost_total",
    "net_npv",
    "terminal_value",
    "net_value",
    "recovery_rate",
    "cure_rate",
    "chargeoff_rate",
    "visits",
    "complaints",
    "blocked",
    "violations",
)


def _png(fig) -> str:
    buffer = io.BytesIO()
    # No timestamps in the PNG metadata: same results, same bytes.
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="chart" src="data:image/png;base64,{data}">'


def _figures(results: ScenarioResults) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    policies = list(results.policies)
    comparison = results.comparison.set_index(["policy", "metric"])
    charts = []

    # Net NPV (and net value, when the engine reports it) with its interval.
    metrics = [m for m in ("net_npv", "net_value") if (policies[0], m) in comparison.index]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        means = [comparison.loc[(p, metric), "mean"] for p in policies]
        lows = [comparison.loc[(p, metric), "ci_low"] for p in policies]
        err = [m - lo if np.isfinite(lo) else 0.0 for m, lo in zip(means, lows, strict=True)]
        ax.barh(policies, means, xerr=err, color="#4472c4", capsize=4)
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric} (mean, 95 % CI)")
    charts.append(("Net NPV by policy", _png(fig)))

    # Bucket occupancy over time.
    buckets = [f"bucket_{b}" for b in BUCKETS if f"bucket_{b}" in results.daily]
    if buckets and "day" in results.daily:
        mean_daily = results.daily.groupby(["policy", "day"], sort=False)[buckets].mean()
        fig, axes = plt.subplots(
            1, len(policies), figsize=(3.2 * len(policies), 3), sharey=True, squeeze=False
        )
        for ax, policy in zip(axes[0], policies, strict=True):
            frame = mean_daily.loc[policy]
            ax.stackplot(frame.index, frame.to_numpy().T, labels=BUCKETS)
            ax.set_title(policy, fontsize=9)
            ax.set_xlabel("day")
        axes[0][0].set_ylabel("delinquent accounts")
        axes[0][-1].legend(fontsize=7, title="dpd", loc="upper right")
        charts.append(("Bucket occupancy over time (mean over replications)", _png(fig)))

    # Costs by treatment.
    cost_columns = [c for c in SUMMARY_COLUMNS if c.startswith("cost_") and c != "cost_total"]
    costs = results.summary.groupby("policy", sort=False)[cost_columns].mean().loc[policies]
    costs = costs.loc[:, (costs > 0).any()]
    if not costs.empty:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        left = np.zeros(len(policies))
        for column in costs.columns:
            ax.barh(policies, costs[column], left=left, label=column.removeprefix("cost_"))
            left += costs[column].to_numpy()
        ax.invert_yaxis()
        ax.set_xlabel("cost (mean over replications)")
        ax.legend(fontsize=7, ncol=3)
        charts.append(("Costs by treatment", _png(fig)))

    # Blocked actions by rule.
    blocked = results.blocked_by_rule.pivot_table(
        index="rule", columns="policy", values="blocked_per_replication", sort=False
    )
    blocked = blocked.loc[(blocked > 0).any(axis=1)]
    if not blocked.empty:
        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.4 * len(blocked) * len(policies) ** 0.5))
        blocked[[p for p in policies if p in blocked]].plot.barh(ax=ax)
        ax.invert_yaxis()
        ax.set_xlabel("blocked actions per replication")
        ax.legend(fontsize=7)
        charts.append(("Blocked actions by rule", _png(fig)))
    return charts


_NATIONAL = (("courts", "legal", "legal_requested", "legal_filed"),
             ("agencies", "agency", "agency_requested", "agency_placed"))  # fmt: skip


def capacity_table(daily: pd.DataFrame) -> pd.DataFrame:
    """Capacity use by policy and pool (each region's field teams, the courts, the
    agencies): requests, work done and dropped per replication, mean daily utilisation and
    the mean days that work had waited, from the ``daily`` table's capacity columns."""
    rows = []
    runs = daily.groupby("policy", sort=False)
    for policy, frame in runs:
        reps = frame["replication"].nunique()
        pools = [
            (
                f"field teams {c[len('visits_requested[') : -1]}",
                "visits",
                c[len("visits_requested") :],
            )
            for c in frame.columns
            if c.startswith("visits_requested[")
        ]
        pools += [(name, prefix, "") for name, prefix, _, _ in _NATIONAL]
        for name, prefix, tag in pools:
            asked = f"{prefix}_requested{tag}"
            if asked not in frame:
                continue
            done_col = next(
                c
                for c in (f"{prefix}_performed{tag}", f"{prefix}_filed", f"{prefix}_placed")
                if c in frame
            )
            done = frame[done_col]
            waited = (frame[f"{prefix}_mean_wait_days{tag}"].fillna(0) * done).sum()
            rows.append(
                {
                    "policy": policy,
                    "pool": name,
                    "requested": frame[asked].sum() / reps,
                    "done": done.sum() / reps,
                    "dropped": frame[f"{prefix}_dropped{tag}"].sum() / reps,
                    "utilisation": frame[f"{prefix}_utilisation{tag}"].mean(),
                    "mean_wait_days": waited / done.sum() if done.sum() else float("nan"),
                }
            )
    return pd.DataFrame(rows)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:,.4g}", border=0)


def _number(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.2f}M"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _cell(mean: float, low: float, high: float) -> str:
    if not np.isfinite(low):
        return _number(mean)
    return f"{_number(mean)} [{_number(low)}, {_number(high)}]"


def _key_tables(results: ScenarioResults) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wide tables, one row per policy: the key metrics' means and paired differences."""
    comparison = results.comparison.set_index(["policy", "metric"])
    metrics = [m for m in _KEY_METRICS if (results.policies[0], m) in comparison.index]
    means, differences = [], []
    for policy in results.policies:
        rows = [comparison.loc[(policy, m)] for m in metrics]
        means.append(
            {"policy": policy}
            | {
                m: _cell(r["mean"], r["ci_low"], r["ci_high"])
                for m, r in zip(metrics, rows, strict=True)
            }
        )
        differences.append(
            {"policy": policy}
            | {
                m: _cell(r["diff_vs_champion"], r["diff_ci_low"], r["diff_ci_high"])
                for m, r in zip(metrics, rows, strict=True)
            }
        )
    return pd.DataFrame(means), pd.DataFrame(differences)


def render_html(results: ScenarioResults) -> str:
    """The whole report as one HTML string."""
    from waifang.scenarios.report import compliance_statement

    scenario = results.scenario
    means, differences = _key_tables(results)
    blocked = results.blocked_by_rule.pivot_table(
        index="policy", columns="rule", values="blocked", sort=False
    ).loc[list(results.policies)]
    blocked = blocked.loc[:, (blocked > 0).any()].reset_index()
    blocked.columns.name = None
    departures = (
        "".join(
            f"<li><b>{html.escape(p)}</b>: {html.escape('; '.join(d))}</li>"
            for p, d in results.departures.items()
            if d
        )
        or "<li>none: every policy runs under the preset's rules</li>"
    )
    charts = "".join(f"<h2>{html.escape(title)}</h2>\n{img}\n" for title, img in _figures(results))
    capacity = capacity_table(results.daily)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>waifang: {html.escape(scenario.name)}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ padding: 2px 8px; text-align: right; border-bottom: 1px solid #ddd; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>Scenario {html.escape(scenario.name)}</h1>
<p>{html.escape(scenario.description)}</p>
<p>Seed {results.seed}, {results.replications} replications, {scenario.days} days,
champion <b>{html.escape(scenario.champion)}</b> (differences are paired by replication,
95 % t-intervals).</p>
<h2>Compliance</h2>
<p>{html.escape(compliance_statement(results))}</p>
<p>Departures from the {html.escape(scenario.compliance.preset)} preset:</p>
<ul>{departures}</ul>
{charts}
<h2>Capacity use by region (per replication; utilisation is the mean share in use a day)</h2>
{_table(capacity) if not capacity.empty else "<p>no capacity columns</p>"}
<h2>Blocked actions by policy and rule (all replications)</h2>
{_table(blocked) if len(blocked.columns) > 1 else "<p>none</p>"}
<h2>Key metrics: mean over replications [95 % CI]</h2>
{_table(means)}
<h2>Paired difference vs {html.escape(scenario.champion)} [95 % CI]</h2>
{_table(differences)}
</body></html>
"""
