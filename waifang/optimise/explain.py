"""One line per candidate that a risk analyst can read: why it was chosen or rejected.

The line puts the candidate's net value (value - cost) against what it uses at its shadow
prices: the budget (cost x budget price), the slot of its (region, option) capacity, and the
field hours it takes. With periods or limits across regions it also cites, by name, its
period's budget (``period 2 budget price ...``), the slot and hours of its (region, option) in
its period (``slot price north/visit in period 2 ...``) and the places of an option shared by
every region (``place price legal (all regions) ...``, a court or an agency). Whatever is left
is the price of segment quotas (``quota prices``). Shadow prices are those of the LP
relaxation (see :mod:`waifang.optimise.result`).
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
    q_all = priced_profit(problem, prices)
    names = problem.coupling.names
    chosen_all = np.zeros(problem.n_candidates, dtype=bool)
    chosen_all[result.chosen] = True
    chosen_of_account = np.full(problem.n_accounts, -1, dtype=np.int64)
    chosen_of_account[problem.account[result.chosen]] = result.chosen
    lam = result.budget_price
    n_opt = len(problem.options)
    keys = _key_table(problem, names, prices, marginals)

    # Everything per row as arrays, in the order of operations of a line (same rounding).
    v, c, h = problem.value[rows], problem.cost[rows], problem.hours[rows]
    q, rc = q_all[rows], result.reduced_costs[rows]
    key = problem.region[rows].astype(np.int64) * n_opt + problem.option[rows]
    charge = c * lam
    slot_on = keys.slot_cited[key]
    charge = np.where(slot_on, charge + keys.slot_price[key], charge)
    hours_on = keys.hours_priced[key] & (h > 0)
    hours_charge = h * keys.hours_price[key]
    charge = np.where(hours_on, charge + hours_charge, charge)
    extra_text, extra_charge = _named_rows(problem, names, prices, marginals, rows)
    extra_on = extra_text != ""
    charge = charge + extra_charge
    net_value = v - c
    other = net_value - charge - q  # quota prices, if any
    tiny = 1e-9 * np.maximum(1.0, np.abs(v))
    quota_on = np.abs(other) > tiny
    charge = np.where(quota_on, charge + other, charge)
    chosen = chosen_all[rows]
    other_row = chosen_of_account[problem.account[rows]]

    # Which sentence each row gets; 0-1 chosen, 2-5 rejected (see the templates below).
    case = np.where(
        chosen,
        np.where(q >= -tiny, 0, 1),
        np.select([other_row >= 0, net_value <= 0, q <= tiny], [2, 3, 4], default=5),
    )
    lines = np.empty(len(rows), dtype=object)
    priced = np.flatnonzero(np.isin(case, (0, 1, 4, 5)))
    net_text = {}
    prices_text = {}
    rc_text = {}
    if len(priced) or np.any(case == 3):
        need = np.flatnonzero(case != 2)
        net_text = dict(
            zip(need.tolist(), _net_texts(v[need], c[need], net_value[need]), strict=True)
        )
    if len(priced):
        prices_text = dict(
            zip(
                priced.tolist(),
                _prices_texts(
                    c[priced],
                    lam,
                    budget_note,
                    keys.slot_text[key[priced]],
                    slot_on[priced],
                    h[priced],
                    hours_on[priced],
                    keys.hours_price[key[priced]],
                    hours_charge[priced],
                    extra_text[priced],
                    extra_on[priced],
                    quota_on[priced],
                    other[priced],
                    charge[priced],
                ),
                strict=True,
            )
        )
    with_rc = np.flatnonzero(case != 3)
    rc_text = dict(zip(with_rc.tolist(), _money_list(rc[with_rc]), strict=True))
    for i in np.flatnonzero(case == 0).tolist():
        lines[i] = f"chosen: {net_text[i]} exceeds {prices_text[i]} (reduced cost {rc_text[i]})"
    for i in np.flatnonzero(case == 1).tolist():
        lines[i] = (
            f"chosen: {net_text[i]} falls short of {prices_text[i]}, but fits the budget and "
            f"capacity left after rounding the LP plan (reduced cost {rc_text[i]})"
        )
    taken = np.flatnonzero(case == 2)
    if len(taken):
        alt = other_row[taken]
        alt_name = np.asarray(problem.options, dtype=object)[problem.option[alt]]
        for i, name, alt_q, own_q in zip(
            taken.tolist(),
            alt_name.tolist(),
            _money_list(q_all[alt]),
            _money_list(q[taken]),
            strict=True,
        ):
            lines[i] = (
                f"rejected: the account takes {name} instead (net after prices {alt_q} vs "
                f"{own_q}) (reduced cost {rc_text[i]})"
            )
    for i in np.flatnonzero(case == 3).tolist():
        lines[i] = f"rejected: {net_text[i]} is not positive"
    for i in np.flatnonzero(case == 4).tolist():
        lines[i] = (
            f"rejected: {net_text[i]} does not cover {prices_text[i]} (reduced cost {rc_text[i]})"
        )
    for i in np.flatnonzero(case == 5).tolist():
        lines[i] = (
            f"rejected: {net_text[i]} covers {prices_text[i]}, but no budget or capacity was "
            f"left after rounding the LP plan (reduced cost {rc_text[i]})"
        )
    return pd.Series(lines, index=rows, name="reason", dtype=object)


def _money_list(x: np.ndarray) -> list[str]:
    """:func:`_money` of every number of ``x``."""
    return [f"{y:,.0f}" if abs(y) >= 100 else f"{y:,.2f}" for y in np.asarray(x).tolist()]


def _net_texts(v, c, net) -> list[str]:
    return [
        f"value {a} - cost {b} = {d}"
        for a, b, d in zip(_money_list(v), _money_list(c), _money_list(net), strict=True)
    ]


def _prices_texts(
    c,
    lam,
    budget_note,
    slot_text,
    slot_on,
    h,
    hours_on,
    eta,
    hours_charge,
    extra_text,
    extra_on,
    quota_on,
    other,
    charge,
) -> list[str]:
    """The "budget price ... + slot price ... + hours ... [+ the period's and all regions'
    rows by name] + quota prices ... = total" part."""
    n = len(c)
    if lam > 0:
        budget = [
            f"the budget price {a} x {_price(lam)} = {b}{budget_note}"
            for a, b in zip(_money_list(c), _money_list(c * lam), strict=True)
        ]
    else:
        budget = [f"the budget price 0 (budget not binding){budget_note}"] * n
    slot = np.where(slot_on, slot_text, "").tolist()
    hours = [""] * n
    on = np.flatnonzero(hours_on)
    for i, hh, e, m in zip(
        on.tolist(), h[on].tolist(), eta[on].tolist(), _money_list(hours_charge[on]), strict=True
    ):
        hours[i] = f" + hours {hh:g} x {_price(e)} = {m}"
    quota = [""] * n
    on = np.flatnonzero(quota_on)
    for i, m in zip(on.tolist(), _money_list(-other[on]), strict=True):
        quota[i] = f" + quota prices {m}"
    several = slot_on | hours_on | extra_on | quota_on
    total = [""] * n
    on = np.flatnonzero(several)
    for i, m in zip(on.tolist(), _money_list(charge[on]), strict=True):
        total[i] = f" = {m}"
    return [
        a + b + d + x + e + f
        for a, b, d, x, e, f in zip(budget, slot, hours, extra_text.tolist(), quota, total,
                                    strict=True)
    ]


