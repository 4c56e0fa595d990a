"""An output folder holds one run: the files a run owns are the ones its manifest lists.

A re-run into the same folder replaces the files it writes again and removes the ones the
earlier manifest lists that it no longer writes (``daily.parquet`` after a switch to CSV,
``audit.csv`` after ``audit = "counts"``, a chart of a policy since removed), so that no file
from another seed or scenario sits beside the new ones. Anything a manifest does not list
(a user's notes, other tools' files) is never touched; neither is anything outside the folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

MANIFEST = "manifest.json"


def owned_files(out: Path) -> set[str]:
    """Names of the files the manifest in ``out`` lists (empty if none or unreadable)."""
    try:
        listed = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    if not isinstance(listed, list):
        return set()
    # Plain names in this folder only: a manifest naming "../x" or a hidden file owns nothing.
    return {
        name
        for name in listed
        if isinstance(name, str) and name and Path(name).name == name and not name.startswith(".")
    }


def remove_stale(out: Path, earlier: Iterable[str], written: Iterable[str]) -> list[str]:
    """Remove the earlier run's files that this run did not write; return their names."""
    removed = []
    for name in sorted(set(earlier) - set(written)):
        path = out / name
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(name)
    return removed
