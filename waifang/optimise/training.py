"""Fitting visit values for an optimised policy, and measuring its plans' realised value.

Training (:func:`train_value_model`) happens on a *training book*: accounts drawn apart from
the run's own (a lender's history, not the accounts it is about to treat), run under the base
ladder with their own random numbers. At several days the training run is paused, a sample of
the accounts the rules would let a visit be asked for is valued by paired branches
(:func:`~waifang.optimise.values.treatment_effects`) and the effects are pooled into a
:class:`~waifang.optimise.values.ValueModel`. Nothing of the live run, its luck or its
borrowers' latent traits reaches the model.

Realised value (:class:`RealisedProbe`): while the optimised policy runs, on the day of every
``realised_every``-th plan a sample of the planned accounts is copied out of the live run and
continued twice on the same fresh random numbers, with the plan's visits (made by the real
field teams) and without; the difference is what the plan realised on those accounts, set
against what it predicted.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from waifang.optimise.policy import OptimisedPolicy, OptimiserSpec, region_costs
from waifang.optimise.values import PayHazard, ValueModel, treatment_effects
from waifang.sim.eligible import escalation_allowed, visit_allowed
from waifang.sim.fork import Live, checkpoints
from waifang.sim.policy import Policy
from waifang.sim.rng import stream
from waifang.sim.rules import ComplianceRules
from waifang.sim.spec import World
from waifang.sim.state import Portfolio


def scale_world(world: World, share: float) -> World:
    """``world`` with the call centre, courts and agencies scaled to a book ``share`` the size
    (field teams are not: the branches give them unlimited teams anyway)."""
    if share >= 1.0:
        return world
    r = world.resources
    shifts = tuple(s.model_copy(update={"agents": max(1, round(s.agents * share))})
                   for s in r.call_centre.shifts)
    resources = r.model_copy(update={
        "call_centre": r.call_centre.model_copy(update={"shifts": shifts}),
        "legal_capacity": max(1, round(r.legal_capacity * share)),
        "agency_capacity": max(1, round(r.agency_capacity * share)),
    })
    return world.model_copy(update={"resources": resources})


def training_days(spec: OptimiserSpec, days: int) -> tuple[int, ...]:
    """The days the training run is paused at (every 30 days of the run by default)."""
    if spec.training_days is not None:
        return tuple(sorted({d for d in spec.training_days if 0 <= d < days}))
    return tuple(range(0, days, 30))


def train_value_model(
    world: World,
    book: Portfolio,
    live_accounts: int,
    base: Policy,
    rules: ComplianceRules,
    spec: OptimiserSpec,
    seed: np.random.SeedSequence,
) -> ValueModel:
    """Fit visit values on the training ``book`` (a book of ``live_accounts`` is planned)."""
    return train_value_models(world, book, live_accounts, base, rules, spec, seed)["visit"]


def train_value_models(
    world: World,
    book: Portfolio,
    live_accounts: int,
    base: Policy,
    rules: ComplianceRules,
    spec: OptimiserSpec,
    seed: np.random.SeedSequence,
) -> dict[str, ValueModel]:
    """Fit values of every option of ``spec`` (and of the visit, always) on the training
    ``book``, from one training run; each model carries the book's :class:`PayHazard`."""
    import pandas as pd

    rng = stream(seed, "training-book")
    if len(book) > spec.training_accounts:
        book = book.subset(np.sort(rng.choice(len(book), spec.training_accounts, replace=False)))
    train_world = scale_world(world, len(book) / max(live_accounts, 1))
    _, _, collectors = region_costs(world)
    options = ("visit", *[o for o in spec.options if o != "visit"])
    frames: dict[str, list] = {o: [] for o in options}
    run_seed = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, 1))
    taken = checkpoints(train_world, book, base, rules, seed=run_seed,
                        days=training_days(spec, world.days))
    # How fast accounts pay under the base ladder, from consecutive snapshots of the same
    # training run (what the lender saw on its own book): for plans over several periods.
    hazard = PayHazard.fit([(a.view, b.view, a.day, b.day - a.day) for a, b in pairwise(taken)],
                           world.charge_off_dpd, min_accounts=spec.min_cell_accounts)
    for cp in taken:
        every = np.arange(cp.n)
        for k, option in enumerate(options):
            if option == "visit":
                allowed = every[visit_allowed(rules, cp.view, every, cp.day,
                                              collectors[cp.portfolio.region])]
                pick = rng
            else:
                allowed = every[(cp.view.dpd >= spec.escalation_min_dpd)
                                & escalation_allowed(rules, cp.view, every, cp.day, option,
                                                     world.resources.agency_vetted)]
                pick = stream(seed, f"training-{option}-{cp.day}")
            if allowed.size == 0:
                continue
            if allowed.size > spec.training_sample:
                allowed = np.sort(pick.choice(allowed, spec.training_sample, replace=False))
            key = (*seed.spawn_key, 2) if k == 0 else (*seed.spawn_key, 2, k)
            effects = treatment_effects(
                cp, allowed, base, option=option, reps=spec.training_reps,
                horizon=spec.horizon_days, seed=np.random.SeedSequence(seed.entropy,
                                                                       spawn_key=key),
            )
            frames[option].append(effects.frame())
    if not frames["visit"] and "visit" in spec.options:
        raise ValueError("the training book never had an account a visit was allowed for")
    models = {}
    for option, parts in frames.items():
        if not parts:
            continue
        effects = pd.concat(parts, ignore_index=True)
        shrink = spec.value_correction in ("shrink", "both")
        if spec.value_correction in ("calibrate", "both"):
            model = ValueModel.fit_calibrated(
                effects, min_accounts=spec.min_cell_accounts, shrink=shrink,
                seed=np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, 3)))
        else:
            model = ValueModel.fit(effects, min_accounts=spec.min_cell_accounts, shrink=shrink)
        model.hazard = hazard
        models[option] = model
    missing = [o for o in spec.options if o not in models]
    if missing:
        raise ValueError(f"the training book never had an account {missing[0]!r} was allowed "
                         "for")
    return models


