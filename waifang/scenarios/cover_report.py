"""The report's tables on spread and risk transfer, from ``summary.csv`` and ``comparison.csv``.

- :func:`spread_table`: per policy, the mean, standard deviation and 5th percentile over the
  replications of ``net_value`` and ``net_npv`` (cover is bought to cut the bad years, which
  a mean hides);
- :func:`contract_table`: per policy and contract, what the lender paid and received, the
  provider's loss ratio and the lender's net from the contract, as means per replication.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from waifang.scenarios.runner import ScenarioResults

SPREAD_METRICS = ("net_value", "net_npv")
"""The metrics whose spread the report shows."""

_CONTRACT_COLUMN = re.compile(r"cover_premiums\[(?P<name>.+)\]\Z")


def spread_table(results: ScenarioResults) -> pd.DataFrame:
    """One row per policy: ``<metric>_mean``, ``<metric>_std`` and ``<metric>_p05`` of each
    spread metric over the replications, from the comparison table."""
    comparison = results.comparison.set_index(["policy", "metric"])
    rows = []
    for policy in results.policies:
        row: dict[str, object] = {"policy": policy}
        for metric in SPREAD_METRICS:
            if (policy, metric) not in comparison.index:
                continue
            stats = comparison.loc[(policy, metric)]
            row[f"{metric} mean"] = float(stats["mean"])
            row[f"{metric} std"] = float(stats["std"])
            row[f"{metric} p05"] = float(stats["p05"])
        rows.append(row)
    return pd.DataFrame(rows)


def contract_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per (policy, contract) the policy runs under, means per replication:
    ``premiums, claims, recoveries_passed`` (currency), ``loss_ratio`` (the provider's: claims
    less the recoveries passed to it, over the premiums; NaN without premiums) and
    ``lender_net`` (claims - premiums - recoveries passed, undiscounted); empty without
    contracts."""
    names = [m.group("name") for c in summary.columns if (m := _CONTRACT_COLUMN.match(c))]
    rows = []
    for policy, group in summary.groupby("policy", sort=False):
        for name in names:
            premiums = group[f"cover_premiums[{name}]"]
            if premiums.isna().all():
                continue  # the policy does not run under this contract
            premium = float(premiums.mean())
            claims = float(group[f"cover_claims[{name}]"].mean())
            passed = float(group[f"cover_recoveries_passed[{name}]"].mean())
            rows.append({
                "policy": policy,
                "contract": name,
                "premiums": premium,
                "claims": claims,
                "recoveries_passed": passed,
                "loss_ratio": (claims - passed) / premium if premium > 0 else np.nan,
                "lender_net": claims - premium - passed,
                "net_value": float(group["net_value"].mean()),
                "net_value_without_cover": float(group["net_value_without_cover"].mean()),
            })
    return pd.DataFrame(rows)
