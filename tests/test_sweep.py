"""Sweeps: paths as `waifang validate` names keys, the product or listed points, each point's
numbers equal to a plain run of that scenario, common random numbers across points, tidy
tables and one-line errors that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from waifang.errors import InputError
from waifang.scenarios.cli import main
from waifang.scenarios.runner import run_scenario
from waifang.scenarios.schema import load_scenario
from waifang.scenarios.sweep import check_path, load_sweep, parse_path, run_sweep

DATA = Path(__file__).parent / "data"


def _tiny_text() -> str:
    text = (DATA / "small.toml").read_text()
    return text.replace("accounts = 3000", "accounts = 600").replace("days = 60", "days = 25")


def _write(tmp_path: Path, sweep: str, name: str = "sweep.toml", text: str | None = None) -> Path:
    path = tmp_path / name
    path.write_text((text or _tiny_text()) + "\n[sweep]\n" + sweep)
    return path


def test_paths_parse_as_validate_names_keys():
    assert parse_path("policies[0].rules[6].min_balance") == [
        "policies", 0, "rules", 6, "min_balance"
    ]
    assert parse_path("days") == ["days"]
    for bad in ("a..b", "a.", "[0]", "a b", "a[x]"):
        with pytest.raises(ValueError):
            parse_path(bad)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("resources.regions[0].team",
         "unknown path 'resources.regions[0].team'; did you mean 'resources.regions[0].teams'?"),
        ("dayz", "unknown path 'dayz'; did you mean 'days'?"),
        ("resources.regions[5].teams",
         "unknown path 'resources.regions[5].teams': resources.regions has 2 item(s) (0 to 1)"),
        ("policies[0].rules[2].min_balanc",
         "did you mean 'policies[0].rules[2].min_balance'?"),
        ("days.x", "unknown path 'days.x': days is a value, not a table"),
        ("a..b", "sweep: 'a..b' is not a scenario path"),
    ],
)
def test_an_unknown_path_is_one_line_with_a_hint(path, message):
    import tomllib

    data = tomllib.loads(_tiny_text())
    with pytest.raises(InputError) as err:
        check_path(data, path, "f.toml: ")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("f.toml: sweep")


def test_keys_left_to_their_defaults_can_be_swept(tmp_path):
    path = _write(tmp_path, '"resources.legal_capacity" = [10, 20]\n'
                            '"compliance.overrides.max_attempts_per_day" = [4]\n')
    sweep = load_sweep(path)
    assert [s.resources.legal_capacity for s in sweep.scenarios] == [10, 20]
    assert sweep.scenarios[1].rules_for(0)[0].max_attempts_per_day == 4


def test_product_in_the_order_written_and_listed_points(tmp_path):
    sweep = load_sweep(_write(tmp_path, '"resources.regions[0].teams" = [1, 3]\n'
                                        'days = [10, 20, 30]\n'))
    assert sweep.parameters == ("resources.regions[0].teams", "days")
    assert [(p["resources.regions[0].teams"], p["days"]) for p in sweep.points] == [
        (1, 10), (1, 20), (1, 30), (3, 10), (3, 20), (3, 30)
    ]
    assert [(s.resources.regions[0].teams, s.days) for s in sweep.scenarios] == [
        (1, 10), (1, 20), (1, 30), (3, 10), (3, 20), (3, 30)
    ]
    listed = load_sweep(_write(tmp_path, 'points = [{ days = 12, seed = 3 }, '
                                         '{ days = 14, seed = 3 }]\n', "listed.toml"))
    assert [(s.days, s.seed) for s in listed.scenarios] == [(12, 3), (14, 3)]


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ('"resources.regions[0].teams" = [2, "many"]\n',
         "sweep point 1 (resources.regions[0].teams = 'many'): resources.regions[0].teams: "
         "input should be a valid integer"),
        ('days = [-5]\n', "sweep point 0 (days = -5): days: input should be greater than"),
        ('days = 30\n', "sweep.days: must be a non-empty list of values (got 30)"),
        ('points = [{ days = 12 }, { seed = 3 }]\n',
         "sweep.points[0]: no value for 'seed'"),
        ('metric = "net_value"\n', "sweep: no parameter to sweep"),
    ],
)
def test_a_bad_value_is_one_line_and_nothing_is_written(tmp_path, capsys, sweep, message):
    path = _write(tmp_path, sweep)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert message in err, err
    assert not out.exists() or not any(out.iterdir())


def test_unknown_path_from_the_cli_and_from_validate(tmp_path, capsys):
    path = _write(tmp_path, '"resources.regions[0].teamz" = [1, 2]\n')
    expected = (
        f"error: {path}: sweep: unknown path 'resources.regions[0].teamz'; "
        "did you mean 'resources.regions[0].teams'?"
    )
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.strip() == expected
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().err.strip() == expected
    # A plain run of the same file ignores the sweep table.
    good = _write(tmp_path, "days = [5, 6]\n", "good.toml")
    assert main(["validate", str(good)]) == 0


def test_a_swept_champion_rung_carries_into_the_policies_that_extend_it(tmp_path):
    text = _tiny_text() + '\n[[policies]]\nname = "child"\nextends = "ladder"\nremove = [0]\n'
    path = _write(tmp_path, '"policies[0].rules[3].min_balance" = [1000.0, 9000.0]\n',
                  text=text)
    sweep = load_sweep(path)
    for value, scenario in zip((1000.0, 9000.0), sweep.scenarios, strict=True):
        ladder, child = scenario.policies[0], scenario.policies[-1]
        assert ladder.rules[3].min_balance == value
        assert child.rules == ladder.rules[1:]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    path = _write(folder, '"resources.regions[0].teams" = [1, 4]\n'
                          '"policies[0].rules[3].min_balance" = [1000.0, 9000.0]\n')
    out = folder / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--workers", "2"]) == 0
    return path, out


def test_sweep_writes_tidy_tables_with_a_column_per_path(swept):
    path, out = swept
    assert {p.name for p in out.iterdir()} == {
        "summary.csv", "comparison.csv", "sweep_net_value.png", "manifest.json"
    }
    summary = pd.read_csv(out / "summary.csv")
    head = ["point", "resources.regions[0].teams", "policies[0].rules[3].min_balance",
            "policy", "replication"]
    assert list(summary.columns[:5]) == head
    assert len(summary) == 4 * 3 * 2
    comparison = pd.read_csv(out / "comparison.csv")
    assert list(comparison.columns[:4]) == [*head[:3], "policy"]
    assert "replications_needed" in comparison.columns
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"] == head[1:3] and len(manifest["points"]) == 4
    assert manifest["violations"] == 0
    assert (out / "sweep_net_value.png").read_bytes()[:4] == b"\x89PNG"


def test_each_point_is_a_plain_run_of_its_scenario(swept, tmp_path):
    """Independent check: the point's scenario written out by hand and run as usual."""
    path, out = swept
    summary = pd.read_csv(out / "summary.csv")
    text = _tiny_text()
    teams_line = "name = \"city\"\nteams = 2"
    assert teams_line in text
    hand = text.replace(teams_line, "name = \"city\"\nteams = 4").replace(
        "every_days = 30, min_balance = 5000.0 },\n  { action = \"legal\"",
        "every_days = 30, min_balance = 9000.0 },\n  { action = \"legal\"",
    )
    assert hand.count("9000.0") == 1
    (tmp_path / "hand.toml").write_text(hand)
    plain = run_scenario(load_scenario(tmp_path / "hand.toml")).summary
    point = summary[summary["point"] == 3].drop(
        columns=["point", "resources.regions[0].teams", "policies[0].rules[3].min_balance"]
    ).reset_index(drop=True)
    expected = pd.read_csv(pd.io.common.StringIO(plain.to_csv(index=False)))
    pd.testing.assert_frame_equal(point, expected)


