"""Choose which delinquent accounts get which costly treatment, by LP/MIP.

Spec -> build -> (hook) -> solve -> checked result, then reasons and frontiers:

>>> from waifang.optimise import load_problem, solve, explain
>>> problem = load_problem("C.csv", "K.csv", budget=250_000)      # doctest: +SKIP
>>> result = solve(problem, gap=1e-4)                              # doctest: +SKIP
>>> result.status, result.objective, result.budget_price           # doctest: +SKIP
"""

from waifang.optimise.explain import explain, reasons_frame
from waifang.optimise.frontier import budget_frontier, save_frontier, scale_capacity
from waifang.optimise.greedy import greedy
from waifang.optimise.io import load_problem, write_plan
from waifang.optimise.problem import Capacity, Exclusions, Problem, Quota, make_problem
from waifang.optimise.result import Result, Status, check_plan, plan_frame
from waifang.optimise.solve import solve

__all__ = [
    "Capacity",
    "Exclusions",
    "Problem",
    "Quota",
    "Result",
    "Status",
    "budget_frontier",
    "check_plan",
    "explain",
    "greedy",
    "load_problem",
    "make_problem",
    "plan_frame",
    "reasons_frame",
    "save_frontier",
    "scale_capacity",
    "solve",
    "write_plan",
]
