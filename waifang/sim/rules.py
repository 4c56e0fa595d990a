"""Compliance rules as data: the fields, the named jurisdiction presets, and departures.

The engine enforces these in :mod:`waifang.sim.compliance` before any action happens. A
scenario names a preset and may override single rules; every override that loosens a rule
against its preset is reported as a departure so a reviewer sees it in the results.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, model_validator

from waifang.errors import InputError, KeyedValueError
from waifang.sim.spec import MAX_COUNT, MAX_DAYS, Spec

RULES: tuple[str, ...] = (
    "contact_hours",
    "attempts_per_day",
    "connected_per_day",
    "attempts_per_7_days",
    "quiet_after_conversation",
    "no_contact_hardship",
    "visit_hours",
    "visit_min_dpd",
    "visit_gap",
    "visit_vulnerable",
    "visit_disputed",
    "visit_hardship",
    "visit_collectors",
    "visit_notice",
    "third_party",
    "unvetted_agency",
    "legal_disputed",
    "legal_vulnerable",
    "agency_disputed",
)
"""Names under which blocked actions are counted, in a fixed order (codes 1..len)."""


class ComplianceRules(Spec):
    """One jurisdiction's collection rules. None means "no limit"."""

    contact_start_hour: float = Field(default=8.0, ge=0, le=24)
    """No calls, IVR or messages before this hour (debtor-local)."""
    contact_end_hour: float = Field(default=22.0, ge=0, le=24)
    """No calls, IVR or messages from this hour on."""
    max_attempts_per_day: int | None = Field(default=6, ge=0, le=MAX_COUNT)
    """Call and IVR attempts per debtor per day."""
    max_connected_per_day: int | None = Field(default=3, ge=0, le=MAX_COUNT)
    """Connected calls per debtor per day."""
    max_attempts_per_7_days: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    """Call and IVR attempts per debtor in any 7 consecutive days."""
    quiet_days_after_conversation: int | None = Field(default=None, ge=0, le=30)
    """No further calls on the day of a conversation, nor on this many days after it
    (None: no quiet period; 6 gives the 7-day period of Regulation F, which counts the day
    of the conversation as its first day)."""
    no_contact_hardship: bool = False
    """No calls or visits while a hardship plan or breathing space runs."""
    visit_start_hour: float = Field(default=8.0, ge=0, le=24)
    """No visit may start before this hour."""
    visit_end_hour: float = Field(default=20.0, ge=0, le=24)
    """Every visit must be finished by this hour."""
    visit_min_dpd: int = Field(default=90, ge=0, le=10_000)
    """No visit before this many days past due."""
    visit_min_gap_days: int = Field(default=30, ge=0, le=MAX_DAYS)
    """At most one visit per account in this many days."""
    min_collectors_per_visit: int = Field(default=2, ge=1, le=MAX_COUNT)
    """Collectors a visit needs (with ID, recorded)."""
    no_visit_vulnerable: bool = True
    """No visits to borrowers flagged vulnerable."""
    no_visit_disputed: bool = True
    """No visits while the debt is disputed."""
    no_visit_hardship: bool = True
    """No visits while a hardship plan runs."""
    first_visit_notice_days: int = Field(default=0, ge=0, le=MAX_DAYS)
    """A first visit needs written notice this many days before (the notice is sent when the
    visit is first requested)."""
    vetted_agencies_only: bool = True
    """Placements only with vetted agencies."""

    no_legal_disputed: bool = True
    """No legal filing while the debt is disputed (verify the debt first)."""
    no_legal_vulnerable: bool = False
    """No legal filing against borrowers flagged vulnerable."""
    no_agency_disputed: bool = True
    """No agency placement, and no agency contact (the placement pauses, and its fees with
    it), while the debt is disputed."""

    @model_validator(mode="after")
    def _windows(self) -> ComplianceRules:
        # An allowed window lies within one day: every preset's is a daytime window, and an
        # "overnight" window (start 23, end 7) would only allow contact at night, which no
        # market permits; it is almost always the forbidden window typed by mistake.
        for kind in ("contact", "visit"):
            start = getattr(self, f"{kind}_start_hour")
            end = getattr(self, f"{kind}_end_hour")
            if end <= start:
                raise KeyedValueError(
                    f"{kind}_end_hour",
                    f"{end!r} is not after {kind}_start_hour ({start!r}): the hours are the "
                    f"window when {kind}s are allowed, within one day (e.g. 8 to 20)",
                )
        return self


_LOOSER_IF_LOWER = {
    "contact_start_hour",
    "visit_start_hour",
    "visit_min_dpd",
    "visit_min_gap_days",
    "min_collectors_per_visit",
    "first_visit_notice_days",
}
_LOOSER_IF_HIGHER = {"contact_end_hour", "visit_end_hour"}
_CAPS = {"max_attempts_per_day", "max_connected_per_day", "max_attempts_per_7_days"}
# A longer quiet period is stricter; None (no quiet period) is the loosest.
_LONGER_IS_STRICTER = {"quiet_days_after_conversation"}
_BANS = {
    "no_contact_hardship",
    "no_visit_vulnerable",
    "no_visit_disputed",
    "no_visit_hardship",
    "vetted_agencies_only",
    "no_legal_disputed",
    "no_legal_vulnerable",
    "no_agency_disputed",
}
assert _LOOSER_IF_LOWER | _LOOSER_IF_HIGHER | _CAPS | _BANS | _LONGER_IS_STRICTER == set(
    ComplianceRules.model_fields
)

