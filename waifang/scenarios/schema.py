"""The scenario file: one validated, frozen description of a comparison of policies.

A scenario is a TOML file; :func:`load_scenario` reads it and validates it here, in one place.
Every table reuses the simulator's own specs (:mod:`waifang.sim.spec`, :mod:`waifang.sim.policy`,
:mod:`waifang.sim.rules`), so a key means the same in a file, a notebook and the engine. Any
problem becomes one :class:`~waifang.errors.InputError` line naming the file, the key path
(list indices count from 0, as in ``policies[0]``) and the bad value.

Examples
--------
>>> from waifang.scenarios.schema import load_scenario, BASELINE
>>> scenario = load_scenario(BASELINE)
>>> scenario.policies[0].name
'ladder'
"""

from __future__ import annotations

import difflib
import math
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, ValidationError, model_validator

from waifang.errors import InputError, KeyedValueError
from waifang.scenarios.optimiser_spec import OptimiserSpec
from waifang.sim.policy import PolicySpec
from waifang.sim.rules import PRESETS, ComplianceRules, resolve_rules
from waifang.sim.spec import (
    BehaviourSpec,
    EconomicsSpec,
    PortfolioSpec,
    ResourcesSpec,
    RiskTransfer,
    Spec,
    TreatmentsSpec,
    World,
    check_triggers,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

BASELINE = Path(__file__).with_name("baseline.toml")
"""The scenario shipped with the package; the CLI accepts the word ``baseline`` for it."""

Preset = Literal["cn", "us_reg_f", "us_ma", "uk_fca", "in_rbi"]
assert set(typing.get_args(Preset)) == set(PRESETS), "keep Preset in step with rules.PRESETS"


class ComplianceSpec(Spec):
    """The jurisdiction's rules for every policy: a named preset plus overrides."""

    preset: Preset = "cn"
    """Named rule preset (DESIGN.md section 3): cn, us_reg_f, us_ma, uk_fca or in_rbi."""
    overrides: dict[str, Any] = Field(default_factory=dict)
    """Rules changed for every policy, e.g. ``{ max_attempts_per_day = 4 }``; each rule
    loosened against the preset is reported as a departure."""


class OutputSpec(Spec):
    """What ``waifang run`` writes besides the summary and comparison tables."""

    daily_format: Literal["csv", "parquet"] = "csv"
    """Format of the per-day table: daily.csv or daily.parquet."""
    audit: Literal["counts", "full"] = "counts"
    """``counts``: blocked actions counted by rule; ``full``: also every action in audit.csv."""


class ScenarioPolicy(PolicySpec):
    """A policy of a scenario: a ladder, or a ladder plus visits chosen by the optimiser."""

    optimiser: OptimiserSpec | None = None
    """With this table the policy is optimised: ``rules`` is the ladder for everything else
    and, every ``period_days``, the optimiser chooses the visits (waifang.optimise.policy)."""
    risk_transfer: tuple[str, ...] = ()
    """Names of the scenario's ``[[risk_transfer]]`` contracts this policy runs under (none:
    the lender keeps every loss). Not inherited through ``extends``."""


class Scenario(Spec):
    """A portfolio, a world, compliance rules and the policies to compare on them."""

    name: str = Field(min_length=1)
    """Short name of the scenario, written to the manifest and report."""
    description: str = ""
    """What the scenario asks, for the report."""
    seed: int = Field(default=20240601, ge=0, le=2**63 - 1)
    """Root seed; replication r of every policy sees the same portfolio and borrower luck."""
    replications: int = Field(default=10, ge=1, le=10_000)
    """Independent replications per policy (confidence intervals need at least 2)."""
    days: int = Field(default=180, ge=1, le=3650)
    """Days simulated."""
    charge_off_dpd: int = Field(default=180, ge=30, le=720)
    """Accounts charge off when they reach this many days past due."""
    portfolio: PortfolioSpec = PortfolioSpec()
    """The accounts: generated from segments, or an account tape."""
    behaviour: BehaviourSpec = BehaviourSpec()
    """Borrower behaviour."""
    treatments: TreatmentsSpec = TreatmentsSpec()
    """Cost and effect of each treatment."""
    resources: ResourcesSpec = ResourcesSpec()
    """Call centre, field teams per region, courts and agencies."""
    economics: EconomicsSpec = EconomicsSpec()
    """Discounting and complaint costs."""
    compliance: ComplianceSpec = ComplianceSpec()
    """Rule preset and overrides shared by all policies."""
    policies: tuple[ScenarioPolicy, ...] = Field(min_length=1)
    """Policies to compare; the first is the champion the others are measured against."""
    output: OutputSpec = OutputSpec()
    """Output options."""
    calibration: dict[str, Any] = Field(default_factory=dict)
    """Where fitted parameters came from (data, estimates, standard errors), as written by
    ``waifang calibrate``; carried into the manifest, not read by the engine."""
    risk_transfer: tuple[RiskTransfer, ...] = ()
    """Risk-transfer contracts (``[[risk_transfer]]`` tables: credit insurance, guarantees,
    forward-flow sales), each named; a policy runs under those its ``risk_transfer`` lists."""

    _path: Path | None = PrivateAttr(default=None)
    _base_dir: Path | None = PrivateAttr(default=None)  # absolute: workers may run elsewhere

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        names = [p.name for p in self.policies]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise _KeyError(f"policies[{i}].name", f"policy name repeated (got {name!r})")
        seg_names = [s.name for s in self.portfolio.segments]
        for i, name in enumerate(seg_names):
            if name in seg_names[:i]:
                raise _KeyError(
                    f"portfolio.segments[{i}].name", f"segment name repeated (got {name!r})"
                )
        regions = {r.name for r in self.resources.regions}
        for i, seg in enumerate(self.portfolio.segments):
            for region in seg.region_weights or {}:
                if region not in regions:
                    raise _KeyError(
                        f"portfolio.segments[{i}].region_weights",
                        f"unknown region {region!r}; regions are {sorted(regions)}",
                    )
        for i, policy in enumerate(self.policies):
            _check_optimiser(self, i, policy)
        _check_contracts(self, seg_names if self.portfolio.tape is None else None)
        visiting = next(
            (p.name for p in self.policies if any(r.action == "visit" for r in p.rules)), None
        )
        if visiting is not None:
            for k, region in enumerate(self.resources.regions):
                holds = self.portfolio.tape is not None or any(
                    seg.region_weights is None or seg.region_weights.get(region.name, 0) > 0
                    for seg in self.portfolio.segments
                )
                if region.teams == 0 and holds:
                    raise _KeyError(
                        f"resources.regions[{k}].teams",
                        f"no field teams in region {region.name!r}, where policy {visiting!r} "
                        "asks for visits (got 0)",
                    )
        if self.portfolio.tape is None:
            _check_shares(self.portfolio.segments)
            for i, policy in enumerate(self.policies):
                for j, rule in enumerate(policy.rules):
                    for seg in rule.segments or ():
                        if seg not in seg_names:
                            raise _KeyError(
                                f"policies[{i}].rules[{j}].segments",
                                f"unknown segment {seg!r}; segments are {seg_names}",
                            )
        return self

    # ---------------------------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The file the scenario was loaded from (None if built in code)."""
        return self._path

    @property
    def champion(self) -> str:
        """Name of the first policy, the one every other is compared with."""
        return self.policies[0].name

    def world(self, policy: int | None = None) -> World:
        """The engine's view of everything but the portfolio, the policies and the rules;
        with ``policy`` (an index), the risk-transfer contracts that policy runs under."""
        contracts: tuple[RiskTransfer, ...] = ()
        if policy is not None and self.policies[policy].risk_transfer:
            by_name = {c.name: c for c in self.risk_transfer}
            contracts = tuple(by_name[name] for name in self.policies[policy].risk_transfer)
        return World(
            days=self.days,
            charge_off_dpd=self.charge_off_dpd,
            behaviour=self.behaviour,
            treatments=self.treatments,
            resources=self.resources,
            economics=self.economics,
            risk_transfer=contracts,
        )

    def region_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.resources.regions)

    def tape_path(self) -> Path | None:
        """The account tape, resolved against the scenario file's folder."""
        if self.portfolio.tape is None:
            return None
        tape = Path(self.portfolio.tape)
        if not tape.is_absolute() and self._base_dir is not None:
            tape = self._base_dir / tape
        return tape

    def rules_for(self, index: int) -> tuple[ComplianceRules, tuple[str, ...]]:
        """Resolved rules of ``policies[index]`` and the rules loosened against the preset.

        The policy's own ``compliance`` overrides apply on top of the scenario's overrides.
        """
        prefix = f"{self._path}: " if self._path is not None else ""
        preset = self.compliance.preset
        policy = self.policies[index]
        # Check each layer on its own first, so an error names the key the user wrote.
        _check_overrides(self.compliance.overrides, "compliance.overrides", prefix, preset)
        _check_overrides(
            policy.compliance or {}, f"policies[{index}].compliance", prefix, preset,
            base=self.compliance.overrides,
        )
        merged = {**self.compliance.overrides, **(policy.compliance or {})}
        return resolve_rules(preset, merged, where=f"policies[{index}].compliance")


