"""Every bad input is refused the same way by ``waifang validate`` and ``waifang run``.

One table: each row edits a small valid scenario (or its account tape, or adds flags) into one
mistake. Both commands must exit 1 with the *same* single line naming the key or column and
the bad value, print no traceback, and ``run`` must not create its output folder. The base
scenario itself validates and runs, so a check that disappears makes its row fail: ``run``
would go on, finish in a second, and exit 0.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from waifang.scenarios import preflight
from waifang.scenarios.cli import main

SMALL = Path(__file__).parent / "data" / "small.toml"
TAPE_HEADER = "account_id,balance,dpd,region,prior_delinquencies,other_debts,risk_score"
GOOD_TAPE = [
    f"{TAPE_HEADER}",
    "1001,5000,35,city,0,1,600",
    "1002,800,3,country,1,0,700",
    "1003,12000,95,city,2,2,550",
]


def base_text() -> str:
    """tests/data/small.toml made tiny: 300 accounts, 10 days, one replication."""
    text = SMALL.read_text()
    for old, new in (
        ("accounts = 3000", "accounts = 300"),
        ("days = 60", "days = 10"),
        ("replications = 2", "replications = 1"),
    ):
        assert old in text
        text = text.replace(old, new, 1)
    return text


def tape_scenario(rows: list[str]) -> tuple[str, list[str]]:
    """(scenario with a tape, tape rows); segments are the tape's own (no segment column)."""
    text = base_text().replace("[portfolio]\naccounts = 300", '[portfolio]\ntape = "tape.csv"')
    # Rules naming segments would need a segment column; the small ladder names none.
    return text, rows


def tape_with(row: str) -> list[str]:
    return [*GOOD_TAPE, row]


