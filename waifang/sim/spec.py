"""The typed, frozen description of one simulated world.

Everything the engine reads is declared here as a pydantic model with bounds and a docstring
per field, ``extra="forbid"`` so that a typo is an error. ``scenarios`` composes these into a
scenario file; the engine reads them without changing them (spec apart from run).

Money is in the portfolio's currency unit (yuan in the shipped scenarios); the engine keeps
balances in integer cents. Defaults carry their source: figures from DESIGN.md section 6 are
named, invented ones are marked *assumption*.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from waifang.errors import KeyedValueError

BUCKETS: tuple[str, ...] = ("1-30", "31-60", "61-90", "91-120", "121-150", "151-180")
"""Delinquency buckets by days past due; an account at dpd d is in bucket ``(d - 1) // 30``."""

TREATMENTS: tuple[str, ...] = (
    "sms",
    "ivr",
    "call",
    "freeze",
    "hardship",
    "visit",
    "legal",
    "agency",
    "sale",
    "third_party",
)
"""Every action a policy may ask for. ``third_party`` (contacting the borrower's social circle)
exists only so that a policy asking for it is visibly blocked: it is never performed."""

Treatment = Literal[
    "sms", "ivr", "call", "freeze", "hardship", "visit", "legal", "agency", "sale", "third_party"
]

# Monthly roll rates from shared/data/credit_card_monthly_status (DESIGN.md section 6):
# status 0 -> 1: 1.9 %, 1 -> 2: 5.2 %, 2 -> 3: 30 %, 3 -> 4: 59 %, 4 -> 5: 67 %; 1 -> 0: 50 %.
# The data's status 0 is "1-29 dpd" but holds the accounts that are up to date too (the data
# has no current code); the fit below finds 93 % of them current. The behaviour defaults are
# not derived from these figures by hand: they are the maximum-likelihood fit of the daily
# model, over the default population of borrowers, to the file's 1.0 M month pairs
# (`waifang calibrate credit_record.csv --holdout 0`, see waifang.calibration);
# tests/test_calibration_data.py refits and checks that the numbers below are that fit, and
# that a generated population rolls at the data's rates in the engine. These figures remain
# for the terminal value of open balances (engine.terminal_value_cents).
MONTHLY_ROLL_RATES: tuple[float, ...] = (0.019, 0.052, 0.30, 0.59, 0.67, 0.67)

# The chance that a delinquent account in each bucket cures before charge-off, from the same
# file's consecutive-month pairs read as a Markov chain: for 31-60 .. 121-150, the chance of
# reaching status 0, C (paid off) or X (no loan) before status 5 (150+ / written off), the
# chain's absorption probabilities (statuses 1-4 transient; 10,737 / 849 / 314 / 218 months
# observed in them). 1-30 dpd: one minus the chance of moving deeper and not curing from there
# (the data's status 0 holds current accounts too, so this is an upper figure). 151-180 dpd:
# the chance of leaving status 5 for a cure within its last month (the data's status 5 holds
# written-off accounts too). Rolling on at the roll rates and curing otherwise, as the terminal
# value used before, overstated deep buckets: 91-120 at 0.74 against the data's 0.49.
# tests/test_calibration_data.py recomputes them from the file.
CURE_BEFORE_CHARGE_OFF: tuple[float, ...] = (0.9995, 0.9844, 0.8053, 0.4899, 0.2520, 0.0931)

# The fit for the default population (Segment defaults), full data, holdout 0:
# estimate (standard error). Written once here; BehaviourSpec's defaults read them.
FITTED_BASE_HAZARD: tuple[float, float, float, float, float, float] = (
    0.0391819,  # (0.00185)
    0.115979,  # (0.00216)
    0.0345926,  # (0.00188)
    0.0118133,  # (0.00133)
    0.00805417,  # (0.00136)
    0.00111103,  # (0.00018)
)
FITTED_CURE_SHARE: tuple[float, float] = (0.0419579, 0.0755242)
"""Cure share at ability 0 and 1: their mean 0.0587 (se 0.0278) is fitted, their ratio is the
earlier assumption 0.5 : 0.9."""


# How the lender's signals depend on the borrower's quality (a Gaussian copula, see
# waifang.sim.portfolio): latent correlations fitted by maximum likelihood to the Taiwan card
# data (shared/data/uci_taiwan_credit_default, 30,000 accounts) by
# waifang.calibration.signals.fit_signal_dependence; estimate (standard error). Quality is
# minus the data's default propensity. tests/test_signals.py refits and checks these.
FITTED_LIMIT_QUALITY = 0.238457  # (0.0077): credit limit's normal score with quality
FITTED_HISTORY_QUALITY = -0.540897  # (0.0076): earlier delinquent months with quality
FITTED_LIMIT_HISTORY = -0.361392  # (0.0065): credit limit with earlier delinquent months


