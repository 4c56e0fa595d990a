"""The optimised policy: every planning period, choose whom to visit by LP/MIP, live.

:class:`OptimisedPolicy` implements the simulator's policy interface, ``policy(view, day) ->
requests``. It runs a base ladder for everything else and, on the first day of every planning
period, builds the visit candidates from what the lender sees:

1. every delinquent account the rules would let a visit be asked for today
   (:func:`waifang.sim.eligible.visit_allowed`, the engine's own check);
2. its value and standard error from a :class:`~waifang.optimise.values.ValueModel` fitted on
   simulated counterfactuals, its cost (the region's visit cost) and its hours (the region's
   mean travel plus visit time);
3. the period's budget and each region's team hours (teams x days x allowed hours, less the
   hours of visits still queued);

solves with :func:`waifang.optimise.solve` (or, with ``selection = "random"``, takes eligible
accounts in random order until the budget or the hours run out) and asks for the chosen
visits, which the simulated field teams then make. Every plan is kept (:class:`Plan`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from waifang.optimise.horizon import later_candidates, top_per_region_period
from waifang.optimise.options import (
    ESCALATIONS,
    escalation_candidates,
    escalation_capacities,
    free_places,
    top_visits,
)
from waifang.optimise.problem import Capacity, make_problem
from waifang.optimise.solve import solve
from waifang.optimise.values import (
    PayHazard,
    Valuation,
    ValueModel,
    candidate_frame,
    valued,
)

# The spec of the ``optimiser`` table lives with the scenario files: every scenario (and so
# every worker process) needs it, and importing it from here would import pandas, scipy and
# HiGHS into each worker. Kept importable from here.
from waifang.scenarios.optimiser_spec import Budget, Day, OptimiserSpec  # noqa: F401
from waifang.sim.eligible import visit_allowed
from waifang.sim.policy import Policy, Request
from waifang.sim.rng import stream
from waifang.sim.rules import ComplianceRules
from waifang.sim.spec import World
from waifang.sim.state import DELINQUENT, LenderView

PLAN_GAP = 5e-3
"""Relative gap one period's plan is solved to. The values it weighs carry standard errors
of ten per cent and more, so a plan within 0.5 % of the best is as good a decision; at 1e-3
the largest plans of a 1 M-account book needed a MIP polish (0.7 s of a 12 s run), at 5e-3
none did."""
HORIZON_GAP = 1e-2
"""Relative gap a plan over several periods is solved to."""


@dataclass(frozen=True)
class Plan:
    """One planning period's choice."""

    day: int
    accounts: np.ndarray
    value: np.ndarray
    value_se: np.ndarray
    cost: np.ndarray
    candidates: int
    status: str
    value_raw: np.ndarray | None = None
    """The uncorrected value of each chosen account (None: no correction asked for)."""
    options: np.ndarray | None = None
    """The option chosen for each of ``accounts`` (None: all visits)."""
    tentative: pd.DataFrame | None = None
    """With a horizon of several periods: every chosen row (``account, region, period,
    value, cost``), the later periods' ones being a reservation the next plan revisits."""

    @property
    def predicted(self) -> float:
        """Predicted net value of the plan: sum of value - cost over the chosen accounts."""
        return float((self.value - self.cost).sum())