# (id, [(old, new), ...] edits of the scenario, tape rows or None, extra flags,
#  fragments that the one line must contain)
SCENARIO_CASES = [
    ("all_zero_dpd_weights", [("strategic_share = 0.1", "strategic_share = 0.1\n"
                               "dpd_weights = [0, 0, 0, 0, 0, 0]")],
     ["portfolio.segments[1].dpd_weights", "at least one weight must be positive"]),
    ("negative_dpd_weight", [("strategic_share = 0.1", "strategic_share = 0.1\n"
                              "dpd_weights = [1, -1, 0, 0, 0, 0]")],
     ["portfolio.segments[1].dpd_weights[1]", "greater than or equal to 0", "-1"]),
    ("negative_region_weight", [("strategic_share = 0.1", "strategic_share = 0.1\n"
                                 "region_weights = { city = -1.0, country = 1.0 }")],
     ["portfolio.segments[1].region_weights.city", "greater than or equal to 0", "-1.0"]),
    ("all_zero_region_weights", [("strategic_share = 0.1", "strategic_share = 0.1\n"
                                  "region_weights = { city = 0.0, country = 0.0 }")],
     ["portfolio.segments[1].region_weights", "at least one weight must be positive"]),
    ("region_weights_unknown_region", [("strategic_share = 0.1", "strategic_share = 0.1\n"
                                        "region_weights = { town = 1.0 }")],
     ["portfolio.segments[1].region_weights", "unknown region 'town'", "city"]),
    ("infinite_balance_median", [("balance_median = 10000.0", "balance_median = inf")],
     ["portfolio.segments[1].balance_median", "finite number", "inf"]),
    ("nan_balance_median", [("balance_median = 10000.0", "balance_median = nan")],
     ["portfolio.segments[1].balance_median", "finite number", "nan"]),
    ("huge_balance_median", [("balance_median = 10000.0", "balance_median = 1e300")],
     ["portfolio.segments[1].balance_median", "less than or equal to", "1e+300"]),
    ("infinite_visit_cost", [("visit_cost = 400.0", "visit_cost = inf")],
     ["resources.regions[0].visit_cost", "finite number", "inf"]),
    ("huge_visit_cost", [("visit_cost = 400.0", "visit_cost = 1e300")],
     ["resources.regions[0].visit_cost", "less than or equal to 1000000000", "1e+300"]),
    ("nan_probability", [("[compliance]", "[treatments.visit]\nfound_verified = nan\n\n"
                                          "[compliance]")],
     ["treatments.visit.found_verified", "finite number", "nan"]),
    ("infinite_stress", [("[compliance]", "[behaviour]\nstress = [1.0, inf]\n\n[compliance]")],
     ["behaviour.stress[1]", "finite number", "inf"]),
    ("zero_stress", [("[compliance]", "[behaviour]\nstress = [1.0, 0.0]\n\n[compliance]")],
     ["behaviour.stress[1]", "greater than 0", "0.0"]),
    ("huge_count_mean", [("strategic_share = 0.1", "strategic_share = 0.1\n"
                          "prior_delinquencies_mean = 40000")],
     ["portfolio.segments[1].prior_delinquencies_mean", "less than or equal to 100", "40000"]),
    ("huge_agents", [("agents = 10", "agents = 9223372036854775807")],
     ["resources.call_centre.shifts[0].agents", "less than or equal to", "9223372036854775807"]),
    ("partial_min_above_max", [("[compliance]", "[behaviour]\npartial_min = 0.9\n"
                                "partial_max = 0.3\n\n[compliance]")],
     ["behaviour", "partial_min 0.9 is above partial_max 0.3"]),
    ("inverted_contact_hours", [('preset = "cn"', 'preset = "cn"\noverrides = '
                                 '{ contact_start_hour = 23, contact_end_hour = 7 }')],
     ["compliance.overrides.contact_end_hour", "7.0 is not after contact_start_hour (23.0)"]),
    ("empty_contact_window", [('preset = "cn"', 'preset = "cn"\noverrides = '
                               '{ contact_start_hour = 9, contact_end_hour = 9 }')],
     ["compliance.overrides.contact_end_hour", "9.0 is not after contact_start_hour (9.0)"]),
    ("start_after_the_presets_end", [('preset = "cn"', 'preset = "in_rbi"\noverrides = '
                                      '{ contact_start_hour = 20 }')],
     ["compliance.overrides.contact_end_hour", "19.0 is not after contact_start_hour (20.0)"]),
    ("inverted_visit_hours_in_a_policy", [("compliance = { visit_min_dpd = 60 }",
                                           "compliance = { visit_min_dpd = 60, "
                                           "visit_start_hour = 21 }")],
     ["policies[2].compliance.visit_end_hour", "20.0 is not after visit_start_hour (21.0)"]),
    ("inverted_field_team_hours", [("teams = 1", "teams = 1\nstart_hour = 18\nend_hour = 9")],
     ["resources.regions[1].end_hour", "9.0 is not after start_hour 18.0"]),
    ("min_balance_above_max_balance", [("min_balance = 20000.0",
                                        "min_balance = 20000.0, max_balance = 100.0")],
     ["policies[0].rules[4].max_balance", "100 is below min_balance 20000"]),
    ("dpd_max_below_dpd_min", [("dpd_min = 1, dpd_max = 15", "dpd_min = 15, dpd_max = 1")],
     ["policies[0].rules[0].dpd_max", "1 is below dpd_min 15"]),
    ("shares_sum_to_0.7", [("share = 0.4", "share = 0.1")],
     ["portfolio.segments", "shares sum to 0.7, not 1", "low 0.6", "high 0.1"]),
    ("shares_sum_to_1.5", [("share = 0.4", "share = 0.9")],
     ["portfolio.segments", "shares sum to 1.5, not 1"]),
    ("repeated_region", [('name = "country"', 'name = "city"')],
     ["resources.regions[1].name", "region name repeated", "'city'"]),
    ("repeated_segment", [('name = "high"', 'name = "low"')],
     ["portfolio.segments[1].name", "segment name repeated", "'low'"]),
    ("repeated_policy", [('name = "digital_only"', 'name = "ladder"')],
     ["policies[1].name", "policy name repeated", "'ladder'"]),
    ("inverted_shift", [("{ start_hour = 9, end_hour = 21, agents = 10 }",
                         "{ start_hour = 21, end_hour = 9, agents = 10 }")],
     ["resources.call_centre.shifts[0].end_hour", "9 is not after start_hour 21"]),
    ("repeated_shift", [("{ start_hour = 9, end_hour = 21, agents = 10 }",
                         "{ start_hour = 9, end_hour = 21, agents = 10 }, "
                         "{ start_hour = 9, end_hour = 21, agents = 4 }")],
     ["resources.call_centre.shifts[1]", "repeats the hours 9-21 of shifts[0]"]),
    ("replications_above_cap_in_file", [("replications = 1", "replications = 20000")],
     ["replications", "less than or equal to 10000", "20000"]),
    ("huge_every_days", [("every_days = 3 }", "every_days = 100000 }")],
     ["policies[0].rules[0].every_days", "less than or equal to 3650", "100000"]),
]