def daily_hazard_from_roll_rate(roll_rate: float, days: int = 30) -> float:
    """Daily probability of clearing arrears that leaves ``roll_rate`` unpaid after ``days``.

    >>> round(daily_hazard_from_roll_rate(0.30), 4)
    0.0393
    """
    return 1.0 - math.exp(math.log(roll_rate) / days)


class Spec(BaseModel):
    """Base of every spec: frozen, no unknown keys, no NaN or infinity, field docstrings become
    descriptions."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False
    )


# Upper bounds shared by many fields. Every numeric field has one (tests/test_input_bounds.py
# checks), so that no value a file can hold overflows the engine's integer cents, int16 counts
# or day arithmetic.
MAX_MONEY = 1e9
"""Largest amount of money in one place: a balance, a cost per action, a fee (currency). With
at most 50 M accounts the book's total stays within int64 cents (9.2e16 currency units)."""
MAX_DAYS = 3650
"""Longest span in days (ten years): horizons, plans, delays, cadences."""
MAX_COUNT = 1000
"""Largest per-account count (prior delinquencies, other lenders, attempts): far below the
int16 columns' 32,767, so a count never wraps."""
MAX_MULTIPLIER = 100.0
"""Largest hazard multiplier or relative lift."""
MAX_CAPACITY = 50_000_000
"""Largest headcount or capacity (agents, teams, cases, placements): the largest portfolio."""

Weight = Annotated[float, Field(ge=0, le=1e6)]
Multiplier = Annotated[float, Field(gt=0, le=MAX_MULTIPLIER)]


Probability = float  # documented alias; bounds are set per field with Field(ge=0, le=1)


# --------------------------------------------------------------------------------------------
# Portfolio
# --------------------------------------------------------------------------------------------


