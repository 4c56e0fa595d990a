"""Output contracts: the README's column reference is the one source.

The README's "Column reference" tables are parsed here; every file that ``waifang run``,
``waifang optimise`` and ``waifang frontier`` write is checked against them: each documented
column is written, each written column is documented, each has its documented type, and the
numbers mean what the reference says (recomputed here from other columns or files).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from waifang.scenarios.cli import main
from waifang.sim.rules import RULES
from waifang.sim.spec import BUCKETS, TREATMENTS

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
PLACEHOLDERS = {
    "<treatment>": "(?:" + "|".join(map(re.escape, TREATMENTS)) + ")",
    "<rule>": "(?:" + "|".join(map(re.escape, RULES)) + ")",
    "<bucket>": "(?:" + "|".join(map(re.escape, BUCKETS)) + ")",
    "<region>": r"[^\[\]/]+",
    "<option>": r"[^\[\]/]+",
}
TYPES = {"text", "int", "float", "bool", "list", "map", "null"}


# ------------------------------------------------------------------ the README, parsed


def read_reference(readme: str | None = None) -> dict[str, dict[str, str]]:
    """File name -> {column name or pattern: type} from the README's column reference."""
    text = readme if readme is not None else (ROOT / "README.md").read_text()
    section = text.split("\n## Column reference\n", 1)[1].split("\n## ", 1)[0]
    reference: dict[str, dict[str, str]] = {}
    current: list[str] = []
    for line in section.splitlines():
        if line.startswith("#### "):
            heading = line[len("#### "):].split("(", 1)[0]
            current = re.findall(r"`([^`]+)`", heading)
            for name in current:
                reference[name] = {}
        elif line.startswith("| `") and current:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            names = re.findall(r"`([^`]+)`", cells[0])
            kind = cells[1]
            assert kind in TYPES, f"README column reference: type {kind!r} of {names}"
            assert cells[2], f"README column reference: {names} has no meaning"
            for file in current:
                for name in names:
                    assert name not in reference[file], f"{name} twice under {file}"
                    reference[file][name] = kind
    return reference


def pattern(name: str) -> re.Pattern:
    out = re.escape(name)
    for placeholder, regex in PLACEHOLDERS.items():
        out = out.replace(re.escape(placeholder), regex)
    return re.compile(out + r"\Z")


def documented_type(reference: dict[str, str], column: str) -> str | None:
    for name, kind in reference.items():
        if pattern(name).match(column):
            return kind
    return None


def check_columns(file: str, columns: list[str], reference: dict[str, str]) -> None:
    undocumented = [c for c in columns if documented_type(reference, c) is None]
    assert not undocumented, (
        f"{file}: written but not in the README's column reference: {undocumented}"
    )
    missing = [n for n in reference if not any(pattern(n).match(c) for c in columns)]
    assert not missing, f"{file}: in the README's column reference but not written: {missing}"


def check_frame(file: str, frame: pd.DataFrame, reference: dict[str, str]) -> None:
    check_columns(file, list(frame.columns), reference)
    for column in frame.columns:
        kind, dtype = documented_type(reference, column), frame[column].dtype
        ok = {
            "int": pd.api.types.is_integer_dtype(dtype),
            "float": pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype),
            "bool": pd.api.types.is_bool_dtype(dtype),
            "text": pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype),
        }[kind]
        assert ok, f"{file}: column {column} is {dtype}, the README says {kind}"


def check_json(file: str, data: dict, reference: dict[str, str]) -> None:
    check_columns(file, list(data), reference)
    python = {"text": str, "int": int, "float": (int, float), "list": list, "map": dict}
    for key, value in data.items():
        kind = documented_type(reference, key)
        if kind == "null":  # "null" entries are text or null
            assert value is None or isinstance(value, str), (file, key, value)
        else:
            assert isinstance(value, python[kind]) and not isinstance(value, bool), (file, key)


@pytest.fixture(scope="module")
def reference():
    return read_reference()


