"""Finished work kept on disk while a run or sweep goes on, so a killed run can resume.

The checkpoint is a hidden folder ``DIR/.waifang-partial``: a ``fingerprint.json`` that says
what is being run (every scenario as validated, the seed, the replications, the tape's
digest and the waifang version) and one pickle per finished unit (a policy on a replication
of a sweep point), each written under a temporary name and renamed into place, so a kill
leaves either the whole unit or nothing. ``--resume`` loads the finished units, checks that
the fingerprint is that of the run asked for, and runs only the rest; because every unit
is a pure function of (scenario, seed, replication, policy), the final tables are exactly
those of an uninterrupted run. When the final files have been written, the folder is
removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import secrets
import shutil
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from waifang.errors import InputError
from waifang.scenarios.execution import Unit
from waifang.scenarios.schema import Scenario

FOLDER = ".waifang-partial"


def fingerprint(scenarios: Sequence[Scenario], seed: int, replications: int) -> dict[str, Any]:
    """What a run computes, as a JSON-able dict: equal fingerprints, equal results."""
    digests = []
    for scenario in scenarios:
        tape = scenario.tape_path()
        digests.append(
            hashlib.sha256(tape.read_bytes()).hexdigest() if tape and tape.is_file() else None
        )
    try:
        version = metadata.version("waifang")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        version = "unknown"
    return {
        "scenarios": [s.model_dump(mode="json") for s in scenarios],
        "tapes": digests,
        "seed": int(seed),
        "replications": int(replications),
        "waifang": version,
    }


class Checkpoint:
    """The finished units of one run in ``out/.waifang-partial``."""

    def __init__(self, out: str | Path, print_name: str | None = None) -> None:
        self.folder = Path(out) / FOLDER
        self.out = Path(out)
        self._name = print_name or str(out)

    def start(self, fp: dict[str, Any], *, resume: bool) -> dict[Unit, Any]:
        """Begin (or, with ``resume``, continue) the run with fingerprint ``fp``; return the
        units already finished (none unless resuming)."""
        if not resume:
            self.discard()
            self.folder.mkdir(parents=True)
            _atomic_write(self.folder / "fingerprint.json", _dumps(fp).encode("utf-8"))
            return {}
        stored = self.folder / "fingerprint.json"
        if not stored.is_file():
            raise InputError(
                f"--resume: {self._name} holds no unfinished run (run without --resume)"
            )
        try:
            old = json.loads(stored.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputError(f"--resume: {stored}: unreadable ({err})") from None
        if old != json.loads(_dumps(fp)):
            raise InputError(
                f"--resume: {self._name} holds an unfinished run of {_differs(old, fp)}; "
                "run without --resume to start over"
            )
        done = {}
        for path in sorted(self.folder.glob("*.pkl")):
            try:
                with path.open("rb") as f:
                    unit, run = pickle.load(f)
            except Exception:  # a unit that cannot be read is simply run again
                continue
            done[unit] = run
        return done

    def save(self, unit: Unit, run: Any) -> None:
        """Keep a finished unit (atomically)."""
        _atomic_write(self.folder / f"{unit.key}.pkl", pickle.dumps((unit, run), protocol=5))

    def discard(self) -> None:
        """Remove the checkpoint (after the final files are written, or to start over)."""
        if self.folder.exists():
            shutil.rmtree(self.folder)


def _dumps(fp: dict[str, Any]) -> str:
    return json.dumps(fp, sort_keys=True, indent=1)


def _differs(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A short phrase naming what differs between two fingerprints."""
    new = json.loads(_dumps(new))
    if old.get("scenarios") != new.get("scenarios"):
        names = [s.get("name") for s in old.get("scenarios", [])][:1]
        return f"another scenario (or an edited one; it was {names[0]!r})" if names else (
            "another scenario"
        )
    for key in ("seed", "replications", "tapes", "waifang"):
        if old.get(key) != new.get(key):
            label = {"tapes": "tape", "waifang": "waifang version"}.get(key, key)
            return f"another {label} ({old.get(key)!r}, now {new.get(key)!r})"
    return "another run"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
