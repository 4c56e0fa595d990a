"""Account state as columns: one numpy array per attribute, one entry per account.

:class:`Portfolio` is what a tape or the generator provides (read-only during a run);
:class:`AccountState` adds what changes day by day. Arrays are always updated in place, so the
:class:`LenderView` handed to policies (read-only views, no copies) stays current.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

# Account status codes. Kept as small ints in an int8 array; the names are the API.
DELINQUENT = 0
CURRENT = 1  # cured: arrears paid, balance still outstanding, may re-default
CHARGED_OFF = 2
CLOSED = 3  # paid off, settled or sold: nothing outstanding
STATUS_NAMES = ("delinquent", "current", "charged_off", "closed")

NEVER = np.int16(-10_000)  # "day of last event" for an event that never happened

OBSERVED_TRAITS: tuple[str, ...] = (
    "credit_limit",
    "segment",
    "risk_score",
    "prior_delinquencies",
    "other_debts",
    "guarantee",
    "vulnerable",
    "contactable",
    "address_verified",
)
"""What a lender knows of an account besides its id, balance, dpd and region."""
LATENT_TRAITS: tuple[str, ...] = ("ability", "willingness", "strategic")
"""What the simulation knows of a borrower and the lender does not."""


@dataclass(frozen=True)
class Portfolio:
    """Accounts at the start of a run (observable attributes and latent traits)."""

    account_id: np.ndarray  # int64
    balance: np.ndarray  # float64, currency
    credit_limit: np.ndarray  # float64
    dpd: np.ndarray  # int16
    region: np.ndarray  # int16 code into region_names
    segment: np.ndarray  # int16 code into segment_names
    risk_score: np.ndarray  # float32
    prior_delinquencies: np.ndarray  # int16
    other_debts: np.ndarray  # int16
    guarantee: np.ndarray  # bool
    vulnerable: np.ndarray  # bool
    contactable: np.ndarray  # bool
    address_verified: np.ndarray  # bool
    ability: np.ndarray  # float32 latent, in (0, 1)
    willingness: np.ndarray  # float32 latent, in (0, 1)
    strategic: np.ndarray  # bool latent
    region_names: tuple[str, ...]
    segment_names: tuple[str, ...]
    account_label: np.ndarray | None = None
    """The tape's account ids as text (object array), when they are not integers that fit
    int64 (card numbers with leading zeros, "AC-0012", 20 digits); ``account_id`` is then the
    row number 1..n. None: ``account_id`` is the id itself."""

    def __len__(self) -> int:
        return int(self.account_id.shape[0])

    def output_ids(self) -> np.ndarray:
        """The account ids to write in outputs, exactly as the tape held them."""
        return self.account_id if self.account_label is None else self.account_label

    def subset(self, index: np.ndarray) -> Portfolio:
        """The accounts at ``index`` (for reference runs on a subsample)."""
        arrays = {
            f.name: getattr(self, f.name)[index]
            for f in fields(self)
            if f.name not in ("region_names", "segment_names")
            and getattr(self, f.name) is not None
        }
        return Portfolio(**arrays, region_names=self.region_names, segment_names=self.segment_names)


@dataclass
class AccountState:
    """Everything about the accounts that changes during a run (cents are int64)."""

    n: int
    balance_cents: np.ndarray  # int64, outstanding (not charged off) or remaining charged-off
    opening_cents: np.ndarray  # int64
    collected_cents: np.ndarray  # int64, gross collected
    written_off_cents: np.ndarray  # int64, settlement and sale discounts, charge-off remainders
    dpd: np.ndarray  # int16
    status: np.ndarray  # int8
    willingness: np.ndarray  # float32 latent (broken promises lower it)
    ability: np.ndarray  # float32 latent (income shocks lower it)
    log_factor: np.ndarray  # float32: ability_weight*(a-.5) + willingness_weight*(w-.5)
    lift: np.ndarray  # float32 relative hazard lift from recent contacts (decays)
    recent_contacts: np.ndarray  # float32 decayed count of contacts (complaint intensity)
    promise_due: np.ndarray  # int16 day a promise falls due, NEVER if none
    frozen: np.ndarray  # bool
    hardship_until: np.ndarray  # int16 last day of a hardship plan
    disputed_until: np.ndarray  # int16 last day of a dispute
    disputed_at: np.ndarray  # float64 clock time (hours) the dispute began
    last_visit: np.ndarray  # int16 day of the last visit
    visit_notice: np.ndarray  # int16 day a first-visit notice was sent
    visits: np.ndarray  # int16 visits performed
    complaints: np.ndarray  # int16
    revealed: np.ndarray  # bool: a visit met the borrower, ability vs willingness known
    in_legal: np.ndarray  # bool: a case is running or judged
    placed_until: np.ndarray  # int16 last day of an agency placement
    visit_queued: np.ndarray  # bool: a visit request is waiting for a team
    chargeoff_day: np.ndarray  # int16
    prior_delinquencies: np.ndarray = field(default=None)  # type: ignore[assignment]
    """int16: the credit record, the portfolio's prior delinquencies plus one per re-default
    during the run (what the lender sees)."""
    legal_collected_cents: np.ndarray = field(default=None)  # type: ignore[assignment]
    agency_collected_cents: np.ndarray = field(default=None)  # type: ignore[assignment]
    # Risk transfer (waifang.sim.cover), None in a run without contracts: whether a contract
    # covers the account, and whether a claim (or forward-flow price) has been paid on it.
    covered: np.ndarray | None = None  # bool
    claimed: np.ndarray | None = None  # bool

    @classmethod
    def from_portfolio(
        cls, portfolio: Portfolio, ability_weight: float, willingness_weight: float
    ) -> AccountState:
        n = len(portfolio)
        cents = np.rint(portfolio.balance * 100.0).astype(np.int64)
        ability = portfolio.ability.astype(np.float32, copy=True)
        willingness = portfolio.willingness.astype(np.float32, copy=True)

        def day_array(value: int = int(NEVER)) -> np.ndarray:
            return np.full(n, value, dtype=np.int16)

        state = cls(
            n=n,
            balance_cents=cents.copy(),
            opening_cents=cents,
            collected_cents=np.zeros(n, np.int64),
            written_off_cents=np.zeros(n, np.int64),
            dpd=portfolio.dpd.astype(np.int16, copy=True),
            status=np.where(portfolio.dpd > 0, DELINQUENT, CURRENT).astype(np.int8),
            willingness=willingness,
            ability=ability,
            log_factor=np.zeros(n, np.float32),
            lift=np.zeros(n, np.float32),
            recent_contacts=np.zeros(n, np.float32),
            promise_due=day_array(),
            frozen=np.zeros(n, bool),
            hardship_until=day_array(),
            disputed_until=day_array(),
            disputed_at=np.full(n, -np.inf),
            last_visit=day_array(),
            visit_notice=day_array(),
            visits=np.zeros(n, np.int16),
            complaints=np.zeros(n, np.int16),
            revealed=np.zeros(n, bool),
            in_legal=np.zeros(n, bool),
            placed_until=day_array(),
            visit_queued=np.zeros(n, bool),
            chargeoff_day=day_array(),
            prior_delinquencies=portfolio.prior_delinquencies.astype(np.int16, copy=True),
            legal_collected_cents=np.zeros(n, np.int64),
            agency_collected_cents=np.zeros(n, np.int64),
        )
        state.refresh_log_factor(np.arange(n), ability_weight, willingness_weight)
        return state

    def refresh_log_factor(
        self, index: np.ndarray, ability_weight: float, willingness_weight: float
    ) -> None:
        """Recompute the borrower's hazard factor after ability or willingness changed."""
        self.log_factor[index] = ability_weight * (self.ability[index] - 0.5) + (
            willingness_weight * (self.willingness[index] - 0.5)
        )

    def outstanding_cents(self) -> np.ndarray:
        """Balance still owed on accounts that have not been charged off."""
        return np.where(self.status == CHARGED_OFF, 0, self.balance_cents)