class Segment(Spec):
    """A group of accounts drawn from the same distributions."""

    name: str = Field(min_length=1)
    """Segment name, written to the account tape and used by policy rules."""
    share: float = Field(gt=0, le=1)
    """Share of the portfolio's accounts in this segment; the shares of a scenario's segments
    must sum to 1 (within 0.001, then normalised)."""
    balance_median: float = Field(gt=0, le=MAX_MONEY / 1000)
    """Median outstanding balance (currency); balances are lognormal, each one at most
    MAX_MONEY."""
    balance_sigma: float = Field(default=0.8, ge=0, le=3)
    """Log-scale spread of the balance (assumption: 0.8 gives a 10-90 % range of about 7x)."""
    utilisation: float = Field(default=0.8, gt=0, le=1)
    """Balance as a share of the credit limit, used to derive the limit."""
    risk_score_mean: float = Field(default=600, ge=300, le=850)
    """Mean bureau-style risk score (higher is safer)."""
    risk_score_sd: float = Field(default=50, ge=0, le=500)
    """Spread of the risk score."""
    dpd_weights: tuple[Weight, Weight, Weight, Weight, Weight, Weight] = (
        0.55,
        0.2,
        0.1,
        0.08,
        0.04,
        0.03,
    )
    """Weights of the starting bucket (1-30 ... 151-180 dpd), normalised to sum to 1 (so
    ``[55, 20, 10, 8, 4, 3]`` is the same as the default); at least one must be positive. dpd
    is uniform inside a bucket."""
    prior_delinquencies_mean: float = Field(default=0.5, ge=0, le=100)
    """Mean number of earlier delinquency episodes (Poisson)."""
    other_debts_mean: float = Field(default=1.0, ge=0, le=100)
    """Mean number of other lenders the borrower owes (Poisson); multi-lender exposure."""
    guarantee_share: float = Field(default=0.05, ge=0, le=1)
    """Share of accounts with a guarantor or collateral."""
    vulnerable_share: float = Field(default=0.03, ge=0, le=1)
    """Share of borrowers flagged vulnerable (no field visits)."""
    contactable_share: float = Field(default=0.85, ge=0, le=1)
    """Share of accounts with a working phone number."""
    address_verified_share: float = Field(default=0.7, ge=0, le=1)
    """Share of accounts whose home address is verified (visits find the borrower more often)."""
    ability_mean: float = Field(default=0.5, gt=0, lt=1)
    """Mean latent ability to pay in (0, 1) (Beta distributed; not observed by the lender)."""
    willingness_mean: float = Field(default=0.5, gt=0, lt=1)
    """Mean latent willingness to pay in (0, 1) (Beta distributed; not observed)."""
    latent_concentration: float = Field(default=6.0, gt=0, le=10_000)
    """Beta concentration a + b of ability and willingness (higher: less spread)."""
    strategic_share: float = Field(default=0.03, ge=0, le=1)
    """Share of strategic defaulters: able to pay (ability >= 0.7) but unwilling (0.05)."""
    limit_quality_correlation: float = Field(default=FITTED_LIMIT_QUALITY, ge=-0.99, le=0.99)
    """Latent correlation of the credit limit (and so the balance, a fixed share of it) with
    the borrower's quality: fitted to the Taiwan card data (FITTED_LIMIT_QUALITY)."""
    prior_delinquencies_quality_correlation: float = Field(
        default=FITTED_HISTORY_QUALITY, ge=-0.99, le=0.99
    )
    """Latent correlation of the prior delinquencies with quality: fitted to the Taiwan card
    data's earlier months of payment delay (FITTED_HISTORY_QUALITY)."""
    limit_prior_delinquencies_correlation: float = Field(
        default=FITTED_LIMIT_HISTORY, ge=-0.99, le=0.99
    )
    """Latent correlation of the credit limit with the prior delinquencies: fitted to the
    Taiwan card data (FITTED_LIMIT_HISTORY)."""
    risk_score_quality_correlation: float = Field(default=0.5, ge=-0.99, le=0.99)
    """Latent correlation of the risk score with quality (assumption: no public data links a
    bureau score to these traits; 0.5 makes the score informative but noisy)."""
    other_debts_quality_correlation: float = Field(default=-0.25, ge=-0.99, le=0.99)
    """Latent correlation of the number of other lenders with quality (assumption:
    multi-lender borrowers are weaker)."""
    guarantee_quality_correlation: float = Field(default=0.2, ge=-0.99, le=0.99)
    """Latent correlation of having a guarantor or collateral with quality (assumption:
    borrowers who can pledge assets or find a guarantor are somewhat stronger)."""
    region_weights: dict[str, Weight] | None = None
    """Weight of each region for this segment, normalised to sum to 1; a region left out gets
    0, at least one weight must be positive. None spreads accounts evenly over all regions."""

    @model_validator(mode="after")
    def _some_weight(self) -> Segment:
        # All-zero weights would be normalised into NaN probabilities mid-run.
        if sum(self.dpd_weights) <= 0:
            raise KeyedValueError(
                "dpd_weights",
                f"at least one weight must be positive (got {list(self.dpd_weights)})",
            )
        if np.linalg.eigvalsh(self.signal_correlation()).min() <= 1e-9:
            raise KeyedValueError(
                "limit_prior_delinquencies_correlation",
                f"{self.limit_prior_delinquencies_correlation} with the limit's and the prior "
                "delinquencies' correlations with quality gives no valid correlation matrix",
            )
        if self.region_weights is not None and sum(self.region_weights.values()) <= 0:
            raise KeyedValueError(
                "region_weights",
                f"at least one weight must be positive (got {dict(self.region_weights)})",
            )
        return self


    def signal_correlation(self) -> np.ndarray:
        """Latent correlation matrix of (quality, limit, prior delinquencies, risk score,
        other debts, guarantee). Score, other debts and guarantee are independent of the rest
        given quality (assumption); limit and prior delinquencies keep their fitted link."""
        r = np.array(
            [
                1.0,
                self.limit_quality_correlation,
                self.prior_delinquencies_quality_correlation,
                self.risk_score_quality_correlation,
                self.other_debts_quality_correlation,
                self.guarantee_quality_correlation,
            ]
        )
        matrix = np.outer(r, r)
        matrix[1, 2] = matrix[2, 1] = self.limit_prior_delinquencies_correlation
        np.fill_diagonal(matrix, 1.0)
        return matrix


class PortfolioSpec(Spec):
    """A synthetic portfolio generated from segments, or an account tape loaded from a file."""

    accounts: int = Field(default=100_000, ge=1, le=50_000_000)
    """Number of accounts to generate (ignored when ``tape`` is given)."""
    segments: tuple[Segment, ...] = (Segment(name="all", share=1.0, balance_median=3000.0),)
    """Segments of the synthetic portfolio."""
    tape: str | None = None
    """Path of a CSV or Parquet account tape, relative to the scenario file; see the README."""


# --------------------------------------------------------------------------------------------
# Behaviour
# --------------------------------------------------------------------------------------------


