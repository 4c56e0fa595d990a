"""What a costlier collection effort buys: a regression discontinuity on recovery data.

``debt_recovery_levels/bank_data.csv`` assigns a recovery strategy by the expected recovery
amount: from 1000 up, one level more effort (about 50 more cost per account). Just around the
threshold the assignment is as good as random, so the jump in actual recovery at 1000 is what
the extra effort recovers. :func:`discontinuity` fits a local linear regression on each side
within a bandwidth (uniform kernel: every account within the band counts the same), with a
heteroskedasticity-robust (HC1) standard error and a 95 % interval for the jump.

Examples
--------
>>> import numpy as np
>>> x = np.linspace(800, 1200, 401)
>>> y = 0.5 * x + 100 * (x >= 1000)
>>> round(discontinuity(x, y, 1000, 150).jump, 6)
100.0
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from waifang.errors import InputError


@dataclass(frozen=True)
class Discontinuity:
    """The jump at the threshold with its uncertainty."""

    threshold: float
    bandwidth: float
    jump: float
    standard_error: float
    ci_low: float
    ci_high: float
    below: int
    above: int
    level_below: float  # fitted recovery just below the threshold

    @property
    def relative_jump(self) -> float:
        """The jump as a share of what is recovered just below the threshold."""
        return self.jump / self.level_below


def discontinuity(
    running: np.ndarray, outcome: np.ndarray, threshold: float, bandwidth: float
) -> Discontinuity:
    """Local linear regression discontinuity at ``threshold`` within ``bandwidth``."""
    x = np.asarray(running, float) - threshold
    y = np.asarray(outcome, float)
    inside = np.abs(x) <= bandwidth
    x, y = x[inside], y[inside]
    above = (x >= 0).astype(float)
    if above.sum() < 3 or (1 - above).sum() < 3:
        raise InputError(f"bandwidth {bandwidth}: fewer than 3 accounts on a side of {threshold}")
    # y = a + b x + jump * above + c x * above: separate lines each side.
    design = np.column_stack([np.ones_like(x), x, above, x * above])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    n, k = design.shape
    bread = np.linalg.inv(design.T @ design)
    meat = design.T @ (design * (resid**2)[:, None])
    cov = bread @ meat @ bread * n / (n - k)  # HC1
    se = float(np.sqrt(cov[2, 2]))
    z = stats.norm.ppf(0.975)
    return Discontinuity(
        threshold=threshold,
        bandwidth=bandwidth,
        jump=float(coef[2]),
        standard_error=se,
        ci_low=float(coef[2] - z * se),
        ci_high=float(coef[2] + z * se),
        below=int((1 - above).sum()),
        above=int(above.sum()),
        level_below=float(coef[0]),
    )


def recovery_uplift(
    path: str | Path, threshold: float = 1000.0, bandwidth: float = 200.0
) -> Discontinuity:
    """The jump in ``actual_recovery_amount`` at ``threshold`` of ``expected_recovery_amount``."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{path}: cannot read ({err})") from None
    for column in ("expected_recovery_amount", "actual_recovery_amount"):
        if column not in frame.columns:
            raise InputError(f"{path}: missing column {column!r}")
    return discontinuity(
        frame["expected_recovery_amount"].to_numpy(),
        frame["actual_recovery_amount"].to_numpy(),
        threshold,
        bandwidth,
    )
