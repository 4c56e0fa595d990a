"""Scenario files: the shipped ones validate; every kind of mistake is one line naming the
file, the key path and the bad value, exit code 1, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from waifang.errors import InputError
from waifang.scenarios.cli import main
from waifang.scenarios.schema import (
    BASELINE,
    ComplianceSpec,
    OutputSpec,
    Scenario,
    load_scenario,
)

SMALL = Path(__file__).parent / "data" / "small.toml"


def test_baseline_is_shipped_and_describes_the_article_ladder():
    scenario = load_scenario(BASELINE)
    assert [p.name for p in scenario.policies] == [
        "ladder",
        "digital_only",
        "early_visits",
        "early_visits_allowed",
    ]
    assert scenario.champion == "ladder"
    assert scenario.portfolio.accounts == 100_000
    assert 2 <= len(scenario.portfolio.segments) <= 4
    assert scenario.days == 180
    assert scenario.compliance.preset == "cn"
    regions = scenario.resources.regions
    assert len(regions) == 5
    assert len({r.visit_cost for r in regions}) == 5
    assert len({r.teams for r in regions}) > 1
    departures = [scenario.rules_for(i)[1] for i in range(len(scenario.policies))]
    assert departures[:3] == [(), (), ()]
    assert departures[3] == ("visit_min_dpd: 60 is looser than the cn preset (90)",)
    actions = {rule.action for rule in scenario.policies[0].rules}
    assert {"sms", "ivr", "call", "freeze", "visit", "legal", "agency", "sale"} <= actions
    digital = {rule.action for rule in scenario.policies[1].rules}
    assert not digital & {"call", "visit", "legal", "agency"}
    early = [r for r in scenario.policies[2].rules if r.action == "visit"]
    assert early[0].dpd_min == 60


def test_rules_for_layers_policy_overrides_on_the_scenario_overrides(tmp_path):
    text = SMALL.read_text().replace(
        'preset = "cn"', 'preset = "cn"\noverrides = { max_attempts_per_day = 4 }'
    )
    path = tmp_path / "layered.toml"
    path.write_text(text)
    scenario = load_scenario(path)
    rules, departures = scenario.rules_for(2)
    assert rules.max_attempts_per_day == 4  # tighter than cn's 6: no departure
    assert rules.visit_min_dpd == 60
    assert departures == ("visit_min_dpd: 60 is looser than the cn preset (90)",)


def test_every_scenario_field_has_a_description():
    for model in (Scenario, ComplianceSpec, OutputSpec):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no docstring"


def test_validate_prints_ok(capsys):
    assert main(["validate", str(SMALL)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ok"
    checked = "\n".join(lines[1:])
    for fragment in ("bounds", "3 policies", "compliance rules", "3,000 generated accounts",
                     "2 segments", "memory", "daily.csv"):
        assert fragment in checked, (fragment, checked)
    assert main(["validate", "baseline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ok" and "4 policies" in lines[2] and "100,000 generated" in lines[4]


# (id, replace this, with this, fragments of the one-line message after the file name)
MISTAKES = [
    ("typo_key", "accounts = 3000", "acounts = 3000",
     ["portfolio.acounts", "unknown key", "did you mean 'accounts'", "3000"]),
    ("negative_cost", "visit_cost = 400.0", "visit_cost = -5.0",
     ["resources.regions[0].visit_cost", "greater than or equal to 0", "-5.0"]),
    ("probability_above_1", "[compliance]",
     "[treatments.visit]\nfound_verified = 1.5\n\n[compliance]",
     ["treatments.visit.found_verified", "less than or equal to 1", "1.5"]),
    ("unknown_action", 'action = "freeze"', 'action = "viist"',
     ["policies[0].rules[2].action", "'sms', 'ivr'", "'viist'"]),
    ("unknown_rule", "compliance = { visit_min_dpd = 60 }", "compliance = { visit_min_dqd = 60 }",
     ["policies[2].compliance.visit_min_dqd", "unknown rule", "did you mean 'visit_min_dpd'",
      "60"]),
    ("bad_rule_value", "compliance = { visit_min_dpd = 60 }",
     "compliance = { visit_min_dpd = -1 }",
     ["policies[2].compliance.visit_min_dpd", "greater than or equal to 0", "-1"]),
    ("unknown_preset", 'preset = "cn"', 'preset = "mars"',
     ["compliance.preset", "'cn'", "'us_reg_f'", "'mars'"]),
    ("repeated_policy", 'name = "digital_only"', 'name = "ladder"',
     ["policies[1].name", "repeated", "'ladder'"]),
    ("unknown_segment", "every_days = 3 }", 'every_days = 3, segments = ["mid"] }',
     ["policies[0].rules[0].segments", "unknown segment", "'mid'"]),
    ("typo_in_segment", "balance_median = 3000.0", "balance_medain = 3000.0",
     ["portfolio.segments[0].balance_medain", "did you mean 'balance_median'"]),
    ("wrong_type", "days = 60", 'days = "sixty"',
     ["days:", "valid integer", "'sixty'"]),
    ("bad_output", "[compliance]", '[output]\ndaily_format = "xlsx"\n\n[compliance]',
     ["output.daily_format", "'csv' or 'parquet'", "'xlsx'"]),
    ("toml_syntax", "days = 60", "days = = 60",
     ["TOML syntax error", "line 6", "column"]),
    ("missing_tape", "[portfolio]", '[portfolio]\ntape = "nowhere.csv"',
     ["portfolio.tape", "no such file", "nowhere.csv"]),
]


@pytest.mark.parametrize(
    "old, new, fragments", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_each_mistake_is_one_line_naming_file_key_and_value(tmp_path, capsys, old, new, fragments):
    text = SMALL.read_text()
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1))
    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "Traceback" not in captured.err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {path}: ")
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert captured.out == ""


def test_missing_scenario_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.toml")]) == 1
    err = capsys.readouterr().err
    assert "nope.toml: no such scenario file" in err


def test_load_scenario_raises_input_error_for_programmatic_use(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('name = "x"\n')
    with pytest.raises(InputError, match=r"x.toml: policies: required key is missing"):
        load_scenario(path)