def _check_optimiser(scenario: Scenario, i: int, policy: ScenarioPolicy) -> None:
    """What an optimised policy needs from the rest of the scenario."""
    opt = policy.optimiser
    if opt is None:
        return
    key = f"policies[{i}].optimiser"
    if opt.period_days > scenario.days:
        raise _KeyError(
            f"{key}.period_days",
            f"planning period longer than the run of {scenario.days} days "
            f"(got {opt.period_days})",
        )
    if "visit" in opt.options and not any(r.teams > 0 for r in scenario.resources.regions):
        raise _KeyError(
            f"{key}.options",
            "the optimiser chooses visits but no region has field teams "
            "(every resources.regions[].teams is 0)",
        )
    try:
        rules, _ = resolve_rules(
            scenario.compliance.preset,
            {**scenario.compliance.overrides, **(policy.compliance or {})},
        )
    except InputError:
        rules = None  # reported with its own key by rules_for
    if "visit" in opt.options:
        from waifang.optimise.policy import team_hours

        if rules is not None and team_hours(scenario.world(), rules, 1).sum() == 0:
            raise _KeyError(
                f"{key}.options",
                "'visit' has no capacity: no region's field teams work within the allowed "
                f"visit hours ({rules.visit_start_hour:g}-{rules.visit_end_hour:g})",
            )
    resources = scenario.resources
    for option, places, what in (("legal", resources.legal_capacity, "resources.legal_capacity"),
                                 ("agency", resources.agency_capacity,
                                  "resources.agency_capacity")):
        if option in opt.options and places == 0:
            raise _KeyError(f"{key}.options",
                            f"{option!r} has no capacity: {what} is 0")
    if "agency" in opt.options and not resources.agency_vetted:
        if rules is not None and rules.vetted_agencies_only:
            raise _KeyError(f"{key}.options",
                            "'agency' has no capacity: the rules allow only vetted agencies "
                            "and resources.agency_vetted is false")
    for j, rule in enumerate(policy.rules):
        if rule.action in opt.options:
            raise _KeyError(
                f"policies[{i}].rules[{j}].action",
                f"{rule.action!r} is chosen by the optimiser; the ladder must not ask for it",
            )


