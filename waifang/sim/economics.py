"""The run's money: costs by treatment, collections and their present value.

Collections are kept in integer cents per account (in :class:`AccountState`); the ledger adds
the run totals that need the day they happened (NPV) and the costs, which are not owed by any
account.
"""

from __future__ import annotations

import numpy as np

from waifang.sim.spec import TREATMENTS, EconomicsSpec


class Ledger:
    """Costs by treatment and discounted collections of one run."""

    def __init__(self, economics: EconomicsSpec, days: int) -> None:
        self.economics = economics
        # Discount a recovery on day d by (1 + r) ** (-d / 365): annual cost of funds r.
        self.discount = (1.0 + economics.discount_rate) ** (-np.arange(days + 1) / 365.0)
        self.costs = {t: 0.0 for t in TREATMENTS if t != "third_party"}
        self.cost_complaints = 0.0
        self.collected_npv_cents = 0.0
        self.collected_by_day = np.zeros(days, np.int64)
        self.payments_by_day = np.zeros(days, np.int64)
        self.cost_by_day = np.zeros(days, np.float64)
        self.today = 0  # the engine's day: every cost is counted on the day it is spent

    def spend(self, treatment: str, amount: float) -> None:
        self.costs[treatment] += float(amount)
        self.cost_by_day[self.today] += float(amount)

    def complaints(self, count: int) -> None:
        self.cost_complaints += count * self.economics.complaint_cost
        self.cost_by_day[self.today] += count * self.economics.complaint_cost

    def collect(self, day: int, amount_cents: np.ndarray) -> None:
        total = int(np.add.reduce(amount_cents))  # .sum() without its Python wrapper
        self.collected_by_day[day] += total
        self.payments_by_day[day] += int(np.count_nonzero(amount_cents))
        self.collected_npv_cents += total * float(self.discount[day])

    @property
    def cost_total(self) -> float:
        return sum(self.costs.values()) + self.cost_complaints

    @property
    def cost_npv(self) -> float:
        """Every cost discounted to day 0 from the day it was spent, as collections are."""
        return float(self.cost_by_day @ self.discount[: self.cost_by_day.size])