def region_costs(world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region: visit cost, mean hours of a visit (travel + visit), collectors per team."""
    regions = world.resources.regions
    return (
        np.array([r.visit_cost for r in regions]),
        np.array([r.travel_hours + r.visit_hours for r in regions]),
        np.array([r.collectors_per_team for r in regions]),
    )


def team_hours(world: World, rules: ComplianceRules, days: int) -> np.ndarray:
    """Per region, the field teams' working hours within the allowed visit hours over
    ``days`` days."""
    out = []
    for r in world.resources.regions:
        start = max(r.start_hour, rules.visit_start_hour)
        end = min(r.end_hour, rules.visit_end_hour)
        out.append(r.teams * days * max(0.0, end - start))
    return np.array(out)


def visit_candidates(
    view: LenderView,
    day: int,
    world: World,
    rules: ComplianceRules,
    model: ValueModel | None,
) -> tuple[np.ndarray, np.ndarray, Valuation]:
    """The accounts the rules allow a visit to be asked for on ``day`` (indices, ascending),
    their regions and their values (NaN without a model)."""
    _, _, collectors = region_costs(world)
    delinquent = np.flatnonzero(view.status == DELINQUENT)
    region = view.region[delinquent]
    ok = visit_allowed(rules, view, delinquent, day, collectors[region])
    idx = delinquent[ok]
    return idx, view.region[idx], valued(model, view, idx, day, world.days)


def candidates(
    view: LenderView,
    day: int,
    world: World,
    rules: ComplianceRules,
    model: ValueModel | None,
    region_names: tuple[str, ...],
) -> pd.DataFrame:
    """The visit candidates of ``day``: one row per account the rules allow a visit for, with
    ``account`` (index), ``account_id, option, region, value, value_se, cost, hours,
    segment``. Without a model, value and value_se are NaN."""
    idx, region, valuation = visit_candidates(view, day, world, rules, model)
    return _visit_frame(view, idx, region, valuation, world, region_names)


def _visit_frame(view: LenderView, idx: np.ndarray, region: np.ndarray,
                 valuation: Valuation, world: World, region_names: tuple[str, ...]
                 ) -> pd.DataFrame:
    cost, hours, _ = region_costs(world)
    return candidate_frame(view, idx, "visit", region_names, region, value=valuation.value,
                           value_raw=valuation.raw, value_se=valuation.value_se,
                           cost=cost[region], hours=hours[region])


class OptimisedPolicy:
    """A base ladder plus visits chosen every planning period (see the module docstring)."""

    def __init__(
        self,
        base: Policy,
        spec: OptimiserSpec,
        world: World,
        rules: ComplianceRules,
        region_names: tuple[str, ...],
        model: ValueModel | None,
        seed: np.random.SeedSequence,
        option_models: dict[str, ValueModel] | None = None,
    ) -> None:
        if spec.selection == "optimal" and model is None and not spec.visits_nobody:
            raise ValueError("an optimal selection needs a value model")
        self.base, self.spec, self.world, self.rules = base, spec, world, rules
        self.region_names = region_names
        self.model = model
        self.option_models = dict(option_models or {})
        missing = [o for o in spec.options if o in ESCALATIONS and o not in self.option_models]
        if spec.selection == "optimal" and missing:
            raise ValueError(f"an optimal selection of {missing[0]!r} needs its value model")
        self.rng = stream(seed, "optimised-policy")
        self.plans: list[Plan] = []

    def __call__(self, view: LenderView, day: int) -> dict[str, Request]:
        requests = dict(self.base(view, day))
        if day % self.spec.period_days == 0:
            plan = self.plan(view, day)
            self.plans.append(plan)
            if plan.options is None:
                if plan.accounts.size:
                    requests["visit"] = plan.accounts
            else:
                for option in self.spec.options:
                    chosen = plan.accounts[plan.options == option]
                    if chosen.size:
                        requests[option] = chosen
        return requests

    def _escalation_rows(self, view: LenderView, day: int) -> pd.DataFrame | None:
        """Legal and agency candidates of ``day`` (None when the plan offers neither)."""
        offered = [o for o in self.spec.options if o in ESCALATIONS]
        if not offered or self.spec.selection != "optimal":
            return None
        return pd.concat([escalation_candidates(view, day, o, self.spec.escalation_min_dpd,
                                                self.world, self.rules, self.option_models[o],
                                                self.region_names) for o in offered],
                         ignore_index=True)

    def plan(self, view: LenderView, day: int) -> Plan:
        spec, world = self.spec, self.world
        idx, region, valuation = visit_candidates(view, day, world, self.rules, self.model)
        days = min(spec.period_days, world.days - day)
        cost, hours, _ = region_costs(world)
        queued = np.bincount(view.region[view.visit_queued], minlength=len(hours))
        hours_left = np.maximum(team_hours(world, self.rules, days) - queued * hours, 0.0)
        n_candidates = idx.size
        budget = spec.budget(day)
        escalations = self._escalation_rows(view, day)

        def frame(rows=slice(None)):
            return _visit_frame(view, idx[rows], region[rows],
                                Valuation(*(a[rows] for a in valuation)), world,
                                self.region_names)

        if spec.horizon_periods > 1 and spec.selection == "optimal":
            return self._plan_horizon(view, day, frame(), hours_left, escalations)
        if escalations is not None:
            return self._plan_options(view, day, frame(), escalations, hours_left, budget)
        if budget <= 0 or n_candidates == 0:
            return _plan(day, frame(slice(0)), n_candidates, "nothing to plan")
        if spec.selection == "random":
            order = self.rng.permutation(n_candidates)
            return _plan(day, _fill(frame().iloc[order], budget, hours_left),
                         n_candidates, "random")
        # Only the candidates worth their cost that an optimal plan could use become rows (a
        # book of 1 M accounts has ~140,000 candidates a week, a plan a few thousand).
        worth = np.flatnonzero(valuation.value > cost[region])
        rows = worth[top_rows(region[worth], valuation.value[worth], cost[region[worth]],
                              hours[region[worth]], hours_left, budget)]
        return self._plan_visits(day, frame(rows), n_candidates, hours_left, budget)

    def _plan_visits(self, day: int, table: pd.DataFrame, n_candidates: int,
                     hours_left: np.ndarray, budget: float) -> Plan:
        """One period's visits chosen from ``table`` (candidates worth their cost, cut as
        :func:`top_per_region` does)."""
        if table.empty:
            return _plan(day, table, n_candidates, "no candidate worth its cost")
        frame = table.assign(account_id=table["account"].astype(str),
                             region=table["region_code"].astype(str))
        caps = [Capacity(str(r), "visit", hours_limit=float(hours_left[r]))
                for r in np.unique(table["region_code"])]
        problem = make_problem(frame[["account_id", "option", "region", "value", "cost",
                                      "hours"]], caps, budget)
        # The sparse-array path to HiGHS: about 15x faster than the pulp model on a plan of a
        # few thousand rows, same optimum (pulp builds a Python object per variable).
        result = solve(problem, backend="decompose", gap=PLAN_GAP, time_limit=30)
        if not result.status.has_plan:
            return _plan(day, table.iloc[:0], n_candidates, result.status.value)
        chosen_ids = problem.account_ids[problem.account[result.chosen]].astype(np.int64)
        chosen = table.set_index("account").loc[np.sort(chosen_ids)].reset_index()
        return _plan(day, chosen, n_candidates, result.status.value)

    def _plan_options(self, view: LenderView, day: int, visits: pd.DataFrame,
                      escalations: pd.DataFrame, hours_left: np.ndarray, budget: float
                      ) -> Plan:
        """One period's plan over the visit, legal and agency (at most one per account)."""
        table = pd.concat([visits, escalations], ignore_index=True)
        n_candidates = len(table)
        if n_candidates == 0:
            return _plan(day, table, n_candidates, "nothing to plan", options=True)
        free = free_places(view, day, self.world)
        table = table[table["value"] > table["cost"]]
        table = top_visits(table, hours_left, budget, free)
        if table.empty:
            return _plan(day, table, n_candidates, "no candidate worth its cost", options=True)
        frame = table.assign(account_id=table["account"].astype(str),
                             region=table["region_code"].astype(str))
        caps = [Capacity(str(r), "visit", hours_limit=float(hours_left[r]))
                for r in np.unique(frame.loc[frame["option"] == "visit", "region_code"])]
        caps += escalation_capacities(free, tuple(frame["option"].unique()))
        problem = make_problem(frame[["account_id", "option", "region", "value", "cost",
                                      "hours"]], caps, budget)
        result = solve(problem, backend="decompose", gap=PLAN_GAP, time_limit=30)
        if not result.status.has_plan:
            return _plan(day, table.iloc[:0], n_candidates, result.status.value, options=True)
        rows = result.chosen
        picked = pd.DataFrame({
            "account": problem.account_ids[problem.account[rows]].astype(np.int64),
            "option": np.asarray(problem.options, dtype=object)[problem.option[rows]],
        })
        chosen = picked.merge(table, on=["account", "option"], validate="1:1")
        return _plan(day, chosen, n_candidates, result.status.value, options=True)

    def _plan_horizon(self, view: LenderView, day: int, first: pd.DataFrame,
                      hours_left: np.ndarray, escalations: pd.DataFrame | None = None
                      ) -> Plan:
        """A plan over ``horizon_periods`` periods; period 0's visits are dispatched."""
        spec, world = self.spec, self.world
        starts = [day + w * spec.period_days for w in range(spec.horizon_periods)]
        starts = [s for s in starts if s < world.days]
        hazard = self.model.hazard if self.model.hazard is not None else PayHazard.none()
        frames = [first.assign(period=0, stay=1.0)]
        if escalations is not None:
            frames.append(escalations.assign(period=0, stay=1.0))
        for w, start in enumerate(starts[1:], start=1):
            frames.append(later_candidates(view, day, start - day, world, self.rules,
                                           self.model, hazard, self.region_names)
                          .assign(period=w))
        table = pd.concat(frames, ignore_index=True)
        budgets = {w: spec.budget(start) for w, start in enumerate(starts)}
        hours = {0: hours_left}
        for w, start in enumerate(starts[1:], start=1):
            hours[w] = team_hours(world, self.rules, min(spec.period_days, world.days - start))
        options = escalations is not None
        n_candidates = len(first) + (len(escalations) if options else 0)
        if (budgets[0] <= 0 and not options) or n_candidates == 0:
            return _plan(day, first.iloc[:0], n_candidates, "nothing to plan", options=options)
        table = table[table["value"] > table["cost"]]
        free = free_places(view, day, world) if options else {}
        visits = table["option"] == "visit"
        # As in top_visits: room for the accounts an escalation takes instead.
        extra = sum(free[o] for o in ESCALATIONS if (table["option"] == o).any())
        table = pd.concat([top_per_region_period(table[visits], hours, budgets, int(extra)),
                           table[~visits]])
        if not (table["period"] == 0).any():
            return _plan(day, first.iloc[:0], n_candidates, "no candidate worth its cost",
                         options=options)
        frame = table.assign(account_id=table["account"].astype(str),
                             region=table["region_code"].astype(str))
        pairs = frame.loc[frame["option"] == "visit", ["region_code", "period"]]
        caps = [Capacity(str(r), "visit", hours_limit=float(hours[int(w)][r]), period=int(w))
                for r, w in pairs.drop_duplicates().to_numpy()]
        caps += escalation_capacities(free, tuple(frame["option"].unique())) if options else []
        problem = make_problem(
            frame[["account_id", "option", "region", "period", "value", "cost", "hours"]],
            caps, sum(budgets.values()), period_budgets=budgets)
        # The later weeks are a reservation the next plan revisits: a 1 % gap is enough, and
        # keeps the MIP polish (fractional accounts in every week) short.
        result = solve(problem, backend="decompose", gap=HORIZON_GAP, time_limit=30)
        if not result.status.has_plan:
            return _plan(day, first.iloc[:0], n_candidates, result.status.value,
                         options=options)
        rows = result.chosen
        picked = pd.DataFrame({
            "account": problem.account_ids[problem.account[rows]].astype(np.int64),
            "option": np.asarray(problem.options, dtype=object)[problem.option[rows]],
            "period": problem.period[rows],
        })
        tentative = picked.merge(table, on=["account", "option", "period"], validate="1:1")
        now = tentative[tentative["period"] == 0]
        tentative = tentative[["account", "option", "region", "period", "value", "cost",
                               "stay"]]
        plan = _plan(day, now, n_candidates, result.status.value, options=options)
        return dataclasses.replace(plan, tentative=tentative.reset_index(drop=True))


