"""The user hook between build and solve, solver plug-in by name, and the auto backend."""

from __future__ import annotations

import pandas as pd
import pulp
import pytest

from waifang.errors import InputError
from waifang.optimise.problem import Capacity, make_problem
from waifang.optimise.pulp_model import build_pulp_model, solver_available
from waifang.optimise.solve import solve
from waifang.optimise.synthetic import synthetic_instance

FRAME = pd.DataFrame(
    {
        "account_id": ["a", "b", "c"],
        "option": ["visit"] * 3,
        "region": ["n"] * 3,
        "value": [100.0, 80.0, 60.0],
        "cost": [10.0, 10.0, 10.0],
    }
)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_hook_sees_the_model_and_its_constraint_counts(solver):
    if not solver_available(solver):
        pytest.skip(f"pulp solver {solver} not installed")
    problem = make_problem(FRAME, [Capacity("n", "visit", limit=2)], budget=100)
    seen = {}

    def hook(model):
        seen["names"] = set(model.coupling)
        # A business rule the spec does not have: account "a" may not be visited.
        a_rows = [
            j for j in range(problem.n_candidates) if problem.account_ids[problem.account[j]] == "a"
        ]
        model.lp += pulp.lpSum(model.x[j] for j in a_rows) == 0, "no_visit_a"

    result = solve(problem, backend="pulp", solver=solver, hook=hook, gap=1e-9)
    assert seen["names"] == {"budget", "capacity[n/visit].count"}
    assert sorted(problem.account_ids[problem.account[result.chosen]]) == ["b", "c"]
    assert result.objective == pytest.approx(70 + 50)


def test_pulp_model_reads_like_the_problem():
    problem = make_problem(FRAME, [Capacity("n", "visit", limit=2)], budget=25)
    model = build_pulp_model(problem)
    assert len(model.x) == 3 and len(model.one_per_account) == 3
    assert model.coupling["budget"].constant == -25
    assert model.lp.sense == pulp.LpMaximize


def test_unknown_solver_is_a_named_input_error():
    problem = make_problem(FRAME, [], budget=25)
    with pytest.raises(InputError, match="solver 'nosuch' is not available"):
        solve(problem, solver="nosuch")
    with pytest.raises(InputError, match="decompose backend solves with HiGHS"):
        solve(problem, backend="decompose", solver="cbc")
    with pytest.raises(InputError, match="hook needs the pulp backend"):
        solve(problem, backend="decompose", hook=lambda m: None)


def test_auto_backend_with_a_hook_uses_pulp_at_any_size(monkeypatch):
    import importlib

    solve_module = importlib.import_module("waifang.optimise.solve")
    monkeypatch.setattr(solve_module, "PULP_MAX_CANDIDATES", 1)  # "large"
    problem = make_problem(FRAME, [Capacity("n", "visit", limit=2)], budget=100)
    called = []
    result = solve(problem, hook=called.append)
    assert result.solver.startswith("pulp/") and len(called) == 1


def test_auto_backend_switches_by_size(monkeypatch):
    import importlib

    # The package exports the function `solve`, which hides the module of the same name.
    solve_module = importlib.import_module("waifang.optimise.solve")

    inst = synthetic_instance(300, n_regions=2, seed=3)
    problem = make_problem(inst.candidates, inst.capacities, inst.budget)
    assert solve(problem).solver.startswith("pulp/")
    monkeypatch.setattr(solve_module, "PULP_MAX_CANDIDATES", 100)
    large = solve(problem)
    assert large.solver == "decompose/highs"
    assert large.status.has_plan
