"""The simulator: portfolio, behaviour, policies, resources, compliance, economics, engine.

Public entry points::

    from waifang.sim import World, simulate, generate_portfolio
"""

from waifang.sim.policy import LadderPolicy, LadderRule, Policy, PolicySpec
from waifang.sim.results import DAILY_COLUMNS, SUMMARY_COLUMNS, RunResult
from waifang.sim.rules import PRESETS, RULES, ComplianceRules, resolve_rules
from waifang.sim.spec import BUCKETS, TREATMENTS, PortfolioSpec, Segment, World
from waifang.sim.state import LenderView, Portfolio

__all__ = [
    "BUCKETS",
    "DAILY_COLUMNS",
    "PRESETS",
    "RULES",
    "SUMMARY_COLUMNS",
    "TREATMENTS",
    "ComplianceRules",
    "LadderPolicy",
    "LadderRule",
    "LenderView",
    "Policy",
    "PolicySpec",
    "Portfolio",
    "PortfolioSpec",
    "RunResult",
    "Segment",
    "World",
    "resolve_rules",
]
