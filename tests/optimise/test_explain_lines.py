"""The reason lines, built column-wise for millions of rows, say word for word what a line
built one candidate at a time says (issue 10 item 6: the reasons took ~14 us a line).

The reference below is the per-candidate loop the optimiser used before: an independent
implementation of the same sentences, kept here only as the yardstick.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from optimise_cases import period_frame, random_capacities, random_frame

from waifang.optimise.explain import explain
from waifang.optimise.marginal import marginal_values
from waifang.optimise.problem import Capacity, Quota, make_problem
from waifang.optimise.result import priced_profit
from waifang.optimise.solve import solve


def _money(x):
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def _price(x):
    return f"{x:.3g}"


def _named_row(name):
    """A coupling row the reason cites by name, read from its name alone: ("budget", period)
    or ("count" | "hours", region or None for every region, option, period or None); None
    for the budget, quota rows and the rows of one region over every period."""
    if name.startswith("budget["):
        return ("budget", int(name[len("budget[") : -1]))
    if not name.startswith("capacity["):
        return None
    parts = name[len("capacity[") : name.index("]")].split("/")
    region, option, period = parts[0], parts[1], (int(parts[2]) if len(parts) > 2 else None)
    if region != "*" and period is None:
        return None
    return (name.rsplit(".", 1)[1], None if region == "*" else region, option, period)


def _named_parts_of(problem, j, names, prices, marginals):
    """The named parts of row ``j``'s price text and their charge, one candidate at a time."""
    parts, charge = [], 0.0
    region = problem.regions[problem.region[j]]
    option = problem.options[problem.option[j]]
    period = int(problem.period[j])
    for k, name in enumerate(names):
        row = _named_row(name)
        if row is None:
            continue
        if row[0] == "budget":
            if row[1] != period or not prices[k] > 0:
                continue
            c = float(problem.cost[j])
            parts.append(f"period {period} budget price {_money(c)} x {_price(prices[k])} = "
                         f"{_money(c * prices[k])}")
            charge += c * prices[k]
            continue
        kind, r, o, p = row
        if o != option or (r is not None and r != region) or (p is not None and p != period):
            continue
        where = f"{o} (all regions)" if r is None else f"{r}/{o}"
        when = "" if p is None else f" in period {p}"
        if kind == "count":
            if not (prices[k] > 0 or (name in marginals and marginals[name].value)):
                continue
            note = (f" [re-solved: one more slot adds {_money(marginals[name].value)}]"
                    if name in marginals else "")
            what = "place price" if r is None else "slot price"
            parts.append(f"{what} {where}{when} {_money(prices[k])}{note}")
            charge += prices[k]
        else:
            h = float(problem.hours[j])
            if not prices[k] > 0 or h == 0:
                continue
            parts.append(f"hours {h:g} x {_price(prices[k])} = {_money(h * prices[k])} "
                         f"({where}{when})")
            charge += h * prices[k]
    return parts, charge


