"""Policy inheritance (``extends``): the shipped baseline resolves to the ladders it spelled out
in full before, each change does what it says, and every mistake is one line naming the key."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from waifang.errors import InputError
from waifang.scenarios.inheritance import resolve_policies
from waifang.scenarios.schema import BASELINE, load_scenario, scenario_from_dict
from waifang.sim.policy import PolicySpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATA = Path(__file__).parent / "data"

LADDER = [
    {"action": "sms", "dpd_min": 1, "dpd_max": 15},
    {"action": "call", "dpd_min": 16, "dpd_max": 89},
    {"action": "call", "dpd_min": 90, "dpd_max": 179, "every_days": 3},
    {"action": "visit", "dpd_min": 90, "dpd_max": 179, "min_balance": 5000.0},
    {"action": "sale", "dpd_min": 180},
]


def _resolve(child: dict, parent_compliance: dict | None = None) -> dict:
    parent = {"name": "ladder", "rules": LADDER}
    if parent_compliance:
        parent["compliance"] = parent_compliance
    return resolve_policies({"policies": [parent, {"name": "child", **child}]})["policies"][1]


def test_the_baseline_resolves_to_the_ladders_it_used_to_spell_out():
    explicit = tomllib.loads((DATA / "baseline_policies_explicit.toml").read_text())["policies"]
    baseline = load_scenario(BASELINE)
    # Validated by the scenario's own policy model (a PolicySpec or a subclass of it).
    model = type(baseline.policies[0])
    assert issubclass(model, PolicySpec)
    expected = tuple(model.model_validate(p) for p in explicit)
    assert baseline.policies[0] == expected[0], (
        "the baseline's ladder changed: update tests/data/baseline_policies_explicit.toml"
    )
    assert [p.name for p in baseline.policies] == [p.name for p in expected]
    for resolved, spelled_out in zip(baseline.policies, expected, strict=True):
        assert resolved == spelled_out, resolved.name
    # ... and the challengers really are written as differences, not copies.
    raw = tomllib.loads(BASELINE.read_text())
    assert [p.get("extends") for p in raw["policies"]] == [
        None, "ladder", "ladder", "early_visits"
    ]
    assert all("rules" not in p for p in raw["policies"][1:])


def test_remove_by_position_action_and_name():
    out = _resolve({"extends": "ladder", "remove": [0, "visit", "call@90"]})
    assert out["rules"] == [LADDER[1], LADDER[4]]
    assert out["name"] == "child" and "extends" not in out and "remove" not in out


def test_update_keeps_the_other_keys_and_replace_swaps_the_rung():
    out = _resolve(
        {
            "extends": "ladder",
            "update": [{"rung": "visit", "min_balance": 2000.0}],
            "replace": [{"rung": 0, "with": {"action": "ivr", "dpd_min": 3}}],
        }
    )
    assert out["rules"][3] == {**LADDER[3], "min_balance": 2000.0}
    assert out["rules"][0] == {"action": "ivr", "dpd_min": 3}
    assert out["rules"][1:3] == LADDER[1:3] and out["rules"][4] == LADDER[4]
    assert LADDER[3]["min_balance"] == 5000.0  # the parent is not changed


def test_add_before_after_and_at_the_end_refer_to_the_parents_ladder():
    early = {"action": "visit", "dpd_min": 60, "dpd_max": 89}
    legal = {"action": "legal", "dpd_min": 120}
    agency = {"action": "agency", "dpd_min": 150}
    out = _resolve(
        {
            "extends": "ladder",
            # written in an order unlike the result's: positions are the parent's
            "add": [{"after": "sale", **agency}, {"before": "visit", **early}, legal],
            "remove": ["call@16"],
        }
    )
    assert out["rules"] == [LADDER[0], LADDER[2], early, LADDER[3], LADDER[4], agency, legal]


def test_chains_and_compliance_override_on_top_of_the_inherited():
    raw = {
        "policies": [
            {"name": "a", "rules": LADDER, "compliance": {"max_attempts_per_day": 4}},
            {"name": "c", "extends": "b", "compliance": {"visit_min_dpd": 60}},
            {"name": "b", "extends": "a", "remove": ["sale"],
             "compliance": {"max_attempts_per_day": 5, "max_connected_per_day": 2}},
        ]
    }
    a, c, b = resolve_policies(raw)["policies"]
    assert b["rules"] == LADDER[:4] and c["rules"] == LADDER[:4]
    assert b["compliance"] == {"max_attempts_per_day": 5, "max_connected_per_day": 2}
    assert c["compliance"] == {
        "max_attempts_per_day": 5, "max_connected_per_day": 2, "visit_min_dpd": 60
    }
    assert a["compliance"] == {"max_attempts_per_day": 4}


@pytest.mark.parametrize(
    ("child", "message"),
    [
        ({"extends": "nope"}, "policies[1].extends: no policy called 'nope'; policies are"),
        ({"extends": "ladder", "remove": ["legal"]},
         "policies[1].remove[0]: no rung 'legal'; the ladder's rungs are ['sms@1', 'call@16'"),
        ({"extends": "ladder", "remove": ["call"]},
         "policies[1].remove[0]: 'call' names 2 rungs (call@16, call@90); say which"),
        ({"extends": "ladder", "remove": [7]},
         "policies[1].remove[0]: no rung at position 7; the ladder has 5 (0 to 4)"),
        ({"extends": "ladder", "update": [{"min_balance": 1.0}]},
         "policies[1].update[0].rung: required key is missing"),
        ({"extends": "ladder", "replace": [{"rung": 0, "by": {}}]},
         "policies[1].replace[0].by: unknown key"),
        ({"extends": "ladder", "add": [{"before": 0, "after": 1, "action": "sms"}]},
         "policies[1].add[0]: give 'before' or 'after', not both"),
        ({"remove": [0]}, "policies[1].remove: only a policy with 'extends' can remove rungs"),
        ({"extends": "ladder", "rules": []}, "policies[1].rules: a policy that extends another"),
        ({"extends": "child"}, "policies[1].extends: circular inheritance child -> child"),
    ],
)
def test_mistakes_are_one_line_naming_the_key(child, message):
    with pytest.raises(InputError) as err:
        _resolve(child)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_a_bad_value_in_a_change_is_caught_by_the_schema(tmp_path):
    data = tomllib.loads(BASELINE.read_text())
    data["policies"][2]["add"][0]["every_days"] = 0
    with pytest.raises(InputError, match=r"policies\[2\]\.rules\[6\]\.every_days"):
        scenario_from_dict(data, tmp_path / "x.toml")


def test_the_manifest_lists_every_resolved_ladder(tiny_scenario_file, tmp_path):
    from waifang.scenarios.cli import main

    text = tiny_scenario_file.read_text()
    text += '\n[[policies]]\nname = "no_visits"\nextends = "ladder"\nremove = ["visit"]\n'
    path = tmp_path / "inherit.toml"
    path.write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--replications", "1", "--quiet"]) == 0
    resolved = json.loads((out / "manifest.json").read_text())["resolved_policies"]
    assert list(resolved) == ["ladder", "digital_only", "early_visits_allowed", "no_visits"]
    ladder = [r["action"] for r in resolved["ladder"]["rules"]]
    assert [r["action"] for r in resolved["no_visits"]["rules"]] == [
        a for a in ladder if a != "visit"
    ]
    assert resolved["early_visits_allowed"]["compliance"] == {"visit_min_dpd": 60}
    assert resolved["ladder"]["rules"][0]["attempts"] == 1  # defaults filled in
