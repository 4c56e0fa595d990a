"""Load a real account tape (CSV or Parquet) into a :class:`~waifang.sim.state.Portfolio`.

One row per account. Required columns: ``account_id`` (unique; integers up to 19 digits
are kept as int64, any other ids as text, exactly), ``balance`` (currency, 0 to 1e9), ``dpd``
(days past due, 0 <= dpd < charge-off dpd) and ``region`` (one of the scenario's regions).
Optional columns, with the value used when the column is absent or a
cell is blank:

============================  =============================================================
``credit_limit``              balance / 0.8 (the generator's default utilisation)
``segment``                   ``segment_names[0]`` if names are given, else ``"all"``
``risk_score``                600 (0..1000)
``prior_delinquencies``       0 (integer 0..1000)
``other_debts``               0 (integer 0..1000, other lenders owed)
``guarantee``                 false
``vulnerable``                false
``contactable``               true
``address_verified``          false
============================  =============================================================

Latent traits, which a lender does not observe but a back-test may know: ``ability`` and
``willingness`` (in [0, 1]) and ``strategic`` (boolean). Missing ones are drawn with the
``rng`` from the segment's distributions (:class:`~waifang.sim.spec.Segment` defaults unless
the segment is described) given the signals the tape gives, through the synthetic
generator's copula read backwards (:func:`~waifang.sim.portfolio.draw_traits_given_signals`).
Booleans may be written 1/0, true/false, yes/no, t/f or y/n. Other columns are ignored.

A bad tape raises :class:`~waifang.errors.InputError` naming the file, the column, up to five
row numbers and their values. Rows are *data rows counted from 1*: row 1 is the first account,
the line just under the header (a spreadsheet shows it as line 2).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from waifang.errors import InputError
from waifang.sim.portfolio import draw_traits_given_signals
from waifang.sim.spec import MAX_COUNT, MAX_MONEY, Segment
from waifang.sim.state import LATENT_TRAITS, OBSERVED_TRAITS, Portfolio

REQUIRED_COLUMNS: tuple[str, ...] = ("account_id", "balance", "dpd", "region")
OPTIONAL_COLUMNS: tuple[str, ...] = OBSERVED_TRAITS
LATENT_COLUMNS: tuple[str, ...] = LATENT_TRAITS

_TRUE = {"1", "1.0", "true", "t", "yes", "y"}
_FALSE = {"0", "0.0", "false", "f", "no", "n"}
_DEFAULT_UTILISATION = 0.8
RISK_SCORE_RANGE = (0.0, 1000.0)
"""Bounds of a tape's ``risk_score`` (bureau scores: FICO 300-850, others up to 999)."""
_INTEGER_ID = re.compile(r"0|[1-9][0-9]{0,18}")
_INT64_MAX = np.iinfo(np.int64).max


