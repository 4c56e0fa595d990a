"""Bad input of issue 8: a rule window that ends before it starts, no field teams where visits
are asked for, a negative agency capacity. Each is one line naming the key and the value, and
exit code 1, from ``validate`` and from ``run``."""

from __future__ import annotations

import pytest

from waifang.errors import InputError
from waifang.scenarios.cli import main
from waifang.sim import resolve_rules

BASE = """
name = "bad"
days = 5
replications = 1
[portfolio]
accounts = 200
[[resources.regions]]
name = "city"
teams = {teams}
{region_extra}
[resources]
agency_capacity = {agency}
[compliance]
preset = "uk_fca"
overrides = {{ {overrides} }}
[[policies]]
name = "ladder"
rules = [{{ action = "visit", dpd_min = 90 }}]
"""


def scenario(tmp_path, teams=2, agency=100, overrides="", region_extra=""):
    path = tmp_path / "bad.toml"
    path.write_text(
        BASE.format(teams=teams, agency=agency, overrides=overrides, region_extra=region_extra)
    )
    return path


CASES = {
    "inverted visit window": (
        {"overrides": "visit_start_hour = 18.0, visit_end_hour = 9.0"},
        "compliance.overrides.visit_end_hour: 9.0 is not after visit_start_hour (18.0)",
    ),
    "inverted contact hours": (
        {"overrides": "contact_end_hour = 8.0"},
        "compliance.overrides.contact_end_hour: 8.0 is not after contact_start_hour (8.0)",
    ),
    "no teams where visits are asked for": (
        {"teams": 0},
        "resources.regions[0].teams: no field teams in region 'city', where policy 'ladder' "
        "asks for visits (got 0)",
    ),
    "negative agency capacity": (
        {"agency": -5},
        "resources.agency_capacity: input should be greater than or equal to 0 (got -5)",
    ),
    "teams working outside the visit hours": (
        {"region_extra": "start_hour = 20.0\nend_hour = 23.0"},
        "resources.regions[0]: the teams of region 'city' work 20-23, outside the visit hours "
        "8-20 policy 'ladder' must keep: no visit can be made",
    ),
    "region day ending before it starts": (
        {"region_extra": "start_hour = 14.0\nend_hour = 9.0"},
        "resources.regions[0].end_hour: 9.0 is not after start_hour 14.0",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_capacity_or_window_is_one_line(tmp_path, capsys, case, command):
    changes, expected = CASES[case]
    path = scenario(tmp_path, **changes)
    argv = [command, str(path)] + (["--out", str(tmp_path / "out"), "--quiet"] * (command == "run"))
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert expected in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_good_scenario_passes(tmp_path, capsys):
    assert main(["validate", str(scenario(tmp_path))]) == 0


def test_resolve_rules_names_the_key_of_a_window_that_ends_before_it_starts():
    with pytest.raises(InputError, match=r"^x\.visit_end_hour: 7\.0 is not after visit_start_hour"):
        resolve_rules("cn", {"visit_end_hour": 7.0}, where="x")
