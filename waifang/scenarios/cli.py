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
        visit_budgets,
    )

    return [run_commands, optimise_commands, sweep_commands, calibrate_commands,
            candidates_command, visit_budgets]


def split_debug(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--debug`` wherever it stands (before a ``--``), and whether it was
    there: ``waifang run x.toml --debug`` works as well as ``waifang --debug run x.toml``."""
    argv = list(argv)
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    return [a for a in argv[:end] if a != "--debug"] + argv[end:], debug


def main(argv: Sequence[str] | None = None) -> int:
    argv, debug = split_debug(sys.argv[1:] if argv is None else argv)
    if debug:
        argv = ["--debug", *argv]
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
        return code
    except InputError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    except MemoryError:
        if debug:
            raise
        from waifang.scenarios.preflight import out_of_memory_message

        print(f"error: {out_of_memory_message(None)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``waifang validate x.toml | head -3``): results already
        # written stay; stop quietly, as a program killed by SIGPIPE would, and point stdout
        # at nothing so that the interpreter's last flush does not raise again.
        if debug:
            raise
        _silence_stdout()
        return 141


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file: nothing left to flush
        pass


if __name__ == "__main__":
    sys.exit(main())
