"""What a run shows while it works, on stderr.

On a terminal: a rich progress bar with the units done (a policy on a replication), the
policy and replication that just finished, and the time left. Written to a file or a pipe:
one plain line per finished unit, with no control codes. With ``quiet``: nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO


@contextmanager
def progress_reporter(
    title: str, *, quiet: bool = False, stream: TextIO | None = None
) -> Iterator[Callable[[int, int, Any], None]]:
    """A ``progress(done, total, run)`` callback for :func:`~waifang.scenarios.runner.run_scenario`
    and sweeps, showing on ``stream`` (stderr by default) while the block runs."""
    stream = sys.stderr if stream is None else stream
    if quiet:
        yield lambda done, total, run: None
        return
    if not _is_terminal(stream):
        def plain(done: int, total: int, run: Any) -> None:
            print(f"{title}: {done}/{total} done ({_label(run)})", file=stream, flush=True)

        yield plain
        return

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=stream)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[current]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with bar:
        task = bar.add_task(title, total=None, current="starting")

        def update(done: int, total: int, run: Any) -> None:
            bar.update(task, completed=done, total=total, current=_label(run))

        yield update


def _label(run: Any) -> str:
    point = getattr(run, "point", None)
    where = f"point {point}, " if point is not None else ""
    return f"{where}policy {run.policy}, replication {run.replication}"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