def _check_contracts(scenario: Scenario, seg_names: list[str] | None) -> None:
    """Contracts: unique names, known segments (of a generated book; a tape's are checked
    when it is read), triggers before charge-off, known names in policies, and no two
    contracts of one policy covering the same account the same way."""
    contracts = scenario.risk_transfer
    names = [c.name for c in contracts]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise _KeyError(f"risk_transfer[{i}].name", f"contract name repeated (got {name!r})")
    check_triggers(contracts, scenario.charge_off_dpd)
    if seg_names is not None:
        for i, contract in enumerate(contracts):
            for seg in contract.segments or ():
                if seg not in seg_names:
                    raise _KeyError(
                        f"risk_transfer[{i}].segments",
                        f"contract {contract.name!r}: unknown segment {seg!r}; segments are "
                        f"{seg_names}",
                    )
    for p, policy in enumerate(scenario.policies):
        for k, name in enumerate(policy.risk_transfer):
            if name not in names:
                raise _KeyError(
                    f"policies[{p}].risk_transfer[{k}]",
                    f"unknown contract {name!r}; contracts are {names}",
                )
        chosen = [names.index(name) for name in policy.risk_transfer]
        for a, i in enumerate(chosen):
            for j in chosen[:a]:
                clash = _same_way(contracts[j], contracts[i])
                if clash:
                    raise _KeyError(
                        f"risk_transfer[{i}].segments",
                        f"contract {contracts[i].name!r} covers accounts contract "
                        f"{contracts[j].name!r} covers the same way ({clash}), both under "
                        f"policy {policy.name!r}; an account takes one claim contract and one "
                        "forward-flow sale at most",
                    )


