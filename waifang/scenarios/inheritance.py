"""Policy inheritance: a policy that says how it differs from another one.

A policy table with ``extends = "NAME"`` starts from the resolved rungs and compliance
overrides of the policy called NAME (in the same scenario) and then changes them:

``remove = [REF, ...]``
    drop these rungs;
``update = [{ rung = REF, KEY = VALUE, ... }, ...]``
    change some keys of a rung (the rest is kept);
``replace = [{ rung = REF, with = { ...a whole rung... } }, ...]``
    put a new rung in that rung's place;
``add = [{ before = REF, ...a whole rung... }, ...]`` (or ``after = REF``; neither: at the end)
    insert new rungs;
``compliance = { RULE = VALUE }``
    rule overrides, on top of the ones inherited (own keys win);
``description``
    not inherited.

A rung reference ``REF`` is its position in the parent's ladder (from 0), its action when the
parent has one rung of that action (``"visit"``), or ``"action@dpd_min"`` (``"call@90"``).
Every reference points into the *parent's* ladder, so the order in which the changes are
written does not matter. A policy may extend a policy that itself extends another.

Resolution happens on the parsed TOML, before validation; what comes out is an ordinary
policy table with ``rules``, so the engine, the manifest and ``waifang validate`` see the
resolved ladder. Errors name the key as written (``policies[2].remove[0]``).

Examples
--------
>>> ladder = [{"action": "sms", "dpd_min": 1}, {"action": "call", "dpd_min": 16}]
>>> raw = {"policies": [
...     {"name": "a", "rules": ladder}, {"name": "b", "extends": "a", "remove": ["sms"]}]}
>>> resolve_policies(raw)["policies"][1]
{'name': 'b', 'rules': [{'action': 'call', 'dpd_min': 16}]}
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from waifang.errors import InputError

OPERATIONS = ("remove", "update", "replace", "add")
"""Keys that change an inherited ladder (allowed only with ``extends``)."""


def resolve_policies(data: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``data`` with every ``extends`` policy replaced by its resolved ladder (a new dict).

    ``where`` prefixes error messages (``"file.toml: "``).
    """
    data = dict(data)
    policies = data.get("policies")
    if not isinstance(policies, list) or not any(
        isinstance(p, Mapping) and ("extends" in p or set(OPERATIONS) & set(p)) for p in policies
    ):
        return data
    index_of: dict[str, int] = {}
    for i, policy in enumerate(policies):
        if isinstance(policy, Mapping) and isinstance(policy.get("name"), str):
            index_of.setdefault(policy["name"], i)
    resolved: dict[int, dict[str, Any]] = {}

    def resolve(i: int, chain: tuple[int, ...]) -> dict[str, Any]:
        if i in resolved:
            return resolved[i]
        policy = policies[i]
        if not isinstance(policy, Mapping) or (
            "extends" not in policy and not set(OPERATIONS) & set(policy)
        ):
            resolved[i] = policy
            return policy
        key = f"policies[{i}]"
        if "extends" not in policy:
            op = next(op for op in OPERATIONS if op in policy)
            raise InputError(f"{where}{key}.{op}: only a policy with 'extends' can {op} rungs")
        parent_name = policy["extends"]
        if parent_name not in index_of:
            raise InputError(
                f"{where}{key}.extends: no policy called {parent_name!r}; "
                f"policies are {sorted(index_of)}"
            )
        parent_index = index_of[parent_name]
        if parent_index == i or parent_index in chain:
            names = [policies[j].get("name") for j in (*chain, i, parent_index)]
            raise InputError(f"{where}{key}.extends: circular inheritance {' -> '.join(names)}")
        if "rules" in policy:
            raise InputError(
                f"{where}{key}.rules: a policy that extends another states only its changes "
                "(remove, update, replace, add), not a whole ladder"
            )
        parent = resolve(parent_index, (*chain, i))
        if not isinstance(parent.get("rules"), list | tuple):
            raise InputError(
                f"{where}{key}.extends: policy {parent_name!r} has no rule ladder to extend"
            )
        resolved[i] = _apply(policy, parent, f"{where}{key}")
        return resolved[i]

    data["policies"] = [resolve(i, ()) for i in range(len(policies))]
    return data


