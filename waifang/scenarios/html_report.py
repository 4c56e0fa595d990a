"""A one-file HTML report of a scenario run: a headline, charts as embedded PNGs, tables.

It opens with the answer: which policy is best on ``net_value`` and on ``net_npv``, by how
much against the champion and how sure (the paired 95 % interval). The charts
(:mod:`waifang.scenarios.report_charts`) follow, then compliance and the tables, laid out
with metrics as rows and policies as columns so that they fit the page.
"""

from __future__ import annotations

import base64
import html

import numpy as np
import pandas as pd

from waifang.scenarios.capacity import capacity_table
from waifang.scenarios.runner import ScenarioResults

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


MONEY_MODEL = (
    "net_npv is collections minus costs, each discounted to day 0 from the day it happened "
    "(cost_npv); net_value adds the balances left at the horizon (terminal_value, discounted "
    "from the horizon) and counts costs at face (cost_total).",
    "Arrears are state, kept as days past due: 30 days per unpaid instalment. A payment or a "
    "court judgement that pays all the arrears cures the account; one that pays less brings "
    "it back 30 days per whole instalment paid.",
    "Simplification: a cured account owes nothing overdue and stays current until it misses "
    "a payment again; the instalments that fall due while it is current are not collected in "
    "the run. Its balance stays outstanding and counts in terminal_value at "
    "current_balance_value of its face.",
)
"""How the report's money is counted, stated on the page (README: the model in brief)."""


def _table(frame: pd.DataFrame) -> str:
    # A cell that does not apply (a court has no called-off visits) shows a dash, not NaN.
    return frame.to_html(index=False, float_format=lambda v: f"{v:,.4g}", border=0, na_rep="—")


def _number(value: float) -> str:
    if value == 0:
        return "0"  # never "-0"
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
    """The key metrics' means and paired differences: one row per metric, a column per
    policy (narrow enough for the page however many metrics the engine reports)."""
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
    tables = []
    for rows in (means, differences):
        table = pd.DataFrame(rows).set_index("policy").T.rename_axis("metric").reset_index()
        table.columns.name = None
        tables.append(table)
    return tables[0], tables[1]


def headline(results: ScenarioResults) -> list[str]:
    """One sentence per money metric (net_value, net_npv): the best policy, its lead over the
    champion (or the champion's over the runner-up) and the paired 95 % interval."""
    comparison = results.comparison.set_index(["policy", "metric"])
    champion = results.scenario.champion
    lines = []
    for metric in ("net_value", "net_npv"):
        if (champion, metric) not in comparison.index:
            continue
        means = {p: float(comparison.loc[(p, metric), "mean"]) for p in results.policies}
        best = max(means, key=means.get)
        if best == champion:
            others = [p for p in results.policies if p != champion]
            if not others:
                lines.append(f"On {metric}, {champion} is the only policy.")
                continue
            runner_up = max(others, key=means.get)
            row = comparison.loc[(runner_up, metric)]
            if row["diff_ci_low"] == 0 and row["diff_ci_high"] == 0:
                lines.append(
                    f"On <b>{metric}</b> the champion <b>{html.escape(champion)}</b> is best "
                    f"({_number(means[champion])} per replication); the next best, "
                    f"{html.escape(runner_up)}, gives exactly the champion's figure on every "
                    "replication."
                )
                continue
            lines.append(
                f"On <b>{metric}</b> the champion <b>{html.escape(champion)}</b> is best "
                f"({_number(means[champion])} per replication); the next best, "
                f"{html.escape(runner_up)}, is {_number(-row['diff_vs_champion'])} lower "
                f"{_sureness(row, flip=True)}."
            )
        else:
            row = comparison.loc[(best, metric)]
            lines.append(
                f"On <b>{metric}</b> <b>{html.escape(best)}</b> is best "
                f"({_number(means[best])} per replication): {_number(row['diff_vs_champion'])}"
                f" more than the champion {html.escape(champion)} {_sureness(row)}."
            )
    return lines


def _sureness(row, flip: bool = False) -> str:
    """``(paired 95 % CI [a, b]; significant)`` for a comparison row."""
    low, high = float(row["diff_ci_low"]), float(row["diff_ci_high"])
    if not np.isfinite(low):
        return "(one replication: no interval; run more before deciding)"
    if flip:
        low, high = -high, -low
    sure = low > 0 or high < 0
    verdict = (
        "significant at 95 %" if sure else "not significant at 95 %: the interval includes 0"
    )
    return f"(paired 95 % CI [{_number(low)}, {_number(high)}]; {verdict})"


