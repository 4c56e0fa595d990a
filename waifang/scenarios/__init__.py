"""Scenario files, their runs and reports, and the ``waifang`` command.

Public entry points (imported on first use, so ``waifang --help`` stays fast)::

    from waifang.scenarios import load_scenario, run_scenario, write_results
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Scenario": "waifang.scenarios.schema",
    "load_scenario": "waifang.scenarios.schema",
    "BASELINE": "waifang.scenarios.schema",
    "ScenarioResults": "waifang.scenarios.runner",
    "run_scenario": "waifang.scenarios.runner",
    "write_results": "waifang.scenarios.report",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'waifang.scenarios' has no attribute {name!r}")