class _Tape:
    """The raw table plus the file name, with checks that name rows and values."""

    def __init__(self, path: Path, frame: pd.DataFrame) -> None:
        self.path = path
        self.frame = frame
        self.n = len(frame)

    def fail(self, column: str, problem: str, bad: np.ndarray, values: pd.Series) -> None:
        rows = np.flatnonzero(bad)
        shown = rows[:5]
        more = f" and {rows.size - 5} more" if rows.size > 5 else ""
        row_list = ", ".join(str(r + 1) for r in shown)
        value_list = ", ".join(repr(_plain(values.iloc[r])) for r in shown)
        raise InputError(
            f"{self.path}: column {column!r}: {problem} in data row{'s' if rows.size > 1 else ''} "
            f"{row_list}{more} (got {value_list}; rows count from 1 at the first row under "
            "the header)"
        )

    def given(self, column: str) -> np.ndarray:
        """Where the tape gives ``column`` a value (the column is there and the cell not blank)."""
        if column not in self.frame:
            return np.zeros(self.n, dtype=bool)
        return ~self.blank(column)

    def blank(self, column: str) -> np.ndarray:
        s = self.frame[column]
        mask = np.array(s.isna(), dtype=bool)  # a copy: pandas 3 hands out read-only views
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            mask |= s.astype(str).str.strip().eq("").to_numpy()
        return mask

    def numbers(self, column: str, default: float | None, *, integer: bool = False) -> np.ndarray:
        """Column as float64; blanks take ``default`` (None: a blank is an error)."""
        if column not in self.frame:
            return np.full(self.n, np.nan if default is None else default, dtype=np.float64)
        raw = self.frame[column]
        blank = self.blank(column)
        if default is None and blank.any():
            self.fail(column, "missing value", blank, raw)
        if raw.dtype == bool:
            raw = raw.astype(np.int64)
        values = np.array(pd.to_numeric(raw.where(~blank), errors="coerce"), dtype=np.float64)
        bad = ~blank & ~np.isfinite(values)
        if bad.any():
            self.fail(column, "not a number", bad, raw)
        if integer:
            bad = ~blank & (values != np.round(values))
            if bad.any():
                self.fail(column, "not a whole number", bad, raw)
        values[blank] = np.nan if default is None else default
        return values

    def booleans(self, column: str, default: bool) -> np.ndarray:
        if column not in self.frame:
            return np.full(self.n, default, dtype=bool)
        raw = self.frame[column]
        if raw.dtype == bool:
            return raw.to_numpy(dtype=bool)
        blank = self.blank(column)
        text = raw.astype(str).str.strip().str.lower()
        true = text.isin(_TRUE).to_numpy()
        false = text.isin(_FALSE).to_numpy()
        bad = ~blank & ~true & ~false
        if bad.any():
            self.fail(column, "not a yes/no value (use 1/0, true/false, yes/no)", bad, raw)
        return np.where(blank, default, true)

    def labels(
        self,
        column: str,
        allowed: Sequence[str] | None,
        what: str,
        *,
        blank_default: str | None = None,
    ) -> tuple[np.ndarray, tuple[str, ...]]:
        """Codes into ``allowed`` (or into the sorted distinct labels when None); a blank cell
        is an error, or ``blank_default`` when given."""
        raw = self.frame[column]
        blank = self.blank(column)
        if blank.any() and blank_default is None:
            self.fail(column, "missing value", blank, raw)
        text = raw.astype(str).str.strip()
        if blank.any():
            text = text.where(~blank, blank_default)
        names = list(allowed) if allowed is not None else sorted(text.unique())
        unknown = ~text.isin(names).to_numpy()
        if unknown.any():
            self.fail(column, f"unknown {what} (known: {', '.join(names)})", unknown, raw)
        return pd.Categorical(text, categories=names).codes.astype(np.int16), tuple(names)

    def check(self, column: str, bad: np.ndarray, problem: str) -> None:
        if column in self.frame and bad.any():
            self.fail(column, problem, bad, self.frame[column])


def _plain(value: object) -> object:
    """A cell value as the user wrote it (numpy scalars become Python numbers)."""
    return value.item() if isinstance(value, np.generic) else value


