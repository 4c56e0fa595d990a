"""An output folder holds one run: a re-run removes the files the earlier manifest lists and
it no longer writes, replaces the rest, and never touches a file no manifest lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from waifang.scenarios import report
from waifang.scenarios.cli import main

SMALL = Path(__file__).parent / "data" / "small.toml"


def tiny(tmp_path: Path, name: str, output: str) -> Path:
    text = SMALL.read_text()
    for old, new in (("accounts = 3000", "accounts = 300"), ("days = 60", "days = 8"),
                     ("[compliance]", f"[output]\n{output}\n\n[compliance]")):
        text = text.replace(old, new, 1)
    path = tmp_path / name
    path.write_text(text)
    return path


def listing(out: Path) -> set[str]:
    return {p.name for p in out.iterdir()}


def test_rerun_removes_the_earlier_runs_files_and_keeps_the_users(tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "out"
    first = tiny(tmp_path, "first.toml", 'daily_format = "parquet"\naudit = "full"')
    assert main(["run", str(first), "--out", str(out), "--quiet", "--seed", "1"]) == 0
    assert {"daily.parquet", "audit.csv"} <= listing(out)
    (out / "notes.txt").write_text("mine\n")
    (out / "extra.csv").write_text("a\n1\n")

    second = tiny(tmp_path, "second.toml", 'daily_format = "csv"\naudit = "counts"')
    assert main(["run", str(second), "--out", str(out), "--quiet", "--seed", "2"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 2
    # Exactly the new manifest's files, plus what was never a run's.
    assert listing(out) == set(manifest["files"]) | {"notes.txt", "extra.csv"}
    assert "daily.parquet" not in listing(out) and "audit.csv" not in listing(out)
    assert (out / "notes.txt").read_text() == "mine\n"
    assert (out / "extra.csv").read_text() == "a\n1\n"


def test_failed_rerun_removes_nothing(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    out = tmp_path / "out"
    first = tiny(tmp_path, "first.toml", 'daily_format = "parquet"')
    assert main(["run", str(first), "--out", str(out), "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(report, "_write_daily", broken)
    second = tiny(tmp_path, "second.toml", 'daily_format = "csv"')
    with pytest.raises(OSError):
        main(["run", str(second), "--out", str(out), "--quiet", "--seed", "5"])
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".waifang-partial"}
    assert after == before


@pytest.mark.parametrize(
    "files", [["../outside.txt"], [".hidden"], "not a list", [3]],
    ids=["parent_path", "hidden", "not_a_list", "not_a_name"],
)
def test_a_strange_manifest_owns_nothing(tmp_path, files):
    from waifang.scenarios.outdir import owned_files, remove_stale

    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "outside.txt").write_text("x")
    (out / ".hidden").write_text("x")
    (out / "manifest.json").write_text(json.dumps({"files": files}))
    assert owned_files(out) == set()
    assert remove_stale(out, owned_files(out), set()) == []
    assert (tmp_path / "outside.txt").exists() and (out / ".hidden").exists()
