"""Fingerprints of every output a change to the engine's speed must leave alone, bit for bit.

Hashes (sha256 of the exact bytes of every number) of:

- ``run``: one full-audit run of each visit_optimisation policy's ladder on a small book
  (summary, daily, blocked, audit log, the final account state);
- ``branches``: per-account branch values of a checkpoint (with and without a visit, and with
  unlimited teams and escalation), the training models (:func:`train_value_models`, every
  option) and the realised-value probe's records with the probed run's result;
- ``cli``: the files ``waifang run visit_optimisation --replications 2`` writes (CSV files as
  written, the manifest without its clock times and versions).

Run it on two checkouts and compare the outputs::

    PYTHONPATH=/path/to/base python benchmarks/identity.py --out /tmp/base.json
    PYTHONPATH=. python benchmarks/identity.py --out /tmp/mine.json --compare /tmp/base.json

Exit code 1 when ``--compare`` finds a difference (it names the parts that differ).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

try:
    import tomllib
except ImportError:  # pragma: no cover
    import tomli as tomllib


def fingerprint(value: object, h: hashlib._Hash, seen: set[int] | None = None) -> None:
    """Feed ``value`` into ``h``: numbers by their exact bytes, containers in order, objects
    by their class and attributes (each object once)."""
    import pandas as pd

    seen = set() if seen is None else seen
    if isinstance(value, (str, bytes, int, float, bool, type(None), np.generic)):
        h.update(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, np.ndarray):
        h.update(f"array{value.dtype}{value.shape};".encode())
        h.update(np.ascontiguousarray(value).tobytes() if value.dtype != object
                 else repr(value.tolist()).encode())
    elif isinstance(value, (pd.DataFrame, pd.Series)):
        frame = value.to_frame() if isinstance(value, pd.Series) else value
        h.update(f"frame{list(frame.columns)!r}{list(frame.index)!r};".encode())
        for column in frame.columns:
            fingerprint(frame[column].to_numpy(), h, seen)
    elif isinstance(value, dict):
        h.update(b"dict{")
        for key in value:
            fingerprint(key, h, seen)
            fingerprint(value[key], h, seen)
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__}[".encode())
        for item in value:
            fingerprint(item, h, seen)
        h.update(b"]")
    elif hasattr(value, "__dict__") and not callable(value):
        if id(value) in seen:
            h.update(b"<seen>")
            return
        seen.add(id(value))
        h.update(f"{type(value).__name__}(".encode())
        fingerprint(dict(sorted(vars(value).items())), h, seen)
        h.update(b")")
    else:
        h.update(f"{type(value).__name__};".encode())


def digest(value: object) -> str:
    h = hashlib.sha256()
    fingerprint(value, h)
    return h.hexdigest()


def result_parts(result) -> dict[str, str]:
    """A run result's fingerprints (the account state's arrays, not the objects behind it)."""
    from dataclasses import fields

    state = result.extra["state"]
    extra = {k: v for k, v in result.extra.items() if k not in ("state", "borrowers")}
    return {
        "summary": digest(result.summary),
        "daily": digest(result.daily),
        "blocked": digest(result.blocked_by_rule),
        "violations": digest(result.violations),
        "audit": digest(result.audit),
        "extra": digest(extra),
        "state": digest({f.name: getattr(state, f.name) for f in fields(state)}),
    }


def small_scenario(accounts: int):
    from waifang.scenarios.run_commands import scenario_path
    from waifang.scenarios.schema import scenario_from_dict

    path = scenario_path("visit_optimisation")
    raw = tomllib.loads(path.read_text())
    raw["portfolio"]["accounts"] = accounts
    scale = accounts / 50_000
    for policy in raw["policies"][1:]:
        budgets = policy["optimiser"]["budget_per_period"]
        policy["optimiser"]["budget_per_period"] = [b * scale for b in budgets]
    return scenario_from_dict(raw, path)


def run_hashes(accounts: int) -> dict[str, object]:
    from waifang.scenarios.runner import build_portfolio
    from waifang.sim.engine import simulate
    from waifang.sim.policy import LadderPolicy
    from waifang.sim.rng import replication_seeds

    scenario = small_scenario(accounts)
    world = scenario.world()
    portfolio_seed, run_seed = replication_seeds(3, 0)
    portfolio = build_portfolio(scenario, np.random.default_rng(portfolio_seed))
    out = {}
    for k, spec in enumerate(scenario.policies):
        rules, _ = scenario.rules_for(k)
        policy = LadderPolicy(spec, portfolio.segment_names)
        result = simulate(world, portfolio, policy, rules, seed=run_seed, audit="full")
        out[spec.name] = result_parts(result)
    return out


def branch_hashes(accounts: int) -> dict[str, object]:
    from waifang.optimise.policy import OptimisedPolicy
    from waifang.optimise.training import RealisedProbe, train_value_models
    from waifang.scenarios.runner import build_portfolio
    from waifang.sim.fork import checkpoints, simulate_probed
    from waifang.sim.policy import LadderPolicy
    from waifang.sim.rng import replication_seeds

    scenario = small_scenario(accounts)
    world = scenario.world()
    portfolio_seed, run_seed = replication_seeds(1, 0)
    portfolio = build_portfolio(scenario, np.random.default_rng(portfolio_seed))
    spec = scenario.policies[2]
    rules, _ = scenario.rules_for(2)
    base = LadderPolicy(spec, portfolio.segment_names)
    out: dict[str, object] = {}

    # Branches straight from a checkpoint: the whole book and a subset, several options.
    (cp,) = checkpoints(world, portfolio, base, rules, seed=run_seed, days=[40])
    eligible = np.flatnonzero(cp.view.dpd >= 60)
    seed = np.random.SeedSequence(11)
    small = cp.subset(eligible[:: max(1, eligible.size // 300)])
    for name, checkpoint in (("whole", cp), ("subset", small)):
        every = np.arange(checkpoint.n)
        picks = every[checkpoint.view.dpd >= 60]
        for label, kwargs in (
            ("none", {}),
            ("visit", {"extra": {"visit": picks}, "unlimited_field": True}),
            ("legal", {"extra": {"legal": picks}, "unlimited_escalation": True}),
            ("agency", {"extra": {"agency": picks}, "unlimited_escalation": True}),
        ):
            branch = checkpoint.branch(base, seed=seed, until=100, **kwargs)
            out[f"branch_{name}_{label}"] = digest(branch)

    book = build_portfolio(scenario, np.random.default_rng(np.random.SeedSequence(2)))
    options = spec.optimiser.model_copy(update={"options": ("visit", "legal", "agency")})
    models = train_value_models(world, book, len(portfolio), base, rules, options,
                                np.random.SeedSequence(1, spawn_key=(0, 2, 1)))
    out["models"] = {option: digest(model) for option, model in models.items()}

    visit_model = models["visit"]
    names = scenario.region_names()
    policy = OptimisedPolicy(base, spec.optimiser, world, rules, names, visit_model, run_seed)
    probe = RealisedProbe(policy, base, np.random.SeedSequence(1, spawn_key=(0, 3)))
    result = simulate_probed(world, portfolio, policy, rules, seed=run_seed, probe=probe)
    out["probe_records"] = digest(probe.records)
    out["probe_plans"] = digest([(p.day, p.accounts, p.value, p.cost) for p in policy.plans])
    out["probed_run"] = result_parts(result)
    return out


def cli_hashes(replications: int) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-c", "from waifang.scenarios.cli import main; main()", "run",
             "visit_optimisation", "--replications", str(replications), "--out", folder,
             "--quiet"],
            check=True, stdout=subprocess.DEVNULL, env=os.environ.copy(),
        )
        out = {}
        for path in sorted(Path(folder).iterdir()):
            if path.suffix == ".csv":
                out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        manifest = json.loads((Path(folder) / "manifest.json").read_text())
        for key in ("started", "finished", "versions", "files"):
            manifest.pop(key, None)
        out["manifest.json (without times, versions, files)"] = digest(
            json.dumps(manifest, sort_keys=True))
    return out


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file of the hashes")
    parser.add_argument("--compare", type=Path, help="hashes of the reference checkout")
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--replications", type=int, default=2,
                        help="of `waifang run visit_optimisation` (0: skip the CLI)")
    args = parser.parse_args()
    import waifang

    print(f"waifang from {Path(waifang.__file__).parent}", flush=True)
    hashes = {"run": run_hashes(args.accounts // 4), "branches": branch_hashes(args.accounts)}
    if args.replications:
        hashes["cli"] = cli_hashes(args.replications)
    args.out.write_text(json.dumps(hashes, indent=1, sort_keys=True))
    flat = flatten(hashes)
    print(f"{len(flat)} fingerprints written to {args.out}")
    if args.compare:
        reference = flatten(json.loads(args.compare.read_text()))
        differ = sorted(k for k in reference.keys() | flat.keys()
                        if reference.get(k) != flat.get(k))
        for key in differ:
            print(f"DIFFERS: {key}")
        print(f"{len(flat) - len(differ)} of {len(reference.keys() | flat.keys())} identical")
        if differ:
            sys.exit(1)


if __name__ == "__main__":
    main()
