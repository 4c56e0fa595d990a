"""A plain `pip install -e .` (the README's first set-up command) gets every package that the
code imports at module level: a package imported at the top of a module under waifang/ must be
in pyproject's [project] dependencies, not only in an extra such as `dev`, which CI installs
(so a run of the tests alone would never notice)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
# Import name -> distribution name, where they differ.
DISTRIBUTION = {"tomli": "tomli"}


def module_level_imports(source: str) -> set[str]:
    """Top-level packages imported when the module is imported: its own statements, including
    those inside a top-level try/if (not those inside functions or classes)."""
    found: set[str] = set()
    pending = list(ast.parse(source).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, (ast.Try, ast.If)):
            pending += node.body + node.orelse + getattr(node, "finalbody", [])
            pending += [s for h in getattr(node, "handlers", []) for s in h.body]
    return found


def base_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {re.match(r"[A-Za-z0-9_.\-]+", d).group(0).lower() for d in project["dependencies"]}


def third_party(names: set[str]) -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n != "waifang"}


def test_the_reader_finds_imports_at_module_level_only():
    source = ("import numpy as np\nfrom pandas import DataFrame\nimport os\n"
              "try:\n    import tomllib\nexcept ModuleNotFoundError:\n    import tomli\n"
              "def f():\n    import dask\n")
    assert third_party(module_level_imports(source)) == {"numpy", "pandas", "tomli"}


def test_every_module_level_import_is_a_base_dependency():
    base = base_dependencies()
    missing = {}
    for path in sorted((ROOT / "waifang").rglob("*.py")):
        for name in third_party(module_level_imports(path.read_text())):
            if DISTRIBUTION.get(name, name).lower() not in base:
                missing.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"imported at module level but only in an extra: {missing}"
