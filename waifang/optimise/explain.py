"""One line per candidate that a risk analyst can read: why it was chosen or rejected.

The line puts the candidate's net value (value - cost) against what it uses at its shadow
prices: the budget (cost x budget price), the slot of its (region, option) capacity, and the
field hours it takes. Shadow prices are those of the LP relaxation (see
:mod:`waifang.optimise.result`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from waifang.optimise.marginal import Marginal
from waifang.optimise.problem import Problem
from waifang.optimise.result import Result, priced_profit


def _money(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def _price(x: float) -> str:
    return f"{x:.3g}"


def explain(
    problem: Problem,
    result: Result,
    rows: np.ndarray | None = None,
    marginals: dict[str, Marginal] | None = None,
) -> pd.Series:
    """Reason lines for the candidate ``rows`` (default: all), indexed by row.

    Example: ``"chosen: value 1,840 - cost 420 = 1,420 exceeds the budget price 420 x 2.1
    = 882 + slot price north/visit 120 = 1,002 (reduced cost 0)"``.

    With ``marginals`` (from :func:`~waifang.optimise.marginal.marginal_values`) each budget
    and slot price cited is followed by what re-solving found one more unit worth, e.g.
    ``slot price north/visit 120 [re-solved: one more slot adds 95]``: the LP price explains
    the decision, the re-solved value is what a manager buying capacity would get.
    """
    marginals = marginals or {}
    budget_note = ""
    if "budget" in marginals and np.isfinite(marginals["budget"].per_unit):
        m = marginals["budget"]
        budget_note = (
            f" [re-solved: 1 % more budget adds {_money(m.value)}, {_price(m.per_unit)} per unit]"
        )
    rows = np.arange(problem.n_candidates) if rows is None else np.asarray(rows, dtype=np.int64)
    prices = result.shadow_prices
    q = priced_profit(problem, prices)
    names = problem.coupling.names
    slot = _row_lookup(problem, names, ".count")
    hours = _row_lookup(problem, names, ".hours")
    period_budget = {p: 1 + i for i, (p, _) in enumerate(problem.period_budgets)}
    chosen = np.zeros(problem.n_candidates, dtype=bool)
    chosen[result.chosen] = True
    chosen_of_account = np.full(problem.n_accounts, -1, dtype=np.int64)
    chosen_of_account[problem.account[result.chosen]] = result.chosen
    lam = result.budget_price
    lines = []
    for j in rows.tolist():
        v, c = problem.value[j], problem.cost[j]
        r, o, per = int(problem.region[j]), int(problem.option[j]), int(problem.period[j])
        if lam > 0:
            parts = [f"the budget price {_money(c)} x {_price(lam)} = {_money(c * lam)}"]
        else:
            parts = ["the budget price 0 (budget not binding)"]
        parts[0] += budget_note
        charge = c * lam
        # A slot is cited when the LP prices it, or when re-solving found it worth more
        # than nothing (at a degenerate integer limit the LP price can be 0 while it is not).
        if per in period_budget and prices[period_budget[per]] > 0:
            mu = prices[period_budget[per]]
            parts.append(f"period {per}'s budget price {_money(c)} x {_price(mu)} = "
                         f"{_money(c * mu)}")
            charge += c * mu
        for k in _capacity_rows(slot, r, o, per):
            note = _slot_note(marginals, names[k])
            worth = names[k] in marginals and marginals[names[k]].value
            if prices[k] > 0 or worth:
                mu = prices[k]
                parts.append(f"slot price {names[k][len('capacity['):-len('].count')]} "
                             f"{_money(mu)}{note}")
                charge += mu
        for k in _capacity_rows(hours, r, o, per):
            if prices[k] > 0 and problem.hours[j] > 0:
                eta = prices[k]
                h = problem.hours[j]
                parts.append(f"hours {h:g} x {_price(eta)} = {_money(h * eta)}")
                charge += h * eta
        other = (v - c) - charge - q[j]  # quota prices, if any
        if abs(other) > 1e-9 * max(1.0, abs(v)):
            parts.append(f"quota prices {_money(-other)}")
            charge += other
        net = f"value {_money(v)} - cost {_money(c)} = {_money(v - c)}"
        prices_text = " + ".join(parts)
        if len(parts) > 1:
            prices_text += f" = {_money(charge)}"
        rc = f"(reduced cost {_money(result.reduced_costs[j])})"
        if chosen[j]:
            if q[j] >= -1e-9 * max(1.0, abs(v)):
                lines.append(f"chosen: {net} exceeds {prices_text} {rc}")
            else:
                lines.append(
                    f"chosen: {net} falls short of {prices_text}, but fits the budget and "
                    f"capacity left after rounding the LP plan {rc}"
                )
            continue
        other_row = chosen_of_account[problem.account[j]]
        if other_row >= 0:
            lines.append(
                f"rejected: the account takes {problem.options[problem.option[other_row]]} "
                f"instead (net after prices {_money(q[other_row])} vs {_money(q[j])}) {rc}"
            )
        elif v - c <= 0:
            lines.append(f"rejected: {net} is not positive")
        elif q[j] <= 1e-9 * max(1.0, abs(v)):
            lines.append(f"rejected: {net} does not cover {prices_text} {rc}")
        else:
            lines.append(
                f"rejected: {net} covers {prices_text}, but no budget or capacity was left "
                f"after rounding the LP plan {rc}"
            )
    return pd.Series(lines, index=rows, name="reason")


def _slot_note(marginals: dict[str, Marginal], row: str) -> str:
    if row not in marginals:
        return ""
    return f" [re-solved: one more slot adds {_money(marginals[row].value)}]"


def reasons_frame(
    problem: Problem, result: Result, marginals: dict[str, Marginal] | None = None
) -> pd.DataFrame:
    """Every candidate with its decision, reduced cost and reason (the ``--reasons`` file)."""
    rows = np.arange(problem.n_candidates)
    chosen = np.zeros(problem.n_candidates, dtype=bool)
    chosen[result.chosen] = True
    return pd.DataFrame(
        {
            "account_id": problem.account_ids[problem.account],
            "option": np.asarray(problem.options, dtype=object)[problem.option],
            "region": np.asarray(problem.regions, dtype=object)[problem.region],
            "period": problem.period,
            "value": problem.value,
            "cost": problem.cost,
            "chosen": chosen,
            "reduced_cost": result.reduced_costs,
            "reason": explain(problem, result, rows, marginals).to_numpy(),
        }
    )


def _row_lookup(problem: Problem, names, suffix: str) -> dict[tuple[int, int, int], int]:
    """(region code, option code, period or -1 for every period) -> coupling row index for
    capacity rows ending in suffix."""
    keys = problem.coupling.capacity_keys
    return {keys[k]: k for k, name in enumerate(names) if keys[k] and name.endswith(suffix)}


def _capacity_rows(lookup: dict, region: int, option: int, period: int) -> list[int]:
    """The rows of ``lookup`` that hold a candidate: its period's and the whole horizon's."""
    keys = ((region, option, period), (region, option, -1), (-1, option, period),
            (-1, option, -1))
    return [lookup[k] for k in keys if k in lookup]
