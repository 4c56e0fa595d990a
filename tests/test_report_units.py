"""The results folder, checked in this process on the fake engine (fast enough to run for each
mutant of ``waifang/scenarios/report.py``): every file written and listed, all or nothing, the
manifest's values recomputed from the run's own tables and the scenario's bytes, and the
compliance line built by hand."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import fake_engine
import numpy as np
import pandas as pd
import pytest

from waifang.errors import InputError
from waifang.scenarios import execution, report
from waifang.scenarios.runner import run_scenario
from waifang.scenarios.schema import load_scenario

SMALL = Path(__file__).parent / "data" / "small.toml"


def small_file(folder: Path, output: str = "") -> Path:
    """small.toml, 6 days, with an optional [output] table."""
    text = SMALL.read_text().replace("days = 60", "days = 6")
    if output:
        text = text.replace("[compliance]", f"[output]\n{output}\n\n[compliance]", 1)
    path = folder / "units.toml"
    path.write_text(text)
    return path


def fake_run(path: Path, **kwargs):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(execution, "_engine", lambda: (fake_engine.generate_portfolio,
                                                     fake_engine.simulate))
        return run_scenario(load_scenario(path), **kwargs)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report_units")
    path = small_file(folder, 'audit = "full"')
    results = fake_run(path, replications=3, seed=5)
    out = folder / "deep" / "out"  # the folder and its parent do not exist yet
    files = report.write_results(results, out)
    return results, path, out, files


def test_every_file_is_written_listed_and_returned_and_nothing_else(written):
    results, _, out, files = written
    listed = json.loads((out / "manifest.json").read_text())["files"]
    on_disk = {p.name for p in out.iterdir()}
    assert on_disk == set(listed) == set(files)  # no hidden part file, no probe left behind
    assert len(listed) == len(set(listed))
    assert {"summary.csv", "comparison.csv", "daily.csv", "blocked.csv", "audit.csv",
            "manifest.json", "report.html"} <= on_disk
    assert all(files[name] == out / name for name in files)
    pngs = [name for name in listed if name.endswith(".png")]
    assert pngs and all((out / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in pngs)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")


def test_the_tables_written_are_the_runs_tables(written):
    results, _, out, _ = written
    for name, table in (("summary.csv", results.summary), ("comparison.csv", results.comparison),
                        ("daily.csv", results.daily), ("blocked.csv", results.blocked_by_rule),
                        ("audit.csv", results.audit)):
        back = pd.read_csv(out / name)
        assert list(back.columns) == list(table.columns), name
        assert len(back) == len(table), name
    summary = pd.read_csv(out / "summary.csv")
    np.testing.assert_allclose(summary["net_npv"], results.summary["net_npv"])
    assert len(pd.read_csv(out / "daily.csv")) == 3 * 3 * 6  # policies x replications x days
    assert len(pd.read_csv(out / "audit.csv")) == 3 * 3 * 3  # the fake logs 3 actions a run


def test_the_manifest_says_what_ran_on_what(written):
    results, path, out, _ = written
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario"] == "small"
    assert manifest["scenario_file"] == str(path.resolve())
    assert manifest["scenario_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["tape_file"] is None and manifest["tape_sha256"] is None
    assert (manifest["seed"], manifest["replications"], manifest["workers"]) == (5, 3, 1)
    assert manifest["scheduler"] is None
    assert manifest["champion"] == "ladder"
    assert manifest["policies"] == ["ladder", "digital_only", "early_visits_allowed"]
    assert manifest["calibration"] == {} and manifest["risk_transfer"] == []
    # Times to the second, as the run recorded them.
    for key in ("started", "finished"):
        stamp = getattr(results, key)
        assert manifest[key] == stamp.replace(microsecond=0).isoformat()
        assert datetime.fromisoformat(manifest[key]) == stamp.replace(microsecond=0)
    assert manifest["departures"] == {
        "ladder": [], "digital_only": [],
        "early_visits_allowed": ["visit_min_dpd: 60 is looser than the cn preset (90)"],
    }


def test_the_manifest_names_every_version_that_ran(written):
    _, _, out, _ = written
    versions = json.loads((out / "manifest.json").read_text())["versions"]
    assert set(versions) == {*report.VERSIONED_PACKAGES, "python"}
    assert versions["python"] == platform.python_version()
    assert versions["numpy"] == np.__version__ == metadata.version("numpy")
    assert versions["pandas"] == pd.__version__
    assert report._version("no-such-package-waifang") == "not installed"


def test_the_manifests_compliance_counts_are_the_summarys(written):
    results, _, out, _ = written
    manifest = json.loads((out / "manifest.json").read_text())
    summary = pd.read_csv(out / "summary.csv")
    # The fake blocks 10 early visits per rung under the cn preset's 90 days: the ladder's six
    # rungs and digital_only's two; early_visits_allowed (60 days) is never blocked.
    per_policy = summary.groupby("policy", sort=False)["blocked_visit_min_dpd"].sum()
    assert per_policy.to_dict() == {"ladder": 180, "digital_only": 60, "early_visits_allowed": 0}
    assert manifest["blocked_by_rule"] == {
        "ladder": {"visit_min_dpd": 180}, "digital_only": {"visit_min_dpd": 60},
        "early_visits_allowed": {},
    }
    assert manifest["violations_by_policy"] == {
        "ladder": 0, "digital_only": 0, "early_visits_allowed": 0}
    # Per-policy entries in the scenario's order, as "policies" lists them (not alphabetical).
    for key in ("blocked_by_rule", "violations_by_policy", "departures", "resolved_policies"):
        assert list(manifest[key]) == manifest["policies"], key
    assert manifest["compliance"] == (
        "violations: 0; 240 actions blocked (by rule: visit_min_dpd 240)")
    policies = manifest["resolved_policies"]
    assert list(policies) == manifest["policies"]
    assert all("name" not in p for p in policies.values())
    assert [r["action"] for r in policies["digital_only"]["rules"]] == ["sms", "ivr"]
    assert policies["early_visits_allowed"]["compliance"] == {"visit_min_dpd": 60}
    assert results.violations == 0


def test_the_compliance_line_counts_by_rule_in_order_and_flags_a_breach():
    def blocked(rows):
        return pd.DataFrame(rows, columns=["policy", "rule", "blocked",
                                           "blocked_per_replication"])

    def results(violations, rows):
        summary = pd.DataFrame({"violations": [violations, 0]})
        return SimpleNamespace(violations=int(summary["violations"].sum()),
                               blocked_by_rule=blocked(rows))

    rows = [("a", "quiet_hours", 3, 1.5), ("a", "visit_min_dpd", 0, 0.0),
            ("b", "quiet_hours", 4, 2.0), ("b", "daily_cap", 2, 1.0)]
    assert report.compliance_statement(results(0, rows)) == (
        "violations: 0; 9 actions blocked (by rule: quiet_hours 7, daily_cap 2)")
    assert report.compliance_statement(results(3, [("a", "quiet_hours", 0, 0.0)])) == (
        "violations: 3 (ENGINE BUG); 0 actions blocked (by rule: none)")


def test_the_manifest_hashes_the_file_named_and_nothing_when_there_is_none(written, tmp_path):
    results, path, _, _ = written
    other = tmp_path / "other.toml"
    other.write_bytes(path.read_bytes() + b"\n# edited\n")
    m = report.manifest(results, other, ["x"])
    assert m["scenario_file"] == str(other.resolve())
    assert m["scenario_sha256"] == hashlib.sha256(other.read_bytes()).hexdigest()
    assert m["files"] == ["x"]
    m = report.manifest(results, tmp_path / "gone.toml", [])
    assert m["scenario_sha256"] is None


def test_a_parquet_daily_table_and_a_missing_pyarrow(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    results = fake_run(small_file(tmp_path, 'daily_format = "parquet"'), replications=2)
    files = report.write_results(results, tmp_path / "out")
    assert "daily.parquet" in files and "daily.csv" not in files
    assert "audit.csv" not in files  # audit = "counts": no audit log
    back = pd.read_parquet(tmp_path / "out" / "daily.parquet")
    pd.testing.assert_frame_equal(back, results.daily)
    # Other readers see the contract's columns only (no stored pandas index column).
    import pyarrow.parquet as pq

    names = pq.read_schema(tmp_path / "out" / "daily.parquet").names
    assert names == list(results.daily.columns)

    def no_pyarrow(*args, **kwargs):
        raise ImportError("pyarrow")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_pyarrow)
    with pytest.raises(InputError, match=r"^output.daily_format: 'parquet' needs pyarrow"):
        report.write_results(results, tmp_path / "again")


def test_the_out_folder_is_checked_before_a_run(tmp_path):
    target = tmp_path / "a" / "b"
    assert report.prepare_out_dir(target) == target and target.is_dir()
    assert list(target.iterdir()) == []  # the probe file is gone
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InputError, match=rf"^--out {a_file}: exists and is not a folder$"):
        report.prepare_out_dir(a_file)
    with pytest.raises(InputError, match=rf"^--out {a_file / 'sub'}: cannot write there"):
        report.prepare_out_dir(a_file / "sub")


def test_files_are_renamed_into_place_only_once_all_were_written_manifest_last(tmp_path,
                                                                              monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text("old a\n")
    (out / "manifest.json").write_text(json.dumps({"files": ["a.csv", "stale.csv"]}))
    (out / "stale.csv").write_text("old\n")
    (out / "mine.txt").write_text("the user's\n")

    def fails(p: Path) -> None:
        raise OSError("disk full")

    # The manifest is renamed last whatever the writers' order or names ("z.csv" sorts after
    # it): a crash between two renames leaves the earlier manifest, which lists its own files.
    writers = {"a.csv": lambda p: p.write_text("new a\n"),
               "manifest.json": lambda p: p.write_text('{"files": ["a.csv", "z.csv"]}'),
               "z.csv": fails}
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OSError, match="disk full"):
        report._write_all(out, writers)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no part file either

    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(report.os, "replace",
                        lambda a, b: (replaced.append(Path(b).name), real_replace(a, b)))
    writers["z.csv"] = lambda p: p.write_text("new z\n")
    files = report._write_all(out, writers)
    assert replaced[-1] == "manifest.json" and sorted(replaced) == sorted(writers)
    assert files == {name: out / name for name in writers}
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "manifest.json", "mine.txt",
                                                     "z.csv"]
    assert (out / "a.csv").read_text() == "new a\n" and (out / "z.csv").read_text() == "new z\n"
    assert (out / "mine.txt").read_text() == "the user's\n"


def test_the_manifest_hashes_the_tapes_bytes(tmp_path):
    rows = ["account_id,balance,dpd,region,segment"]
    rows += [f"{100 + i},{300 + 11 * i},{1 + 3 * i},{'city' if i % 2 else 'country'},low"
             for i in range(30)]
    (tmp_path / "tape.csv").write_text("\n".join(rows) + "\n")
    path = small_file(tmp_path)
    path.write_text(path.read_text().replace("accounts = 3000", 'tape = "tape.csv"'))
    results = fake_run(path, replications=1)
    assert (results.summary["accounts"] == 30).all()  # the tape's accounts ran
    m = report.manifest(results, None, [])
    assert m["tape_file"] == str((tmp_path / "tape.csv").resolve())
    assert m["tape_sha256"] == hashlib.sha256((tmp_path / "tape.csv").read_bytes()).hexdigest()
    assert m["scenario_file"] == str(path.resolve())  # the scenario's own path when none given
