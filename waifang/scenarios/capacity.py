"""Capacity use by region, read from the daily table's capacity columns (for the report)."""

from __future__ import annotations

import pandas as pd

_NATIONAL = (("courts", "legal", "legal_requested", "legal_filed"),
             ("agencies", "agency", "agency_requested", "agency_placed"))  # fmt: skip


def capacity_table(daily: pd.DataFrame) -> pd.DataFrame:
    """Capacity use by policy and pool (each region's field teams, the courts, the
    agencies): requests, work done, dropped, (field teams) called off after the travel and
    cancelled before it, and (courts, agencies) requests that left the queue unserved, per
    replication; mean daily utilisation and the mean days that work had waited; from the
    ``daily`` table's capacity columns."""
    rows = []
    runs = daily.groupby("policy", sort=False)
    for policy, frame in runs:
        reps = frame["replication"].nunique()
        pools = [
            (
                f"field teams {c[len('visits_requested[') : -1]}",
                "visits",
                c[len("visits_requested") :],
            )
            for c in frame.columns
            if c.startswith("visits_requested[")
        ]
        pools += [(name, prefix, "") for name, prefix, _, _ in _NATIONAL]
        for name, prefix, tag in pools:
            asked = f"{prefix}_requested{tag}"
            if asked not in frame:
                continue
            done_col = next(
                c
                for c in (f"{prefix}_performed{tag}", f"{prefix}_filed", f"{prefix}_placed")
                if c in frame
            )
            done = frame[done_col]
            waited = (frame[f"{prefix}_mean_wait_days{tag}"].fillna(0) * done).sum()
            rows.append(
                {
                    "policy": policy,
                    "pool": name,
                    "requested": frame[asked].sum() / reps,
                    "done": done.sum() / reps,
                    "dropped": frame[f"{prefix}_dropped{tag}"].sum() / reps,
                    # Visits the team travelled to and called off on arrival (travel paid).
                    "called_off": (
                        frame[f"{prefix}_called_off{tag}"].sum() / reps
                        if f"{prefix}_called_off{tag}" in frame
                        else float("nan")
                    ),
                    # Queued visits the lender cancelled before any team left (nothing paid).
                    "cancelled": (
                        frame[f"{prefix}_cancelled{tag}"].sum() / reps
                        if f"{prefix}_cancelled{tag}" in frame
                        else float("nan")
                    ),
                    # Court and agency requests that left the queue unserved (refused when
                    # their turn came, or the borrower no longer pursued).
                    "left_queue": (
                        frame[f"{prefix}_left_queue{tag}"].sum() / reps
                        if f"{prefix}_left_queue{tag}" in frame
                        else float("nan")
                    ),
                    "utilisation": frame[f"{prefix}_utilisation{tag}"].mean(),
                    "mean_wait_days": waited / done.sum() if done.sum() else float("nan"),
                }
            )
    return pd.DataFrame(rows)