class _Keys:
    """Per (region, option) key: the slot price cited, its text, and the hours price."""

    def __init__(self, n_keys: int):
        self.slot_cited = np.zeros(n_keys, dtype=bool)
        self.slot_price = np.zeros(n_keys)
        self.slot_text = np.full(n_keys, "", dtype=object)
        self.hours_priced = np.zeros(n_keys, dtype=bool)
        self.hours_price = np.zeros(n_keys)


def _key_table(problem: Problem, names, prices, marginals) -> _Keys:
    n_opt = len(problem.options)
    keys = _Keys(len(problem.regions) * n_opt)
    for (r, o), k in _row_lookup(problem, names, ".count").items():
        # A slot is cited when the LP prices it, or when re-solving found it worth more
        # than nothing (at a degenerate integer limit the LP price can be 0 while it is not).
        worth = names[k] in marginals and marginals[names[k]].value
        if prices[k] > 0 or worth:
            where = f"{problem.regions[r]}/{problem.options[o]}"
            keys.slot_cited[r * n_opt + o] = True
            keys.slot_price[r * n_opt + o] = prices[k]
            keys.slot_text[r * n_opt + o] = (
                f" + slot price {where} {_money(prices[k])}{_slot_note(marginals, names[k])}"
            )
    for (r, o), k in _row_lookup(problem, names, ".hours").items():
        if prices[k] > 0:
            keys.hours_priced[r * n_opt + o] = True
            keys.hours_price[r * n_opt + o] = prices[k]
    return keys


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


