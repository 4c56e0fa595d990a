"""Command-line pieces the sub-commands share: the flags of a run (``run``, ``validate``,
``sweep``), the request they make of :func:`~waifang.scenarios.preflight.preflight`, and the
checks an output file gets before any work is done (``calibrate``, ``optimise``,
``frontier``, ``candidates``).

Light on purpose (argparse and pathlib): ``waifang --help`` imports every command module.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from waifang.errors import InputError

if TYPE_CHECKING:
    from waifang.scenarios.preflight import RunRequest


def add_run_flags(parser: argparse.ArgumentParser, note: str = "") -> None:
    """--seed, --replications and --workers (`validate` takes them too, and checks them
    exactly as `run` would, memory per worker included)."""
    suffix = f" ({note})" if note else ""
    parser.add_argument(
        "--seed", type=int, default=None, metavar="S", help=f"override the seed{suffix}"
    )
    parser.add_argument(
        "--replications",
        type=int,
        default=None,
        metavar="N",
        help=f"override the replications (at most 10,000){suffix}",
    )
    parser.add_argument(
        "--workers", type=int, default=1, metavar="K", help=f"local processes (default 1){suffix}"
    )


def add_execution_flags(parser: argparse.ArgumentParser, *, on_workers: str, resume: str) -> None:
    """--scheduler, --quiet and --resume of `run` and `sweep`; ``on_workers`` says what runs
    on the scheduler's workers, ``resume`` what --resume finishes."""
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR",
        help=f"Dask scheduler address (tcp://host:8786); {on_workers}",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the table")
    parser.add_argument("--resume", action="store_true", help=resume)


def run_request(args: argparse.Namespace) -> RunRequest:
    """What a run's flags ask of the scenario, for ``preflight`` (on a Dask scheduler this
    machine holds no replication, so its memory is checked for one process)."""
    from waifang.scenarios.preflight import RunRequest

    scheduler = getattr(args, "scheduler", None)
    return RunRequest(
        seed=args.seed,
        replications=args.replications,
        workers=1 if scheduler else args.workers,
    )


def check_output_file(flag: str, path: str | Path) -> Path:
    """Refuse an output file that cannot be written (no such folder, a folder in its place,
    a folder not writable), before any work is done; return it as a Path."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise InputError(f"{flag} {target}: folder {folder} does not exist")
    if target.is_dir():
        raise InputError(f"{flag} {target}: is a folder, not a file")
    if not os.access(folder, os.W_OK):
        raise InputError(f"{flag} {target}: folder {folder} is not writable")
    return target