FLAG_CASES = [
    ("replications_flag_above_cap", ["--replications", "100000"],
     ["--replications", "1..10,000", "100,000"]),
    ("replications_flag_zero", ["--replications", "0"], ["--replications", "(got 0)"]),
    ("negative_seed_flag", ["--seed", "-1"], ["--seed", "(got -1)"]),
    ("huge_seed_flag", ["--seed", str(2**64)], ["--seed", str(2**64)]),
    ("zero_workers_flag", ["--workers", "0"], ["--workers", "at least 1", "(got 0)"]),
    ("seed_not_a_number", ["--seed", "abc"], ["--seed", "invalid int value", "'abc'"]),
]

TAPE_CASES = [
    ("tape_balance_1e300", tape_with("1004,1e300,5,city,0,0,600"),
     ["column 'balance'", "balance above 1,000,000,000", "data row 4", "1e300"]),
    ("tape_balance_inf", tape_with("1004,inf,5,city,0,0,600"),
     ["column 'balance'", "not a number", "data row 4", "'inf'"]),
    ("tape_count_wraps", tape_with("1004,500,5,city,40000,0,600"),
     ["column 'prior_delinquencies'", "count above 1,000", "data row 4", "40000"]),
    ("tape_negative_count", tape_with("1004,500,5,city,0,-1,600"),
     ["column 'other_debts'", "negative count", "-1"]),
    ("tape_risk_score_nan", tape_with("1004,500,5,city,0,0,nan"),
     ["column 'risk_score'", "not a number", "'nan'"]),
    ("tape_risk_score_out_of_range", tape_with("1004,500,5,city,0,0,5000"),
     ["column 'risk_score'", "outside 0..1000", "5000"]),
    ("tape_duplicate_long_ids", [TAPE_HEADER, "9007199254740993,500,5,city,0,0,600",
                                 "9007199254740993,800,3,city,0,0,600"],
     ["column 'account_id'", "duplicate account_id", "data rows 1, 2", "9007199254740993"]),
    ("tape_dpd_at_charge_off", tape_with("1004,500,180,city,0,0,600"),
     ["column 'dpd'", "dpd out of range 0..179", "180"]),
    ("tape_unknown_region", tape_with("1004,500,5,town,0,0,600"),
     ["column 'region'", "unknown region", "'town'"]),
    ("tape_blank_id", tape_with(",500,5,city,0,0,600"),
     ["column 'account_id'", "missing value", "data row 4"]),
]


def write_case(tmp_path: Path, edits, tape_rows=None, gz: bool = False) -> Path:
    text = base_text()
    if tape_rows is not None:
        text, tape_rows = tape_scenario(tape_rows)
        body = ("\n".join(tape_rows) + "\n").encode()
        if gz:
            text = text.replace('tape = "tape.csv"', 'tape = "tape.csv.gz"')
            (tmp_path / "tape.csv.gz").write_bytes(gzip.compress(body)[:40])  # truncated
        else:
            (tmp_path / "tape.csv").write_bytes(body)
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "case.toml"
    path.write_text(text)
    return path


def both_refuse(tmp_path, capsys, path: Path, flags: list[str], fragments: list[str]) -> str:
    """validate and run give the same one line and exit 1; run creates no output folder."""
    out = tmp_path / "out"
    assert main(["validate", str(path), *flags]) == 1
    validated = capsys.readouterr()
    assert main(["run", str(path), "--out", str(out), "--quiet", *flags]) == 1
    ran = capsys.readouterr()
    for captured in (validated, ran):
        assert "Traceback" not in captured.err
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, captured.err
        assert lines[0].startswith("error: ")
    # The same line; a bad flag names the command argparse was parsing for.
    assert validated.err.replace("waifang validate:", "waifang run:") == ran.err
    for fragment in fragments:
        assert fragment in validated.err, (fragment, validated.err)
    assert not out.exists(), "run touched its output folder before refusing"
    return validated.err.strip()


def test_the_base_cases_are_valid_and_run(tmp_path, capsys):
    """Without this, every row below could pass because the base itself was broken."""
    plain = write_case(tmp_path, [])
    assert main(["validate", str(plain)]) == 0
    taped = tmp_path / "taped"
    taped.mkdir()
    with_tape = write_case(taped, [], GOOD_TAPE)
    assert main(["validate", str(with_tape)]) == 0
    out = capsys.readouterr().out
    assert "tape" in out and "3 accounts" in out
    assert main(["run", str(with_tape), "--out", str(taped / "out"), "--quiet"]) == 0


@pytest.mark.parametrize(
    "edits, fragments", [c[1:] for c in SCENARIO_CASES], ids=[c[0] for c in SCENARIO_CASES]
)
def test_scenario_mistake_refused_alike(tmp_path, capsys, edits, fragments):
    path = write_case(tmp_path, edits)
    line = both_refuse(tmp_path, capsys, path, [], fragments)
    assert line.startswith(f"error: {path}: ")