def _named_rows(problem: Problem, names, prices, marginals, rows: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``rows``: the text and the charge of the priced coupling rows it uses that
    the budget, slot and hours parts do not cite, each by name, in coupling-row order:
    a period's budget, a (region, option) limit of one period, and a limit of an option
    across every region (court or agency places). Quota rows are left to the remainder."""
    text = np.full(len(rows), "", dtype=object)
    charge = np.zeros(len(rows))
    keys = problem.coupling.capacity_keys
    kinds = problem.coupling.kinds
    cited = []
    for k, kind in enumerate(kinds):
        key = keys[k] if k < len(keys) else None
        if kind == "period_budget" or (key is not None and (key[0] < 0 or key[2] >= 0)):
            worth = kind == "count" and names[k] in marginals and marginals[names[k]].value
            if prices[k] > 0 or worth:
                cited.append(k)
    if not cited or len(rows) == 0:
        return text, charge
    # The candidates' column of each cited row (CSR: one slice of columns per cited row).
    block = problem.coupling.A[cited][:, rows].tocsr()
    for i, k in enumerate(cited):
        at = slice(block.indptr[i], block.indptr[i + 1])
        cols, coef = block.indices[at], block.data[at]
        if cols.size == 0:
            continue
        amount = coef * prices[k]
        charge[cols] += amount
        text[cols] = text[cols] + np.asarray(
            _named_parts(problem, names[k], kinds[k], keys[k], prices[k], coef, amount,
                         marginals), dtype=object)
    return text, charge


def _named_parts(problem: Problem, name: str, kind: str, key, price: float, coef, amount,
                 marginals) -> list[str]:
    """The text of one named coupling row for each candidate using it (``coef``: its
    coefficient there, ``amount``: coefficient x price)."""
    if kind == "period_budget":
        period = name[len("budget[") : -1]
        return [f" + period {period} budget price {c} x {_price(price)} = {m}"
                for c, m in zip(_money_list(coef), _money_list(amount), strict=True)]
    r, o, p = key
    option = problem.options[o]
    where = f"{option} (all regions)" if r < 0 else f"{problem.regions[r]}/{option}"
    when = f" in period {p}" if p >= 0 else ""
    if kind == "count":
        what = "place price" if r < 0 else "slot price"
        return [f" + {what} {where}{when} {_money(price)}{_slot_note(marginals, name)}"
                ] * len(coef)
    return [f" + hours {h:g} x {_price(price)} = {m} ({where}{when})"
            for h, m in zip(np.asarray(coef).tolist(), _money_list(amount), strict=True)]


def _row_lookup(problem: Problem, names, suffix: str) -> dict[tuple[int, int], int]:
    """(region code, option code) -> coupling row index for capacity rows ending in suffix.

    Only rows of one region over every period; a row of one period, or of every region (a
    court or agency), is cited by :func:`_named_rows`."""
    keys = problem.coupling.capacity_keys
    out = {}
    for k, name in enumerate(names):
        key = keys[k] if k < len(keys) else None
        if key is not None and name.endswith(suffix) and key[0] >= 0 and key[2] == -1:
            out[(key[0], key[1])] = k
    return out
