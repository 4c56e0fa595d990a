"""Running an optimised policy of a scenario: train its values, run it, report its plans.

The runner hands every policy with an ``optimiser`` table here. The values are fitted on a
training book drawn apart from the replication's own book (its own seed), the policy runs on
the replication's book and seed like every other policy, and a probe measures each plan's
realised value by re-simulation (:mod:`waifang.optimise.training`). The summary row gains:

- ``plans``: plans made; ``plan_visits``: visits they asked for; ``plan_cost``: the cost
  of everything they asked for; ``plan_legal``, ``plan_agency``: filings and placements
  they asked for (only when the optimiser offers those options);
- ``plan_predicted``: the plans' predicted net value, sum of (value - cost);
- ``realised_plans``: plans whose realised value was measured; ``plan_predicted_sampled``
  and ``plan_realised``: predicted and realised net value of the measured accounts, scaled
  to their whole plans; ``plan_realised_low``, ``plan_realised_high``: a 95 % interval of
  the realised value.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from waifang.optimise.policy import OptimisedPolicy
from waifang.optimise.training import RealisedProbe, train_value_models
from waifang.scenarios.schema import Scenario, ScenarioPolicy
from waifang.sim.fork import simulate_probed
from waifang.sim.policy import LadderPolicy
from waifang.sim.results import RunResult
from waifang.sim.rules import ComplianceRules
from waifang.sim.state import Portfolio

TRAINING = 2  # spawn-key slots of a replication's seeds (0 portfolio, 1 run: sim.rng)
REALISED = 3


def notes(scenario: Scenario) -> list[str]:
    """Lines worth saying before a run (a zero budget runs, but visits nobody)."""
    out = []
    for i, policy in enumerate(scenario.policies):
        if policy.optimiser is not None and policy.optimiser.visits_nobody:
            out.append(
                f"note: policies[{i}] ({policy.name}): budget_per_period is 0, so it visits "
                "nobody"
            )
    return out


def _index(scenario: Scenario, spec: ScenarioPolicy) -> int:
    """The position of ``spec`` among the scenario's policies (its contracts go with it)."""
    return [p.name for p in scenario.policies].index(spec.name)


def training_book(scenario: Scenario, accounts: int, build_portfolio,
                  rng: np.random.Generator) -> Portfolio:
    """The book values are trained on: a generated scenario draws at most ``accounts``
    accounts of its own kind (drawing the whole book to keep a sample costs as long as a
    run's first days on a large book); a tape is read whole (the training cuts it)."""
    if scenario.tape_path() is None and scenario.portfolio.accounts > accounts:
        portfolio = scenario.portfolio.model_copy(update={"accounts": accounts})
        scenario = scenario.model_copy(update={"portfolio": portfolio})
    return build_portfolio(scenario, rng)


def build_optimised(
    scenario: Scenario,
    spec: ScenarioPolicy,
    portfolio: Portfolio,
    rules: ComplianceRules,
    replication: int,
    seed: int,
    run_seed: np.random.SeedSequence,
    build_portfolio,
) -> tuple[OptimisedPolicy, LadderPolicy]:
    """The optimised policy of ``spec`` for one replication (values trained if needed), and
    its base ladder."""
    opt = spec.optimiser
    assert opt is not None
    world = scenario.world(_index(scenario, spec))
    base = LadderPolicy(spec, portfolio.segment_names)
    models: dict = {}
    escalating = any(o != "visit" for o in opt.options)
    if opt.selection == "optimal" and (not opt.visits_nobody or escalating):
        book_seed = np.random.SeedSequence(seed, spawn_key=(replication, TRAINING))
        book = training_book(scenario, opt.training_accounts, build_portfolio,
                             np.random.default_rng(book_seed))
        models = train_value_models(
            world, book, len(portfolio), base, rules, opt,
            np.random.SeedSequence(seed, spawn_key=(replication, TRAINING, 1)),
        )
    policy = OptimisedPolicy(base, opt, world, rules, scenario.region_names(),
                             models.get("visit"), run_seed,
                             option_models={k: v for k, v in models.items() if k != "visit"})
    return policy, base


def run_optimised(
    scenario: Scenario,
    spec: ScenarioPolicy,
    portfolio: Portfolio,
    rules: ComplianceRules,
    departures: tuple[str, ...],
    replication: int,
    seed: int,
    run_seed: np.random.SeedSequence,
    build_portfolio,
) -> RunResult:
    """Train (if the selection needs values), run with the realised-value probe, report."""
    policy, base = build_optimised(scenario, spec, portfolio, rules, replication, seed,
                                   run_seed, build_portfolio)
    probe = RealisedProbe(policy, base,
                          np.random.SeedSequence(seed, spawn_key=(replication, REALISED)))
    world = scenario.world(_index(scenario, spec))
    result = simulate_probed(world, portfolio, policy, rules, seed=run_seed,
                             probe=probe, departures=departures, audit=scenario.output.audit)
    plans = policy.plans
    summary = dict(result.summary)
    predicted = float(sum(p.predicted for p in plans)) if policy.model else float("nan")
    def chosen(p, option):
        return p.accounts.size if p.options is None and option == "visit" else int(
            0 if p.options is None else (p.options == option).sum())

    escalations = {f"plan_{o}": float(sum(chosen(p, o) for p in plans))
                   for o in spec.optimiser.options if o != "visit"}
    summary.update({
        "plans": float(len(plans)),
        "plan_visits": float(sum(chosen(p, "visit") for p in plans)),
        **escalations,
        "plan_cost": float(sum(p.cost.sum() for p in plans)),
        "plan_predicted": predicted,
        **probe.summary(),
    })
    return dataclasses.replace(result, summary=summary, extra={**result.extra, "plans": plans})