def _read(path: Path) -> pd.DataFrame:
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if suffixes[-1:] == [".parquet"] or suffixes[-1:] == [".pq"]:
            frame = pd.read_parquet(path)
        elif ".csv" in suffixes[-2:]:
            # Everything as text so that a stray "n/a" is reported, not silently turned to NaN.
            frame = pd.read_csv(
                path, dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=True
            )
        else:
            raise InputError(f"{path}: unknown tape format; use a .csv or .parquet file")
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: no such tape file") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the tape is empty (no header row)") from None
    except (
        pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError, EOFError, zlib.error
    ) as err:  # EOFError, zlib.error, BadGzipFile (OSError): a truncated or corrupt .csv.gz
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: cannot read the tape ({first_line})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def load_tape(
    path: str | Path,
    region_names: Sequence[str],
    segment_names: Sequence[str] | None = None,
    *,
    rng: np.random.Generator | None = None,
    charge_off_dpd: int = 180,
    segments: Sequence[Segment] = (),
) -> Portfolio:
    """Read and validate an account tape.

    Parameters
    ----------
    path
        A ``.csv`` (optionally ``.csv.gz``) or ``.parquet`` file; columns as in the module
        docstring.
    region_names
        The scenario's regions; every ``region`` value must be one of them.
    segment_names
        Allowed segment labels (None: the tape's own distinct labels, sorted).
    rng
        Draws the latent traits missing from the tape; needed only when one is missing.
    charge_off_dpd
        ``dpd`` must be below this (an account at it would charge off before day 1).
    segments
        Segment specs whose latent distributions are used for accounts of the same name.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> tape = pathlib.Path(tempfile.mkdtemp()) / "tape.csv"
    >>> _ = tape.write_text("account_id,balance,dpd,region\\n1,5000,35,east\\n2,800,3,west\\n")
    >>> p = load_tape(tape, ("east", "west"), rng=np.random.default_rng(1))
    >>> len(p), p.region_names, p.segment_names
    (2, ('east', 'west'), ('all',))
    """
    path = Path(path)
    tape = _Tape(path, _read(path))
    missing = [c for c in REQUIRED_COLUMNS if c not in tape.frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing required column {missing[0]!r} "
            f"(columns found: {', '.join(map(str, tape.frame.columns)) or 'none'})"
        )
    if tape.n == 0:
        raise InputError(f"{path}: the tape has a header but no accounts")

    account_id, account_label = _account_ids(tape)

    balance = tape.numbers("balance", None)
    tape.check("balance", balance < 0, "negative balance")
    tape.check("balance", balance > MAX_MONEY, f"balance above {MAX_MONEY:,.0f}")
    dpd = tape.numbers("dpd", None, integer=True)
    tape.check(
        "dpd", (dpd < 0) | (dpd >= charge_off_dpd), f"dpd out of range 0..{charge_off_dpd - 1}"
    )
    region, regions = tape.labels("region", list(region_names), "region")

    credit_limit = tape.numbers("credit_limit", np.nan)
    tape.check("credit_limit", credit_limit < 0, "negative credit limit")
    tape.check("credit_limit", credit_limit > MAX_MONEY, f"credit limit above {MAX_MONEY:,.0f}")
    credit_limit = np.where(np.isnan(credit_limit), balance / _DEFAULT_UTILISATION, credit_limit)
    default_segment = segment_names[0] if segment_names else "all"
    if "segment" in tape.frame.columns:
        segment, seg_names = tape.labels(
            "segment", segment_names, "segment", blank_default=default_segment
        )
    else:
        seg_names = (tuple(segment_names) if segment_names else ("all",))
        segment = np.zeros(tape.n, dtype=np.int16)
    risk_score = tape.numbers("risk_score", 600.0)
    low, high = RISK_SCORE_RANGE
    tape.check(
        "risk_score", (risk_score < low) | (risk_score > high), f"outside {low:g}..{high:g}"
    )
    prior = tape.numbers("prior_delinquencies", 0, integer=True)
    other = tape.numbers("other_debts", 0, integer=True)
    for name, counts in (("prior_delinquencies", prior), ("other_debts", other)):
        tape.check(name, counts < 0, "negative count")
        # The columns are int16: a larger count would wrap (40,000 -> -25,536).
        tape.check(name, counts > MAX_COUNT, f"count above {MAX_COUNT:,}")

    ability = tape.numbers("ability", np.nan)
    willingness = tape.numbers("willingness", np.nan)
    for name, values in (("ability", ability), ("willingness", willingness)):
        tape.check(name, (values < 0) | (values > 1), "latent trait outside [0, 1]")
    strategic_given = "strategic" in tape.frame.columns
    strategic = tape.booleans("strategic", False)
    guarantee = tape.booleans("guarantee", False)
    # The lender's signals, in the copula's order, and which cells the tape gave: a missing
    # trait is drawn given them (waifang.sim.portfolio.draw_traits_given_signals). The limit
    # is always known (a blank one is the balance's share of it).
    signals = np.stack([credit_limit, prior, risk_score, other, guarantee.astype(np.float64)])
    observed = np.stack(
        [np.ones(tape.n, dtype=bool)]
        + [tape.given(c) for c in ("prior_delinquencies", "risk_score", "other_debts", "guarantee")]
    )
    ability, willingness, strategic = _fill_latent(
        ability, willingness, strategic, strategic_given, segment, seg_names, segments, rng,
        signals, observed,
    )

    return Portfolio(
        account_id=account_id,
        balance=balance.astype(np.float64),
        credit_limit=credit_limit.astype(np.float64),
        dpd=dpd.astype(np.int16),
        region=region,
        segment=segment,
        risk_score=risk_score.astype(np.float32),
        prior_delinquencies=prior.astype(np.int16),
        other_debts=other.astype(np.int16),
        guarantee=guarantee,
        vulnerable=tape.booleans("vulnerable", False),
        contactable=tape.booleans("contactable", True),
        address_verified=tape.booleans("address_verified", False),
        ability=ability.astype(np.float32),
        willingness=willingness.astype(np.float32),
        strategic=strategic,
        region_names=tuple(regions),
        segment_names=tuple(seg_names),
        account_label=account_label,
    )


