"""Compliance inputs checked (issue 10, item 3): an exclusion that matches nothing or names an
unknown option, an account in two regions, a fractional count limit and an empty candidates
file are each refused with one line naming the file, row and value, exit code 1."""

from __future__ import annotations

import pandas as pd
import pytest
from test_inputs_cli import CANDIDATES, CAPACITY, run

from waifang.errors import InputError
from waifang.optimise.problem import Capacity, Exclusions, make_problem


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "C.csv").write_text(CANDIDATES)
    (tmp_path / "K.csv").write_text(CAPACITY)
    return tmp_path


def _optimise(capsys, folder, *extra):
    return run(
        capsys,
        "optimise",
        "--candidates",
        folder / "C.csv",
        "--capacity",
        folder / "K.csv",
        "--budget",
        "900",
        "--out",
        folder / "PLAN.csv",
        *extra,
    )


@pytest.mark.parametrize(
    ("exclusions", "expected"),
    [
        ("option\nvisti\n", "row 2, column 'option': unknown option 'visti'"),
        (
            "account_id,option\nb,\nzz,\n",
            "row 3, column 'account_id': no candidate has account 'zz'",
        ),
        ("account_id,option\nb,legal\n", "row 2: account 'b' has no 'legal' candidate"),
        ("account_id,option\na,drone\n", "row 2, column 'option': unknown option 'drone'"),
    ],
)
def test_exclusions_that_match_nothing_are_refused(folder, capsys, exclusions, expected):
    x = folder / "X.csv"
    x.write_text(exclusions)
    code, _, err = _optimise(capsys, folder, "--exclusions", x)
    assert code == 1
    assert err.count("\n") == 1 and f"{x}: {expected}" in err
    assert not (folder / "PLAN.csv").exists()


@pytest.mark.parametrize(
    ("which", "old", "new", "expected"),
    [
        (
            "C.csv",
            "c,agency,south,300,60,0,old",
            "c,agency,north,300,60,0,old",
            "account c is in two regions: south (row 5) and north (row 6)",
        ),
        (
            "K.csv",
            "north,visit,1,",
            "north,visit,1.5,",
            "row 2, column 'limit': '1.5' is not a whole",
        ),
        ("C.csv", CANDIDATES, CANDIDATES.splitlines()[0] + "\n", "has a header but no candidate"),
        ("C.csv", CANDIDATES, "", "is empty (no header, no rows)"),
    ],
)
def test_bad_compliance_inputs_are_one_named_line(folder, capsys, which, old, new, expected):
    path = folder / which
    path.write_text(path.read_text().replace(old, new) if old != CANDIDATES else new)
    code, _, err = _optimise(capsys, folder)
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}: " in err and expected in err
    assert not (folder / "PLAN.csv").exists()


def test_the_api_refuses_the_same():
    frame = pd.read_csv(pd.io.common.StringIO(CANDIDATES))
    with pytest.raises(InputError, match="unknown option 'visti'"):
        make_problem(frame, [], 900, exclusions=Exclusions(options=frozenset({"visti"})))
    with pytest.raises(InputError, match="no candidate in candidates has account 'zz'"):
        make_problem(frame, [], 900, exclusions=Exclusions(accounts=frozenset({"zz"})))
    with pytest.raises(InputError, match="account 'b' has no 'legal' candidate"):
        make_problem(frame, [], 900, exclusions=Exclusions(pairs=frozenset({("b", "legal")})))
    with pytest.raises(InputError, match="limit must be a whole number of slots"):
        make_problem(frame, [Capacity("north", "visit", limit=2.5)], 900)
    moved = frame.copy()
    moved.loc[4, "region"] = "north"
    with pytest.raises(InputError, match="account c is in two regions"):
        make_problem(moved, [], 900)
    # A correct exclusion still works: the whole account and one pair.
    p = make_problem(
        frame,
        [],
        900,
        exclusions=Exclusions(accounts=frozenset({"a"}), pairs=frozenset({("c", "visit")})),
    )
    assert p.n_excluded == 3


def test_plan_files_are_replaced_together_or_not_at_all(folder, capsys, monkeypatch):
    """A failure while the files are written (here: PLAN.json) leaves the old PLAN.csv, PLAN.json
    and reasons file as they were, and no temporary file behind."""
    import waifang.optimise.io as io

    old = {name: f"old {name}\n" for name in ("PLAN.csv", "PLAN.json", "R.csv")}
    for name, text in old.items():
        (folder / name).write_text(text)

    def broken_dumps(*args, **kwargs):
        raise RuntimeError("disk full while writing PLAN.json")

    monkeypatch.setattr(io.json, "dumps", broken_dumps)
    with pytest.raises(RuntimeError):
        _optimise(capsys, folder, "--reasons", folder / "R.csv")
    for name, text in old.items():
        assert (folder / name).read_text() == text, name
    assert sorted(p.name for p in folder.iterdir()) == ["C.csv", "K.csv", *sorted(old)]
    monkeypatch.undo()
    code, _, err = _optimise(capsys, folder, "--reasons", folder / "R.csv")
    assert code == 0, err
    for name, text in old.items():
        assert (folder / name).read_text() != text, name
