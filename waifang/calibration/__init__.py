"""Calibrate the behaviour model to monthly status data (``waifang calibrate``).

:func:`calibrate` reads a monthly status file (:mod:`waifang.calibration.data`), splits its
accounts into a fitted part and a held-out part, fits the behaviour parameters that drive
bucket transitions by maximum likelihood at the level of the portfolio's population of
borrowers (:mod:`waifang.calibration.fit`), and checks the fit on the held-out accounts.

Usage (on the public card data; ``tests/test_calibration_fit.py`` runs it on real and
simulated data)::

    from waifang.calibration import calibrate
    result = calibrate("credit_record.csv", holdout=0.3)
    result.fit.parameters()["base_hazard[1]"]   # (estimate, standard error)
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from waifang.calibration.data import STATUS_CODES, DataReport, MonthlyData, read_monthly
from waifang.calibration.fit import TARGETS, FitResult, fit_counts, transition_table
from waifang.errors import InputError
from waifang.sim.monthly import population
from waifang.sim.spec import BehaviourSpec, Segment

DEFAULT_SEGMENTS: tuple[Segment, ...] = (Segment(name="all", share=1.0, balance_median=3000.0),)
"""The population of the engine's defaults: one segment of default traits."""
POINTS = 8
"""Quantile points per latent trait (8 x 8 types per segment, plus strategic types). Against
12 points the fitted hazards move by under 1 %, well inside their standard errors."""


def within_tolerance(observed: float, predicted: float, se: float) -> bool:
    """The project's agreement rule: within max(0.02 absolute, 15 % relative, 3 se)."""
    return abs(observed - predicted) <= max(0.02, 0.15 * abs(observed), 3 * se)


@dataclass(frozen=True)
class Calibration:
    """A fit with its data report and its check on held-out accounts."""

    fit: FitResult
    report: DataReport
    data_file: str
    data_sha256: str
    fitted_accounts: int
    held_out_accounts: int
    held_out_counts: np.ndarray | None

    def table(self) -> list[dict]:
        """FIT.csv rows: fitted sample, then held-out sample (if any)."""
        rows = [{"sample": "fitted", **r} for r in transition_table(self.fit)]
        if self.held_out_counts is not None:
            rows += [
                {"sample": "held_out", **r}
                for r in transition_table(self.fit, self.held_out_counts)
            ]
        for row in rows:
            row["within_tolerance"] = (
                ""
                if math.isnan(row["predicted"])
                else within_tolerance(row["observed"], row["predicted"], row["observed_se"])
            )
        return rows

    def targets(self) -> list[dict]:
        """The six headline transitions on the held-out accounts (fitted ones if none)."""
        sample = "held_out" if self.held_out_counts is not None else "fitted"
        wanted = {(STATUS_CODES[a], STATUS_CODES[b]) for a, b in TARGETS}
        return [
            r
            for r in self.table()
            if r["sample"] == sample and (r["from_status"], r["to_status"]) in wanted
        ]

    def summary_lines(self) -> list[str]:
        f = self.fit
        lines = [*self.report.lines()]
        lines.append(
            f"fitted on {self.fitted_accounts} accounts, held out {self.held_out_accounts}; "
            f"{int(f.counts.sum())} pairs fitted ({f.left_out_exits} ending C or X and "
            f"{f.left_out_jumps} jumps of 2+ buckets not modelled)"
        )
        lines.append(
            f"maximum likelihood: log L = {f.log_likelihood:.1f}, deviance {f.deviance:.1f} on "
            f"{f.degrees_of_freedom} df, {f.evaluations} chain evaluations, "
            f"{'converged' if f.converged else 'NOT converged'}"
        )
        for name, (value, se) in f.parameters().items():
            lines.append(f"  {name:28s} {value:10.5f}  (se {se:.5f})")
        sample = "held-out" if self.held_out_counts is not None else "fitted"
        lines.append(f"{sample} accounts: observed against predicted monthly transitions")
        for r in self.targets():
            mark = "ok" if r["within_tolerance"] else "OUTSIDE max(0.02, 15 %, 3 se)"
            lines.append(
                f"  {r['from_status']} -> {r['to_status']}: observed {r['observed']:.4f} "
                f"(se {r['observed_se']:.4f}, {r['pairs_from']} pairs)  predicted "
                f"{r['predicted']:.4f}  {mark}"
            )
        return lines


