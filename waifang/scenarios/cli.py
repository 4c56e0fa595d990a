"""The ``waifang`` command: a thin shell over the public API.

Each sub-command loads, builds, runs and saves through the same functions a notebook calls.
An :class:`~waifang.errors.InputError` becomes one line on stderr and exit code 1; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from waifang.errors import InputError


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is bad input like any other: one line, exit code 1."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="waifang",
        description="Simulate collection policies and choose field visits by optimisation.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _command_modules():
        module.register(sub)
    return parser


def _command_modules():
    # Imported lazily so `waifang --help` stays fast and one broken command cannot hide others.
    from waifang.scenarios import (
        calibrate_commands,
        candidates_command,
        optimise_commands,
        run_commands,
        sweep_commands,
    )

    return [run_commands, optimise_commands, sweep_commands, calibrate_commands,
            candidates_command]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.handler(args) or 0)
    except InputError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