def reference_lines(problem, result, rows, marginals):
    """One line per row, one row at a time."""
    names = problem.coupling.names
    slot, hours = {}, {}
    for k, name in enumerate(names):
        if name.startswith("capacity[") and _named_row(name) is None:
            region, option = name[len("capacity[") : name.index("]")].split("/", 1)
            key = (problem.regions.index(region), problem.options.index(option))
            (slot if name.endswith(".count") else hours)[key] = k
    prices = result.shadow_prices
    q = priced_profit(problem, prices)
    lam = result.budget_price
    budget_note = ""
    if "budget" in marginals and np.isfinite(marginals["budget"].per_unit):
        m = marginals["budget"]
        budget_note = (
            f" [re-solved: 1 % more budget adds {_money(m.value)}, {_price(m.per_unit)} per unit]"
        )
    chosen = set(result.chosen.tolist())
    taken = {int(problem.account[j]): j for j in result.chosen.tolist()}
    lines = []
    for j in rows:
        v, c = float(problem.value[j]), float(problem.cost[j])
        key = (int(problem.region[j]), int(problem.option[j]))
        where = f"{problem.regions[key[0]]}/{problem.options[key[1]]}"
        parts = [
            f"the budget price {_money(c)} x {_price(lam)} = {_money(c * lam)}"
            if lam > 0
            else "the budget price 0 (budget not binding)"
        ]
        parts[0] += budget_note
        charge = c * lam
        if key in slot:
            row = names[slot[key]]
            mu = prices[slot[key]]
            if mu > 0 or (row in marginals and marginals[row].value):
                note = (
                    f" [re-solved: one more slot adds {_money(marginals[row].value)}]"
                    if row in marginals
                    else ""
                )
                parts.append(f"slot price {where} {_money(mu)}{note}")
                charge += mu
        h = float(problem.hours[j])
        if key in hours and prices[hours[key]] > 0 and h > 0:
            eta = prices[hours[key]]
            parts.append(f"hours {h:g} x {_price(eta)} = {_money(h * eta)}")
            charge += h * eta
        named, named_charge = _named_parts_of(problem, j, names, prices, marginals)
        parts += named
        charge += named_charge
        other = (v - c) - charge - q[j]
        if abs(other) > 1e-9 * max(1.0, abs(v)):
            parts.append(f"quota prices {_money(-other)}")
            charge += other
        net = f"value {_money(v)} - cost {_money(c)} = {_money(v - c)}"
        text = " + ".join(parts) + (f" = {_money(charge)}" if len(parts) > 1 else "")
        rc = f"(reduced cost {_money(result.reduced_costs[j])})"
        small = 1e-9 * max(1.0, abs(v))
        if j in chosen:
            if q[j] >= -small:
                lines.append(f"chosen: {net} exceeds {text} {rc}")
            else:
                lines.append(
                    f"chosen: {net} falls short of {text}, but fits the budget and capacity "
                    f"left after rounding the LP plan {rc}"
                )
        elif int(problem.account[j]) in taken:
            alt = taken[int(problem.account[j])]
            lines.append(
                f"rejected: the account takes {problem.options[problem.option[alt]]} instead "
                f"(net after prices {_money(q[alt])} vs {_money(q[j])}) {rc}"
            )
        elif v - c <= 0:
            lines.append(f"rejected: {net} is not positive")
        elif q[j] <= small:
            lines.append(f"rejected: {net} does not cover {text} {rc}")
        else:
            lines.append(
                f"rejected: {net} covers {text}, but no budget or capacity was left after "
                f"rounding the LP plan {rc}"
            )
    return lines


def _case(seed, *, budget_share=0.4, segments=False, quotas=False, n_accounts=60):
    rng = np.random.default_rng(seed)
    frame = random_frame(rng, n_accounts, 3, 3, hours=True, segments=segments)
    # Large balances too, so thousands separators and whole-unit rounding are exercised.
    frame.loc[frame.index % 7 == 0, "value"] *= 250
    frame.loc[frame.index % 5 == 0, "hours"] = 0.0  # rows that take no field hours
    caps = random_capacities(rng, frame, p_limit=0.9)
    budget = float(np.round(budget_share * frame["cost"].sum() / 3, 1))
    q = [Quota("s0", "opt0", max_share=0.4), Quota("s1", "opt1", min_count=2)] if quotas else []
    return make_problem(frame, caps, budget, quotas=q)