class BehaviourSpec(Spec):
    """How a borrower pays, rolls, promises, re-defaults and complains, day by day."""

    base_hazard: tuple[float, float, float, float, float, float] = FITTED_BASE_HAZARD
    """Daily probability of a payment in each bucket for an untreated borrower of average
    ability and willingness (0.5); each borrower's own factor multiplies it. Fitted by maximum
    likelihood to the monthly transitions of shared/data/credit_card_monthly_status over the
    default population (see FITTED_BASE_HAZARD)."""
    ability_weight: float = Field(default=2.0, ge=0, le=20)
    """Log-hazard per unit of ability above 0.5 (assumption)."""
    willingness_weight: float = Field(default=2.5, ge=0, le=20)
    """Log-hazard per unit of willingness above 0.5 (assumption)."""
    instalment_share: float = Field(default=1 / 12, gt=0, le=1)
    """Share of the balance that falls due each 30 days; arrears = balance x share x months
    past due, capped at the balance (a 12-instalment product, assumption)."""
    cure_share_low: float = Field(default=FITTED_CURE_SHARE[0], ge=0, le=1)
    """With two or more instalments due, the share of payments that clear all arrears for a
    borrower with ability 0; the rest pay whole instalments (fitted, see FITTED_CURE_SHARE).
    With one instalment due every payment clears it."""
    cure_share_high: float = Field(default=FITTED_CURE_SHARE[1], ge=0, le=1)
    """The same for a borrower with ability 1 (linear in between)."""
    partial_min: float = Field(default=0.2, gt=0, le=1)
    """A partial payment pays this to ``partial_max`` (uniform) of the arrears, rounded down
    to whole instalments, at least one and fewer than are due; each instalment paid brings
    dpd back 30 days (arrears are state)."""
    partial_max: float = Field(default=0.8, gt=0, le=1)
    """Largest partial payment as a share of arrears (before rounding to instalments)."""
    settlement_min_dpd: int = Field(default=120, ge=1, le=MAX_DAYS)
    """From this dpd a paying borrower with low ability may settle instead of curing."""
    settlement_share: float = Field(default=0.6, gt=0, le=1)
    """A settlement pays this share of the balance; the rest is written off (assumption)."""
    settlement_max_ability: float = Field(default=0.35, ge=0, le=1)
    """Borrowers at or below this ability settle when they pay after ``settlement_min_dpd``."""
    contact_half_life_days: float = Field(default=4.0, gt=0, le=MAX_DAYS)
    """Half-life of a contact's lift on the payment hazard (assumption)."""
    max_contact_lift: float = Field(default=3.0, ge=0, le=MAX_MULTIPLIER)
    """Cap on the summed contact lift (hazard at most 1 + this times the base)."""
    promise_days: int = Field(default=5, ge=1, le=60)
    """Days between a promise to pay and its due date."""
    promise_keep_base: float = Field(default=0.3, ge=0, le=1)
    """Chance a promise is kept for a borrower with ability 0 ..."""
    promise_keep_ability: float = Field(default=0.5, ge=0, le=1)
    """... plus this times ability (so ability 1 keeps with 0.8)."""
    broken_promise_willingness: float = Field(default=0.9, gt=0, le=1)
    """Willingness is multiplied by this when a promise is broken."""
    freeze_multiplier: float = Field(default=1.15, gt=0, le=MAX_MULTIPLIER)
    """Hazard multiplier while the credit line is frozen (borrowers want the line back)."""
    hardship_multiplier: float = Field(default=2.0, gt=0, le=MAX_MULTIPLIER)
    """Hazard multiplier while on a hardship / instalment plan (smaller, affordable payments)."""
    stress: tuple[Multiplier, ...] = (1.0,)
    """Economic stress: hazard multiplier per 30-day month, the last value repeating
    (below 1 is a downturn)."""
    income_shock_daily: float = Field(default=0.0005, ge=0, le=1)
    """Daily chance that a borrower loses income (assumption: about 17 % a year)."""
    income_shock_ability: float = Field(default=0.5, gt=0, le=1)
    """Ability is multiplied by this after an income shock."""
    redefault_daily: float = Field(default=0.004, ge=0, le=1)
    """Daily chance that a cured account misses a payment again (assumption: about 11 % a
    month, between the data's 1-29 dpd roll and its re-entry rate)."""
    chargeoff_recovery_daily: float = Field(default=0.0005, ge=0, le=1)
    """Daily chance that a charged-off, untreated account pays something back."""
    complaint_intensity: float = Field(default=0.25, ge=0, le=MAX_MULTIPLIER)
    """Complaint risk grows by this factor per contact in the recent (decayed) contact count."""
    dispute_share: float = Field(default=0.3, ge=0, le=1)
    """Share of complaints that turn into a dispute (no visits until resolved)."""
    dispute_days: int = Field(default=30, ge=0, le=MAX_DAYS)
    """Days a dispute lasts."""

    @model_validator(mode="after")
    def _check_ranges(self) -> BehaviourSpec:
        for name, value in zip(BUCKETS, self.base_hazard, strict=True):
            if not 0 <= value <= 1:
                raise ValueError(f"base_hazard for bucket {name} must be in [0, 1], got {value}")
        if self.partial_min > self.partial_max:
            raise ValueError(
                f"partial_min {self.partial_min} is above partial_max {self.partial_max}"
            )
        if any(s <= 0 for s in self.stress):
            raise ValueError(f"stress multipliers must be positive, got {list(self.stress)}")
        return self


