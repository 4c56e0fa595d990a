"""Predicted against realised: how optimistic an optimised policy's plans were.

Every run of an optimised policy measures, on a sample of each plan's accounts, the value the
plan realised by re-simulation (:class:`waifang.optimise.training.RealisedProbe`). This
module turns the per-replication sums of ``summary.csv`` into the table the report shows: the
bias (realised - predicted) with a 95 % interval, for the values the plans used and, when a
correction was asked for, for the uncorrected values on the same accounts.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

COLUMNS = ("plan_predicted_sampled", "plan_realised")


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % t-interval over replications (NaN bounds with fewer than 2)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def plan_bias(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per optimised policy whose plans were measured: ``policy, replications,
    predicted, realised, bias, bias_low, bias_high, bias_share`` (bias / predicted) and the
    same ``*_raw`` for the uncorrected values (equal to the corrected ones without a
    correction). Means over replications, intervals over replications (95 %, t)."""
    if not set(COLUMNS) <= set(summary.columns):
        return pd.DataFrame()
    rows = []
    for policy, part in summary.groupby("policy", sort=False):
        if not np.isfinite(part["plan_realised"].to_numpy(dtype=np.float64)).any():
            continue
        realised = part["plan_realised"].to_numpy(dtype=np.float64)
        row = {"policy": policy, "replications": int(np.isfinite(realised).sum()),
               "realised": _interval(realised)[0]}
        for tag, column in (("", "plan_predicted_sampled"),
                            ("_raw", "plan_predicted_raw_sampled")):
            if column not in part:
                column = "plan_predicted_sampled"
            predicted = part[column].to_numpy(dtype=np.float64)
            mean, low, high = _interval(realised - predicted)
            row[f"predicted{tag}"] = _interval(predicted)[0]
            row[f"bias{tag}"], row[f"bias{tag}_low"], row[f"bias{tag}_high"] = mean, low, high
            row[f"bias{tag}_share"] = mean / row[f"predicted{tag}"] if row[
                f"predicted{tag}"] else math.nan
        rows.append(row)
    return pd.DataFrame(rows)
