"""Candidates read fast (pyarrow CSV), or from Parquet, give the same problem as the careful
all-text reader (issue 10, item 6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import waifang.optimise.io as io
from waifang.optimise.io import load_problem
from waifang.optimise.synthetic import synthetic_instance


@pytest.fixture(scope="module")
def instance():
    return synthetic_instance(400, n_regions=3, seed=2)


def _files(folder, inst):
    c = folder / "C.csv"
    k = folder / "K.csv"
    inst.candidates.to_csv(c, index=False)
    pd.DataFrame(
        [
            {"region": x.region, "option": x.option, "limit": x.limit, "hours_limit": x.hours_limit}
            for x in inst.capacities
        ]
    ).to_csv(k, index=False)
    return c, k


def _same(a, b):
    assert a.account_ids.tolist() == b.account_ids.tolist()
    assert (a.options, a.regions, a.segments) == (b.options, b.regions, b.segments)
    for name in ("account", "option", "region", "segment", "value", "cost", "hours"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.coupling.b == b.coupling.b).all() and a.coupling.names == b.coupling.names


def test_fast_csv_parquet_and_careful_reader_agree(tmp_path, instance, monkeypatch):
    c, k = _files(tmp_path, instance)
    fast = load_problem(c, k, instance.budget)
    parquet = tmp_path / "C.parquet"
    instance.candidates.to_parquet(parquet, index=False)
    from_parquet = load_problem(parquet, k, instance.budget)
    monkeypatch.setattr(io, "_read_csv_typed", lambda path: None)  # the all-text reader
    careful = load_problem(c, k, instance.budget)
    _same(fast, careful)
    _same(from_parquet, careful)
    # And the problem is the table itself: row values straight from the generator.
    frame = instance.candidates
    first = frame[frame.account_id == careful.account_ids[0]].sort_values("option")
    rows = np.flatnonzero(careful.account == 0)
    assert sorted(careful.value[rows]) == sorted(first.value)


def test_padded_cells_and_a_bad_number_fall_back_to_the_careful_reader(tmp_path, capsys):
    from waifang.scenarios.cli import main

    c = tmp_path / "C.csv"
    c.write_text(
        "account_id,option,region,value,cost\n a ,visit, north ,100,10\nb,visit,north,9x,10\n"
    )
    code = main(
        ["optimise", "--candidates", str(c), "--budget", "50", "--out", str(tmp_path / "P.csv")]
    )
    err = capsys.readouterr().err
    assert code == 1 and f"{c}: row 3, column 'value' is not a finite number: '9x'" in err
    c.write_text("account_id,option,region,value,cost\n a ,visit, north ,100,10\n")
    problem = load_problem(c, None, 50)
    assert problem.account_ids.tolist() == ["a"] and problem.regions == ("north",)


def test_an_unreadable_parquet_file_is_one_line(tmp_path, capsys):
    from waifang.scenarios.cli import main

    bad = tmp_path / "C.parquet"
    bad.write_bytes(b"not parquet at all")
    code = main(
        ["optimise", "--candidates", str(bad), "--budget", "5", "--out", str(tmp_path / "P.csv")]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and f"{bad}: not a readable Parquet file" in err
