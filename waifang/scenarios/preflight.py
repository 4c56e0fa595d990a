"""Everything ``waifang run`` would refuse, checked before any simulation starts.

``waifang validate`` and ``waifang run`` call the same :func:`preflight`, so a scenario that
validates does not fail later for a reason that could have been seen from the file: the schema
(keys, bounds, finite numbers, cross-field rules; :mod:`waifang.scenarios.schema`), every
policy's resolved compliance rules, the account tape read in full, the command-line overrides
against the schema's caps, the output format's library, and the memory the portfolio needs.

It returns what it checked, as short phrases ``validate`` prints under its ``ok``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from waifang.errors import InputError
from waifang.scenarios.schema import Scenario

BYTES_PER_ACCOUNT = 600
"""Peak memory of one replication per account (portfolio, state, daily tables; measured at
450-570 bytes on the baseline at 0.1-0.4 M accounts, rounded up). Each worker process holds
one replication at a time."""

MAX_SEED = 2**63 - 1
"""Largest ``seed`` / ``--seed`` (a seed is stored as a signed 64-bit integer in the outputs)."""


@dataclass(frozen=True)
class RunRequest:
    """What the command line asks on top of the scenario (None: the scenario's value)."""

    seed: int | None = None
    replications: int | None = None
    workers: int = 1


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def accounts_that_fit(processes: int = 1, memory: int | None = None) -> int | None:
    """How many accounts a run with ``processes`` concurrent replications can hold."""
    memory = available_memory() if memory is None else memory
    if memory is None:
        return None
    return int(memory // (BYTES_PER_ACCOUNT * max(processes, 1)))


def out_of_memory_message(accounts: int | None, processes: int = 1) -> str:
    """One line for a run that ran out of memory: what it needed and what fits."""
    fit = accounts_that_fit(processes)
    need = f"{accounts:,} accounts" if accounts else "the portfolio"
    per = f" in each of {processes} worker processes" if processes > 1 else ""
    if fit is None:
        return f"out of memory: {need} do not fit{per}; use fewer accounts or workers"
    return (
        f"out of memory: {need} do not fit{per}; about {fit:,} accounts fit in the "
        f"{available_memory() / 2**30:.1f} GiB available (at ~{BYTES_PER_ACCOUNT} bytes each)"
    )


def check_request(scenario: Scenario, request: RunRequest) -> tuple[int, int]:
    """The seed and replications a run will use, refused past the schema's bounds."""
    cap = Scenario.model_fields["replications"].metadata
    max_reps = min(int(m.le) for m in cap if hasattr(m, "le"))
    seed = scenario.seed if request.seed is None else int(request.seed)
    reps = scenario.replications if request.replications is None else int(request.replications)
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"--seed: must be in 0..{MAX_SEED} (got {seed})")
    if not 1 <= reps <= max_reps:
        raise InputError(
            f"--replications: must be in 1..{max_reps:,}, the scenario's cap (got {reps:,})"
        )
    if request.workers < 1:
        raise InputError(f"--workers: must be at least 1 (got {request.workers})")
    return seed, reps


def check_visit_windows(scenario: Scenario) -> None:
    """Each region's teams have time for a visit inside the hours every policy that asks for
    visits must keep (their working day overlaps the rules' visit hours); otherwise its teams
    would stand idle while the requests wait and drop, a capacity of zero in disguise."""
    where = f"{scenario.path}: " if scenario.path else ""
    for i, policy in enumerate(scenario.policies):
        if not any(rule.action == "visit" for rule in policy.rules):
            continue
        rules, _ = scenario.rules_for(i)
        for k, region in enumerate(scenario.resources.regions):
            start = max(region.start_hour, rules.visit_start_hour)
            end = min(region.end_hour, rules.visit_end_hour)
            if region.teams and end <= start:
                raise InputError(
                    f"{where}resources.regions[{k}]: the teams of region {region.name!r} work "
                    f"{region.start_hour:g}-{region.end_hour:g}, outside the visit hours "
                    f"{rules.visit_start_hour:g}-{rules.visit_end_hour:g} policy "
                    f"{policy.name!r} must keep: no visit can be made"
                )


def check_output_format(scenario: Scenario) -> None:
    """The libraries the output options need are installed (found now, not after the run)."""
    if scenario.output.daily_format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            where = f"{scenario.path}: " if scenario.path else ""
            raise InputError(
                f"{where}output.daily_format: 'parquet' needs pyarrow "
                "(pip install 'waifang[parquet]'), or use 'csv'"
            ) from None


def check_memory(scenario: Scenario, accounts: int, processes: int) -> str:
    """Refuse a portfolio that cannot fit; return the estimate for the report."""
    need = accounts * BYTES_PER_ACCOUNT * processes
    memory = available_memory()
    if memory is not None and need > memory:
        where = f"{scenario.path}: " if scenario.path else ""
        key = "portfolio.tape" if scenario.tape_path() is not None else "portfolio.accounts"
        fit = accounts_that_fit(processes, memory)
        per = f" x {processes} worker processes" if processes > 1 else ""
        raise InputError(
            f"{where}{key}: {accounts:,} accounts{per} need about {need / 2**30:.1f} GiB of "
            f"memory, {memory / 2**30:.1f} GiB is available; about {fit:,} accounts fit"
        )
    have = f" of {_size(memory)} available" if memory is not None else ""
    return f"memory: about {_size(need)}{have}"


def _size(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def preflight(scenario: Scenario, request: RunRequest | None = None) -> list[str]:
    """Check everything a run would refuse, short of running it; return what was checked."""
    request = request or RunRequest()
    _, reps = check_request(scenario, request)
    checked = [
        "keys, types and bounds (finite numbers), cross-field rules",
        f"{len(scenario.policies)} policies: rungs and resolved compliance rules",
    ]
    for i in range(len(scenario.policies)):
        scenario.rules_for(i)
    check_visit_windows(scenario)
    check_output_format(scenario)
    checked.append(f"output: daily.{scenario.output.daily_format}, audit {scenario.output.audit}")
    if scenario.tape_path() is not None:
        accounts = _check_tape(scenario)
        checked.append(f"tape {scenario.tape_path()}: {accounts:,} accounts, every row")
    else:
        accounts = scenario.portfolio.accounts
        checked.append(
            f"{accounts:,} generated accounts in {len(scenario.portfolio.segments)} segments"
        )
    processes = min(request.workers, reps)
    checked.append(check_memory(scenario, accounts, processes))
    return checked


def tape_portfolio(scenario: Scenario):
    """The scenario's tape read in full (bad rows are found now, not mid-run), with every
    policy's segments checked against it; the Portfolio (the run's own check, too)."""
    import numpy as np

    from waifang.scenarios.execution import build_portfolio
    from waifang.sim.policy import LadderPolicy

    portfolio = build_portfolio(scenario, np.random.default_rng(0))
    for i, spec in enumerate(scenario.policies):
        try:
            LadderPolicy(spec, portfolio.segment_names)
        except InputError as err:
            raise InputError(f"{scenario.path}: policies[{i}]: {err}") from None
    return portfolio


def _check_tape(scenario: Scenario) -> int:
    """:func:`tape_portfolio`, and every risk-transfer contract's segments against the tape;
    return the number of accounts."""
    portfolio = tape_portfolio(scenario)
    for i, contract in enumerate(scenario.risk_transfer):
        for name in contract.segments or ():
            if name not in portfolio.segment_names:
                raise InputError(
                    f"{scenario.path}: risk_transfer[{i}].segments: contract {contract.name!r}: "
                    f"unknown segment {name!r}; the tape's segments are "
                    f"{list(portfolio.segment_names)}"
                )
    return len(portfolio)


def probe_scheduler(address: str, seconds: float) -> None:
    """Refuse, within ``seconds``, an address where no Dask scheduler completes the handshake.

    ``Client(address, timeout=...)`` bounds the TCP connect but not the handshake (dask/
    distributed issue 8071), so pointed at a port where something else answers (an HTTP
    server, such as the scheduler's own dashboard on 8787) it waits for ever. The probe runs
    dask's own connect and handshake under a hard deadline, in a thread of its own so that it
    works under a running event loop (a notebook) as well.
    """
    if "://" in address and not address.startswith(("tcp://", "tls://")):
        return  # inproc:// and the like live in this process: nothing else can answer there
    import asyncio
    import threading

    from distributed.comm import connect

    outcome: list[BaseException | None] = []

    async def handshake() -> None:
        # A little grace beyond dask's own connect timeout, so that its clearer error (refused,
        # unknown host) wins whenever it has one; only a stalled handshake reaches the deadline.
        comm = await asyncio.wait_for(connect(address, timeout=seconds), seconds + 2)
        await comm.close()

    def probe() -> None:
        try:
            asyncio.run(handshake())
            outcome.append(None)
        except BaseException as err:  # noqa: BLE001 - reported below as one line
            outcome.append(err)

    thread = threading.Thread(target=probe, name="waifang-scheduler-probe", daemon=True)
    thread.start()
    thread.join(seconds + 7)
    err = outcome[0] if outcome else TimeoutError()
    if err is None:
        return
    if isinstance(err, (TimeoutError, asyncio.TimeoutError)):
        raise InputError(
            f"--scheduler: no Dask scheduler answered at {address!r} within {seconds + 2:g} s "
            "(something else may listen there: a scheduler listens on 8786 by default, "
            "its dashboard on 8787)"
        )
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    raise InputError(f"--scheduler: cannot connect to {address!r} ({first})")
