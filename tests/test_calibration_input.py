"""Monthly status files: both formats, and every kind of bad data counted or refused.

Counts are checked against transitions written out by hand in each small file.
"""

from __future__ import annotations

import numpy as np
import pytest

from waifang.calibration.data import STATUS_CODES, read_monthly
from waifang.errors import InputError
from waifang.scenarios.cli import main

CODE = {c: i for i, c in enumerate(STATUS_CODES)}


def write(tmp_path, text: str, name: str = "m.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_credit_record_format_counts_consecutive_pairs(tmp_path):
    # Account 5001: months -3..0 = 0, 1, 2, C; account 5002: months -1, 0 = X, 0.
    path = write(
        tmp_path,
        "ID,MONTHS_BALANCE,STATUS\r\n5001,0,C\r\n5001,-1,2\r\n5001,-2,1\r\n5001,-3,0\r\n"
        "5002,0,0\r\n5002,-1,X\r\n",
    )
    data = read_monthly(path)
    counts = data.counts()
    assert data.report.format == "credit_record"
    assert data.report.pairs == 4 and counts.sum() == 4
    for a, b in (("0", "1"), ("1", "2"), ("2", "C"), ("X", "0")):
        assert counts[CODE[a], CODE[b]] == 1


def test_generic_format_and_lower_case_codes(tmp_path):
    path = write(tmp_path, "account,month,dpd_bucket\na,10,0\na,11,1\nb,3,c\nb,4,c\n")
    counts = read_monthly(path).counts()
    assert counts[CODE["0"], CODE["1"]] == 1 and counts[CODE["C"], CODE["C"]] == 1
    assert counts.sum() == 2


def test_gap_in_months_is_counted_and_not_bridged(tmp_path):
    path = write(tmp_path, "account,month,dpd_bucket\n1,1,0\n1,3,1\n1,4,2\n2,1,0\n2,2,0\n")
    data = read_monthly(path)
    counts = data.counts()
    assert data.report.gaps == 1
    assert counts[CODE["0"], CODE["1"]] == 0  # months 1 -> 3 is not a monthly transition
    assert counts[CODE["1"], CODE["2"]] == 1 and counts[CODE["0"], CODE["0"]] == 1


def test_duplicates_dropped_and_conflicts_removed(tmp_path):
    path = write(
        tmp_path,
        "account,month,dpd_bucket\n1,1,0\n1,1,0\n1,2,1\n2,1,0\n2,2,0\n2,2,1\n2,3,1\n",
    )
    data = read_monthly(path)
    assert data.report.duplicate_rows == 1
    assert data.report.conflicting_months == 1
    counts = data.counts()
    # Account 1: 0 -> 1. Account 2 loses month 2, so months 1 and 3 are not consecutive.
    assert counts.sum() == 1 and counts[CODE["0"], CODE["1"]] == 1
    assert data.report.gaps == 1


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("account,month,dpd_bucket\n1,1,0\n1,2,7\n2,1,0\n", "row 2: dpd_bucket: unknown status"),
        ("account,month,dpd_bucket\n1,1,0\n1,x,1\n2,1,0\n", "row 2: month: month must be"),
        ("account,month,dpd_bucket\n1,1,0\n1,2.5,1\n2,1,0\n", "(got '2.5')"),
        ("account,month,dpd_bucket\n", "no data rows"),
        ("", "the file is empty"),
        ("id,when,status\n1,1,0\n", "expected columns"),
        ("account,month,dpd_bucket\n7,1,0\n7,2,1\n", "only one account"),
        ("account,month,dpd_bucket\n7,1,0\n8,1,1\n", "no account has two consecutive months"),
    ],
)
def test_bad_files_are_refused_with_file_row_and_value(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        read_monthly(path)
    message = str(err.value)
    assert str(path) in message and needle in message and "\n" not in message


def test_unknown_code_names_the_value_through_the_cli(tmp_path, capsys):
    path = write(tmp_path, "ID,MONTHS_BALANCE,STATUS\n1,0,0\n1,-1,Q\n2,0,0\n2,-1,0\n")
    code = main(
        [
            "calibrate",
            str(path),
            "--out",
            str(tmp_path / "p.toml"),
            "--fit",
            str(tmp_path / "f.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "row 2: STATUS" in err and "(got 'Q')" in err
    assert not (tmp_path / "p.toml").exists()


def test_counts_of_selected_accounts(tmp_path):
    path = write(tmp_path, "account,month,dpd_bucket\n1,1,0\n1,2,1\n2,1,1\n2,2,2\n")
    data = read_monthly(path)
    only_first = data.counts(np.array([0]))
    assert only_first.sum() == 1 and only_first[CODE["0"], CODE["1"]] == 1
