"""The ``optimiser`` table of a scenario policy (:class:`OptimiserSpec`).

Its own module, light on imports (pydantic and the simulator's spec only): the scenario
schema needs it, so every process that unpickles a scenario (a worker of a parallel run)
imports it, while :mod:`waifang.optimise.policy`, which uses it, imports pandas, scipy and
HiGHS. ``waifang.optimise.policy`` re-exports the names.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from waifang.sim.spec import MAX_CAPACITY, MAX_COUNT, MAX_DAYS, MAX_MONEY, Spec

Budget = Annotated[float, Field(ge=0, le=MAX_MONEY * 1000)]
"""A period's visit budget (currency)."""
Day = Annotated[int, Field(ge=0, le=MAX_DAYS)]


class OptimiserSpec(Spec):
    """How an optimised policy plans its visits (the ``optimiser`` table of a policy)."""

    period_days: int = Field(default=7, ge=1, le=MAX_DAYS)
    """Days between plans; a plan covers the field teams' hours of its period."""
    budget_per_period: Budget | tuple[Budget, ...]
    """Visit spending allowed per planning period (currency); 0 visits nobody. A list gives
    each period its own budget, the last one repeating (e.g. to follow the spending profile
    of the rule the policy is compared with)."""
    options: tuple[Literal["visit", "legal", "agency"], ...] = ("visit",)
    """Treatments the optimiser chooses, at most one per account (the base ladder must not
    ask for them). Legal and agency are planned in the plan's own period only and only by an
    ``optimal`` selection (see :mod:`waifang.optimise.options`)."""
    escalation_min_dpd: int = Field(default=90, ge=0, le=MAX_DAYS)
    """The lender's own threshold for legal and agency candidates (a policy choice, not a
    rule): accounts below it are not offered them."""
    selection: Literal["optimal", "random"] = "optimal"
    """``optimal``: maximise value - cost by LP/MIP; ``random``: eligible accounts in random
    order until the budget or the team hours run out (a benchmark with the same budget)."""
    training_accounts: int = Field(default=50_000, ge=100, le=MAX_CAPACITY)
    """Accounts of the independently drawn training book the values are fitted on (at most
    the scenario's own book size)."""
    training_days: tuple[Day, ...] | None = None
    """Days at which counterfactuals are simulated on the training book (default: every 30
    days of the run)."""
    training_sample: int = Field(default=4500, ge=10, le=MAX_CAPACITY)
    """Eligible accounts valued per training day (a random sample)."""
    training_reps: int = Field(default=1, ge=1, le=MAX_COUNT)
    """Seeds (pairs of branches) per training day. One seed on many accounts beats several
    on few: a visit's effect varies 5-12 times more with the borrower's luck than between
    accounts of a cell, so what counts is accounts x seeds, and distinct accounts also
    sample the cell's spread; a pair of branches costs the same per day whatever its size."""
    horizon_days: int = Field(default=90, ge=1, le=MAX_DAYS)
    """Days a treatment's effect is followed in the counterfactuals (capped by the run)."""
    min_cell_accounts: int = Field(default=30, ge=2, le=MAX_CAPACITY)
    """Trained accounts a cell needs before its own ratio is used (else a coarser cell)."""
    realised_sample: int = Field(default=400, ge=0, le=MAX_CAPACITY)
    """Planned accounts per measured plan whose realised value is measured by re-simulation
    (0: none)."""
    realised_every: int = Field(default=2, ge=1, le=MAX_COUNT)
    """Measure the realised value of every n-th plan (the first plan always): 1 measures
    every plan. A measured plan costs two branches whatever its sample's size, so every
    other plan with twice the sample measures as many accounts for half the time."""
    value_correction: Literal["none", "shrink", "calibrate", "both"] = "none"
    """How the fitted values are corrected for the optimism of choosing the highest
    estimates: ``shrink`` each cell toward its parent by its standard error (empirical
    Bayes), ``calibrate`` by a linear recalibration cross-fitted on two halves of the
    training effects, ``both``, or ``none`` (see :class:`waifang.optimise.values.ValueModel`).
    The uncorrected prediction is reported beside the corrected one."""
    horizon_periods: int = Field(default=1, ge=1, le=52)
    """Periods each plan looks ahead (a rolling horizon): with more than 1 the optimiser also
    chooses *which* period to visit whom, under each period's budget and team hours, and only
    the first period's visits are dispatched (see :mod:`waifang.optimise.horizon`)."""

    @field_validator("budget_per_period")
    @classmethod
    def _budgets(cls, value):
        values = value if isinstance(value, tuple) else (value,)
        if not values or any(not (0 <= b <= MAX_MONEY * 1000) for b in values):
            raise ValueError(
                f"budgets must be numbers from 0 to {MAX_MONEY * 1000:g}, got {value!r}"
            )
        return value

    @field_validator("training_days")
    @classmethod
    def _days(cls, value):
        if value is not None and any(not (0 <= d <= MAX_DAYS) for d in value):
            raise ValueError(f"training days must lie in 0..{MAX_DAYS}, got {value!r}")
        return value

    def budget(self, day: int) -> float:
        """The budget of the period that starts on ``day``."""
        if not isinstance(self.budget_per_period, tuple):
            return float(self.budget_per_period)
        period = min(day // self.period_days, len(self.budget_per_period) - 1)
        return float(self.budget_per_period[period])

    @property
    def visits_nobody(self) -> bool:
        """Every period's budget is 0."""
        budgets = self.budget_per_period
        return all(b == 0 for b in (budgets if isinstance(budgets, tuple) else (budgets,)))