def test_the_reader_sees_every_file_and_rejects_what_is_not_documented(reference):
    assert {"summary.csv", "comparison.csv", "daily.csv", "daily.parquet", "blocked.csv",
            "audit.csv", "manifest.json", "plan.csv", "plan.json", "reasons.csv",
            "frontier.csv"} <= set(reference)
    assert documented_type(reference["summary.csv"], "cost_visit") == "float"
    assert documented_type(reference["summary.csv"], "blocked_visit_gap") == "int"
    assert documented_type(reference["summary.csv"], "cost_nonsense") is None
    assert documented_type(reference["frontier.csv"], "slot_price[north]") == "float"
    with pytest.raises(AssertionError, match="not in the README"):
        check_columns("x", ["policy", "surprise"], {"policy": "text"})
    with pytest.raises(AssertionError, match="not written"):
        check_columns("x", ["policy"], {"policy": "text", "replication": "int"})


def test_the_tour_table_names_only_documented_columns(reference):
    """The overview table near the top of the README agrees with the reference."""
    text = (ROOT / "README.md").read_text()
    seen = set()
    for line in text.splitlines():
        match = re.match(r"\| `(summary\.csv|comparison\.csv)` \|[^|]*\|(.*)\|$", line)
        # Only the run's tour table (the first mention): the sweep's table describes its
        # files by reference to these.
        if match and match.group(1) not in seen:
            seen.add(match.group(1))
            names = [n.strip() for group in re.findall(r"`([^`]+)`", match.group(2))
                     for n in group.split(",")]
            assert len(names) > 3
            for name in names:
                if "<" not in name:
                    assert documented_type(reference[match.group(1)], name), name


# ------------------------------------------------------------------ waifang run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny scenario run twice: CSV daily table, and Parquet with the full audit."""
    base = tmp_path_factory.mktemp("contracts")
    text = (DATA / "small.toml").read_text()
    text = text.replace("accounts = 3000", "accounts = 600").replace("days = 60", "days = 25")
    text = text.replace("replications = 2", "replications = 3")
    csv_file = base / "tiny.toml"
    csv_file.write_text(text)
    pq_file = base / "tiny_parquet.toml"
    pq_file.write_text(text + '\n[output]\ndaily_format = "parquet"\naudit = "full"\n')
    out = {}
    for name, path in (("csv", csv_file), ("parquet", pq_file)):
        out[name] = base / name
        assert main(["run", str(path), "--out", str(out[name]), "--quiet"]) == 0
    return out, csv_file


def test_summary_columns_types_and_meaning(runs, reference):
    (out, _) = runs
    summary = pd.read_csv(out["csv"] / "summary.csv")
    check_frame("summary.csv", summary, reference["summary.csv"])
    s = summary
    costs = [c for c in s.columns if c.startswith("cost_") and c not in ("cost_total",
                                                                          "cost_npv")]
    np.testing.assert_allclose(s["cost_total"], s[costs].sum(axis=1), rtol=1e-9)
    # Each of the three is rounded to the cent in the file: they agree within 1.5 cents.
    np.testing.assert_allclose(s["net_npv"], s["collected_npv"] - s["cost_npv"], rtol=0,
                               atol=0.015)
    # Discounting lowers costs a little: spent within the horizon, at a positive rate.
    assert (s["cost_npv"] <= s["cost_total"] + 1e-6).all()
    assert (s["cost_npv"][s["cost_total"] > 0] < s["cost_total"][s["cost_total"] > 0]).all()
    blocked = [c for c in s.columns if c.startswith("blocked_")]
    assert (s["blocked"] == s[blocked].sum(axis=1)).all()
    np.testing.assert_allclose(s["recovery_rate"], s["collected"] / s["opening_balance"])
    np.testing.assert_allclose(
        s["collected"] + s["written_off"] + s["outstanding"], s["opening_balance"], atol=0.01
    )
    assert (s["collected_npv"] <= s["collected"]).all()
    assert ((s["cure_rate"] >= 0) & (s["cure_rate"] <= 1)).all()