_TRACKED = frozenset(
    {
        "prior_delinquencies",
        "frozen",
        "hardship_until",
        "disputed_until",
        "last_visit",
        "visits",
        "complaints",
        "revealed",
        "in_legal",
        "placed_until",
        "visit_queued",
        "promise_due",
        "visit_notice",
        "chargeoff_day",
    }
)


_OBSERVABLE = frozenset({"account_id", "region", *OBSERVED_TRAITS}) - _TRACKED


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _or_false(mask: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n, bool) if mask is None else mask


@dataclass(frozen=True)
class LenderView:
    """What a policy may look at: the observable columns, current as of the decision.

    Every array it returns is read-only (a view of the engine's own array, so it costs no
    copy): a policy asks for actions, it cannot change accounts, and writing raises
    ``ValueError: assignment destination is read-only`` (the engine turns that into one clear
    line). Latent ability, willingness and the strategic flag are not here;
    ``revealed_strategic`` and ``revealed_ability`` are, for accounts a visit has met (NaN /
    False otherwise).
    """

    _portfolio: Portfolio
    _state: AccountState

    @property
    def dpd(self) -> np.ndarray:
        return _read_only(self._state.dpd)

    @property
    def status(self) -> np.ndarray:
        return _read_only(self._state.status)

    @property
    def balance(self) -> np.ndarray:
        """Outstanding balance in currency units (float64)."""
        return _read_only(self._state.balance_cents / 100.0)

    @property
    def balance_cents(self) -> np.ndarray:
        return _read_only(self._state.balance_cents)

    def __getattr__(self, name: str) -> np.ndarray:
        if name in _OBSERVABLE:
            return _read_only(getattr(self._portfolio, name))
        if name in _TRACKED:
            return _read_only(getattr(self._state, name))
        raise AttributeError(f"the lender cannot observe {name!r}")

    @property
    def covered(self) -> np.ndarray:
        """Accounts a risk-transfer contract covers (all False without contracts)."""
        return _read_only(_or_false(self._state.covered, self._state.n))

    @property
    def claimed(self) -> np.ndarray:
        """Accounts on which a contract has paid its claim (or forward-flow price)."""
        return _read_only(_or_false(self._state.claimed, self._state.n))

    def revealed_strategic(self) -> np.ndarray:
        """Accounts a visit has shown to be able but unwilling to pay."""
        return _read_only(self._state.revealed & self._portfolio.strategic)

    def revealed_ability(self) -> np.ndarray:
        """Ability where a visit revealed it, NaN elsewhere."""
        return _read_only(np.where(self._state.revealed, self._state.ability, np.float32(np.nan)))