def _apply(policy: Mapping[str, Any], parent: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The child's own table with the parent's ladder changed as it says."""
    rungs = [copy.deepcopy(dict(r)) if isinstance(r, Mapping) else r for r in parent["rules"]]
    removed: set[int] = set()
    for j, ref in enumerate(_list(policy, "remove", key)):
        removed.add(find_rung(rungs, ref, f"{key}.remove[{j}]"))
    for j, change in enumerate(_list(policy, "update", key)):
        where = f"{key}.update[{j}]"
        change = _table(change, where)
        position = find_rung(rungs, _required(change, "rung", where), f"{where}.rung")
        rungs[position] = {**rungs[position], **{k: v for k, v in change.items() if k != "rung"}}
    for j, change in enumerate(_list(policy, "replace", key)):
        where = f"{key}.replace[{j}]"
        change = _table(change, where)
        unknown = sorted(set(change) - {"rung", "with"})
        if unknown:
            raise InputError(f"{where}.{unknown[0]}: unknown key; a replacement has 'rung', 'with'")
        position = find_rung(rungs, _required(change, "rung", where), f"{where}.rung")
        rungs[position] = dict(_table(_required(change, "with", where), f"{where}.with"))
    before: dict[int, list[dict[str, Any]]] = {}
    after: dict[int, list[dict[str, Any]]] = {}
    at_end: list[dict[str, Any]] = []
    for j, addition in enumerate(_list(policy, "add", key)):
        where = f"{key}.add[{j}]"
        addition = dict(_table(addition, where))
        if "before" in addition and "after" in addition:
            raise InputError(f"{where}: give 'before' or 'after', not both")
        if "before" in addition:
            anchor = find_rung(rungs, addition.pop("before"), f"{where}.before")
            before.setdefault(anchor, []).append(addition)
        elif "after" in addition:
            anchor = find_rung(rungs, addition.pop("after"), f"{where}.after")
            after.setdefault(anchor, []).append(addition)
        else:
            at_end.append(addition)
    ladder: list[Any] = []
    for position, rung in enumerate(rungs):
        ladder.extend(before.get(position, ()))
        if position not in removed:
            ladder.append(rung)
        ladder.extend(after.get(position, ()))
    ladder.extend(at_end)

    out = {k: v for k, v in policy.items() if k not in (*OPERATIONS, "extends")}
    compliance = {**(parent.get("compliance") or {}), **(policy.get("compliance") or {})}
    if compliance:
        out["compliance"] = compliance
    out["rules"] = ladder
    return out


def find_rung(rungs: list[Any], ref: Any, where: str) -> int:
    """Position of the rung that ``ref`` names (position, action, or ``action@dpd_min``)."""
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise InputError(f"{where}: a rung is named by position or action (got {ref!r})")
    if isinstance(ref, int):
        if not 0 <= ref < len(rungs):
            raise InputError(
                f"{where}: no rung at position {ref}; the ladder has {len(rungs)} (0 to "
                f"{len(rungs) - 1})"
            )
        return ref
    names = [rung_name(r) for r in rungs]
    matches = [p for p, r in enumerate(rungs) if names[p] == ref or _action(r) == ref]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(f"{where}: no rung {ref!r}; the ladder's rungs are {names}")
    raise InputError(
        f"{where}: {ref!r} names {len(matches)} rungs ({', '.join(names[p] for p in matches)}); "
        "say which"
    )


def rung_name(rung: Any) -> str:
    """``action@dpd_min``, the name a rung is referred to by (dpd_min defaults to 1)."""
    return f"{_action(rung)}@{rung.get('dpd_min', 1) if isinstance(rung, Mapping) else '?'}"


def _action(rung: Any) -> Any:
    return rung.get("action") if isinstance(rung, Mapping) else None


def _list(policy: Mapping[str, Any], name: str, key: str) -> list[Any]:
    value = policy.get(name, [])
    if not isinstance(value, list | tuple):
        raise InputError(f"{key}.{name}: must be a list (got {value!r})")
    return list(value)


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: must be a table (got {value!r})")
    return value


def _required(table: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in table:
        raise InputError(f"{where}.{name}: required key is missing")
    return table[name]