def top_per_region(table: pd.DataFrame, hours_left: np.ndarray, budget: float) -> pd.DataFrame:
    """Each region's candidates cut to the most valuable ones that could all be chosen.

    Within a region every visit has the same cost and the same hours, so an optimal plan takes
    a region's visits in order of value: its k most valuable for some k no larger than what
    the region's hours and the budget allow. Keeping those is exact, and keeps the problem
    small on a large book.
    """
    rows = top_rows(table["region_code"].to_numpy(), table["value"].to_numpy(),
                    table["cost"].to_numpy(), table["hours"].to_numpy(), hours_left, budget)
    return table.iloc[rows]


def top_rows(code: np.ndarray, value: np.ndarray, cost: np.ndarray, hours: np.ndarray,
             hours_left: np.ndarray, budget: float) -> np.ndarray:
    """:func:`top_per_region` on arrays: the positions kept, region by region (ascending),
    each region's k most valuable largest first (ties in the given order, as pandas'
    ``nlargest`` with ``keep="first"``), or all its rows in their order."""
    keep = [np.zeros(0, np.int64)]
    for region in np.unique(code):
        rows = np.flatnonzero(code == region)
        if np.ptp(cost[rows]) > 0 or np.ptp(hours[rows]) > 0:  # not uniform: nothing to cut
            keep.append(rows)
            continue
        each_hours, each_cost = hours[rows[0]], cost[rows[0]]
        fits = min(hours_left[int(region)] / each_hours if each_hours > 0 else np.inf,
                   budget / each_cost if each_cost > 0 else np.inf)
        k = int(np.floor(fits + 1e-9)) if np.isfinite(fits) else len(rows)
        if k < len(rows):
            rows = rows[np.argsort(-value[rows], kind="stable")[:k]]
        keep.append(rows)
    return np.concatenate(keep)


