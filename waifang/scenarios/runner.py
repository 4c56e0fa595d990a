"""Run every policy of a scenario on every replication and tabulate what happened.

Replication ``r`` of every policy starts from the same portfolio and the same run seed (common
random numbers), so the difference between a policy and the champion is paired replication by
replication. The unit of parallel work is one policy on one replication
(:mod:`waifang.scenarios.execution`: each unit rebuilds its replication's portfolio from the
seed, so the work splits evenly over workers); the results are put back in (policy,
replication) order, so the tables are identical on 1 worker, a process pool or a Dask cluster.
:func:`run_replication` runs every policy of one replication in one go, for scripts.

With ``workers > 1`` the replications run in fresh (spawned) processes: a script that calls
:func:`run_scenario` must do so under ``if __name__ == "__main__":`` (notebooks need nothing).

Examples
--------
>>> import tempfile, pathlib
>>> from waifang.scenarios import load_scenario, run_scenario
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "tiny.toml").write_text('''
... name = "tiny"
... seed = 1
... replications = 2
... days = 20
... [portfolio]
... accounts = 300
... [[policies]]
... name = "reminders"
... rules = [{ action = "sms", dpd_min = 1, every_days = 3 }]
... [[policies]]
... name = "nothing"
... ''')
>>> results = run_scenario(load_scenario(folder / "tiny.toml"))  # workers=2: two processes
>>> results.summary[["policy", "replication"]].values.tolist()
[['reminders', 0], ['reminders', 1], ['nothing', 0], ['nothing', 1]]
>>> sms = results.summary.groupby("policy", sort=False)["cost_sms"]
>>> sms.apply(lambda cost: bool((cost > 0).all())).to_dict()
{'reminders': True, 'nothing': False}
>>> table = results.comparison.set_index(["policy", "metric"])
>>> champion = table.loc[("reminders", "cost_sms"), "mean"]
>>> bool(table.loc[("nothing", "cost_sms"), "diff_vs_champion"] == -champion)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from waifang.scenarios import execution
from waifang.scenarios.execution import PolicyRun, build_portfolio
from waifang.scenarios.schema import Scenario

if TYPE_CHECKING:
    from waifang.scenarios.checkpoint import Checkpoint
from waifang.sim.results import DAILY_COLUMNS, SUMMARY_COLUMNS, round_money
from waifang.sim.rng import replication_seeds
from waifang.sim.rules import RULES

CONFIDENCE = 0.95
"""Level of every interval in the comparison table."""

DASK_CONNECT_TIMEOUT = "20s"
"""How long to wait for a Dask scheduler before giving up."""


@dataclass(frozen=True)
class ScenarioResults:
    """Everything a scenario run produced, as tidy tables."""

    scenario: Scenario
    seed: int
    replications: int
    workers: int
    scheduler: str | None
    summary: pd.DataFrame
    """One row per (policy, replication): ``policy, replication`` + SUMMARY_COLUMNS."""
    comparison: pd.DataFrame
    """One row per (policy, metric): mean, CI, paired difference vs the champion and its CI."""
    daily: pd.DataFrame
    """One row per (policy, replication, day): ``policy, replication`` + DAILY_COLUMNS."""
    blocked_by_rule: pd.DataFrame
    """One row per (policy, rule): blocked actions summed over replications, and per
    replication on average."""
    departures: dict[str, tuple[str, ...]]
    """Rules each policy loosened against the preset (empty tuple: none)."""
    audit: pd.DataFrame | None = None
    """Every action with its outcome (``audit = "full"`` only)."""
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    finished: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def violations(self) -> int:
        """Actions performed in breach of a rule, over all runs (0 unless the engine is wrong)."""
        return int(self.summary["violations"].sum())

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.scenario.policies)


# --------------------------------------------------------------------------------------------
# One replication (runs in a worker process or on a Dask worker)
# --------------------------------------------------------------------------------------------


def run_replication(scenario: Scenario, replication: int, seed: int) -> list[PolicyRun]:
    """Every policy of ``scenario`` on replication ``replication`` (common random numbers)."""
    portfolio_seed, run_seed = replication_seeds(seed, replication)
    portfolio = build_portfolio(scenario, np.random.default_rng(portfolio_seed))
    return [
        execution.run_policy(scenario, portfolio, index, replication, seed, run_seed)
        for index in range(len(scenario.policies))
    ]


# --------------------------------------------------------------------------------------------
# All replications
# --------------------------------------------------------------------------------------------


def run_scenario(
    scenario: Scenario,
    *,
    seed: int | None = None,
    replications: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int, PolicyRun], None] | None = None,
    checkpoint: Checkpoint | None = None,
    resume: bool = False,
) -> ScenarioResults:
    """Run ``scenario`` and return its tables.

    Parameters
    ----------
    seed, replications
        Override the scenario's values.
    workers
        Processes on this machine (1: run here, in this process).
    scheduler
        Address of a Dask distributed scheduler (``tcp://host:8786``); replications run on
        its workers, which must be able to import waifang (and read the account tape, if
        the scenario has one, at the same path). Overrides ``workers``.
    progress
        Called with (units done, units, the PolicyRun just finished) as each policy finishes
        a replication (a unit: :mod:`waifang.scenarios.execution`).
    checkpoint, resume
        Keep each finished unit in ``checkpoint`` as it finishes; with ``resume``, reuse the
        units an interrupted run of the same scenario kept there
        (:mod:`waifang.scenarios.checkpoint`). The caller discards the checkpoint once the
        results are safely written.
    """
    seed, replications = check_run_options(scenario, seed, replications, workers)
    departures = check_policies(scenario)
    started = datetime.now(timezone.utc)
    runs = run_units([scenario], seed, replications, workers=workers, scheduler=scheduler,
                     progress=progress, checkpoint=checkpoint, resume=resume)
    return tabulate(
        scenario,
        runs[0],
        seed=seed,
        replications=replications,
        workers=workers,
        scheduler=scheduler,
        departures=departures,
        started=started,
    )


def check_run_options(
    scenario: Scenario, seed: int | None, replications: int | None, workers: int
) -> tuple[int, int]:
    """The run's seed and replications (the scenario's unless overridden), checked as
    ``waifang run`` checks its flags (:func:`~waifang.scenarios.preflight.check_request`)."""
    from waifang.scenarios.preflight import RunRequest, check_request

    return check_request(scenario, RunRequest(seed, replications, workers))


def run_units(
    scenarios: list[Scenario],
    seed: int,
    replications: int,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int, PolicyRun], None] | None = None,
    checkpoint: Checkpoint | None = None,
    resume: bool = False,
) -> list[list[PolicyRun]]:
    """Every policy of every scenario on every replication; per scenario, its runs."""
    from waifang.scenarios.checkpoint import fingerprint
    from waifang.scenarios.execution import all_units, execute

    units = all_units(len(scenarios), replications, len(scenarios[0].policies))
    done: dict = {}
    if checkpoint is not None:
        done = checkpoint.start(fingerprint(scenarios, seed, replications), resume=resume)
        done = {u: run for u, run in done.items() if u in set(units)}
    total = len(units)
    count = len(done)

    def on_done(unit, run) -> None:
        nonlocal count
        if checkpoint is not None:
            checkpoint.save(unit, run)
        count += 1
        if progress:
            # A sweep's progress names the point too (a plain run has one point).
            shown = run if len(scenarios) == 1 else _AtPoint(run.policy, run.replication,
                                                            unit.point)
            progress(count, total, shown)

    todo = [u for u in units if u not in done]
    finished = {**done, **execute(scenarios, todo, seed, workers=workers,
                                  scheduler=scheduler, on_done=on_done)}
    return [
        [finished[u] for u in sorted(finished) if u.point == k] for k in range(len(scenarios))
    ]


@dataclass(frozen=True)
class _AtPoint:
    """What a sweep's progress shows of a finished unit."""

    policy: str
    replication: int
    point: int


