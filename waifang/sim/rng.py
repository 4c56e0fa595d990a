"""Random streams: one SeedSequence per run, a child per replication, a named child per purpose.

A purpose's stream is keyed by a stable hash of its name, so adding a purpose shifts no other
stream, and two policies run on the same replication see the same borrower luck (common
random numbers).
"""

from __future__ import annotations

import zlib

import numpy as np

PORTFOLIO = 0
RUN = 1


def replication_seeds(
    seed: int, replication: int
) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """Seeds of replication ``replication``: (portfolio, run), identical for every policy.

    >>> a, b = replication_seeds(7, 0)
    >>> a.spawn_key, b.spawn_key
    ((0, 0), (0, 1))
    """
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return (
        np.random.SeedSequence(seed, spawn_key=(replication, PORTFOLIO)),
        np.random.SeedSequence(seed, spawn_key=(replication, RUN)),
    )


def stream(seed: np.random.SeedSequence, purpose: str) -> np.random.Generator:
    """The generator for ``purpose`` under ``seed`` (same name, same stream)."""
    key = zlib.crc32(purpose.encode("utf-8"))
    child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, key))
    return np.random.Generator(np.random.PCG64(child))