def _fill(table: pd.DataFrame, budget: float, hours_left: np.ndarray) -> pd.DataFrame:
    """Rows in the given order while the budget and the region's hours last."""
    left = hours_left.copy()
    spent = 0.0
    keep = []
    for i, (cost, hours, region) in enumerate(
        zip(table["cost"], table["hours"], table["region_code"], strict=True)
    ):
        if spent + cost > budget:
            continue
        if left[region] < hours:
            continue
        spent += cost
        left[region] -= hours
        keep.append(i)
    return table.iloc[keep]


def _plan(day: int, chosen: pd.DataFrame, n_candidates: int, status: str,
          options: bool = False) -> Plan:
    order = np.argsort(chosen["account"].to_numpy(), kind="stable")
    raw = (chosen["value_raw"].to_numpy(dtype=np.float64)[order]
           if "value_raw" in chosen.columns else None)
    return Plan(
        value_raw=raw,
        options=(chosen["option"].to_numpy(dtype=object)[order] if options else None),
        day=day,
        accounts=chosen["account"].to_numpy(dtype=np.int64)[order],
        value=chosen["value"].to_numpy(dtype=np.float64)[order],
        value_se=chosen["value_se"].to_numpy(dtype=np.float64)[order],
        cost=chosen["cost"].to_numpy(dtype=np.float64)[order],
        candidates=n_candidates,
        status=status,
    )
