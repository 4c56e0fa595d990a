"""Bad or infeasible input gets one line naming what conflicts, exit code 1, no traceback;
good input gets PLAN.csv + PLAN.json written atomically."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from waifang.errors import InfeasibleError, InputError
from waifang.optimise.problem import Capacity, Quota, make_problem
from waifang.scenarios.cli import main

CANDIDATES = """account_id,option,region,value,cost,hours,segment
a,visit,north,1840,420,3,young
a,legal,north,900,300,0,young
b,visit,north,1200,420,2,old
c,visit,south,700,380,4,old
c,agency,south,300,60,0,old
"""
CAPACITY = """region,option,limit,hours_limit
north,visit,1,
south,visit,,10
"""


@pytest.fixture
def files(tmp_path):
    c = tmp_path / "C.csv"
    k = tmp_path / "K.csv"
    c.write_text(CANDIDATES)
    k.write_text(CAPACITY)
    return tmp_path, c, k


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_plan_and_json(files, capsys):
    tmp, c, k = files
    code, out, err = run(
        capsys,
        "optimise",
        "--candidates",
        c,
        "--capacity",
        k,
        "--budget",
        900,
        "--out",
        tmp / "PLAN.csv",
    )
    assert code == 0, err
    plan = pd.read_csv(tmp / "PLAN.csv")
    assert list(plan.columns) == ["account_id", "option", "period", "value", "cost", "reason"]
    # By hand: one north visit slot -> a takes the visit (1420) and b nothing, or b the visit
    # (780) and a legal (600) = 1380 < 1420. c: visit 320 vs agency 240; budget 900 - 420
    # leaves 480 >= 380, so c visits. Total 1420 + 320 = 1740.
    chosen = set(zip(plan.account_id, plan.option, strict=True))
    assert chosen == {("a", "visit"), ("c", "visit")}
    assert all(r.startswith("chosen: value ") for r in plan.reason)
    summary = json.loads((tmp / "PLAN.json").read_text())
    for key in ("objective", "bound", "gap", "status", "solver", "seconds", "duals"):
        assert key in summary
    assert summary["objective"] == pytest.approx(1740)
    assert "budget" in summary["duals"] and "capacity[north/visit].count" in summary["duals"]
    assert sorted(p.name for p in tmp.iterdir()) == ["C.csv", "K.csv", "PLAN.csv", "PLAN.json"]


def test_cli_reasons_for_every_candidate(files, capsys):
    tmp, c, k = files
    code, _, err = run(
        capsys,
        "optimise",
        "--candidates",
        c,
        "--capacity",
        k,
        "--budget",
        900,
        "--out",
        tmp / "PLAN.csv",
        "--reasons",
        tmp / "R.csv",
    )
    assert code == 0, err
    reasons = pd.read_csv(tmp / "R.csv")
    assert len(reasons) == 5
    rejected = reasons[~reasons.chosen]
    assert all(r.startswith("rejected: ") for r in rejected.reason)
    b_visit = rejected[(rejected.account_id == "b")].reason.iloc[0]
    assert "slot price north/visit" in b_visit


@pytest.mark.parametrize(
    ("edit", "budget", "expected"),
    [
        (None, "-5", "--budget must be non-negative, got -5"),
        (None, "lots", "--budget must be a number, got 'lots'"),
        (
            ("C", "b,visit,north,1200,420,2,old", "b,visit,north,12x0,420,2,old"),
            "900",
            "row 4, column 'value' is not a finite number: '12x0'",
        ),
        (
            (
                "C",
                "c,agency,south,300,60,0,old",
                "c,agency,south,300,60,0,old\na,visit,north,5,5,1,young",
            ),
            "900",
            "duplicate (account_id, option) = (a, visit) in rows 2 and 7",
        ),
        (
            ("K", "south,visit,,10", "south,visit,,10\nsouth,drone,3,"),
            "900",
            "row 4, column 'option': capacity for unknown option 'drone'",
        ),
        (
            ("K", "north,visit,1,", "north,visit,one,"),
            "900",
            "row 2, column 'limit': 'one' is not a non-negative number",
        ),
        (
            ("C", "c,agency,south,300,60,0,old", "c,agency,south,300,-60,0,old"),
            "900",
            "row 6, column 'cost' is negative (-60)",
        ),
    ],
)
def test_bad_input_is_one_named_line_and_exit_1(files, capsys, edit, budget, expected):
    tmp, c, k = files
    if edit is not None:
        which, old, new = edit
        path = c if which == "C" else k
        path.write_text(path.read_text().replace(old, new))
    code, out, err = run(
        capsys,
        "optimise",
        "--candidates",
        c,
        "--capacity",
        k,
        "--budget",
        budget,
        "--out",
        tmp / "PLAN.csv",
    )
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert expected in err
    assert "Traceback" not in err
    if edit is not None:
        assert str(path if "row" in expected else "") in err
    assert not (tmp / "PLAN.csv").exists() and not (tmp / "PLAN.json").exists()


def test_quota_above_capacity_names_both(files, capsys):
    tmp, c, k = files
    q = tmp / "Q.csv"
    q.write_text("segment,option,min_count\nold,visit,2\n")
    k.write_text("region,option,limit\nnorth,visit,1\nsouth,visit,0\n")
    code, _, err = run(
        capsys,
        "optimise",
        "--candidates",
        c,
        "--capacity",
        k,
        "--quotas",
        q,
        "--budget",
        900,
        "--out",
        tmp / "PLAN.csv",
    )
    assert code == 1
    assert "Q.csv: row 2 (segment old, option visit): min_count 2 exceeds the capacity 1" in err


def test_infeasible_quotas_found_by_the_solver(files, capsys):
    tmp, c, k = files
    q = tmp / "Q.csv"
    # Each quota alone fits; together they need 2 north visits with 1 slot.
    q.write_text("segment,option,min_count\nold,visit,1\nyoung,visit,1\n")
    k.write_text("region,option,limit\nnorth,visit,1\nsouth,visit,0\n")
    code, _, err = run(
        capsys,
        "optimise",
        "--candidates",
        c,
        "--capacity",
        k,
        "--quotas",
        q,
        "--budget",
        900,
        "--out",
        tmp / "PLAN.csv",
    )
    assert code == 1
    assert "no plan satisfies the constraints" in err
    assert "Q.csv: row 2 (segment old, option visit) min_count 1; " in err
    assert "Q.csv: row 3 (segment young, option visit) min_count 1 cannot all be met" in err


def test_debug_shows_traceback(files):
    tmp, c, k = files
    with pytest.raises(InputError):
        main(
            [
                "--debug",
                "optimise",
                "--candidates",
                str(c),
                "--capacity",
                str(k),
                "--budget",
                "-1",
                "--out",
                str(tmp / "PLAN.csv"),
            ]
        )


def test_missing_file_and_column(files, capsys):
    tmp, c, k = files
    code, _, err = run(
        capsys,
        "optimise",
        "--candidates",
        tmp / "nope.csv",
        "--capacity",
        k,
        "--budget",
        1,
        "--out",
        tmp / "PLAN.csv",
    )
    assert code == 1 and "nope.csv: no such file" in err
    c.write_text(CANDIDATES.replace("cost", "price"))
    code, _, err = run(
        capsys,
        "optimise",
        "--candidates",
        c,
        "--capacity",
        k,
        "--budget",
        1,
        "--out",
        tmp / "PLAN.csv",
    )
    assert code == 1 and "missing column(s) cost" in err


def test_api_validation_names_the_problem():
    frame = pd.read_csv(pd.io.common.StringIO(CANDIDATES))
    with pytest.raises(InputError, match="unknown option 'drone'"):
        make_problem(frame, [Capacity("north", "drone", limit=1)], 100)
    with pytest.raises(InputError, match="budget must be a non-negative number"):
        make_problem(frame, [], -1)
    with pytest.raises(InfeasibleError, match="min_count 3 exceeds the 2 eligible accounts"):
        make_problem(frame, [], 1e6, quotas=[Quota("old", "visit", min_count=3)])


def test_failed_write_leaves_no_partial_file(tmp_path):
    from waifang.optimise.io import atomic_write

    target = tmp_path / "PLAN.csv"
    target.write_text("old plan\n")

    def crash(tmp):
        tmp.write_text("half a pl")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, crash)
    assert target.read_text() == "old plan\n"
    assert [p.name for p in tmp_path.iterdir()] == ["PLAN.csv"]


def test_exclusions_file_removes_candidates(files, capsys):
    tmp, c, k = files
    x = tmp / "X.csv"
    x.write_text("account_id,option\na,\nc,visit\n")
    code, _, err = run(
        capsys,
        "optimise",
        "--candidates",
        c,
        "--capacity",
        k,
        "--exclusions",
        x,
        "--budget",
        900,
        "--out",
        tmp / "PLAN.csv",
    )
    assert code == 0, err
    plan = pd.read_csv(tmp / "PLAN.csv")
    # a is excluded entirely and c may not be visited: b visits, c goes to the agency.
    assert set(zip(plan.account_id, plan.option, strict=True)) == {("b", "visit"), ("c", "agency")}
    summary = json.loads((tmp / "PLAN.json").read_text())
    assert summary["n_excluded"] == 3


def test_cli_in_a_fresh_process_prints_one_line(files):
    """End to end as a user runs it: stdout is our one summary line (no solver banner)."""
    import subprocess
    import sys

    tmp, c, k = files
    argv = [
        sys.executable,
        "-m",
        "waifang.scenarios.cli",
        "optimise",
        "--candidates",
        str(c),
        "--capacity",
        str(k),
        "--budget",
        "900",
        "--out",
        str(tmp / "PLAN.csv"),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("optimal: 2 of 5")
    bad = subprocess.run(
        argv[:-3] + ["-1", "--out", str(tmp / "X.csv")], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1 and bad.stderr.startswith("error: --budget")
    assert "Traceback" not in bad.stderr


def _optimise(capsys, c, k, out):
    return run(
        capsys, "optimise", "--candidates", c, "--capacity", k, "--budget", 900, "--out", out
    )


def test_output_that_cannot_be_written_is_one_line(files, capsys):
    tmp, c, k = files
    (tmp / "D").mkdir()
    code, _, err = _optimise(capsys, c, k, tmp / "D")
    assert code == 1 and "is a folder, not a file" in err and "Traceback" not in err
    code, _, err = _optimise(capsys, c, k, tmp / "PLAN.json")
    assert code == 1 and "PLAN.json is written beside it" in err
    assert not (tmp / "PLAN.json").exists()


def test_a_slash_in_a_region_name_is_refused_by_row(files, capsys):
    tmp, c, k = files
    c.write_text(CANDIDATES.replace("north", "north/east"))
    k.write_text(CAPACITY.replace("north", "north/east"))
    code, _, err = _optimise(capsys, c, k, tmp / "PLAN.csv")
    assert code == 1
    assert "column region: names may not contain '/' (got 'north/east')" in err


def test_a_solver_that_takes_no_gap_option_is_a_clean_error_or_runs():
    from waifang.errors import InputError
    from waifang.optimise.pulp_model import pulp_solver

    # GLPK's pulp interface takes no gapRel: asking for it must not end in a TypeError.
    try:
        solver = pulp_solver("glpk", gap=1e-4, time_limit=5)
    except InputError as err:
        assert "not available" in str(err)
    else:
        assert solver.available()


def test_a_bad_reasons_path_fails_before_any_plan_is_replaced(files, capsys):
    tmp, c, k = files
    (tmp / "PLAN.csv").write_text("earlier plan\n")
    code, _, err = run(
        capsys,
        "optimise",
        "--candidates",
        c,
        "--capacity",
        k,
        "--budget",
        900,
        "--out",
        tmp / "PLAN.csv",
        "--reasons",
        tmp / "nodir" / "R.csv",
    )
    assert code == 1 and "--reasons" in err and "does not exist" in err
    assert (tmp / "PLAN.csv").read_text() == "earlier plan\n"
    assert not (tmp / "PLAN.json").exists()
