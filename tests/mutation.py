"""Mutation testing, one module at a time (a development tool, not part of CI).

    nice -n 10 python tests/mutation.py economics [--max-children 2]

copies the repository into ``.mutation/<module>/`` (ignored by git), narrows the project's
``[tool.mutmut]`` section there to the one module and the tests that exercise it, runs
``mutmut run`` and prints the killed / survived counts and the mutation score. The survivors
are listed with ``mutmut results`` run in that folder (``mutmut show NAME`` shows a diff);
tests/MUTANTS.md keeps the scores and the reasons survivors were left.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module -> (file to mutate, the tests that exercise it: fast ones only)
MODULES: dict[str, tuple[str, list[str]]] = {
    "economics": (
        "waifang/sim/economics.py",
        ["tests/test_money_exact.py", "tests/test_sim_money.py"],
    ),
    "compliance": (
        "waifang/sim/compliance.py",
        [
            "tests/test_post_checks.py",
            "tests/test_sim_compliance.py",
            "tests/test_planted_bug_guards.py",
            "tests/test_reference_units.py",
            "tests/test_sim_review_fixes.py",
        ],
    ),
    "behaviour": (
        "waifang/sim/behaviour.py",
        [
            "tests/test_money_exact.py",
            "tests/test_sim_money.py",
            "tests/test_sim_review_fixes.py",
            "tests/test_reference_units.py",
            "tests/test_planted_bug_guards.py",
        ],
    ),
    "problem": (
        "waifang/optimise/problem.py",
        [
            "tests/optimise/test_inputs_cli.py",
            "tests/optimise/test_solvers.py",
            "tests/optimise/test_duals.py",
        ],
    ),
    "runner": (
        "waifang/scenarios/runner.py",
        ["tests/test_scenario_runner.py", "tests/test_output_contracts.py"],
    ),
    "report": (
        "waifang/scenarios/report.py",
        ["tests/test_output_contracts.py", "tests/test_cli_run.py"],
    ),
}
COPY = ("waifang", "tests", "benchmarks", "notebooks", "README.md", "pyproject.toml")


def prepare(module: str) -> Path:
    target, tests = MODULES[module]
    work = ROOT / ".mutation" / module
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    # The product code as committed (a bug planted by tests/planted_bugs.py in the working
    # tree must not leak in); the tests as they are in the working tree.
    archive = subprocess.run(["git", "archive", "HEAD", "waifang"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    for name in COPY:
        source = ROOT / name
        if name == "waifang":
            continue
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, work / name)
    pyproject = (work / "pyproject.toml").read_text()
    section = "\n".join(
        [
            "[tool.mutmut]",
            'source_paths = ["waifang"]',
            f'only_mutate = ["{target}"]',
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-o", "addopts=",'
            ' "-k", "not dask and not process_pool and not notebook"]',
            f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
            'also_copy = ["benchmarks", "notebooks", "README.md"]',
            "",
        ]
    )
    pyproject = re.sub(r"\[tool\.mutmut\]\n(?:.*\n)*?(?=\n\[)", section, pyproject)
    (work / "pyproject.toml").write_text(pyproject)
    return work


def widen_test_selection(work: Path) -> None:
    """For each function, every test of each test file that reaches it."""
    path = work / "mutants" / "mutmut-stats.json"
    stats = json.loads(path.read_text())
    by_file: dict[str, set[str]] = {}
    for test in stats["duration_by_test"]:
        by_file.setdefault(test.split("::", 1)[0], set()).add(test)
    tests = stats["tests_by_mangled_function_name"]
    for function, reached in tests.items():
        files = {t.split("::", 1)[0] for t in reached}
        wider = set(reached).union(*(by_file.get(f, set()) for f in files))
        tests[function] = sorted(wider)
    path.write_text(json.dumps(stats))


def main(argv: list[str]) -> int:
    modules = [a for a in argv if not a.startswith("--")] or list(MODULES)
    children = "2"
    if "--max-children" in argv:
        children = argv[argv.index("--max-children") + 1]
        modules = [m for m in modules if m != children]
    for module in modules:
        work = prepare(module)
        dotted = MODULES[module][0][:-3].replace("/", ".")
        # Phase 1: mutants and the map from each function to the tests that reach it (no
        # mutant matches the name). mutmut credits a function to the first test that reached
        # it, so a module-scoped fixture's run is credited to one test only; phase 2 then
        # runs every test of the files that reach the function.
        subprocess.run(["mutmut", "run", "--max-children", children, f"{dotted}.__none__*"],
                       cwd=work)
        widen_test_selection(work)
        subprocess.run(["mutmut", "run", "--max-children", children, f"{dotted}*"], cwd=work)
        subprocess.run(["mutmut", "export-cicd-stats"], cwd=work, capture_output=True)
        stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
        killed, survived = stats["killed"], stats["survived"]
        rest = {k: v for k, v in stats.items() if k not in ("killed", "survived") and v}
        score = 100.0 * killed / max(killed + survived, 1)
        print(f"{module}: {killed} killed, {survived} survived ({score:.1f} %); other: {rest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