def check_policies(scenario: Scenario) -> dict[str, tuple[str, ...]]:
    """Resolve every policy's rules and read the tape before any work starts, so that a bad
    override or a segment the tape lacks fails fast; return each policy's departures."""
    departures = {p.name: scenario.rules_for(i)[1] for i, p in enumerate(scenario.policies)}
    check_tape(scenario)
    return departures


def check_tape(scenario: Scenario) -> None:
    """Read the tape once here, so that a bad tape or a rule naming a segment the tape lacks
    fails in one line before any worker starts."""
    if scenario.tape_path() is None:
        return
    from waifang.scenarios.preflight import tape_portfolio

    tape_portfolio(scenario)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def tabulate(
    scenario: Scenario,
    runs: Iterable[PolicyRun],
    *,
    seed: int,
    replications: int,
    workers: int = 1,
    scheduler: str | None = None,
    departures: dict[str, tuple[str, ...]] | None = None,
    started: datetime | None = None,
) -> ScenarioResults:
    """Turn the runs into the summary, comparison, daily and blocked-by-rule tables."""
    order = {p.name: i for i, p in enumerate(scenario.policies)}
    runs = sorted(runs, key=lambda run: (order[run.policy], run.replication))
    summary_rows = []
    for run in runs:
        missing = [c for c in SUMMARY_COLUMNS if c not in run.summary]
        if missing:
            raise RuntimeError(f"the engine's summary lacks {missing} (policy {run.policy!r})")
        extra = sorted(set(run.summary) - set(SUMMARY_COLUMNS))
        row = {"policy": run.policy, "replication": run.replication}
        row.update({c: run.summary[c] for c in (*SUMMARY_COLUMNS, *extra)})
        summary_rows.append(row)
    summary = round_money(pd.DataFrame(summary_rows))  # money in cents, as written

    daily_frames = []
    for run in runs:
        frame = pd.DataFrame({c: np.asarray(v) for c, v in run.daily.items()})
        columns = [c for c in DAILY_COLUMNS if c in frame] + sorted(
            set(frame.columns) - set(DAILY_COLUMNS)
        )
        frame = frame[columns]
        frame.insert(0, "replication", run.replication)
        frame.insert(0, "policy", run.policy)
        daily_frames.append(frame)
    daily = round_money(
        pd.concat(daily_frames, ignore_index=True) if daily_frames else pd.DataFrame()
    )

    blocked_rows = []
    for policy in scenario.policies:
        mine = [run for run in runs if run.policy == policy.name]
        for rule in RULES:
            total = sum(int(run.blocked_by_rule.get(rule, 0)) for run in mine)
            blocked_rows.append(
                {
                    "policy": policy.name,
                    "rule": rule,
                    "blocked": total,
                    "blocked_per_replication": total / max(len(mine), 1),
                }
            )
    blocked = pd.DataFrame(blocked_rows)

    audit = None
    audit_frames = []
    for run in runs:
        if run.audit is not None:
            frame = pd.DataFrame({c: np.asarray(v) for c, v in run.audit.items()})
            frame.insert(0, "replication", run.replication)
            frame.insert(0, "policy", run.policy)
            audit_frames.append(frame)
    if audit_frames:
        audit = pd.concat(audit_frames, ignore_index=True)

    if departures is None:
        departures = {}
        for run in runs:
            departures.setdefault(run.policy, run.departures)
    return ScenarioResults(
        scenario=scenario,
        seed=seed,
        replications=replications,
        workers=workers,
        scheduler=scheduler,
        summary=summary,
        comparison=compare(summary, champion=scenario.champion),
        daily=daily,
        blocked_by_rule=blocked,
        departures={p.name: tuple(departures.get(p.name, ())) for p in scenario.policies},
        audit=audit,
        started=started or datetime.now(timezone.utc),
        finished=datetime.now(timezone.utc),
    )


