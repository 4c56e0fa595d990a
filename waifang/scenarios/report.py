"""Write a scenario run's results to a folder, all or nothing.

Every file is first written under a hidden temporary name in the output folder and only
renamed into place (``os.replace``, atomic on one file system) once *all* files were written;
a crash or an error leaves the previous run's files untouched and no half-written file behind.

Files (DESIGN.md section 4; column names are contracts):

- ``summary.csv``: ``policy, replication`` + :data:`~waifang.sim.results.SUMMARY_COLUMNS`;
- ``comparison.csv``: ``policy, metric, n, mean, std, ci_low, ci_high, champion,
  diff_vs_champion, diff_ci_low, diff_ci_high``;
- ``daily.csv`` or ``daily.parquet``: ``policy, replication`` +
  :data:`~waifang.sim.results.DAILY_COLUMNS`;
- ``blocked.csv``: ``policy, rule, blocked, blocked_per_replication``;
- ``audit.csv`` (``audit = "full"`` only): ``policy, replication`` + the engine's audit columns;
- ``manifest.json``: what ran, on what, with which versions, and the compliance statement;
- ``report.html``: the charts and tables for a reader.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import secrets
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from waifang.errors import InputError
from waifang.scenarios.runner import ScenarioResults

VERSIONED_PACKAGES = ("waifang", "numpy", "simpy", "pulp", "highspy", "pydantic", "pandas", "scipy")


def prepare_out_dir(out: str | Path) -> Path:
    """Create ``out`` if needed and check that files can be written there (before any run)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".waifang-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InputError(f"--out {out}: cannot write there ({err.strerror or err})") from None
    return out


def write_results(
    results: ScenarioResults, out: str | Path, *, scenario_file: str | Path | None = None
) -> dict[str, Path]:
    """Write every output file of ``results`` into ``out``; return name -> final path."""
    out = prepare_out_dir(out)
    daily_name = f"daily.{results.scenario.output.daily_format}"
    writers: dict[str, Callable[[Path], None]] = {
        "summary.csv": lambda p: results.summary.to_csv(p, index=False),
        "comparison.csv": lambda p: results.comparison.to_csv(p, index=False),
        daily_name: lambda p: _write_daily(results, p),
        "blocked.csv": lambda p: results.blocked_by_rule.to_csv(p, index=False),
    }
    if results.audit is not None:
        writers["audit.csv"] = lambda p: results.audit.to_csv(p, index=False)
    names = [*writers, "manifest.json", "report.html"]
    writers["manifest.json"] = lambda p: p.write_text(
        json.dumps(manifest(results, scenario_file, names), indent=2) + "\n"
    )

    from waifang.scenarios.report_charts import charts

    figures = charts(results)  # drawn once: embedded in the report and written as PNG
    for name, _, data in figures:
        writers[name] = lambda p, data=data: p.write_bytes(data)
        names.insert(-1, name)

    def html(p: Path) -> None:
        from waifang.scenarios.html_report import render_html

        p.write_text(render_html(results, figures), encoding="utf-8")

    writers["report.html"] = html
    return _write_all(out, writers)


def _write_daily(results: ScenarioResults, path: Path) -> None:
    daily = results.daily
    if results.scenario.output.daily_format == "parquet":
        try:
            daily.to_parquet(path, index=False)
        except ImportError:
            raise InputError(
                "output.daily_format: 'parquet' needs pyarrow (pip install 'waifang[parquet]')"
            ) from None
    else:
        daily.to_csv(path, index=False)


def _write_all(out: Path, writers: dict[str, Callable[[Path], None]]) -> dict[str, Path]:
    """Write every file under a hidden name, then rename them all into place, the manifest
    last; then remove the files an earlier run's manifest lists that this run did not write
    (a folder holds one run). Files no manifest lists are never touched."""
    from waifang.scenarios.outdir import owned_files, remove_stale

    earlier = owned_files(out)  # read before the new manifest replaces it
    staged: list[tuple[Path, Path]] = []
    order = sorted(writers, key=lambda name: name == "manifest.json")  # stable: manifest last
    try:
        for name in order:
            # A fresh hidden name, created by the writer itself (so the user's umask applies).
            tmp = out / f".{name}.{secrets.token_hex(6)}.part"
            staged.append((tmp, out / name))
            writers[name](tmp)
        for tmp, final in staged:
            os.replace(tmp, final)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    remove_stale(out, earlier, set(writers))
    return {final.name: final for _, final in staged}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def compliance_statement(results: ScenarioResults) -> str:
    """``violations: 0`` or the count, with the blocked totals by rule."""
    violations = results.violations
    blocked = results.blocked_by_rule.groupby("rule", sort=False)["blocked"].sum()
    blocked = blocked[blocked > 0]
    by_rule = ", ".join(f"{rule} {int(n)}" for rule, n in blocked.items()) or "none"
    head = "violations: 0" if violations == 0 else f"violations: {violations} (ENGINE BUG)"
    return f"{head}; {int(blocked.sum())} actions blocked (by rule: {by_rule})"


def resolved_policies(scenario) -> dict[str, Any]:
    """Each policy as it runs: its whole ladder (inheritance resolved, every key of every rung
    with its default filled in) and its own compliance overrides."""
    return {
        policy.name: policy.model_dump(mode="json", exclude={"name"})
        for policy in scenario.policies
    }


def manifest(
    results: ScenarioResults, scenario_file: str | Path | None, files: list[str]
) -> dict[str, Any]:
    """What ran, on what, with which versions; enough to rerun and to audit the run."""
    path = Path(scenario_file) if scenario_file else results.scenario.path
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path and path.is_file() else None
    blocked = {
        policy: {row.rule: int(row.blocked) for row in group.itertuples() if int(row.blocked) > 0}
        for policy, group in results.blocked_by_rule.groupby("policy", sort=False)
    }
    tape = results.scenario.tape_path()
    violations = results.summary.groupby("policy", sort=False)["violations"].sum()
    return {
        "scenario": results.scenario.name,
        "scenario_file": str(path.resolve()) if path else None,
        "scenario_sha256": digest,
        "tape_file": str(tape.resolve()) if tape else None,
        "tape_sha256": hashlib.sha256(tape.read_bytes()).hexdigest()
        if tape and tape.is_file()
        else None,
        "seed": results.seed,
        "replications": results.replications,
        "workers": results.workers,
        "scheduler": results.scheduler,
        "champion": results.scenario.champion,
        "policies": list(results.policies),
        "resolved_policies": resolved_policies(results.scenario),
        "versions": {
            **{p: _version(p) for p in VERSIONED_PACKAGES},
            "python": platform.python_version(),
        },
        "started": results.started.isoformat(timespec="seconds"),
        "finished": results.finished.isoformat(timespec="seconds"),
        "departures": {p: list(d) for p, d in results.departures.items()},
        "blocked_by_rule": blocked,
        "violations_by_policy": {p: int(v) for p, v in violations.items()},
        "compliance": compliance_statement(results),
        "calibration": results.scenario.calibration,
        "risk_transfer": [c.model_dump(mode="json") for c in results.scenario.risk_transfer],
        "files": files,
    }
