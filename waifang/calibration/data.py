"""Monthly status data: read, check, and count month-to-month transitions.

Two formats are read, told apart by their header:

- the card data format of ``credit_card_monthly_status/credit_record.csv``: ``ID,
  MONTHS_BALANCE, STATUS`` with ``MONTHS_BALANCE`` 0 for the latest month, -1 the month
  before, and ``STATUS`` 0 = 1-29 dpd (or current), 1 = 30-59, 2 = 60-89, 3 = 90-119,
  4 = 120-149, 5 = 150+ or written off, ``C`` = paid off that month, ``X`` = no loan;
- a generic format: ``account, month, dpd_bucket`` with ``month`` an integer (consecutive
  months differ by 1, any origin) and ``dpd_bucket`` in the same codes (0-5, ``C``, ``X``).

A pair of rows of one account in consecutive months is one observed transition. What the
checks do with bad data (each is counted in :class:`DataReport`):

- an empty file, a missing column, a month that is not an integer, or a status code outside
  0-5, C, X: refused with one line naming the file, the data row (row 1 is the line under
  the header) and the value;
- the same account and month twice with the same status: the copy is dropped;
- the same account and month twice with different statuses: that month is dropped (its
  pairs are not counted);
- a gap in an account's months: no pair across the gap;
- fewer than two accounts: refused (a fit on one account has no held-out check and no
  standard errors worth the name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from waifang.errors import InputError

STATUS_CODES: tuple[str, ...] = ("0", "1", "2", "3", "4", "5", "C", "X")
"""Codes in the order of the rows and columns of a count matrix."""
FORMATS: dict[str, tuple[str, str, str]] = {
    "credit_record": ("ID", "MONTHS_BALANCE", "STATUS"),
    "generic": ("account", "month", "dpd_bucket"),
}


@dataclass
class DataReport:
    """What was read and what was dropped, for the user."""

    path: str
    format: str
    rows: int = 0
    accounts: int = 0
    pairs: int = 0
    duplicate_rows: int = 0
    conflicting_months: int = 0
    gaps: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [
            f"data: {self.path} ({self.format} format): {self.rows} rows, "
            f"{self.accounts} accounts, {self.pairs} consecutive-month pairs",
            f"dropped: {self.duplicate_rows} duplicate rows, {self.conflicting_months} "
            f"account-months with conflicting statuses; {self.gaps} gaps in months "
            "(no pair across a gap)",
        ]


@dataclass(frozen=True)
class MonthlyData:
    """Checked monthly statuses, one row per (account, month), sorted."""

    account: np.ndarray  # int64 codes of accounts (0..accounts-1)
    month: np.ndarray  # int64
    status: np.ndarray  # int8 index into STATUS_CODES
    report: DataReport

    def pairs(self, accounts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(from, to) status indices of consecutive-month pairs, optionally of some accounts."""
        same = self.account[1:] == self.account[:-1]
        next_month = self.month[1:] - self.month[:-1] == 1
        keep = same & next_month
        if accounts is not None:
            keep &= np.isin(self.account[:-1], accounts)
        return self.status[:-1][keep], self.status[1:][keep]

    def counts(self, accounts: np.ndarray | None = None) -> np.ndarray:
        """8 x 8 matrix of transition counts in the order of :data:`STATUS_CODES`."""
        now, nxt = self.pairs(accounts)
        n = len(STATUS_CODES)
        return np.bincount(now.astype(np.int64) * n + nxt, minlength=n * n).reshape(n, n)

    @property
    def accounts(self) -> int:
        return self.report.accounts


def _fail(path: Path, row: int, column: str, value: object, problem: str) -> None:
    raise InputError(f"{path}: row {row}: {column}: {problem} (got {value!r})")


def read_monthly(path: str | Path) -> MonthlyData:
    """Read and check a monthly status file (see the module docstring for the formats).

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "m.csv")
    >>> _ = open(f, "w").write("account,month,dpd_bucket\\n1,1,0\\n1,2,1\\n2,1,0\\n2,2,0\\n")
    >>> data = read_monthly(f)
    >>> int(data.counts()[0, 1]), int(data.counts()[0, 0])
    (1, 1)
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable CSV file ({err})".splitlines()[0]) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    fmt = next((name for name, cols in FORMATS.items() if set(cols) <= set(frame.columns)), None)
    if fmt is None:
        raise InputError(
            f"{path}: header {list(frame.columns)[:6]}: expected columns "
            f"{list(FORMATS['credit_record'])} or {list(FORMATS['generic'])}"
        )
    id_col, month_col, status_col = FORMATS[fmt]
    if frame.empty:
        raise InputError(f"{path}: no data rows under the header")
    report = DataReport(path=str(path), format=fmt, rows=len(frame))
    accounts = frame[id_col].str.strip()
    blank = np.flatnonzero((accounts == "").to_numpy())
    if blank.size:
        _fail(path, int(blank[0]) + 1, id_col, "", "account is blank")
    month = pd.to_numeric(frame[month_col].str.strip(), errors="coerce")
    bad = np.flatnonzero((month.isna() | (month != month.round())).to_numpy())
    if bad.size:
        i = int(bad[0])
        _fail(path, i + 1, month_col, frame[month_col].iloc[i], "month must be an integer")
    status = frame[status_col].str.strip().str.upper()
    code = status.map({c: i for i, c in enumerate(STATUS_CODES)})
    bad = np.flatnonzero(code.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        _fail(
            path,
            i + 1,
            status_col,
            frame[status_col].iloc[i],
            f"unknown status code ({bad.size} such rows); codes are {', '.join(STATUS_CODES)}",
        )
    table = pd.DataFrame(
        {"account": accounts, "month": month.astype(np.int64), "status": code.astype(np.int8)}
    )
    report.status_counts = {
        STATUS_CODES[int(k)]: int(v) for k, v in table["status"].value_counts().sort_index().items()
    }
    exact = table.duplicated(["account", "month", "status"])
    report.duplicate_rows = int(exact.sum())
    table = table[~exact]
    clash = table.duplicated(["account", "month"], keep=False)
    report.conflicting_months = int(table[clash][["account", "month"]].drop_duplicates().shape[0])
    table = table[~clash]
    ids, account_code = np.unique(table["account"].to_numpy(), return_inverse=True)
    report.accounts = int(ids.size)
    if ids.size < 2:
        only = ids[0] if ids.size else ""
        raise InputError(
            f"{path}: row 1: {id_col}: only one account in the file (got {only!r}); "
            "calibration needs at least two accounts"
        )
    order = np.lexsort((table["month"].to_numpy(), account_code))
    account = account_code[order].astype(np.int64)
    months = table["month"].to_numpy()[order]
    data = MonthlyData(account, months, table["status"].to_numpy()[order], report)
    same = account[1:] == account[:-1]
    step = months[1:] - months[:-1]
    report.gaps = int((same & (step > 1)).sum())
    report.pairs = int((same & (step == 1)).sum())
    if report.pairs == 0:
        raise InputError(f"{path}: no account has two consecutive months; nothing to calibrate on")
    return data