# --------------------------------------------------------------------------------------------
# Treatments (cost and effect)
# --------------------------------------------------------------------------------------------


class ContactSpec(Spec):
    """A contact channel: what one attempt costs and what a connected one does."""

    cost: float = Field(ge=0, le=MAX_MONEY)
    """Cost of one attempt (currency)."""
    connect_probability: float = Field(default=1.0, ge=0, le=1)
    """Chance that an attempt reaches a contactable borrower."""
    lift: float = Field(default=0.0, ge=0, le=MAX_MULTIPLIER)
    """Added relative payment hazard from a connected contact (decays with the half-life)."""
    promise_probability: float = Field(default=0.0, ge=0, le=1)
    """Chance that a connected contact yields a promise to pay (times willingness x 2, capped)."""
    complaint_probability: float = Field(default=0.0, ge=0, le=1)
    """Complaint chance of a connected contact before the intensity factor."""


class VisitSpec(Spec):
    """A field visit by (at least) two collectors."""

    found_verified: float = Field(default=0.7, ge=0, le=1)
    """Chance the borrower is met when the address is verified."""
    found_unverified: float = Field(default=0.3, ge=0, le=1)
    """Chance the borrower is met when the address is not verified."""
    lift: float = Field(default=2.0, ge=0, le=MAX_MULTIPLIER)
    """Added relative hazard after a visit that met the borrower."""
    promise_probability: float = Field(default=0.5, ge=0, le=1)
    """Chance a visit that met the borrower yields a promise to pay (times willingness x 2)."""
    complaint_probability: float = Field(default=0.02, ge=0, le=1)
    """Complaint chance of a visit that met the borrower, before the intensity factor."""


class LegalSpec(Spec):
    """Legal action: filing, a court delay (see resources), then a judgement."""

    fee: float = Field(default=800.0, ge=0, le=MAX_MONEY)
    """Fixed fee per case filed (currency; assumption)."""
    share: float = Field(default=0.10, ge=0, le=1)
    """Share of legal recoveries paid to the lawyers."""
    judgement_recovery: float = Field(default=0.6, ge=0, le=1)
    """Share of the balance recovered on judgement, times ability (strategic defaulters: 1)."""
    guarantee_cover: float = Field(default=0.5, ge=0, le=1)
    """With a guarantor or collateral, the judgement also recovers this share of what the
    borrower's ability leaves short: ``judgement_recovery x (x + cover x (1 - x))`` with
    ``x`` the ability (1 for strategic defaulters) (assumption)."""
    filing_lift: float = Field(default=1.0, ge=0, le=MAX_MULTIPLIER)
    """Added relative hazard when served (many settle before the hearing)."""


class AgencySpec(Spec):
    """Placement with a third-party collection agency.

    The agency calls each placed borrower once a day at ``contact_hour``; that call is checked
    against the same rules as the lender's and counts toward the caps they share. Its payment
    hazard applies on the days its call was made.
    """

    contingency_share: float = Field(default=0.25, ge=0, le=1)
    """Share of agency recoveries kept by the agency as its fee."""
    daily_hazard: float = Field(default=0.004, ge=0, le=1)
    """Daily chance a placed account pays (cures, settles or pays part)."""
    placement_days: int = Field(default=90, ge=1, le=MAX_DAYS)
    """Length of a placement."""
    contact_hour: float = Field(default=14.5, ge=0, lt=24)
    """Hour of the agency's daily call to each placed borrower."""
    connect_probability: float = Field(default=0.35, ge=0, le=1)
    """Chance that the agency's call reaches a contactable borrower (a conversation)."""