def test_comparison_is_mean_sample_std_and_t_intervals(runs, reference):
    (out, _) = runs
    summary = pd.read_csv(out["csv"] / "summary.csv")
    comparison = pd.read_csv(out["csv"] / "comparison.csv")
    check_frame("comparison.csv", comparison, reference["comparison.csv"])
    numeric = [c for c in summary.columns if c not in ("policy", "replication")]
    assert set(comparison["metric"]) == set(numeric)
    champion = summary["policy"].iloc[0]
    assert (comparison["champion"] == champion).all()
    t = stats.t.ppf(0.975, 2)
    for row in comparison.itertuples():
        values = summary.loc[summary.policy == row.policy, row.metric].to_numpy(float)
        base = summary.loc[summary.policy == champion, row.metric].to_numpy(float)
        n = values.size
        assert row.n == n == 3
        mean = sum(values) / n
        sample_std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        assert row.mean == pytest.approx(mean, rel=1e-9, abs=1e-9)
        assert row.std == pytest.approx(sample_std, rel=1e-6, abs=1e-9), row.metric
        half = t * sample_std / math.sqrt(n)
        assert row.ci_low == pytest.approx(mean - half, rel=1e-6, abs=1e-9)
        assert row.ci_high == pytest.approx(mean + half, rel=1e-6, abs=1e-9)
        diff = values - base
        assert row.diff_vs_champion == pytest.approx(diff.mean(), rel=1e-9, abs=1e-9)
        d_half = t * diff.std(ddof=1) / math.sqrt(n)
        assert row.diff_ci_low == pytest.approx(diff.mean() - d_half, rel=1e-6, abs=1e-9)
        assert row.diff_ci_high == pytest.approx(diff.mean() + d_half, rel=1e-6, abs=1e-9)


def test_daily_tables_csv_and_parquet(runs, reference):
    (out, _) = runs
    summary = pd.read_csv(out["csv"] / "summary.csv")
    csv = pd.read_csv(out["csv"] / "daily.csv")
    parquet = pd.read_parquet(out["parquet"] / "daily.parquet")
    check_frame("daily.csv", csv, reference["daily.csv"])
    check_frame("daily.parquet", parquet, reference["daily.parquet"])
    assert not (out["parquet"] / "daily.csv").exists()
    # The same run written either way (the audit mode changes no number).
    pd.testing.assert_frame_equal(csv, parquet, check_dtype=False)
    for daily in (csv, parquet):
        assert set(daily["day"]) == set(range(25))
        per_run = daily.groupby(["policy", "replication"], sort=False)
        states = [c for c in daily.columns if c.startswith("bucket_")]
        states += ["current", "charged_off", "closed"]
        assert (daily[states].sum(axis=1) == 600).all()  # every account is somewhere
        totals = per_run[["collected", "actions_visit", "blocked"]].sum()
        s = summary.set_index(["policy", "replication"]).loc[totals.index]
        np.testing.assert_allclose(totals["collected"], s["collected"], rtol=1e-9)
        assert (totals["actions_visit"] == s["visits"]).all()
        assert (totals["blocked"] == s["blocked"]).all()


def test_blocked_table(runs, reference):
    (out, _) = runs
    summary = pd.read_csv(out["csv"] / "summary.csv")
    blocked = pd.read_csv(out["csv"] / "blocked.csv")
    check_frame("blocked.csv", blocked, reference["blocked.csv"])
    assert set(blocked["rule"]) == set(RULES)
    for row in blocked.itertuples():
        mine = summary[summary.policy == row.policy]
        assert row.blocked == mine[f"blocked_{row.rule}"].sum()
        assert row.blocked_per_replication == pytest.approx(row.blocked / len(mine))
    assert blocked["blocked"].sum() == summary["blocked"].sum() > 0


def test_audit_table(runs, reference):
    (out, _) = runs
    audit = pd.read_csv(out["parquet"] / "audit.csv")
    check_frame("audit.csv", audit, reference["audit.csv"])
    assert not (out["csv"] / "audit.csv").exists()
    assert (audit["action_name"] == np.asarray(TREATMENTS)[audit["action"]]).all()
    outcome = np.asarray(("performed", *RULES))[audit["outcome"]]
    assert (audit["outcome_name"] == outcome).all()
    summary = pd.read_csv(out["parquet"] / "summary.csv")
    visits = audit[(audit.action_name == "visit") & (audit.outcome == 0)]
    per_run = visits.groupby(["policy", "replication"]).size()
    s = summary.set_index(["policy", "replication"])["visits"]
    assert (s.loc[per_run.index] == per_run).all() and per_run.sum() == s.sum()