def test_common_random_numbers_across_points(swept):
    _, out = swept
    summary = pd.read_csv(out / "summary.csv")
    # The ladder's visit threshold does not touch digital_only: identical at the two
    # thresholds (same borrowers, same luck), for each number of teams.
    digital = summary[summary.policy == "digital_only"]
    for _teams, group in digital.groupby("resources.regions[0].teams"):
        by_threshold = [g.drop(columns=["point", "policies[0].rules[3].min_balance"])
                        .reset_index(drop=True)
                        for _, g in group.groupby("policies[0].rules[3].min_balance")]
        pd.testing.assert_frame_equal(*by_threshold)
    # ... while the ladder's visits do change with it.
    ladder = summary[(summary.policy == "ladder") & (summary["resources.regions[0].teams"] == 4)]
    visits = ladder.groupby("policies[0].rules[3].min_balance")["visits"].sum()
    assert visits[1000.0] > visits[9000.0]


def test_sweep_resumes_after_an_interruption(swept, tmp_path):
    from waifang.scenarios.checkpoint import Checkpoint

    path, out = swept
    sweep = load_sweep(path)

    class Stop(Exception):
        pass

    seen = []

    def stop(done, total, run):
        seen.append((run.point, run.policy, run.replication))
        if done == 7:
            raise Stop

    checkpoint = Checkpoint(tmp_path)
    with pytest.raises(Stop):
        run_sweep(sweep, progress=stop, checkpoint=checkpoint)
    # Progress names the point: replication 0 of every point first, policy by policy.
    policies = ["ladder", "digital_only", "early_visits_allowed"]
    assert seen == [(k, p, 0) for k in range(3) for p in policies][:7]
    resumed = run_sweep(sweep, checkpoint=checkpoint, resume=True)
    expected = pd.read_csv(out / "summary.csv")
    got = pd.read_csv(pd.io.common.StringIO(resumed.summary.to_csv(index=False)))
    pd.testing.assert_frame_equal(got, expected)


