"""End-to-end ``waifang run`` on the small scenario with the real engine: every file with its
contract columns, reproducible bytes, and no damage to earlier results when a run fails."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from waifang.scenarios import html_report
from waifang.scenarios.cli import main
from waifang.sim.results import DAILY_COLUMNS, SUMMARY_COLUMNS

CONTRACT = [
    "collected", "collected_npv", "cost_total", "net_npv", "recovery_rate", "cure_rate",
    "chargeoff_rate", "visits", "complaints", "violations", "blocked",
]
COMPARISON_COLUMNS = [
    "policy", "metric", "n", "mean", "std", "ci_low", "ci_high", "champion",
    "diff_vs_champion", "diff_ci_low", "diff_ci_high", "unpaired_diff_ci_low",
    "unpaired_diff_ci_high", "replications_needed", "p05",
]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One run of tests/data/small.toml (3,000 accounts, 60 days, 2 replications)."""
    out = tmp_path_factory.mktemp("small_run")
    small = Path(__file__).parent / "data" / "small.toml"
    code = main(["run", str(small), "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_run_writes_every_file_with_the_contract_columns(small_run):
    names = {p.name for p in small_run.iterdir()}
    assert {"summary.csv", "comparison.csv", "daily.csv", "blocked.csv", "manifest.json",
            "report.html"} <= names
    assert not [n for n in names if n.endswith(".part")]

    summary = pd.read_csv(small_run / "summary.csv")
    assert list(summary.columns) == ["policy", "replication", *SUMMARY_COLUMNS]
    assert set(CONTRACT) <= set(summary.columns)
    assert [c for c in summary.columns if c.startswith("cost_")][1:]  # cost per treatment
    assert summary["policy"].unique().tolist() == ["ladder", "digital_only",
                                                   "early_visits_allowed"]
    assert summary["replication"].tolist() == [0, 1] * 3
    assert (summary["violations"] == 0).all()
    assert (summary["visits"][summary.policy == "digital_only"] == 0).all()

    comparison = pd.read_csv(small_run / "comparison.csv")
    assert list(comparison.columns) == COMPARISON_COLUMNS
    net = comparison.set_index(["policy", "metric"]).loc[("digital_only", "net_npv")]
    assert net["ci_low"] <= net["mean"] <= net["ci_high"]
    s = summary.set_index(["policy", "replication"])["net_npv"]
    assert net["diff_vs_champion"] == pytest.approx((s["digital_only"] - s["ladder"]).mean())

    daily = pd.read_csv(small_run / "daily.csv")
    n = 2 + len(DAILY_COLUMNS)
    assert list(daily.columns[:n]) == ["policy", "replication", *DAILY_COLUMNS]
    # then each region's field-team columns, visits_<what>[<region>]
    assert all(c.startswith("visits_") and c.endswith("]") for c in daily.columns[n:])
    assert len(daily) == 3 * 2 * 60

    manifest = json.loads((small_run / "manifest.json").read_text())
    for key in ("scenario", "scenario_file", "scenario_sha256", "seed", "replications",
                "workers", "versions", "started", "finished", "departures",
                "blocked_by_rule", "compliance"):
        assert key in manifest, key
    assert manifest["seed"] == 7 and manifest["replications"] == 2
    assert set(manifest["versions"]) >= {"waifang", "numpy", "simpy", "pulp", "highspy",
                                         "pydantic", "python"}
    assert manifest["compliance"].startswith("violations: 0")
    assert manifest["departures"]["early_visits_allowed"] == [
        "visit_min_dpd: 60 is looser than the cn preset (90)"
    ]
    assert len(manifest["scenario_sha256"]) == 64

    html = (small_run / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    assert "violations: 0" in html


def test_same_seed_gives_byte_identical_summary(small_run, tmp_path, small_path):
    assert main(["run", str(small_path), "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "summary.csv").read_bytes() == (small_run / "summary.csv").read_bytes()
    assert (tmp_path / "daily.csv").read_bytes() == (small_run / "daily.csv").read_bytes()


def test_other_seed_gives_other_results(tiny_scenario_file, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", str(tiny_scenario_file), "--out", str(a), "--seed", "1", "--quiet"]) == 0
    assert main(["run", str(tiny_scenario_file), "--out", str(b), "--seed", "2", "--quiet"]) == 0
    assert (a / "summary.csv").read_bytes() != (b / "summary.csv").read_bytes()


def test_run_prints_the_comparison_and_the_compliance_line(tiny_scenario_file, tmp_path, capsys):
    assert main(["run", str(tiny_scenario_file), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for policy in ("ladder", "digital_only", "early_visits_allowed"):
        assert policy in out
    assert "net NPV" in out and "±" in out
    lines = [line for line in out.splitlines() if line.startswith("compliance: ")]
    assert len(lines) == 1 and lines[0].endswith(", 0 performed in breach")
    assert "departure (early_visits_allowed): visit_min_dpd" in out


def test_failed_run_leaves_earlier_results_untouched(small_run, tmp_path, monkeypatch,
                                                     tiny_scenario_file, capsys):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("summary.csv", "comparison.csv", "daily.csv"):
        (out / name).write_bytes((small_run / name).read_bytes())
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    # 1. A bad scenario: nothing is run, nothing written.
    bad = tmp_path / "bad.toml"
    bad.write_text(tiny_scenario_file.read_text().replace("days = 30", "days = -1"))
    assert main(["run", str(bad), "--out", str(out)]) == 1
    assert "days" in capsys.readouterr().err

    # 2. A crash while writing the last file (the report), after the tables were written.
    def broken(results, *args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(html_report, "render_html", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["run", str(tiny_scenario_file), "--out", str(out), "--quiet"])
    # The finished replications are kept for --resume, in the checkpoint folder only.
    assert (out / ".waifang-partial" / "fingerprint.json").is_file()
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".waifang-partial"}
    assert after == before  # same files, same bytes, no temporary left behind


def test_unwritable_out_is_one_line(tiny_scenario_file, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["run", str(tiny_scenario_file), "--out", str(blocker)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--out" in err and "a_file" in err
    assert main(["run", str(tiny_scenario_file), "--out", str(blocker / "sub")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_full_audit_and_parquet_daily(tiny_scenario_file, tmp_path):
    pytest.importorskip("pyarrow")
    text = tiny_scenario_file.read_text() + '\n[output]\ndaily_format = "parquet"\naudit = "full"\n'
    path = tmp_path / "audited.toml"
    path.write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--replications", "1", "--quiet"]) == 0
    assert not (out / "daily.csv").exists()
    daily = pd.read_parquet(out / "daily.parquet")
    n = 2 + len(DAILY_COLUMNS)
    assert list(daily.columns[:n]) == ["policy", "replication", *DAILY_COLUMNS]
    # then each region's field-team columns, visits_<what>[<region>]
    assert all(c.startswith("visits_") and c.endswith("]") for c in daily.columns[n:])
    audit = pd.read_csv(out / "audit.csv")
    for column in ("policy", "replication", "account_id", "day", "hour", "action_name",
                   "outcome_name"):
        assert column in audit.columns
    assert (audit["outcome_name"] == "performed").any()
    summary = pd.read_csv(out / "summary.csv")
    # The audit's blocked rows agree with the summary's blocked count, policy by policy.
    blocked = audit[audit.outcome_name != "performed"].groupby("policy").size()
    for policy, row in summary.set_index("policy").iterrows():
        assert blocked.get(policy, 0) == row["blocked"]


def test_run_from_an_account_tape(tmp_path):
    rows = ["account_id,balance,dpd,region,segment"]
    for i in range(1, 401):
        region = "city" if i % 3 else "country"
        segment = "high" if i % 4 == 0 else "low"
        rows.append(f"{1000 + i},{500 + 37 * i},{1 + (i * 7) % 170},{region},{segment}")
    (tmp_path / "tape.csv").write_text("\n".join(rows) + "\n")
    scenario = (Path(__file__).parent / "data" / "small.toml").read_text()
    scenario = scenario.replace("accounts = 3000", 'tape = "tape.csv"').replace("days = 60",
                                                                                "days = 20")
    path = tmp_path / "from_tape.toml"
    path.write_text(scenario)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["accounts"] == 400).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tape_file"] == str((tmp_path / "tape.csv").resolve())
    # The hash of the tape's bytes (sha256 of the file as written), not of its name.
    tape_bytes = (tmp_path / "tape.csv").read_bytes()
    assert manifest["tape_sha256"] == hashlib.sha256(tape_bytes).hexdigest()
    expected = sum(500 + 37 * i for i in range(1, 401))
    assert summary["opening_balance"].iloc[0] == pytest.approx(expected)


def test_rule_naming_a_segment_the_tape_lacks_fails_before_running(tmp_path, capsys):
    (tmp_path / "tape.csv").write_text(
        "account_id,balance,dpd,region,segment\n1,100,10,city,low\n2,900,95,country,low\n"
    )
    scenario = (Path(__file__).parent / "data" / "small.toml").read_text()
    scenario = scenario.replace("accounts = 3000", 'tape = "tape.csv"').replace(
        "every_days = 3 }", 'every_days = 3, segments = ["vip"] }', 1
    )
    path = tmp_path / "tape_scn.toml"
    path.write_text(scenario)
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "tape_scn.toml: policies[0]" in err and "'vip'" in err
    assert not (tmp_path / "out" / "summary.csv").exists()


def test_bad_tape_is_one_line_from_run(tmp_path, capsys):
    (tmp_path / "tape.csv").write_text("account_id,balance,dpd,region\n1,-100,10,city\n")
    scenario = (Path(__file__).parent / "data" / "small.toml").read_text()
    path = tmp_path / "tape_scn.toml"
    path.write_text(scenario.replace("accounts = 3000", 'tape = "tape.csv"'))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "tape.csv: column 'balance': negative balance in data row 1" in err
    assert main(["validate", str(path)]) == 1  # validate reads the tape too
    assert "negative balance in data row 1" in capsys.readouterr().err


def test_a_bad_argument_is_one_line_and_exit_code_1(capsys):
    from waifang.scenarios.cli import main

    assert main(["run", "baseline", "--out", "x", "--seed", "abc"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: waifang run: argument --seed: invalid int value: 'abc'")
    assert "Traceback" not in err and err.count("\n") == 1
    assert main(["nosuchcommand"]) == 1


def test_a_reader_that_goes_away_gets_no_traceback():
    """``waifang validate x.toml | head -1``: the pipe closes before the command prints; it
    stops quietly (exit 141, as under SIGPIPE), no traceback."""
    import os
    import subprocess

    scenario = Path(__file__).parent / "data" / "small.toml"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout's waifang
    child = subprocess.Popen([sys.executable, "-m", "waifang.scenarios.cli", "validate",
                              str(scenario)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env)
    child.stdout.close()  # before the child can write anything (its imports take a while)
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
