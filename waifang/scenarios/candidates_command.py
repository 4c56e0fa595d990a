"""``waifang candidates``: the optimiser's input tables, from a simulated state.

Simulates replication 0 of a scenario under one of its policies up to the start of day D,
then writes

- ``C.csv``, one row per account a visit may be asked for on day D (the engine's own
  request-time compliance check): ``account_id, option, region, value, value_se, cost,
  hours, segment, balance, dpd``. ``value`` is the expected extra ``net_value`` of a visit on
  day D against none, before the visit's own ``cost``, estimated by paired counterfactual
  branches on common random numbers and pooled over lender-observable cells
  (:mod:`waifang.optimise.values`); ``value_se`` is its standard error; ``hours`` the
  region's mean travel plus visit time;
- ``C_capacity.csv`` beside it: ``region, option, limit, hours_limit``, each region's field
  team hours within the allowed visit hours over ``--period-days`` days (``limit`` blank).

With ``--horizon-periods H`` > 1 both tables gain a ``period`` column: the candidates of
each of H periods of ``--period-days`` days from day D (period 0: today's; a later period's
as :mod:`waifang.optimise.horizon` builds them, on the path where the account pays nothing
meanwhile, valued at the dpd it will then have times the chance it is still delinquent,
fitted on the run's own last 30 days), and each region's team hours per period.

``waifang optimise --candidates C.csv --capacity C_capacity.csv --budget B`` reads them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from waifang.errors import InputError
from waifang.scenarios.cli_args import check_output_file


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``waifang candidates`` to the parser."""
    p = sub.add_parser(
        "candidates",
        help="write the visit candidates (values from the simulator) and capacities of day D",
        description="Simulate to day D under a policy and write the candidates and capacity "
        "tables that 'waifang optimise' reads, with values from counterfactual simulation.",
    )
    p.add_argument("file", metavar="SCENARIO", help="scenario TOML file, or a shipped name")
    p.add_argument("--policy", required=True, metavar="NAME", help="policy run up to day D")
    p.add_argument("--day", required=True, type=int, metavar="D", help="day of the candidates")
    p.add_argument("--out", required=True, metavar="C.csv", help="candidates file to write")
    p.add_argument("--period-days", type=int, default=7, metavar="P",
                   help="days of team hours in the capacity table (default 7)")
    p.add_argument("--reps", type=int, default=4, metavar="R",
                   help="seeds of paired branches for the values (default 4)")
    p.add_argument("--sample", type=int, default=3000, metavar="N",
                   help="candidates simulated to fit the values (default 3000)")
    p.add_argument("--horizon", type=int, default=90, metavar="H",
                   help="days a visit's effect is followed (default 90)")
    p.add_argument("--horizon-periods", type=int, default=1, metavar="W",
                   help="periods planned at once: a 'period' column in both tables (default 1)")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="override the seed")
    p.set_defaults(handler=candidates_command)


def capacity_path(out: Path) -> Path:
    """Where the capacity table goes beside ``out`` (``C.csv`` -> ``C_capacity.csv``)."""
    return out.with_name(f"{out.stem}_capacity{out.suffix or '.csv'}")


def candidates_command(args: argparse.Namespace) -> int:
    from waifang.optimise.io import atomic_write
    from waifang.scenarios.run_commands import scenario_path
    from waifang.scenarios.schema import load_scenario

    scenario = load_scenario(scenario_path(args.file))
    out = Path(args.out)
    minimums = (("--reps", args.reps, 2), ("--sample", args.sample, 10),
                ("--horizon", args.horizon, 1), ("--period-days", args.period_days, 1),
                ("--horizon-periods", args.horizon_periods, 1))
    for name, value, low in minimums:
        if value < low:
            raise InputError(f"{name}: must be at least {low} (got {value})")
    if not 0 <= args.day < scenario.days:
        raise InputError(f"--day: must lie in 0..{scenario.days - 1} for a run of "
                         f"{scenario.days} days (got {args.day})")
    check_output_file("--out", out)
    table, capacity = candidates_tables(scenario, args.policy, args.day, seed=args.seed,
                                        reps=args.reps, sample=args.sample,
                                        horizon=args.horizon, period_days=args.period_days,
                                        horizon_periods=args.horizon_periods)
    atomic_write(out, lambda tmp: table.to_csv(tmp, index=False))
    atomic_write(capacity_path(out), lambda tmp: capacity.to_csv(tmp, index=False))
    print(f"{len(table):,} candidates on day {args.day} under {args.policy!r} "
          f"(value - cost > 0 for {int((table['value'] > table['cost']).sum()):,}); "
          f"wrote {out} and {capacity_path(out)}", file=sys.stderr)
    return 0


