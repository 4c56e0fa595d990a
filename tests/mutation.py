"""Mutation testing, one module at a time (a development tool, not part of CI).

    nice -n 10 python tests/mutation.py economics [--max-children 2]
    nice -n 10 python tests/mutation.py compliance --sample 150 [--seed 0]
    nice -n 10 python tests/mutation.py compliance --names survivors.txt

copies the repository into ``.mutation/<module>/`` (ignored by git), narrows the project's
``[tool.mutmut]`` section there to the one module and the tests that exercise it, runs
``mutmut run`` and prints the killed / survived counts and the mutation score. ``--sample N``
runs a random sample of N of the module's mutants (fixed ``--seed``): on a shared 2-core
machine a large module's 800 mutants take hours, a sample of 150 tens of minutes, and the
score comes with its 95 % interval. ``--names FILE`` runs only the mutants named in FILE (one
a line, as ``mutmut results`` prints them): the survivors of an earlier run, against the tests
written since. The survivors are listed with ``mutmut results`` run in that folder (``mutmut
show NAME`` shows a diff); tests/MUTANTS.md keeps the scores and the reasons survivors were
left.
"""

from __future__ import annotations

import json
import random
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
            "tests/test_held_out_guards.py",
            "tests/test_sim_compliance.py",
            "tests/test_planted_bug_guards.py",
            "tests/test_reference_units.py",
            "tests/test_sim_review_fixes.py",
        ],
    ),
    "behaviour": (
        "waifang/sim/behaviour.py",
        [
            "tests/test_borrower_units.py",
            "tests/test_held_out_guards.py",
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
            "tests/optimise/test_problem_units.py",
            "tests/optimise/test_inputs_cli.py",
            "tests/optimise/test_solvers.py",
            "tests/optimise/test_duals.py",
            "tests/optimise/test_periods.py",
            "tests/optimise/test_compliance_inputs.py",
        ],
    ),
    # runner and report: tests in this process on the fake engine (tests/fake_engine.py) or a
    # tiny real run, not the command line's end-to-end runs (5-15 s each), which also cover
    # them but made a mutant cost minutes.
    "runner": (
        "waifang/scenarios/runner.py",
        [
            "tests/test_scenario_runner.py",
            "tests/test_runner_units.py",
            "tests/test_comparison_certainty.py",
            "tests/test_report_units.py",
        ],
    ),
    "report": (
        "waifang/scenarios/report.py",
        ["tests/test_report_units.py", "tests/test_output_folder.py"],
    ),
    # The closed loop (issue 6): small books, seconds per test file.
    "values": (
        "waifang/optimise/values.py",
        [
            "tests/optimise/test_loop_units.py",
            "tests/test_value_model.py",
            "tests/test_value_correction.py",
            "tests/test_fork_values.py",
            "tests/test_horizon_policy.py",
            "tests/test_escalation_options.py",
        ],
    ),
    "policy": (
        "waifang/optimise/policy.py",
        [
            "tests/optimise/test_loop_units.py",
            "tests/test_optimised_policy.py",
            "tests/test_horizon_policy.py",
            "tests/test_escalation_options.py",
        ],
    ),
    "training": (
        "waifang/optimise/training.py",
        [
            "tests/optimise/test_loop_units.py",
            "tests/test_optimised_policy.py",
            "tests/test_value_correction.py",
            "tests/test_horizon_policy.py",
            "tests/test_escalation_options.py",
        ],
    ),
    "fork": (
        "waifang/sim/fork.py",
        [
            "tests/test_fork_units.py",
            "tests/test_fork_values.py",
            "tests/test_escalation_options.py",
            "tests/test_horizon_policy.py",
        ],
    ),
}
# Tests left out of a module's selection: slow (10-20 s each, a fresh process or a large
# instance) and covered by the faster tests of the same files.
DESELECT: dict[str, list[str]] = {
    "problem": [
        "tests/optimise/test_periods.py::"
        "test_decomposition_with_prices_matches_milp_over_many_accounts",
        "tests/optimise/test_solvers.py::test_backends_agree_on_a_decomposed_size",
        "tests/optimise/test_inputs_cli.py::test_cli_in_a_fresh_process_prints_one_line",
    ],
    "runner": [
        "tests/test_comparison_certainty.py::"
        "test_printed_table_marks_exactly_the_significant_differences",
    ],
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
    # mutmut hands pytest a mutant's tests as a set (in no fixed order) and pytest stops at
    # the first failure; run the selection's files in the order listed above (the fast unit
    # tests first), so that a mutant one of them kills is not kept waiting for slow tests of
    # other files. Only in the copy: the repository's conftest is untouched.
    with (work / "tests" / "conftest.py").open("a") as conftest:
        conftest.write(
            "\n\ndef pytest_collection_modifyitems(items):  # added by tests/mutation.py\n"
            f"    order = {tests!r}\n"
            "    rank = {name: i for i, name in enumerate(order)}\n"
            "    items.sort(key=lambda item: rank.get(item.nodeid.split('::')[0], len(order)))\n"
        )
    pyproject = (work / "pyproject.toml").read_text()
    deselect = "".join(f', "--deselect", "{test}"' for test in DESELECT.get(module, []))
    section = "\n".join(
        [
            "[tool.mutmut]",
            'source_paths = ["waifang"]',
            f'only_mutate = ["{target}"]',
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-o", "addopts=",'
            ' "-k", "not dask and not process_pool and not notebook"'
            f"{deselect}]",
            f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
            # mutmut stops a mutant after 15x its tests' measured time (wall clock) and calls
            # it a timeout. On a shared, loaded machine a survivor that runs every test of its
            # selection can take longer than that; 60x lets it finish and be called a survivor.
            "timeout_multiplier = 60.0",
            # HiGHS, once it has solved in a process, hangs in a child forked from it (its
            # thread pool does not survive fork; checked with a two-line script). mutmut's
            # default forks each mutant from the process that ran the clean tests, so every
            # mutant whose tests reach a solve ran into the time limit and was called a
            # timeout. A fork server that only imports and collects keeps the children clean.
            'process_isolation = "forkserver"',
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


def all_mutants(work: Path, dotted: str) -> list[str]:
    """Every mutant of the module (phase 1 generated them all)."""
    listing = subprocess.run(["mutmut", "results", "--all", "true"], cwd=work, check=True,
                             capture_output=True, text=True).stdout
    names = [line.strip().rsplit(":", 1)[0] for line in listing.splitlines() if ":" in line]
    return sorted(n for n in names if n.startswith(dotted + "."))


def interval(killed: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval of a sampled kill rate (percent)."""
    if n == 0:
        return (0.0, 100.0)
    z, p = 1.96, killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return (100 * max(0.0, centre - half), 100 * min(1.0, centre + half))


def option(argv: list[str], name: str, default: str | None = None) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else default


def main(argv: list[str]) -> int:
    values = {option(argv, o) for o in ("--max-children", "--sample", "--seed", "--names")}
    modules = [a for a in argv if not a.startswith("--") and a not in values] or list(MODULES)
    children = option(argv, "--max-children", "2")
    sample = option(argv, "--sample")
    seed = int(option(argv, "--seed", "0"))
    names_file = option(argv, "--names")
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
        chosen = [f"{dotted}*"]
        total = len(all_mutants(work, dotted))
        if names_file:
            wanted = {line.strip().rsplit(":", 1)[0] for line in Path(names_file).read_text()
                      .splitlines() if line.strip()}
            chosen = [n for n in all_mutants(work, dotted) if n in wanted]
        elif sample:
            mutants = all_mutants(work, dotted)
            chosen = sorted(random.Random(seed).sample(mutants, min(int(sample), len(mutants))))
        subprocess.run(["mutmut", "run", "--max-children", children, *chosen], cwd=work)
        subprocess.run(["mutmut", "export-cicd-stats"], cwd=work, capture_output=True)
        stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
        # A timeout is not counted as killed (mutmut's own score does): here it was a survivor
        # that ran out of time (see timeout_multiplier above).
        killed, survived = stats["killed"], stats["survived"] + stats.get("timeout", 0)
        rest = {k: v for k, v in stats.items() if k not in ("killed", "survived") and v}
        score = 100.0 * killed / max(killed + survived, 1)
        low, high = interval(killed, killed + survived)
        of = f" of a sample of {len(chosen)} from {total} mutants" if sample else ""
        print(f"{module}: {killed} killed, {survived} not killed ({score:.1f} %, 95 % interval "
              f"{low:.1f}-{high:.1f} %){of}; other: {rest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