def test_sweep_on_a_dask_cluster_gives_the_same_tables(swept):
    distributed = pytest.importorskip("distributed")
    path, out = swept
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        on_dask = run_sweep(load_sweep(path), scheduler=cluster.scheduler_address)
    got = pd.read_csv(pd.io.common.StringIO(on_dask.summary.to_csv(index=False)))
    pd.testing.assert_frame_equal(got, pd.read_csv(out / "summary.csv"))


def test_value_labels_read_as_in_the_scenario_file():
    from waifang.scenarios.sweep import value_label

    assert value_label(4) == 4 and value_label(0.5) == 0.5 and value_label("x") == "x"
    assert value_label([1.0, 0.8]) == "[1.0, 0.8]"
    assert value_label([[1, 2], [3]]) == "[[1, 2], [3]]"
    assert value_label({"teams": 2, "stress": [1.0]}) == "{teams = 2, stress = [1.0]}"


@pytest.mark.parametrize("list_first", [True, False])
def test_a_list_valued_path_sweeps_and_charts(tmp_path, capsys, list_first):
    """A whole list as a swept value (x axis or panel): the run, tables and chart work, the
    list is labelled as written, and each point really ran with its list."""
    stress = '"behaviour.stress" = [[1.0, 1.0], [0.5, 0.5]]\n'
    teams = '"resources.regions[0].teams" = [1, 2]\n'
    path = _write(tmp_path, stress + teams if list_first else teams + stress)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--replications", "2"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert (out / "sweep_net_value.png").read_bytes()[:4] == b"\x89PNG"
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["behaviour.stress"]) == {"[1.0, 1.0]", "[0.5, 0.5]"}
    # Halved payment hazards collect less, policy by policy, at each team count.
    collected = summary.groupby(["policy", "resources.regions[0].teams", "behaviour.stress"])[
        "collected"].sum().unstack()
    assert (collected["[0.5, 0.5]"] < collected["[1.0, 1.0]"]).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {p["behaviour.stress"] for p in manifest["points"]} == {"[1.0, 1.0]", "[0.5, 0.5]"}