def candidates_tables(
    scenario, policy_name: str, day: int, *, seed: int | None = None, reps: int = 4,
    sample: int = 3000, horizon: int = 90, period_days: int = 7, horizon_periods: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The candidates and capacity tables of ``day`` (see the module docstring)."""
    from waifang.optimise.horizon import later_candidates
    from waifang.optimise.policy import candidates, team_hours
    from waifang.optimise.values import PayHazard, ValueModel, treatment_effects
    from waifang.optimise.values import sample as pick
    from waifang.scenarios.optimised import build_optimised
    from waifang.scenarios.runner import build_portfolio
    from waifang.sim.fork import checkpoints
    from waifang.sim.policy import LadderPolicy
    from waifang.sim.rng import replication_seeds

    names = [p.name for p in scenario.policies]
    if policy_name not in names:
        raise InputError(f"--policy: no policy {policy_name!r} in the scenario; policies are "
                         f"{names}")
    index = names.index(policy_name)
    spec = scenario.policies[index]
    seed = scenario.seed if seed is None else seed
    portfolio_seed, run_seed = replication_seeds(seed, 0)
    portfolio = build_portfolio(scenario, np.random.default_rng(portfolio_seed))
    rules, _ = scenario.rules_for(index)
    world = scenario.world(index)
    # The visit is valued against the policy's ladder for everything else.
    base_spec = spec.model_copy(update={"rules": tuple(r for r in spec.rules
                                                       if r.action != "visit")})
    base = LadderPolicy(base_spec, portfolio.segment_names)
    if spec.optimiser is not None:
        policy, base = build_optimised(scenario, spec, portfolio, rules, 0, seed, run_seed,
                                       build_portfolio)
    else:
        policy = LadderPolicy(spec, portfolio.segment_names)
    # The run's own last 30 days tell how fast its accounts pay (for later periods).
    earlier = max(0, day - 30)
    taken = checkpoints(world, portfolio, policy, rules, seed=run_seed,
                        days=sorted({earlier, day}))
    cp = taken[-1]
    table = candidates(cp.view, day, world, rules, None, scenario.region_names())
    if len(table):
        fit_on = pick(np.random.SeedSequence(seed, spawn_key=(0, 5)),
                      table["account"].to_numpy(), sample, "candidates-sample")
        effects = treatment_effects(cp, fit_on, base, reps=reps, horizon=horizon,
                                    seed=np.random.SeedSequence(seed, spawn_key=(0, 6)))
        model = ValueModel.fit(effects.frame(), min_accounts=30)
        table = candidates(cp.view, day, world, rules, model, scenario.region_names())
    columns = ["account_id", "option", "region", "value", "value_se", "cost", "hours",
               "segment", "balance", "dpd"]
    starts = [s for s in range(day, day + horizon_periods * period_days, period_days)
              if s < world.days]
    capacity = pd.concat([pd.DataFrame({
        "region": scenario.region_names(),
        "option": "visit",
        "limit": "",
        "hours_limit": team_hours(world, rules, min(period_days, world.days - start)),
        "period": w,
    }) for w, start in enumerate(starts)], ignore_index=True)
    if horizon_periods > 1:
        hazard = (PayHazard.fit([(taken[0].view, cp.view, earlier, day - earlier)],
                                world.charge_off_dpd) if day > earlier else PayHazard.none())
        frames = [table.assign(period=0)]
        if len(table):
            frames += [later_candidates(cp.view, day, start - day, world, rules, model, hazard,
                                        scenario.region_names()).assign(period=w)
                       for w, start in enumerate(starts[1:], start=1)]
        table = pd.concat(frames, ignore_index=True)
        columns.insert(3, "period")
    else:
        capacity = capacity.drop(columns="period")
    table = table.assign(segment=np.asarray(portfolio.segment_names, dtype=object)[
        table["segment"].to_numpy(dtype=np.int64)] if len(table) else table["segment"])
    return table[columns], capacity
