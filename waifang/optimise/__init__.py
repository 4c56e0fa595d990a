r"""Choose which delinquent accounts get which costly treatment, by LP/MIP.

Spec -> build -> (hook) -> solve -> checked result, then reasons and frontiers:

>>> import tempfile, pathlib
>>> from waifang.optimise import load_problem, solve, explain
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "C.csv").write_text(
...     "account_id,option,region,value,cost\n"
...     "a,visit,north,900,300\nb,visit,north,700,300\nb,legal,north,650,100\n"
... )
>>> _ = (folder / "K.csv").write_text("region,option,limit\nnorth,visit,1\n")
>>> problem = load_problem(folder / "C.csv", folder / "K.csv", budget=1_000)
>>> result = solve(problem, gap=1e-4)
>>> result.status.value, result.objective
('optimal', 1150.0)
>>> explain(problem, result).tolist()[2].split(":")[0]
'chosen'
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