def t_interval(values: np.ndarray, level: float = CONFIDENCE) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of ``values`` (NaN bounds for fewer than 2).

    >>> mean, low, high = t_interval(np.array([1.0, 2.0, 3.0]))
    >>> mean, round(low, 3), round(high, 3)
    (2.0, -0.484, 4.484)
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    mean = float(values.mean()) if n else math.nan
    if n < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half


def compare(summary: pd.DataFrame, champion: str) -> pd.DataFrame:
    """Per policy and metric: mean with its CI, and the paired difference vs ``champion``.

    The difference is taken replication by replication (both ran on the same portfolio and
    seed), so its interval is usually much narrower than the two means' intervals suggest.
    """
    metrics = [
        c
        for c in summary.columns
        if c not in ("policy", "replication") and pd.api.types.is_numeric_dtype(summary[c])
    ]
    base = summary[summary["policy"] == champion].set_index("replication")
    rows = []
    for policy, group in summary.groupby("policy", sort=False):
        group = group.set_index("replication")
        paired = group.index.intersection(base.index)
        for metric in metrics:
            values = group[metric].to_numpy(dtype=np.float64)
            mean, low, high = t_interval(values)
            diff = (group.loc[paired, metric] - base.loc[paired, metric]).to_numpy(np.float64)
            diff_mean, diff_low, diff_high = t_interval(diff)
            rows.append(
                {
                    "policy": policy,
                    "metric": metric,
                    "n": int(values.size),
                    "mean": mean,
                    "std": float(np.std(values, ddof=1)) if values.size > 1 else math.nan,
                    "ci_low": low,
                    "ci_high": high,
                    "champion": champion,
                    "diff_vs_champion": diff_mean,
                    "diff_ci_low": diff_low,
                    "diff_ci_high": diff_high,
                    **_certainty(values, base[metric].to_numpy(np.float64), policy == champion),
                }
            )
    table = pd.DataFrame(rows)
    if "replications_needed" in table:
        table["replications_needed"] = table["replications_needed"].astype("Int64")
    return table


def _certainty(values: np.ndarray, champion: np.ndarray, is_champion: bool) -> dict[str, float]:
    """The unpaired (Welch) interval of the difference and the replications a +-1 % interval
    on the mean needs (:mod:`waifang.scenarios.statistics`). The champion's difference to
    itself is 0 either way, as in the paired columns."""
    from waifang.scenarios.statistics import low_percentile, replications_needed, welch_interval

    low, high = (0.0, 0.0) if is_champion else welch_interval(values, champion)
    return {
        "unpaired_diff_ci_low": low,
        "unpaired_diff_ci_high": high,
        "replications_needed": replications_needed(values),
        "p05": low_percentile(values),  # last: the column order is a contract
    }