def _fill_latent(
    ability: np.ndarray,
    willingness: np.ndarray,
    strategic: np.ndarray,
    strategic_given: bool,
    segment: np.ndarray,
    segment_names: Sequence[str],
    segments: Sequence[Segment],
    rng: np.random.Generator | None,
    signals: np.ndarray,
    observed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the latent traits the tape lacks, per account, given its segment and signals.

    Each missing trait keeps its segment's Beta law over the segment and moves with the
    signals the tape gives as the generator's copula says
    (:func:`~waifang.sim.portfolio.draw_traits_given_signals`), so a tape's risk score,
    limit, prior delinquencies, other debts and guarantee tell as much about its borrowers as
    a generated book's do.
    """
    need_ability = np.isnan(ability)
    need_willingness = np.isnan(willingness)
    if not (need_ability.any() or need_willingness.any() or not strategic_given):
        return ability, willingness, strategic
    if rng is None:
        raise TypeError("load_tape needs an rng to draw the latent traits the tape lacks")
    specs = {s.name: s for s in segments}
    default = Segment(name="default", share=1.0, balance_median=1.0)
    per_segment = [specs.get(name, default) for name in segment_names]
    strategic_share = np.array([s.strategic_share for s in per_segment])[segment]
    # Draw every stream for every account, in a fixed order, so that which columns a tape
    # has never shifts the draws of another column.
    drawn_strategic = rng.random(segment.size) < strategic_share
    strategic_ability = 0.7 + 0.3 * rng.random(segment.size)
    ability, willingness = draw_traits_given_signals(
        signals, observed, ability, willingness, segment, per_segment, rng
    )
    if not strategic_given:
        strategic = drawn_strategic
    # A strategic defaulter is able but unwilling, as in the generator (ability at least
    # 0.7 to 1, willingness 0.05); imposed only on drawn traits, never on values the tape gave.
    ability = np.where(strategic & need_ability, np.maximum(ability, strategic_ability), ability)
    willingness = np.where(strategic & need_willingness, 0.05, willingness)
    return ability, willingness, strategic


def _account_ids(tape: _Tape) -> tuple[np.ndarray, np.ndarray | None]:
    """The ids exactly as the tape holds them: int64 when every id is a plain integer that
    fits (up to 19 digits), else text kept for the outputs with the row number as the engine's
    id. Never through float64, which would merge ids beyond 2**53 (16-19 digit card and loan
    numbers)."""
    raw = tape.frame["account_id"]
    blank = tape.blank("account_id")
    if blank.any():
        tape.fail("account_id", "missing value", blank, raw)
    if pd.api.types.is_float_dtype(raw.dtype):  # a Parquet float column: exact only below 2**53
        values = raw.to_numpy(dtype=np.float64)
        tape.check("account_id", values != np.round(values), "not a whole number")
        tape.check(
            "account_id",
            np.abs(values) >= 2**53,  # 2**53 itself may be 2**53 + 1 rounded
            "stored as floating point, which cannot hold this id exactly; store ids as "
            "integers or text",
        )
        text = pd.Series(values.astype(np.int64)).astype(str)
    elif pd.api.types.is_integer_dtype(raw.dtype) or pd.api.types.is_bool_dtype(raw.dtype):
        text = raw.astype(str)
    else:
        text = raw.astype(str).str.strip()
    duplicated = text.duplicated(keep=False).to_numpy()
    tape.check("account_id", duplicated, "duplicate account_id")
    strings = text.tolist()
    if all(_INTEGER_ID.fullmatch(t) and int(t) <= _INT64_MAX for t in strings):
        return np.fromiter((int(t) for t in strings), dtype=np.int64, count=len(strings)), None
    label = np.empty(len(strings), dtype=object)
    label[:] = strings
    return np.arange(1, len(strings) + 1, dtype=np.int64), label