PRESETS: dict[str, ComplianceRules] = {
    # NIFA post-loan collection guideline (2024) and the China Banking Association consumer-loan
    # collection guideline: no collection 22:00-08:00, at most 3 connected calls and 6 attempts
    # per debtor per day across lender and agencies.
    "cn": ComplianceRules(),
    # CFPB Regulation F (12 CFR 1006.14): 08:00-21:00 debtor-local; at most 7 call attempts in
    # 7 days and none within 7 days after a telephone conversation, the day of the
    # conversation being the first of the 7 (so: the rest of that day and 6 more days).
    "us_reg_f": ComplianceRules(
        contact_end_hour=21.0,
        max_attempts_per_day=None,
        max_connected_per_day=None,
        max_attempts_per_7_days=7,
        quiet_days_after_conversation=6,
    ),
    # Massachusetts 940 CMR 7.04: waking hours (taken as 08:00-21:00, assumption), at most
    # 2 calls per debt in 7 days, at most 1 visit per debt in 30 days.
    "us_ma": ComplianceRules(
        contact_end_hour=21.0,
        max_attempts_per_day=None,
        max_connected_per_day=None,
        max_attempts_per_7_days=2,
    ),
    # UK FCA CONC 7 / FG21/1 / Breathing Space: no unreasonable times (08:00-21:00,
    # assumption), principle-based frequency (cap set here: 3 a day, 10 a week, assumption),
    # no visit if vulnerable, notice before a first visit (14 days, assumption), breathing
    # space freezes contact (modelled as no contact while a hardship plan runs), and no
    # enforcement by legal action against vulnerable customers (FG21/1 forbearance,
    # assumption: a ban rather than case by case).
    "uk_fca": ComplianceRules(
        no_legal_vulnerable=True,
        contact_end_hour=21.0,
        max_attempts_per_day=3,
        max_connected_per_day=None,
        max_attempts_per_7_days=10,
        no_contact_hardship=True,
        first_visit_notice_days=14,
    ),
    # RBI fair practices code for recovery agents: 08:00-19:00, no intrusion on family or
    # referees (third-party contact is always blocked).
    "in_rbi": ComplianceRules(
        contact_end_hour=19.0,
        max_attempts_per_day=None,
        max_connected_per_day=None,
    ),
}


def _looser(field: str, preset_value: Any, value: Any) -> bool:
    if field in _CAPS:
        if value is None:
            return preset_value is not None
        return preset_value is not None and value > preset_value
    if field in _BANS:
        return bool(preset_value) and not value
    if field in _LONGER_IS_STRICTER:
        if value is None:
            return preset_value is not None
        return preset_value is not None and value < preset_value
    if field in _LOOSER_IF_LOWER:
        return value < preset_value
    return value > preset_value


def resolve_rules(
    preset: str, overrides: dict[str, Any] | None = None, *, where: str = "compliance"
) -> tuple[ComplianceRules, tuple[str, ...]]:
    """The rules of ``preset`` with ``overrides`` applied, and the loosened ones described.

    Examples
    --------
    >>> rules, departures = resolve_rules("cn", {"visit_min_dpd": 60})
    >>> rules.visit_min_dpd, departures
    (60, ('visit_min_dpd: 60 is looser than the cn preset (90)',))
    """
    if preset not in PRESETS:
        raise InputError(
            f"{where}.preset: unknown preset {preset!r}; choose from {sorted(PRESETS)}"
        )
    base = PRESETS[preset]
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(ComplianceRules.model_fields))
    if unknown:
        known = sorted(ComplianceRules.model_fields)
        raise InputError(f"{where}: unknown rule {unknown[0]!r}; rules are {known}")
    try:
        rules = ComplianceRules(**{**base.model_dump(), **overrides})
    except ValidationError as err:
        first = err.errors()[0]
        keyed = (first.get("ctx") or {}).get("error")
        if isinstance(keyed, KeyedValueError):
            raise InputError(f"{where}.{keyed}") from None
        key = ".".join(str(p) for p in first["loc"])
        if not key:  # a check across rules: its message starts with the key it is about
            raise InputError(f"{where}.{first['msg'].removeprefix('Value error, ')}") from None
        raise InputError(f"{where}.{key}: {first['msg']} (got {first.get('input')!r})") from None
    departures = tuple(
        f"{field}: {getattr(rules, field)} is looser than the {preset} preset "
        f"({getattr(base, field)})"
        for field in ComplianceRules.model_fields
        if field in overrides and _looser(field, getattr(base, field), getattr(rules, field))
    )
    return rules, departures
