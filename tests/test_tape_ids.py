"""Account ids are kept exactly as the tape holds them, and counts never wrap.

Ordinary card and loan numbers have 16-19 digits; float64 holds integers exactly only up to
2**53 (16 digits), so 9007199254740993 read through a float becomes ...992. The expected ids
below are the literal strings written to the tape, not anything the loader computed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from waifang.errors import InputError
from waifang.sim.tape import load_tape

REGIONS = ("east", "west")
RNG = np.random.default_rng(0)


def tape(tmp_path, ids, name="tape.csv", extra=""):
    rows = [f"account_id,balance,dpd,region{',' + extra if extra else ''}"]
    rows += [f"{i},1000,5,east" for i in ids]
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return path


def test_long_integer_ids_are_exact_int64(tmp_path):
    ids = ["9007199254740993", "9007199254740992", "1234567890123456789", "9223372036854775807"]
    p = load_tape(tape(tmp_path, ids), REGIONS, rng=RNG)
    assert p.account_id.dtype == np.int64
    assert p.account_label is None
    assert [str(i) for i in p.account_id.tolist()] == ids
    assert [str(i) for i in p.output_ids().tolist()] == ids


@pytest.mark.parametrize(
    "ids",
    [
        ["9999999999999999999", "9223372036854775808"],  # 19 digits beyond int64
        ["AC-0012", "AC-0013"],
        ["007", "7"],  # leading zeros are part of the id: two accounts, not one
        ["12345678901234567890123", "1"],
    ],
    ids=["beyond_int64", "text", "leading_zeros", "23_digits"],
)
def test_other_ids_are_kept_as_text(tmp_path, ids):
    p = load_tape(tape(tmp_path, ids), REGIONS, rng=RNG)
    assert p.account_label is not None
    assert p.output_ids().tolist() == ids
    assert p.account_id.tolist() == list(range(1, len(ids) + 1))  # the engine's row ids
    sub = p.subset(np.array([1]))
    assert sub.output_ids().tolist() == ids[1:2]


def test_parquet_integer_ids_exact_and_float_ids_beyond_2_53_refused(tmp_path):
    pytest.importorskip("pyarrow")
    ids = [9007199254740993, 9007199254740992]
    frame = pd.DataFrame(
        {"account_id": np.array(ids, dtype=np.int64), "balance": [1.0, 2.0], "dpd": [1, 2],
         "region": ["east", "west"]}
    )
    frame.to_parquet(tmp_path / "ints.parquet")
    p = load_tape(tmp_path / "ints.parquet", REGIONS, rng=RNG)
    assert p.account_id.tolist() == ids
    frame.assign(account_id=frame.account_id.astype(np.float64)).to_parquet(tmp_path / "f.parquet")
    with pytest.raises(InputError, match="floating point, which cannot hold this id exactly"):
        load_tape(tmp_path / "f.parquet", REGIONS, rng=RNG)


def test_blank_segment_cell_takes_the_default(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("account_id,balance,dpd,region,segment\n1,10,5,east,high\n2,10,5,east,\n")
    p = load_tape(path, REGIONS, rng=RNG)
    assert p.segment_names == ("all", "high")
    assert [p.segment_names[c] for c in p.segment] == ["high", "all"]
    q = load_tape(path, REGIONS, ("low", "high"), rng=RNG)  # names given: the first is default
    assert [q.segment_names[c] for c in q.segment] == ["high", "low"]


@pytest.mark.parametrize("column", ["prior_delinquencies", "other_debts"])
def test_counts_up_to_1000_load_and_above_are_refused_not_wrapped(tmp_path, column):
    path = tmp_path / "t.csv"
    path.write_text(f"account_id,balance,dpd,region,{column}\n1,10,5,east,1000\n2,10,5,east,7\n")
    p = load_tape(path, REGIONS, rng=RNG)
    assert getattr(p, column).tolist() == [1000, 7]
    path.write_text(f"account_id,balance,dpd,region,{column}\n1,10,5,east,40000\n")
    with pytest.raises(InputError, match=f"column '{column}': count above 1,000.*40000"):
        load_tape(path, REGIONS, rng=RNG)


def test_audit_csv_writes_the_tapes_ids_exactly(tmp_path):
    from waifang.scenarios.cli import main

    ids = ["0012", "AC-77", "99999999999999999999"]
    (tmp_path / "tape.csv").write_text(
        "account_id,balance,dpd,region\n" + "".join(f"{i},5000,20,east\n" for i in ids)
    )
    (tmp_path / "s.toml").write_text(
        'name = "ids"\nreplications = 1\ndays = 5\n[portfolio]\ntape = "tape.csv"\n'
        '[[resources.regions]]\nname = "east"\n[output]\naudit = "full"\n'
        '[[policies]]\nname = "sms"\nrules = [{ action = "sms", dpd_min = 1 }]\n'
    )
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    audit = pd.read_csv(tmp_path / "out" / "audit.csv", dtype={"account_id": str})
    assert set(audit["account_id"]) == set(ids)