class TreatmentsSpec(Spec):
    """Cost and effect of every treatment."""

    sms: ContactSpec = ContactSpec(cost=0.05, lift=0.05, complaint_probability=0.0005)
    """SMS / app push reminder (cost: assumption)."""
    ivr: ContactSpec = ContactSpec(
        cost=0.3,
        connect_probability=0.3,
        lift=0.1,
        promise_probability=0.05,
        complaint_probability=0.001,
    )
    """IVR auto-dial with a recorded message (assumption)."""
    call: ContactSpec = ContactSpec(
        cost=3.0,
        connect_probability=0.35,
        lift=0.4,
        promise_probability=0.25,
        complaint_probability=0.004,
    )
    """Agent call; cost is per attempt (assumption; TrueAccord's example lifts a pay
    probability from 0.05 to 0.07, a relative lift of 0.4)."""
    freeze_cost: float = Field(default=0.0, ge=0, le=MAX_MONEY)
    """Cost of freezing a credit line."""
    hardship_cost: float = Field(default=20.0, ge=0, le=MAX_MONEY)
    """Cost of setting up a hardship / instalment plan."""
    hardship_days: int = Field(default=90, ge=1, le=MAX_DAYS)
    """Length of a hardship plan; dpd does not grow while on it."""
    visit: VisitSpec = VisitSpec()
    """Field visit effect; its cost is per region in the resources."""
    legal: LegalSpec = LegalSpec()
    """Legal action."""
    agency: AgencySpec = AgencySpec()
    """Agency placement."""
    sale_price: float = Field(default=0.05, ge=0, le=1)
    """Debt sale at charge-off: price as a share of the balance (assumption)."""


# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------


class Shift(Spec):
    """A call-centre shift."""

    start_hour: int = Field(ge=0, le=23)
    """First hour of the shift (0-23)."""
    end_hour: int = Field(ge=1, le=24)
    """Hour the shift ends (exclusive)."""
    agents: int = Field(ge=0, le=MAX_CAPACITY)
    """Agents on the shift."""

    @model_validator(mode="after")
    def _order(self) -> Shift:
        if self.end_hour <= self.start_hour:
            raise KeyedValueError(
                "end_hour",
                f"{self.end_hour} is not after start_hour {self.start_hour} (a shift lies within "
                "one day; split a night shift in two)",
            )
        return self


class CallCentreSpec(Spec):
    """Agents who make the calls; calls left at the end of the day are dropped."""

    shifts: tuple[Shift, ...] = (Shift(start_hour=9, end_hour=21, agents=200),)
    """Shifts of the day."""
    attempts_per_hour: float = Field(default=20.0, gt=0, le=3600)
    """Call attempts one agent makes per hour (assumption)."""

    @model_validator(mode="after")
    def _no_repeated_shift(self) -> CallCentreSpec:
        # Overlapping shifts are meaningful (agents add up hour by hour: a handover hour), but
        # the same hours twice is a copy-and-paste slip more often than a second team.
        seen: dict[tuple[int, int], int] = {}
        for i, shift in enumerate(self.shifts):
            hours = (shift.start_hour, shift.end_hour)
            if hours in seen:
                raise KeyedValueError(
                    f"shifts[{i}]",
                    f"repeats the hours {hours[0]}-{hours[1]} of shifts[{seen[hours]}]; "
                    "give one shift the summed agents",
                )
            seen[hours] = i
        return self


class RegionSpec(Spec):
    """Field teams of one region."""

    name: str = Field(min_length=1)
    """Region name; accounts carry it."""
    teams: int = Field(default=2, ge=0, le=MAX_CAPACITY)
    """Field teams (of ``collectors_per_team`` collectors each)."""
    collectors_per_team: int = Field(default=2, ge=1, le=MAX_COUNT)
    """Collectors per team; rules may require at least 2 per visit."""
    start_hour: float = Field(default=8.0, ge=0, lt=24)
    """When teams start their day."""
    end_hour: float = Field(default=20.0, gt=0, le=24)
    """When teams must be done."""
    travel_hours: float = Field(default=1.0, gt=0, le=24)
    """Mean travel time to a visit (exponential)."""
    visit_hours: float = Field(default=1.0, gt=0, le=24)
    """Mean time at a visit (exponential)."""
    visit_cost: float = Field(default=300.0, ge=0, le=MAX_MONEY)
    """Cost of one visit in this region (two people's time and travel; assumption)."""
    travel_cost: float = Field(default=100.0, ge=0, le=MAX_MONEY)
    """What a visit called off on arrival costs (the team's travel; assumption)."""

    @model_validator(mode="after")
    def _order(self) -> RegionSpec:
        if self.end_hour <= self.start_hour:
            raise KeyedValueError(
                "end_hour",
                f"{self.end_hour!r} is not after start_hour {self.start_hour!r} (field teams "
                "work within one day)",
            )
        return self