def test_manifest_keys_and_the_hash_of_the_scenario_bytes(runs, reference, tmp_path):
    (out, scenario) = runs
    manifest = json.loads((out["csv"] / "manifest.json").read_text())
    check_json("manifest.json", manifest, reference["manifest.json"])
    assert manifest["scenario_sha256"] == hashlib.sha256(scenario.read_bytes()).hexdigest()
    assert manifest["scenario_file"] == str(scenario.resolve())
    assert manifest["seed"] == 7 and manifest["replications"] == 3
    assert manifest["policies"][0] == manifest["champion"] == "ladder"
    assert set(manifest["files"]) == {p.name for p in (out["csv"]).iterdir()}
    summary = pd.read_csv(out["csv"] / "summary.csv")
    by_policy = summary.groupby("policy", sort=False)
    assert manifest["violations_by_policy"] == {
        p: int(v) for p, v in by_policy["violations"].sum().items()
    }
    assert manifest["blocked_by_rule"] == {
        p: {c[len("blocked_"):]: int(v) for c, v in g.filter(like="blocked_").sum().items() if v}
        for p, g in by_policy
    }
    # Same name, same numbers, one more byte: another hash.
    edited = tmp_path / scenario.name
    edited.write_bytes(scenario.read_bytes() + b"# an edit\n")
    assert main(["run", str(edited), "--out", str(tmp_path / "o"), "--quiet",
                 "--replications", "1", "--seed", "11"]) == 0
    again = json.loads((tmp_path / "o" / "manifest.json").read_text())
    # The seed and replications that ran (the flags), not the file's.
    assert (again["seed"], again["replications"]) == (11, 1)
    assert again["scenario"] == manifest["scenario"]
    assert again["scenario_sha256"] == hashlib.sha256(edited.read_bytes()).hexdigest()
    assert again["scenario_sha256"] != manifest["scenario_sha256"]


# ------------------------------------------------------------------ waifang optimise, frontier


@pytest.fixture(scope="module")
def optimised(tmp_path_factory):
    base = tmp_path_factory.mktemp("optimise")
    rng = np.random.default_rng(5)
    n = 25
    frame = pd.DataFrame(
        {
            "account_id": [f"acc{a}" for a in range(n) for _ in range(2)],
            "option": ["visit", "legal"] * n,
            "region": [("north", "south")[a % 2] for a in range(n) for _ in range(2)],
            "value": np.round(rng.uniform(0, 900, 2 * n), 1),
            "cost": np.round(rng.uniform(50, 300, 2 * n), 1),
            "hours": np.round(rng.uniform(0.5, 3, 2 * n), 1),
        }
    )
    frame.to_csv(base / "C.csv", index=False)
    pd.DataFrame(
        {"region": ["north", "south"], "option": ["visit", "visit"], "limit": [4, 3],
         "hours_limit": [12.0, 6.0]}
    ).to_csv(base / "K.csv", index=False)
    budget = 2000.0
    common = ["--candidates", str(base / "C.csv"), "--capacity", str(base / "K.csv")]
    assert main(["optimise", *common, "--budget", str(budget), "--out", str(base / "plan.csv"),
                 "--reasons", str(base / "reasons.csv"), "--gap", "0"]) == 0
    assert main(["frontier", *common, "--budgets", f"0:{budget}:3", "--capacity-scales",
                 "1,2", "--option", "visit", "--out", str(base / "frontier.csv")]) == 0
    return base, frame, budget


def test_plan_files(optimised, reference):
    base, frame, budget = optimised
    plan = pd.read_csv(base / "plan.csv", dtype={"account_id": str})
    check_frame("plan.csv", plan, reference["plan.csv"])
    summary = json.loads((base / "plan.json").read_text())
    check_json("plan.json", summary, reference["plan.json"])
    assert summary["n_chosen"] == len(plan) > 0
    assert summary["objective"] == pytest.approx((plan["value"] - plan["cost"]).sum())
    assert plan["cost"].sum() <= budget + 1e-6
    assert plan["account_id"].is_unique
    assert summary["n_candidates"] == len(frame)
    assert list(summary["duals"])[0].startswith("budget")
    reasons = pd.read_csv(base / "reasons.csv", dtype={"account_id": str})
    check_frame("reasons.csv", reasons, reference["reasons.csv"])
    chosen = reasons[reasons["chosen"]]
    assert set(zip(chosen.account_id, chosen.option, strict=True)) == set(
        zip(plan.account_id, plan.option, strict=True)
    )


def test_frontier_file(optimised, reference):
    base, _, _ = optimised
    table = pd.read_csv(base / "frontier.csv")
    check_frame("frontier.csv", table, reference["frontier.csv"])
    assert len(table) == 6
    assert (table["spent"] <= table["budget"] + 1e-6).all()
    slots = [c for c in table.columns if c.startswith("slot_price[")]
    assert slots and (table[slots] >= -1e-9).all().all()
