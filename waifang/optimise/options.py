"""Legal action and agency placement as options beside the visit in the optimised policy.

An account may get at most one of the options a plan offers. Legal and agency candidates are
the delinquent accounts at or past ``escalation_min_dpd`` (the lender's own threshold, a
policy choice) that the engine's own checks would let the request through
(:func:`waifang.sim.eligible.escalation_allowed`: not already in a case or placed, not
disputed, not vulnerable for legal, a vetted agency, no hardship plan where contact stops).
Their values come from the simulator like the visit's (paired branches, one model per
option, :func:`waifang.optimise.training.train_value_models`); their cost is the option's
own (the legal fee; nothing up front for the agency, whose contingency share is taken from
what it collects and is therefore inside the value).

Capacity: courts and agencies serve the whole book, so each is one count limit across
regions: the places not taken. The lender knows its open placements (``placed_until``); of
its cases it knows which accounts were filed (``in_legal``) but not which are judged, so
every filed account still open counts as a case (a cautious count).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from waifang.optimise.problem import Capacity
from waifang.optimise.values import ValueModel, candidate_frame, option_cost, valued
from waifang.sim.eligible import escalation_allowed
from waifang.sim.rules import ComplianceRules
from waifang.sim.spec import World
from waifang.sim.state import CHARGED_OFF, DELINQUENT, LenderView

ESCALATIONS = ("legal", "agency")


def escalation_candidates(
    view: LenderView,
    day: int,
    option: str,
    min_dpd: int,
    world: World,
    rules: ComplianceRules,
    model: ValueModel | None,
    region_names: tuple[str, ...],
) -> pd.DataFrame:
    """The ``option`` candidates of ``day`` with the columns of
    :func:`waifang.optimise.policy.candidates` (``hours`` 0: no field time)."""
    delinquent = np.flatnonzero((view.status == DELINQUENT) & (view.dpd >= min_dpd))
    ok = escalation_allowed(rules, view, delinquent, day, option,
                            world.resources.agency_vetted)
    idx = delinquent[ok]
    region = view.region[idx]
    value, value_se, _, value_raw = valued(model, view, idx, day, world.days)
    return candidate_frame(view, idx, option, region_names, region, value=value,
                           value_raw=value_raw, value_se=value_se,
                           cost=option_cost(world, idx, option, region), hours=0.0)


def free_places(view: LenderView, day: int, world: World) -> dict[str, float]:
    """Places the courts and the agencies can still take (see the module docstring)."""
    r = world.resources
    open_ = (view.status == DELINQUENT) | (view.status == CHARGED_OFF)
    cases = int((view.in_legal & open_).sum())
    placed = int((view.placed_until >= day).sum())
    return {"legal": float(max(0, r.legal_capacity - cases)),
            "agency": float(max(0, r.agency_capacity - placed))}


def escalation_capacities(free: dict[str, float], options: tuple[str, ...]
                          ) -> list[Capacity]:
    """One count limit per escalation option, across every region."""
    return [Capacity(None, o, limit=free[o]) for o in options if o in ESCALATIONS]


def top_visits(table: pd.DataFrame, hours_left: np.ndarray, budget: float,
               free: dict[str, float]) -> pd.DataFrame:
    """The visit rows of each region cut to those an optimal plan could use, exactly; the
    other options' rows kept.

    Within a region visits cost the same and take the same hours, so at most ``k`` fit. An
    account outside the region's ``k + L + A`` most valuable visit rows (``L``, ``A``: the
    free legal and agency places) is never needed for a visit: of those accounts at most
    ``k - 1`` take a visit and ``L + A`` an escalation, so one of them is free and at least
    as valuable at the same cost and hours.
    """
    from waifang.optimise.policy import top_per_region

    visits = table[table["option"] == "visit"]
    others = table[table["option"] != "visit"]
    extra = sum(free[o] for o in ESCALATIONS if (others["option"] == o).any())
    keep = []
    for _, rows in visits.groupby("region_code", sort=True):
        cut = top_per_region(rows, hours_left, budget)
        k = len(cut) + int(extra)
        keep.append(rows.nlargest(k, "value") if k < len(rows) else rows)
    return pd.concat([*keep, others]) if keep else others