class ResourcesSpec(Spec):
    """Everything that waits or queues."""

    call_centre: CallCentreSpec = CallCentreSpec()
    """The call centre."""
    regions: tuple[RegionSpec, ...] = tuple(
        RegionSpec(name=n) for n in ("north", "east", "south", "west", "central")
    )
    """Regions and their field teams."""
    visit_queue_days: int = Field(default=14, ge=0, le=MAX_DAYS)
    """Days a requested visit waits for a free team before it is dropped."""
    legal_capacity: int = Field(default=2000, ge=0, le=MAX_CAPACITY)
    """Cases the legal team can run at once; further filings wait."""
    court_delay_days: float = Field(default=90.0, gt=0, le=MAX_DAYS)
    """Mean days from filing to judgement (gamma, shape 4)."""
    agency_capacity: int = Field(default=20_000, ge=0, le=MAX_CAPACITY)
    """Accounts the agencies can hold at once; further placements wait."""
    agency_vetted: bool = True
    """Whether the agency used is on the vetted list (rules may require it)."""

    @model_validator(mode="after")
    def _unique_regions(self) -> ResourcesSpec:
        names = [r.name for r in self.regions]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise KeyedValueError(f"regions[{i}].name", f"region name repeated (got {name!r})")
        if not names:
            raise ValueError("at least one region is needed")
        return self


# --------------------------------------------------------------------------------------------
# Economics
# --------------------------------------------------------------------------------------------


class EconomicsSpec(Spec):
    """Money that is not a treatment's own cost."""

    discount_rate: float = Field(default=0.06, ge=0, le=1)
    """Annual cost of funds used to discount recoveries to NPV (Chehrazi et al.: 0.06)."""
    complaint_cost: float = Field(default=200.0, ge=0, le=MAX_MONEY)
    """Handling cost of one complaint (assumption)."""
    current_balance_value: float = Field(default=0.9, ge=0, le=1)
    """Share of a cured (current) account's balance counted as worth collecting at the
    horizon (assumption); a delinquent balance counts this times the chance its bucket cures
    before charge-off in the data (``CURE_BEFORE_CHARGE_OFF``); charged-off balances count
    nothing."""


# --------------------------------------------------------------------------------------------
# Risk transfer (the contracts themselves; the engine side is waifang/sim/cover.py)
# --------------------------------------------------------------------------------------------


class RiskTransfer(Spec):
    """One risk-transfer contract: credit insurance, a guarantee or a forward-flow sale.

    Cover is fixed on day 0 over the accounts it selects (segments, a share of the book, a
    range of opening balance) that are below ``trigger_dpd`` then. From day 0 the lender pays
    a premium every 30 days on each covered account still on its book and not yet claimed. On
    the day a covered account reaches ``trigger_dpd`` (or charges off, for a forward-flow sale
    without one) the provider pays the lender ``cover_ratio`` of its balance, less the
    ``deductible``, within the ``stop_loss`` left; at most once per account. Then either the
    lender keeps collecting and passes the provider its share of every later recovery, or the
    account leaves the lender's book. Money is in integer cents; every amount is rounded to
    the cent once, where it is paid.
    """

    name: str = Field(min_length=1)
    """Contract name; a policy lists the contracts it runs under by name."""
    kind: Literal["insurance", "guarantee", "forward_flow"]
    """``insurance`` or ``guarantee`` (premium, claim at a delinquency trigger, subrogation:
    the two differ only in name here) or ``forward_flow`` (a price agreed in advance for the
    accounts that reach ``trigger_dpd`` or charge off; they leave the book)."""
    segments: tuple[str, ...] | None = None
    """Covered segments (None: every segment)."""
    share_of_book: float = Field(default=1.0, ge=0, le=1)
    """Share of the eligible accounts covered, chosen by a hash of the account id and the
    contract name (the same accounts in every replication and policy)."""
    min_balance: float = Field(default=0.0, ge=0, le=MAX_MONEY)
    """Only accounts whose opening balance is at least this."""
    max_balance: float | None = Field(default=None, ge=0, le=MAX_MONEY)
    """Only accounts whose opening balance is at most this (None: no limit)."""
    premium: float = Field(default=0.0, le=MAX_MONEY)
    """Premium per 30 days: a share of the account's balance that day (``premium_basis =
    "balance"``, e.g. 0.004) or an amount per account (``"account"``). Paid on days 0, 30, 60,
    ... for each covered account that is open (delinquent or current), not yet claimed and
    within ``term_days``. It stops at the claim, when the account closes, charges off or
    leaves the book, and at the end of the term. Must not be negative."""
    premium_basis: Literal["balance", "account"] = "balance"
    """What ``premium`` is charged on: the covered balance or each covered account."""
    term_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    """Days the contract runs from day 0: no premium and no claim from this day on (None:
    the whole run)."""
    trigger_dpd: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    """The claim (or forward-flow transfer) is paid at the end of the day a covered account
    reaches this dpd. Insurance and guarantees need one below ``charge_off_dpd``; None
    (forward_flow only) means at charge-off."""
    cover_ratio: float = Field(default=1.0, le=MAX_MULTIPLIER)
    """Share of the outstanding balance on the trigger day that the provider pays: the claim
    (insurance, guarantee) or the agreed price (forward_flow). In [0, 1]."""
    deductible: float = Field(default=0.0, ge=0, le=MAX_MONEY)
    """Taken off each claim (currency); a claim never goes below 0."""
    waiting_days: int = Field(default=0, ge=0, le=MAX_DAYS)
    """No claim for a trigger reached before this day of the run (a waiting period); the
    account stays the lender's, uncovered from then on."""
    stop_loss: float | None = Field(default=None, ge=0, le=1e15)
    """Aggregate limit on what the contract pays over the run (currency; None: no limit).
    The claim that reaches it is paid in part; later triggers pay nothing and stay the
    lender's."""
    after_claim: Literal["lender_collects_and_passes", "leaves_book"] | None = None
    """After the claim: the lender keeps the account and collects, passing the provider its
    ``recovery_share`` of every later payment on the day received
    (``lender_collects_and_passes``, the default for insurance and guarantees), or the
    account leaves the lender's book on the claim day, its balance transferred to the
    provider (``leaves_book``, always so for forward_flow; what the provider recovers later is
    outside the lender's run)."""
    recovery_share: float | None = Field(default=None, ge=0, le=1)
    """Share of later recoveries passed to the provider after a claim (None: pro rata, the
    claim paid over the balance on the trigger day)."""

    @model_validator(mode="after")
    def _terms(self) -> RiskTransfer:
        who = f"contract {self.name!r}"
        if self.premium < 0:
            raise KeyedValueError("premium", f"{who}: a premium cannot be negative "
                                             f"(got {self.premium:g})")
        if not 0 <= self.cover_ratio <= 1:
            raise KeyedValueError("cover_ratio", f"{who}: the cover ratio is a share of the "
                                                 f"balance, in [0, 1] (got {self.cover_ratio:g})")
        if self.max_balance is not None and self.max_balance < self.min_balance:
            raise KeyedValueError("max_balance", f"{who}: {self.max_balance:g} is below "
                                                 f"min_balance {self.min_balance:g}")
        if self.kind == "forward_flow":
            if self.after_claim == "lender_collects_and_passes":
                raise KeyedValueError("after_claim", f"{who}: a forward-flow sale takes the "
                                      "account off the book (got 'lender_collects_and_passes')")
        elif self.trigger_dpd is None:
            raise KeyedValueError("trigger_dpd", f"{who}: {self.kind} needs a claim trigger "
                                  "below charge-off (got none)")
        return self

    @property
    def leaves_book(self) -> bool:
        """Whether a claimed account leaves the lender's book."""
        return self.kind == "forward_flow" or self.after_claim == "leaves_book"


