"""Bad risk-transfer contracts: one line naming the contract and its field, exit 1, from both
``waifang validate`` and ``waifang run`` (the same preflight), nothing written."""

from __future__ import annotations

import pytest
from test_bad_inputs import both_refuse, write_case

from waifang.scenarios.cli import main

GUARANTEE = """[[risk_transfer]]
name = "g90"
kind = "guarantee"
segments = ["high"]
trigger_dpd = 90
premium = 0.004
cover_ratio = 0.9

[compliance]"""
USES = ('name = "digital_only"', 'name = "digital_only"\nrisk_transfer = ["g90"]')
BASE = [("[compliance]", GUARANTEE), USES]


def contract(**changes: str) -> list[tuple[str, str]]:
    """The base contract with some of its lines changed (``key="new line"``)."""
    text = GUARANTEE
    for key, line in changes.items():
        old = next(x for x in text.splitlines() if x.startswith(f"{key} ="))
        text = text.replace(old, line)
    return [("[compliance]", text), USES]


SECOND = """[[risk_transfer]]
name = "insure"
kind = "insurance"
trigger_dpd = 60
min_balance = 1000.0
premium = 0.002

[compliance]"""

CASES = [
    ("cover_ratio_above_1", contract(cover_ratio="cover_ratio = 1.2"),
     ["risk_transfer[0].cover_ratio", "contract 'g90'", "(got 1.2)"]),
    ("guarantee_trigger_at_charge_off", contract(trigger_dpd="trigger_dpd = 180"),
     ["risk_transfer[0].trigger_dpd", "contract 'g90'", "below charge_off_dpd 180",
      "(got 180)"]),
    ("insurance_trigger_after_charge_off",
     contract(kind='kind = "insurance"', trigger_dpd="trigger_dpd = 200"),
     ["risk_transfer[0].trigger_dpd", "contract 'g90'", "insurance", "(got 200)"]),
    ("insurance_without_trigger", contract(kind='kind = "insurance"', trigger_dpd=""),
     ["risk_transfer[0].trigger_dpd", "contract 'g90'", "needs a claim trigger"]),
    ("negative_premium", contract(premium="premium = -0.01"),
     ["risk_transfer[0].premium", "contract 'g90'", "negative", "(got -0.01)"]),
    ("unknown_segment", contract(segments='segments = ["mid"]'),
     ["risk_transfer[0].segments", "contract 'g90'", "unknown segment 'mid'", "'low'"]),
    ("two_claim_contracts_on_the_same_accounts",
     [("[compliance]", GUARANTEE.replace("[compliance]", SECOND)),
      ('name = "digital_only"', 'name = "digital_only"\nrisk_transfer = ["g90", "insure"]')],
     ["risk_transfer[1].segments", "contract 'insure'", "contract 'g90'", "same way",
      "policy 'digital_only'", "['high']"]),
    ("policy_names_an_unknown_contract",
     [("[compliance]", GUARANTEE), ('name = "digital_only"',
                                    'name = "digital_only"\nrisk_transfer = ["g80"]')],
     ["policies[1].risk_transfer[0]", "unknown contract 'g80'", "'g90'"]),
    ("forward_flow_cannot_pass_recoveries",
     contract(kind='kind = "forward_flow"',
              trigger_dpd='trigger_dpd = 90\nafter_claim = "lender_collects_and_passes"'),
     ["risk_transfer[0].after_claim", "contract 'g90'", "off the book"]),
    ("repeated_contract_name",
     [("[compliance]", GUARANTEE.replace("[compliance]",
                                         SECOND.replace('"insure"', '"g90"'))), USES],
     ["risk_transfer[1].name", "contract name repeated", "'g90'"]),
]


def test_the_base_with_a_contract_validates_and_runs(tmp_path, capsys):
    path = write_case(tmp_path, BASE)
    assert main(["validate", str(path)]) == 0
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    # Two claim contracts on disjoint segments are not the same way.
    other = tmp_path / "other"
    other.mkdir()
    disjoint = write_case(other, [
        ("[compliance]", GUARANTEE.replace("[compliance]", SECOND.replace(
            "min_balance = 1000.0", 'segments = ["low"]'))),
        ('name = "digital_only"', 'name = "digital_only"\nrisk_transfer = ["g90", "insure"]')])
    assert main(["validate", str(disjoint)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("edits, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_contract_is_refused_alike(tmp_path, capsys, edits, fragments):
    path = write_case(tmp_path, edits)
    line = both_refuse(tmp_path, capsys, path, [], fragments)
    assert line.startswith(f"error: {path}: ")
