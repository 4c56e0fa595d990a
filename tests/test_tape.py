"""Account tapes: a good tape loads into the Portfolio columns; each kind of bad tape is one
InputError naming the file, the column, the rows (data rows from 1) and the values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from waifang.errors import InputError
from waifang.sim.spec import Segment
from waifang.sim.tape import load_tape

REGIONS = ("east", "west")

GOOD = """account_id,balance,dpd,region,segment,vulnerable,contactable,other_debts
101,5000.50,35,east,high,1,yes,2
102,800,3,west,low,0,no,0
103,12000,120,east,high,false,true,
"""


def write(tmp_path, text, name="tape.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_csv_tape_loads_into_portfolio_columns(tmp_path):
    p = load_tape(write(tmp_path, GOOD), REGIONS, rng=np.random.default_rng(0))
    assert len(p) == 3
    assert p.account_id.tolist() == [101, 102, 103]
    assert p.account_id.dtype == np.int64
    assert p.balance.tolist() == [5000.5, 800.0, 12000.0]
    assert p.dpd.tolist() == [35, 3, 120]
    assert p.region.tolist() == [0, 1, 0]
    assert p.segment_names == ("high", "low")  # sorted distinct labels when none are given
    assert p.segment.tolist() == [0, 1, 0]
    assert p.vulnerable.tolist() == [True, False, False]
    assert p.contactable.tolist() == [True, False, True]
    assert p.other_debts.tolist() == [2, 0, 0]  # blank optional cell -> default 0
    assert p.credit_limit.tolist() == pytest.approx([5000.5 / 0.8, 1000.0, 15000.0])
    assert p.risk_score.tolist() == [600.0] * 3
    assert ((p.ability > 0) & (p.ability < 1)).all()
    assert ((p.willingness > 0) & (p.willingness < 1)).all()


def test_given_segment_names_fix_the_codes(tmp_path):
    p = load_tape(
        write(tmp_path, GOOD), REGIONS, ("low", "high", "mid"), rng=np.random.default_rng(0)
    )
    assert p.segment_names == ("low", "high", "mid")
    assert p.segment.tolist() == [1, 0, 1]


def test_latent_columns_are_used_when_present_and_need_no_rng(tmp_path):
    text = "account_id,balance,dpd,region,ability,willingness,strategic\n1,10,5,east,0.9,0.1,1\n"
    p = load_tape(write(tmp_path, text), REGIONS)  # no rng: nothing to draw
    assert p.ability.tolist() == pytest.approx([0.9])
    assert p.willingness.tolist() == pytest.approx([0.1])
    assert p.strategic.tolist() == [True]


def test_missing_latent_without_rng_is_a_programming_error(tmp_path):
    with pytest.raises(TypeError, match="rng"):
        load_tape(write(tmp_path, GOOD), REGIONS)


def test_latent_draws_follow_the_segment_and_the_seed(tmp_path):
    rows = "\n".join(f"{i},1000,10,east,{'a' if i % 2 else 'b'}" for i in range(4000))
    path = write(tmp_path, "account_id,balance,dpd,region,segment\n" + rows + "\n")
    segments = (
        Segment(name="a", share=0.5, balance_median=1, ability_mean=0.2, strategic_share=0),
        Segment(name="b", share=0.5, balance_median=1, ability_mean=0.8, strategic_share=0),
    )
    p1 = load_tape(path, REGIONS, rng=np.random.default_rng(5), segments=segments)
    p2 = load_tape(path, REGIONS, rng=np.random.default_rng(5), segments=segments)
    np.testing.assert_array_equal(p1.ability, p2.ability)
    a = p1.ability[p1.segment == p1.segment_names.index("a")].mean()
    b = p1.ability[p1.segment == p1.segment_names.index("b")].mean()
    assert a == pytest.approx(0.2, abs=0.02)
    assert b == pytest.approx(0.8, abs=0.02)
    assert not p1.strategic.any()


def test_parquet_tape_loads_the_same_as_csv(tmp_path):
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {
            "account_id": [101, 102, 103],
            "balance": [5000.5, 800.0, 12000.0],
            "dpd": [35, 3, 120],
            "region": ["east", "west", "east"],
            "vulnerable": [True, False, False],
        }
    )
    path = tmp_path / "tape.parquet"
    frame.to_parquet(path)
    p = load_tape(path, REGIONS, rng=np.random.default_rng(0))
    assert p.balance.tolist() == [5000.5, 800.0, 12000.0]
    assert p.vulnerable.tolist() == [True, False, False]
    assert p.segment_names == ("all",)


BAD = [
    # (description, csv text, fragments the message must contain)
    (
        "missing column",
        "account_id,balance,region\n1,10,east\n",
        ["tape.csv", "missing required column 'dpd'"],
    ),
    (
        "negative balance",
        "account_id,balance,dpd,region\n1,10,5,east\n2,-5.5,5,east\n3,7,5,west\n4,-1,5,west\n",
        ["tape.csv", "column 'balance'", "negative balance", "rows 2, 4", "-5.5", "-1"],
    ),
    (
        "non-numeric",
        "account_id,balance,dpd,region\n1,10,5,east\n2,ten,5,east\n",
        ["tape.csv", "column 'balance'", "not a number", "row 2", "'ten'"],
    ),
    (
        "unknown region",
        "account_id,balance,dpd,region\n1,10,5,east\n2,10,5,mars\n",
        ["tape.csv", "column 'region'", "unknown region", "row 2", "'mars'"],
    ),
    (
        "duplicate id",
        "account_id,balance,dpd,region\n7,10,5,east\n8,10,5,east\n7,11,6,west\n",
        ["tape.csv", "column 'account_id'", "duplicate", "rows 1, 3", "'7'"],
    ),
    (
        "dpd out of range",
        "account_id,balance,dpd,region\n1,10,5,east\n2,10,180,east\n3,10,-2,east\n",
        ["tape.csv", "column 'dpd'", "out of range 0..179", "rows 2, 3", "'180'", "'-2'"],
    ),
    (
        "fractional dpd",
        "account_id,balance,dpd,region\n1,10,5.5,east\n",
        ["column 'dpd'", "whole number", "row 1", "'5.5'"],
    ),
    (
        "blank required",
        "account_id,balance,dpd,region\n1,,5,east\n",
        ["column 'balance'", "missing value", "row 1"],
    ),
    (
        "bad boolean",
        "account_id,balance,dpd,region,vulnerable\n1,10,5,east,maybe\n",
        ["column 'vulnerable'", "yes/no", "row 1", "'maybe'"],
    ),
]


@pytest.mark.parametrize("text, fragments", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_tape_is_one_line_naming_file_column_rows_values(tmp_path, text, fragments):
    with pytest.raises(InputError) as info:
        load_tape(write(tmp_path, text), REGIONS, rng=np.random.default_rng(0))
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_at_most_five_rows_are_listed(tmp_path):
    rows = "\n".join(f"{i},-{i},5,east" for i in range(1, 9))
    with pytest.raises(InputError) as info:
        load_tape(write(tmp_path, "account_id,balance,dpd,region\n" + rows + "\n"), REGIONS)
    message = str(info.value)
    assert "rows 1, 2, 3, 4, 5 and 3 more" in message
    assert "'-6'" not in message


def test_unknown_segment_when_names_are_given(tmp_path):
    with pytest.raises(InputError, match=r"column 'segment'.*unknown segment.*rows 1, 3.*'high'"):
        load_tape(write(tmp_path, GOOD), REGIONS, ("low",), rng=np.random.default_rng(0))


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(InputError, match="no such tape file"):
        load_tape(tmp_path / "nope.csv", REGIONS)
    with pytest.raises(InputError, match="unknown tape format"):
        load_tape(write(tmp_path, GOOD, "tape.xlsx"), REGIONS)
    with pytest.raises(InputError, match="no accounts"):
        load_tape(write(tmp_path, "account_id,balance,dpd,region\n"), REGIONS)