@pytest.mark.parametrize("flags, fragments", [c[1:] for c in FLAG_CASES],
                         ids=[c[0] for c in FLAG_CASES])
def test_flag_mistake_refused_alike(tmp_path, capsys, flags, fragments):
    both_refuse(tmp_path, capsys, write_case(tmp_path, []), flags, fragments)


@pytest.mark.parametrize("rows, fragments", [c[1:] for c in TAPE_CASES],
                         ids=[c[0] for c in TAPE_CASES])
def test_tape_mistake_refused_alike(tmp_path, capsys, rows, fragments):
    path = write_case(tmp_path, [], rows)
    line = both_refuse(tmp_path, capsys, path, [], fragments)
    assert f"{tmp_path / 'tape.csv'}: " in line


def test_corrupt_gzip_tape_refused_alike(tmp_path, capsys):
    path = write_case(tmp_path, [], GOOD_TAPE, gz=True)
    both_refuse(tmp_path, capsys, path, [], ["tape.csv.gz", "cannot read the tape"])


def test_portfolio_too_large_for_memory_says_how_many_fit(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(preflight, "available_memory", lambda: 90_000)  # 150 accounts' worth
    path = write_case(tmp_path, [])
    line = both_refuse(tmp_path, capsys, path, [], ["portfolio.accounts", "300 accounts"])
    assert "about 150 accounts fit" in line
    # Two workers each hold a replication: half as many fit.
    line = both_refuse(
        tmp_path, capsys, path, ["--workers", "2", "--replications", "2"], ["x 2 worker"]
    )
    assert "about 75 accounts fit" in line


def test_memory_error_mid_run_is_one_line(tmp_path, capsys, monkeypatch):
    from waifang.scenarios import runner

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 4.0 GiB for an array")

    monkeypatch.setattr(runner, "run_scenario", no_memory)
    path = write_case(tmp_path, [])
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("error: out of memory") and "accounts fit" in err


@pytest.mark.parametrize("where", ["first", "after_command", "last"])
def test_debug_anywhere_shows_the_traceback(tmp_path, where):
    path = write_case(tmp_path, [("share = 0.4", "share = 0.1")])
    argv = ["validate", str(path)]
    position = {"first": 0, "after_command": 1, "last": len(argv)}[where]
    argv.insert(position, "--debug")
    from waifang.errors import InputError

    with pytest.raises(InputError, match="shares sum to 0.7"):
        main(argv)


def _numeric_fields(model, seen):
    """(model, field, metadata) of every int or float field reachable from ``model``."""
    import typing

    from pydantic import BaseModel

    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        stack = [field.annotation]
        numeric = False
        while stack:
            ann = stack.pop()
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                yield from _numeric_fields(ann, seen)
            elif ann in (int, float):
                numeric = True
            elif typing.get_origin(ann) is typing.Annotated:
                args = typing.get_args(ann)
                if args[0] in (int, float):
                    yield model, f"{name} (item)", [m for a in args[1:] for m in a.metadata]
            else:
                stack.extend(a for a in typing.get_args(ann) if a is not type(None))
        if numeric:
            yield model, name, field.metadata


def test_every_numeric_field_has_an_upper_bound():
    """A number with no upper bound can overflow int64 cents or an int16 count in the engine;
    NaN and infinity are refused by the base spec for every field."""
    import annotated_types as at

    from waifang.scenarios.schema import Scenario
    from waifang.sim.rules import ComplianceRules
    from waifang.sim.spec import Spec

    assert Spec.model_config["allow_inf_nan"] is False
    seen: set = set()
    fields = [*_numeric_fields(Scenario, seen), *_numeric_fields(ComplianceRules, seen)]
    assert len(fields) > 60  # the walk reaches the nested specs
    unbounded = [
        f"{model.__name__}.{name}"
        for model, name, metadata in fields
        if not any(isinstance(m, (at.Le, at.Lt)) for m in metadata)
        # checked by validators: base_hazard in [0, 1] (BehaviourSpec); the optimiser's
        # budget list and training days (OptimiserSpec), tested below
        and name not in ("base_hazard", "budget_per_period", "training_days")
    ]
    assert unbounded == []


@pytest.mark.parametrize(
    "field, value",
    [("budget_per_period", 1e300), ("budget_per_period", (5.0, 1e300)), ("budget_per_period", -1.0),
     ("training_days", (0, 10**6))],
)
def test_the_optimiser_lists_are_bounded(field, value):
    from pydantic import ValidationError

    from waifang.optimise.policy import OptimiserSpec

    args = {"budget_per_period": 1000.0, field: value}
    with pytest.raises(ValidationError, match=field):
        OptimiserSpec(**args)


# ------------------------------------------------------------------ optimiser tables

CANDIDATES_HEADER = "account_id,option,region,value,cost,hours"
GOOD_CANDIDATES = ["a,visit,north,1840,420,3", "b,visit,north,1200,420,2",
                   "c,legal,south,700,380,0"]
GOOD_CAPACITY = ["region,option,limit,hours_limit", "north,visit,1,"]

# (id, candidate rows added, capacity rows added, budget, fragments)
OPTIMISER_CASES = [
    ("value_inf", ["d,visit,north,inf,1,1"], [], "1000", ["C.csv: row 5", "'value'", "finite"]),
    ("value_nan", ["d,visit,north,nan,1,1"], [], "1000", ["C.csv: row 5", "'value'", "finite"]),
    ("value_1e300", ["d,visit,north,1e300,1,1"], [], "1000",
     ["C.csv: row 5", "'value' is beyond ±1,000,000,000", "1e+300"]),
    ("value_minus_1e300", ["d,visit,north,-1e300,1,1"], [], "1000",
     ["C.csv: row 5", "'value' is beyond", "-1e+300"]),
    ("cost_1e300", ["d,visit,north,5,1e300,1"], [], "1000",
     ["C.csv: row 5", "'cost' is beyond", "1e+300"]),
    ("cost_inf", ["d,visit,north,5,inf,1"], [], "1000", ["C.csv: row 5", "'cost'", "finite"]),
    ("hours_1e9", ["d,visit,north,5,1,1e9"], [], "1000",
     ["C.csv: row 5", "'hours' is beyond ±10,000", "1e+09"]),
    ("limit_1e300", [], ["south,legal,1e300,"], "1000",
     ["K.csv: row 3", "'limit'", "above 1,000,000,000"]),
    ("limit_inf", [], ["south,legal,inf,"], "1000",
     ["K.csv: row 3", "'limit'", "not a non-negative number"]),
    ("hours_limit_nan", [], ["south,legal,,nan"], "1000",
     ["K.csv: row 3", "'hours_limit'", "not a non-negative number"]),
    ("budget_1e300", [], [], "1e300", ["--budget must be at most 1e+15", "1e300"]),
    ("budget_inf", [], [], "inf", ["--budget must be finite", "'inf'"]),
    ("budget_nan", [], [], "nan", ["--budget must be finite", "'nan'"]),
]


def _optimiser_files(tmp_path, candidates, capacity):
    c, k = tmp_path / "C.csv", tmp_path / "K.csv"
    c.write_text("\n".join([CANDIDATES_HEADER, *GOOD_CANDIDATES, *candidates]) + "\n")
    k.write_text("\n".join([*GOOD_CAPACITY, *capacity]) + "\n")
    return c, k


@pytest.mark.parametrize("candidates, capacity, budget, fragments",
                         [c[1:] for c in OPTIMISER_CASES], ids=[c[0] for c in OPTIMISER_CASES])
def test_optimiser_numbers_refused_by_optimise_and_frontier(tmp_path, capsys, candidates,
                                                            capacity, budget, fragments):
    c, k = _optimiser_files(tmp_path, candidates, capacity)
    common = ["--candidates", str(c), "--capacity", str(k)]
    lines = []
    for argv in (["optimise", *common, "--budget", budget, "--out", str(tmp_path / "P.csv")],
                 ["frontier", *common, "--budgets", f"0,{budget}", "--out",
                  str(tmp_path / "F.csv")]):
        assert main(argv) == 1
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        lines.append(captured.err.strip())
        assert len(lines[-1].splitlines()) == 1, captured.err
        for fragment in fragments:
            assert fragment in lines[-1], (fragment, lines[-1])
    assert lines[0] == lines[1]
    assert not (tmp_path / "P.csv").exists() and not (tmp_path / "F.csv").exists()


def test_optimiser_good_tables_solve_and_a_blank_hours_cell_is_zero(tmp_path, capsys):
    c, k = _optimiser_files(tmp_path, ["d,legal,south,900,100,"], [])
    assert main(["optimise", "--candidates", str(c), "--capacity", str(k), "--budget", "1000",
                 "--out", str(tmp_path / "P.csv")]) == 0, capsys.readouterr().err
    plan = (tmp_path / "P.csv").read_text()
    assert "d,legal" in plan  # 800 net, no field hours, within budget