def _period_case(seed, n_accounts=40, n_periods=3):
    """Weeks with their own budgets and (region, option) limits, limits over the whole
    horizon, and an option whose places are shared by every region (as a court's)."""
    rng = np.random.default_rng(seed)
    frame = period_frame(rng, n_accounts, n_periods, hourless=("legal",))
    caps = [Capacity(r, "visit", limit=float(rng.integers(1, 5)),
                     hours_limit=float(np.round(rng.uniform(2, 8), 1)), period=p)
            for r in ("r0", "r1") for p in range(n_periods)]
    caps += [Capacity("r0", "visit", limit=6.0), Capacity(None, "legal", limit=3.0),
             Capacity(None, "legal", limit=1.0, period=1)]
    budgets = {p: float(np.round(rng.uniform(100, 300), 1)) for p in range(n_periods)}
    return make_problem(frame, caps, float(sum(budgets.values())) * 0.8,
                        period_budgets=budgets)


CASES = {
    "budget and capacities bind": dict(seed=1),
    "budget not binding": dict(seed=2, budget_share=50.0),
    "quotas priced": dict(seed=3, segments=True, quotas=True),
    "tight budget": dict(seed=4, budget_share=0.1),
}
PERIOD_CASES = (7, 8, 9)


@pytest.mark.parametrize("name", list(CASES))
def test_every_line_matches_the_one_at_a_time_reference(name):
    problem = _case(**CASES[name])
    result = solve(problem, backend="pulp", gap=1e-9)
    rows = np.arange(problem.n_candidates)
    lines = explain(problem, result)
    assert lines.index.tolist() == rows.tolist()
    expected = reference_lines(problem, result, rows, {})
    assert lines.tolist() == expected


@pytest.mark.parametrize("seed", PERIOD_CASES)
def test_period_and_all_region_rows_are_cited_by_name(seed):
    """Rows of one period and rows shared by every region are cited by name, word for word
    as the one-at-a-time reference says, and nothing is left to "quota prices" (there are
    no quotas): the named parts add up to the row's whole charge (net - reduced profit)."""
    problem = _period_case(seed)
    result = solve(problem, backend="pulp", gap=1e-9)
    rows = np.arange(problem.n_candidates)
    lines = explain(problem, result).tolist()
    assert lines == reference_lines(problem, result, rows, {})
    assert not any("quota prices" in line for line in lines)


def test_period_cases_cite_every_kind_of_named_row():
    seen = []
    for seed in PERIOD_CASES:
        problem = _period_case(seed)
        result = solve(problem, backend="pulp", gap=1e-9)
        seen += explain(problem, result).tolist()
    text = "\n".join(seen)
    for words in (" budget price ", "slot price r0/visit in period", "place price legal "
                  "(all regions) ", "(r1/visit in period", "slot price r0/visit "):
        assert words in text, words


def test_all_six_sentences_and_every_price_part_are_compared():
    """Over the cases, every kind of sentence and every part of the price text occurs."""
    seen = []
    for kw in CASES.values():
        problem = _case(**kw)
        result = solve(problem, backend="pulp", gap=1e-9)
        seen += reference_lines(problem, result, range(problem.n_candidates), {})
    text = "\n".join(seen)
    for words in (
        " exceeds ",
        "the account takes",
        "is not positive",
        "does not cover",
        "slot price",
        " + hours ",
        "quota prices",
        "budget not binding",
    ):
        assert words in text, words


def test_a_subset_of_rows_in_any_order_and_marginals_cited():
    problem = _case(5, n_accounts=25)
    result = solve(problem, backend="pulp", gap=1e-9)
    found = marginal_values(problem, result, backend="pulp", gap=1e-9)
    assert found  # at least the budget
    rows = np.r_[result.chosen[::-1], np.arange(0, problem.n_candidates, 3)]
    lines = explain(problem, result, rows, found)
    assert lines.index.tolist() == rows.tolist()
    assert lines.tolist() == reference_lines(problem, result, rows.tolist(), found)
    assert any("[re-solved:" in line for line in lines)


def test_no_rows_gives_an_empty_series():
    problem = _case(6, n_accounts=10)
    result = solve(problem, backend="pulp", gap=1e-9)
    lines = explain(problem, result, np.zeros(0, dtype=np.int64))
    assert isinstance(lines, pd.Series) and len(lines) == 0