class RealisedProbe:
    """Measures, on a sample of the accounts of every ``realised_every``-th plan, the value
    the plan realised."""

    def __init__(self, policy: OptimisedPolicy, base: Policy, seed: np.random.SeedSequence
                 ) -> None:
        self.policy, self.base, self.seed = policy, base, seed
        self.rng = stream(seed, "realised-sample")
        self.records: list[dict[str, float]] = []

    def __call__(self, live: Live) -> None:
        plans = self.policy.plans
        if not plans or plans[-1].day != live.day or plans[-1].accounts.size == 0:
            return
        plan = plans[-1]
        size = self.policy.spec.realised_sample
        if size == 0 or (len(plans) - 1) % self.policy.spec.realised_every:
            return
        pick = np.arange(plan.accounts.size)
        if pick.size > size:
            pick = np.sort(self.rng.choice(pick.size, size, replace=False))
        cp = live.checkpoint(plan.accounts[pick])
        world = cp.world
        until = min(world.days, live.day + self.policy.spec.horizon_days)
        seed = np.random.SeedSequence(self.seed.entropy, spawn_key=(*self.seed.spawn_key,
                                                                      live.day))
        if plan.options is None:
            extra = {"visit": np.arange(cp.n)}
        else:
            chosen = plan.options[pick]
            extra = {o: np.flatnonzero(chosen == o) for o in np.unique(chosen)}
        visited = cp.branch(self.base, extra=extra, seed=seed, until=until)
        without = cp.branch(self.base, seed=seed, until=until)
        realised = visited.value - without.value
        predicted = plan.value[pick] - plan.cost[pick]
        raw = plan.value if plan.value_raw is None else plan.value_raw
        predicted_raw = raw[pick] - plan.cost[pick]
        scale = plan.accounts.size / pick.size
        # Without predictions (random selection) the interval comes from the spread of the
        # realised values themselves.
        residual = realised - (predicted if np.isfinite(predicted).all() else realised.mean())
        self.records.append({
            "day": live.day,
            "accounts": float(plan.accounts.size),
            "sampled": float(pick.size),
            "predicted": float(predicted.sum() * scale),
            "predicted_raw": float(predicted_raw.sum() * scale),
            "realised": float(realised.sum() * scale),
            "variance": float((residual**2).sum() * scale**2),
        })

    def summary(self) -> dict[str, float]:
        """Predicted and realised value of the sampled plans (scaled to the whole plans), with
        a 95 % interval of the realised value from the spread of realised minus predicted."""
        predicted = sum(r["predicted"] for r in self.records)
        predicted_raw = sum(r["predicted_raw"] for r in self.records)
        realised = sum(r["realised"] for r in self.records)
        half = 1.96 * float(np.sqrt(sum(r["variance"] for r in self.records)))
        if not self.records:
            predicted = predicted_raw = realised = half = float("nan")
        return {
            "realised_plans": float(len(self.records)),
            "plan_predicted_sampled": predicted,
            "plan_predicted_raw_sampled": predicted_raw,
            "plan_realised": realised,
            "plan_realised_low": realised - half,
            "plan_realised_high": realised + half,
        }
