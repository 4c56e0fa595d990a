"""Sub-commands registered on the ``waifang`` parser (placeholder until implemented)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to the ``waifang`` parser."""