def _same_way(a: RiskTransfer, b: RiskTransfer) -> str:
    """Why ``a`` and ``b`` can cover one account the same way ("" if they cannot): both pay
    a claim (insurance, guarantee) or both buy (forward flow), on overlapping segments and
    opening balances."""
    if (a.kind == "forward_flow") != (b.kind == "forward_flow"):
        return ""
    if a.share_of_book == 0 or b.share_of_book == 0:
        return ""
    if a.segments is not None and b.segments is not None:
        common = sorted(set(a.segments) & set(b.segments))
        if not common:
            return ""
    else:
        common = list(a.segments or b.segments or ["every segment"])
    low = max(a.min_balance, b.min_balance)
    high = min(x for x in (a.max_balance, b.max_balance, math.inf) if x is not None)
    if low > high:
        return ""
    way = "both buy the account" if a.kind == "forward_flow" else "both pay a claim"
    return f"{way}; segments {common}, opening balances {low:g} to {high:g}"


def _check_overrides(
    overrides: Mapping[str, Any],
    where: str,
    prefix: str,
    preset: str = "cn",
    base: Mapping[str, Any] | None = None,
) -> None:
    known = sorted(ComplianceRules.model_fields)
    for key, value in overrides.items():
        if key not in ComplianceRules.model_fields:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"rules are {known}"
            raise InputError(f"{prefix}{where}.{key}: unknown rule; {hint} (got {_short(value)})")
    try:
        # On the scenario's own preset (and the layer below), so that a contradiction such as
        # a start hour after the preset's end hour is named here, at the key the user wrote.
        ComplianceRules(**{**PRESETS[preset].model_dump(), **(base or {}), **overrides})
    except ValidationError as err:
        # A check across rules names its own key first ("visit_end_hour: ...").
        text = describe_validation_error(err, ComplianceRules).removeprefix("(top level): ")
        raise InputError(prefix + where + "." + text) from None


SHARE_TOLERANCE = 1e-3
"""Segment shares must sum to 1 within this (0.333 three times is fine; they are normalised)."""


def _check_shares(segments: tuple[Any, ...]) -> None:
    total = sum(s.share for s in segments)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        shares = ", ".join(f"{s.name} {s.share:g}" for s in segments)
        raise KeyedValueError(
            "portfolio.segments", f"shares sum to {total:g}, not 1 (got {shares})"
        )


_KeyError = KeyedValueError  # a cross-field check that knows the key path it is about


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and return the scenario at ``path``.

    Raises
    ------
    InputError
        One line naming the file, the key path and the bad value: a missing file, TOML syntax
        (with line and column), an unknown key, a value out of bounds, an unknown action, rule,
        preset, segment or region, a repeated policy name, a missing tape.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such scenario file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a scenario file") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: TOML syntax error: {err}") from None
    return scenario_from_dict(data, path)


