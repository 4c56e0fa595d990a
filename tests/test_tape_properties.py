"""Property tests of the tape loader: any valid tape round-trips exactly, and one bad cell
anywhere is reported at its own row with its own value."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from waifang.errors import InputError
from waifang.sim.tape import load_tape

REGIONS = ("east", "west", "north")

account = st.fixed_dictionaries(
    {
        "balance": st.integers(0, 10_000_000).map(lambda cents: cents / 100),
        "dpd": st.integers(0, 179),
        "region": st.sampled_from(REGIONS),
        "vulnerable": st.booleans(),
    }
)


def write(tmp_path, accounts):
    lines = ["account_id,balance,dpd,region,vulnerable"]
    for i, a in enumerate(accounts):
        lines.append(f"{10 * i + 3},{a['balance']},{a['dpd']},{a['region']},{int(a['vulnerable'])}")
    path = tmp_path / "tape.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@settings(max_examples=examples(40), deadline=None)
@given(accounts=st.lists(account, min_size=1, max_size=30))
def test_valid_tapes_round_trip(tmp_path_factory, accounts):
    path = write(tmp_path_factory.mktemp("t"), accounts)
    p = load_tape(path, REGIONS, rng=np.random.default_rng(0))
    assert p.account_id.tolist() == [10 * i + 3 for i in range(len(accounts))]
    assert p.balance.tolist() == [a["balance"] for a in accounts]
    assert p.dpd.tolist() == [a["dpd"] for a in accounts]
    assert [REGIONS[r] for r in p.region] == [a["region"] for a in accounts]
    assert p.vulnerable.tolist() == [a["vulnerable"] for a in accounts]


@settings(max_examples=examples(40), deadline=None)
@given(
    accounts=st.lists(account, min_size=1, max_size=30),
    data=st.data(),
    bad=st.sampled_from([("balance", "-7.5"), ("dpd", "999"), ("region", "mars"), ("dpd", "x1")]),
)
def test_one_bad_cell_is_reported_at_its_row(tmp_path_factory, accounts, data, bad):
    row = data.draw(st.integers(0, len(accounts) - 1))
    column, value = bad
    accounts = [dict(a) for a in accounts]
    accounts[row][column] = value
    path = write(tmp_path_factory.mktemp("t"), accounts)
    with pytest.raises(InputError) as info:
        load_tape(path, REGIONS, rng=np.random.default_rng(0))
    message = str(info.value)
    assert f"column {column!r}" in message
    assert f"data row {row + 1} " in message
    assert repr(value) in message
