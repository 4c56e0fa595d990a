"""The ``backend`` fixture: every solver backend, skipped when not installed."""

from __future__ import annotations

import pytest
from optimise_cases import backend_params

from waifang.optimise.solve import solve


@pytest.fixture(params=backend_params())
def backend(request):
    """A function ``run(problem, **kw) -> Result`` for one backend."""
    name, solver = request.param

    def run(problem, **kw):
        kw.setdefault("gap", 1e-9)
        return solve(problem, backend=name, solver=solver, **kw)

    run.name = f"{name}-{solver}"
    return run