def _with_includes(data: dict[str, Any], path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """Merge the files named by a top-level ``include`` (a path or a list of paths, relative
    to the including file) under ``data``: included tables first, in order, then the file's
    own keys on top (tables merge key by key; any other value replaces)."""
    include = data.pop("include", None)
    if include is None:
        return data
    names = [include] if isinstance(include, str) else include
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(
            f"{path}: include: expected a file name or a list of them (got {_short(include)})"
        )
    merged: dict[str, Any] = {}
    for i, name in enumerate(names):
        target = (path.parent / name).resolve()
        key = f"{path}: include[{i}]" if not isinstance(include, str) else f"{path}: include"
        if target in chain:
            raise InputError(
                f"{key}: includes itself through {[str(p) for p in chain]} (got {name!r})"
            )
        try:
            text = target.read_bytes().decode("utf-8")
        except (FileNotFoundError, IsADirectoryError):
            raise InputError(f"{key}: no such file (got {name!r})") from None
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{key}: cannot read {name!r} ({err})") from None
        try:
            part = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"{target}: TOML syntax error: {err}") from None
        merged = _merge(merged, _with_includes(part, target, (*chain, target)))
    return _merge(merged, data)


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def scenario_from_dict(data: Mapping[str, Any], path: str | Path | None = None) -> Scenario:
    """Validate a parsed scenario (as from TOML); ``path`` names it in errors and anchors
    relative tape paths."""
    where = f"{path}: " if path is not None else ""
    # Included files are found beside the scenario (beside the working folder if unnamed).
    anchor = Path(path) if path is not None else Path.cwd() / "(scenario)"
    data = _with_includes(dict(data), anchor, (anchor.resolve(),))
    data = prepare_data(data, where)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise InputError(where + describe_validation_error(err, Scenario)) from None
    if path is not None:
        scenario._path = Path(path)
        scenario._base_dir = Path(path).resolve().parent
    for i in range(len(scenario.policies)):
        scenario.rules_for(i)
    tape = scenario.tape_path()
    if tape is not None and not tape.is_file():
        raise InputError(f"{where}portfolio.tape: no such file (got {scenario.portfolio.tape!r})")
    return scenario


def prepare_data(data: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """The parsed file as the schema reads it: policies that ``extends`` another resolved to
    whole ladders (:mod:`waifang.scenarios.inheritance`), and the ``[sweep]`` table set aside
    (read by :mod:`waifang.scenarios.sweep`; a plain run ignores it)."""
    from waifang.scenarios.inheritance import resolve_policies

    data = {k: v for k, v in data.items() if k != "sweep"}
    return resolve_policies(data, where)


def describe_validation_error(err: ValidationError, model: type[BaseModel]) -> str:
    """The first error of ``err`` as ``key.path[0].name: what is wrong (got value)``."""
    errors = err.errors(include_url=False)
    # A typo'd key also makes the intended key "missing": name the typo, the real cause.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(first["loc"])
    key = format_key(loc)
    ctx_error = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_error, KeyedValueError):
        inner = ctx_error.key
        return f"{key + '.' if key else ''}{inner}: {ctx_error.message}"
    if first["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = sorted(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys are {known}"
        return f"{key}: unknown key{hint} (got {_short(first['input'])})"
    if first["type"] == "missing":
        return f"{key}: required key is missing"
    message = first["msg"]
    if first["type"] == "value_error":
        message = message.removeprefix("Value error, ")
        return f"{key or '(top level)'}: {message}"
    message = message[:1].lower() + message[1:]
    return f"{key or '(top level)'}: {message} (got {_short(first['input'])})"


def format_key(loc: tuple[Any, ...]) -> str:
    """``('policies', 2, 'rules', 0, 'action')`` -> ``policies[2].rules[0].action``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class found by following ``loc`` from ``model`` (None if lost)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):  # an item of a tuple, already unwrapped below
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """The model inside ``X | None``, ``tuple[X, ...]`` or ``list[X]``."""
    for _ in range(3):
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        elif origin in (tuple, list):
            annotation = typing.get_args(annotation)[0]
        else:
            break
    return annotation