def split_accounts(count: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Account codes to fit on and to hold out, at random with ``seed``."""
    if not 0 <= holdout < 1:
        raise InputError(f"--holdout: must be in [0, 1) (got {holdout})")
    order = np.random.default_rng(seed).permutation(count)
    held = int(round(holdout * count))
    return np.sort(order[held:]), np.sort(order[:held])


def calibrate(
    data: str | Path | MonthlyData,
    *,
    segments: tuple[Segment, ...] = DEFAULT_SEGMENTS,
    template: BehaviourSpec | None = None,
    holdout: float = 0.3,
    seed: int = 0,
    charge_off_dpd: int = 180,
    points: int = POINTS,
) -> Calibration:
    """Fit the behaviour to monthly status ``data`` and check it on held-out accounts.

    ``segments`` describe the population whose spread of ability and willingness the fit
    accounts for (a scenario's ``portfolio.segments``); ``template`` gives every behaviour
    parameter that is not fitted.
    """
    monthly = data if isinstance(data, MonthlyData) else read_monthly(data)
    path = Path(monthly.report.path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    fitted, held = split_accounts(monthly.accounts, holdout, seed)
    counts = monthly.counts(fitted)
    result = fit_counts(counts, population(segments, points), template, charge_off_dpd)
    return Calibration(
        fit=result,
        report=monthly.report,
        data_file=str(path),
        data_sha256=digest,
        fitted_accounts=int(fitted.size),
        held_out_accounts=int(held.size),
        held_out_counts=monthly.counts(held) if held.size else None,
    )


def params_toml(calibration: Calibration, source: str = "waifang calibrate") -> str:
    """A scenario fragment with the fitted ``[behaviour]`` and its provenance."""
    f, b = calibration.fit, calibration.fit.behaviour
    lines = [
        f"# Written by {source}: behaviour fitted by maximum likelihood to monthly status data.",
        '# Include it from a scenario with a top-level line:  include = ["THIS_FILE.toml"]',
        "# (the scenario's own keys win over included ones).",
        *(f"# {line}" for line in calibration.summary_lines()),
        "",
        "[behaviour]",
        "base_hazard = [" + ", ".join(f"{h:.6g}" for h in b.base_hazard) + "]",
        f"cure_share_low = {b.cure_share_low:.6g}",
        f"cure_share_high = {b.cure_share_high:.6g}",
        "",
        "[calibration]",
        f"data_file = {_quote(calibration.data_file)}",
        f"data_sha256 = {_quote(calibration.data_sha256)}",
        f"fitted_accounts = {calibration.fitted_accounts}",
        f"held_out_accounts = {calibration.held_out_accounts}",
        f"log_likelihood = {f.log_likelihood:.6g}",
        f"deviance = {f.deviance:.6g}",
        f"degrees_of_freedom = {f.degrees_of_freedom}",
        "",
        "[calibration.estimates]",
        *(f'"{n}" = {v:.6g}' for n, (v, _) in f.parameters().items()),
        "",
        "[calibration.standard_errors]",
        *(f'"{n}" = {_number(s)}' for n, (_, s) in f.parameters().items()),
        "",
    ]
    return "\n".join(lines)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.6g}"


__all__ = [
    "Calibration",
    "DEFAULT_SEGMENTS",
    "MonthlyData",
    "calibrate",
    "params_toml",
    "read_monthly",
    "within_tolerance",
]