def _plan_bias_section(results: ScenarioResults) -> str:
    """Predicted against realised for every optimised policy whose plans were measured."""
    from waifang.scenarios.plan_bias import plan_bias

    table = plan_bias(results.summary)
    if table.empty:
        return ""
    rows = pd.DataFrame({
        "policy": table["policy"],
        "replications": table["replications"],
        "predicted": [_number(v) if np.isfinite(v) else "—" for v in table["predicted"]],
        "realised": [_number(v) for v in table["realised"]],
        "realised - predicted [95 % CI]": [
            _bias_cell(m, lo, hi, s) for m, lo, hi, s in zip(
                table["bias"], table["bias_low"], table["bias_high"], table["bias_share"],
                strict=True)],
        "uncorrected predicted": [_number(v) if np.isfinite(v) else "—"
                                  for v in table["predicted_raw"]],
        "realised - uncorrected [95 % CI]": [
            _bias_cell(m, lo, hi, s) for m, lo, hi, s in zip(
                table["bias_raw"], table["bias_raw_low"], table["bias_raw_high"],
                table["bias_raw_share"], strict=True)],
    })
    return ("<h2>Plans: predicted against realised net value (re-simulated sample of the "
            "measured plans, scaled to those plans; mean over replications [95 % CI])</h2>\n"
            "<p>A negative difference means the plans expected more than they realised. "
            "'Uncorrected' is the same accounts valued without the policy's "
            "<code>value_correction</code>. A policy without values (a random selection) "
            "predicts nothing: only what its plans realised is shown.</p>\n" + _table(rows))


def _bias_cell(mean: float, low: float, high: float, share: float) -> str:
    """Realised - predicted with its interval and its share of the prediction (one decimal:
    a plan 0.4 % off is not '-0 %'); a dash where nothing was predicted."""
    if not np.isfinite(mean):
        return "—"
    return _cell(mean, low, high) + (f" ({share:+.1%})" if np.isfinite(share) else "")


def render_html(
    results: ScenarioResults, charts: list[tuple[str, str, bytes]] | None = None
) -> str:
    """The whole report as one HTML string (``charts`` as from
    :func:`~waifang.scenarios.report_charts.charts`; drawn here when not given)."""
    from waifang.scenarios.cover_report import contract_table, spread_table
    from waifang.scenarios.report import compliance_statement
    from waifang.scenarios.report_charts import charts as draw

    scenario = results.scenario
    means, differences = _key_tables(results)
    blocked = results.blocked_by_rule.pivot_table(
        index="rule", columns="policy", values="blocked", sort=False
    )
    blocked = blocked.loc[(blocked > 0).any(axis=1), list(results.policies)].reset_index()
    blocked.columns.name = None
    departures = (
        "".join(
            f"<li><b>{html.escape(p)}</b>: {html.escape('; '.join(d))}</li>"
            for p, d in results.departures.items()
            if d
        )
        or "<li>none: every policy runs under the preset's rules</li>"
    )
    capacity = capacity_table(results.daily)
    figures = draw(results) if charts is None else charts
    images = "".join(
        f"<h2>{html.escape(title)}</h2>\n<img alt=\"{html.escape(title)}\" "
        f"src=\"data:image/png;base64,{base64.b64encode(data).decode('ascii')}\">\n"
        for _, title, data in figures
    )
    answer = "".join(f"<li>{line}</li>" for line in headline(results))
    money_model = "".join(f"<li>{html.escape(line)}</li>" for line in MONEY_MODEL)
    spread = spread_table(results)
    contracts = contract_table(results.summary)
    cover = (
        "<h2>Risk transfer by contract (mean per replication)</h2>\n<p>loss_ratio: the "
        "provider's claims less the recoveries passed to it, over its premiums; lender_net: "
        "claims - premiums - recoveries passed (undiscounted); net_value_without_cover: the "
        "same run with the contract lines left out.</p>\n" + _table(contracts)
        if len(contracts) else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>waifang: {html.escape(scenario.name)}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 1.5em auto; padding: 0 1em;
       color: #222; }}
.headline {{ background: #f3f6fb; border-left: 4px solid #4472c4; padding: 0.6em 1em; }}
.headline li {{ margin: 0.3em 0; }}
table {{ border-collapse: collapse; font-size: 0.8em; width: 100%; table-layout: fixed; }}
td, th {{ padding: 2px 6px; text-align: right; border-bottom: 1px solid #ddd;
          overflow-wrap: anywhere; }}
th:first-child, td:first-child {{ text-align: left; }}
img {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>Scenario {html.escape(scenario.name)}</h1>
<div class="headline"><ul>{answer}</ul></div>
<p>{html.escape(scenario.description)}</p>
<p>Seed {results.seed}, {results.replications} replications, {scenario.days} days,
champion <b>{html.escape(scenario.champion)}</b> (differences are paired by replication,
95 % t-intervals).</p>
<h2>Compliance</h2>
<p>{html.escape(compliance_statement(results))}</p>
<p>Departures from the {html.escape(scenario.compliance.preset)} preset:</p>
<ul>{departures}</ul>
{images}
<h2>Key metrics: mean over replications [95 % CI]</h2>
{_table(means)}
<h2>Paired difference vs {html.escape(scenario.champion)} [95 % CI]</h2>
{_table(differences)}
{_plan_bias_section(results)}
<h2>Spread over replications: mean, standard deviation, 5th percentile</h2>
{_table(spread)}
{cover}
<h2>How the money is counted</h2>
<ul>{money_model}</ul>
<h2>Capacity use by region (per replication; utilisation: mean share in use a day;
called off: visits the team travelled to and called off on arrival, the travel paid;
cancelled: queued visits the lender cancelled before a team left, the account back under the
minimum dpd after a part payment, nothing paid;
left queue: court and agency requests refused when their turn came or no longer pursued)</h2>
{_table(capacity) if not capacity.empty else "<p>no capacity columns</p>"}
<h2>Blocked actions by rule and policy (all replications)</h2>
{_table(blocked) if len(blocked) else "<p>none</p>"}
</body></html>
"""