class World(Spec):
    """Everything but the portfolio, the policy and its rules: the model one run reads."""

    days: int = Field(default=180, ge=1, le=3650)
    """Days simulated."""
    charge_off_dpd: int = Field(default=180, ge=30, le=720)
    """Accounts charge off when they reach this many days past due."""
    behaviour: BehaviourSpec = BehaviourSpec()
    """Borrower behaviour."""
    treatments: TreatmentsSpec = TreatmentsSpec()
    """Cost and effect of the treatments."""
    resources: ResourcesSpec = ResourcesSpec()
    """Agents, field teams, courts and agencies."""
    economics: EconomicsSpec = EconomicsSpec()
    """Discounting and other costs."""
    risk_transfer: tuple[RiskTransfer, ...] = ()
    """Risk-transfer contracts in force in the run (none: the lender bears every loss)."""

    @model_validator(mode="after")
    def _triggers(self) -> World:
        check_triggers(self.risk_transfer, self.charge_off_dpd)
        return self


def check_triggers(contracts: tuple[RiskTransfer, ...], charge_off_dpd: int) -> None:
    """Insurance and guarantees claim before charge-off; no trigger lies past it."""
    for i, contract in enumerate(contracts):
        trigger = contract.trigger_dpd
        if contract.kind != "forward_flow" and trigger >= charge_off_dpd:
            raise KeyedValueError(
                f"risk_transfer[{i}].trigger_dpd",
                f"contract {contract.name!r}: {contract.kind} claims before charge-off; the "
                f"trigger must be below charge_off_dpd {charge_off_dpd} (got {trigger})",
            )
        if trigger is not None and trigger > charge_off_dpd:
            raise KeyedValueError(
                f"risk_transfer[{i}].trigger_dpd",
                f"contract {contract.name!r}: no account reaches dpd {trigger} (charge-off at "
                f"{charge_off_dpd}; leave trigger_dpd out to transfer at charge-off)",
            )
