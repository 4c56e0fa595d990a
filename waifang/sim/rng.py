"""Random streams: one SeedSequence per run, a child per replication, a named child per purpose.

A purpose's stream is keyed by a stable hash of its name, so adding a purpose shifts no other
stream, and two policies run on the same replication see the same borrower luck (common
random numbers).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

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


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_DAY_INT = 0xD1B54A32D192ED03
_LANE_INT = 0x8CB92BA72F3D8DD7
_LANE = np.uint64(_LANE_INT)
_MASK = (1 << 64) - 1
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S11, _S27, _S30, _S31 = (np.uint64(k) for k in (11, 27, 30, 31))


def stream_key(seed: np.random.SeedSequence, purpose: str) -> np.uint64:
    """A 64-bit key for :func:`keyed_uniform`, derived like :func:`stream`."""
    key = zlib.crc32(purpose.encode("utf-8"))
    child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, key))
    return child.generate_state(1, np.uint64)[0]


def keyed_uniform(
    key: np.uint64, accounts: np.ndarray, day: int, lane: int | np.ndarray = 0
) -> np.ndarray:
    """Uniforms in [0, 1) that depend only on (key, account, day, lane).

    An account's draw on a day does not depend on which other accounts draw that day, so two
    policies that make the same account pay on the same day see the same payment amount
    (common random numbers), at a cost proportional to the accounts asked for. The bits come
    from the splitmix64 finaliser of a counter (Steele, Lea & Flood 2014).
    """
    # Scalars in Python integers modulo 2**64 (numpy scalars would warn on the wrap-around;
    # array arithmetic wraps silently), arrays in place with one scratch array: this runs
    # for every contact outcome of every day.
    salt = (day * _DAY_INT + int(key)) & _MASK
    if _few(accounts, lane, 1):
        return _keyed_uniform_small([salt], accounts, lane)
    x = accounts.astype(np.uint64)
    x *= _GOLDEN
    if isinstance(lane, np.ndarray):
        t = lane.astype(np.uint64)
        t *= _LANE
        t += np.uint64(salt)
        x ^= t
    else:
        x ^= np.uint64((int(lane) * _LANE_INT + salt) & _MASK)
        t = np.empty_like(x)
    return _finalise(x, t)


def keyed_uniforms(
    keys: Sequence[np.uint64], accounts: np.ndarray, day: int, lane: int | np.ndarray = 0
) -> np.ndarray:
    """The rows ``keyed_uniform(key, accounts, day, lane)`` for each of ``keys``, in one pass
    (the same bits as one call per key, for a dozen numpy calls instead of a dozen a key)."""
    salts = [(day * _DAY_INT + int(key)) & _MASK for key in keys]
    if _few(accounts, lane, len(salts)):
        return _keyed_uniform_small(salts, accounts, lane).reshape(len(salts), accounts.size)
    x = accounts.astype(np.uint64)
    x *= _GOLDEN
    if isinstance(lane, np.ndarray):
        mix = lane.astype(np.uint64)
        mix *= _LANE
    else:
        mix = np.uint64((int(lane) * _LANE_INT) & _MASK)
    # Each row: account x golden, xor (lane x LANE + the key's salt), as keyed_uniform has it.
    rows = np.bitwise_xor(x, np.array(salts, np.uint64).reshape(-1, 1) + mix)
    return _finalise(rows, np.empty_like(rows))


def _finalise(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser of ``x`` (uint64, changed in place; ``t`` a scratch array of
    its shape), as uniforms in [0, 1) on the scratch array's memory."""
    np.right_shift(x, _S30, out=t)
    x ^= t
    x *= _M1
    np.right_shift(x, _S27, out=t)
    x ^= t
    x *= _M2
    np.right_shift(x, _S31, out=t)
    x ^= t
    x >>= _S11
    out = t.view(np.float64)  # the scratch array's memory, no longer needed
    np.multiply(x, 1.0 / 9007199254740992.0, out=out)
    return out


_SMALL = 10
"""Up to this many draws, :func:`keyed_uniform` computes in Python integers: its dozen numpy
calls cost ~12 us whatever the size, which small branches (a few accounts contacted a day)
pay ~15 times a day; the Python loop costs ~3 us and ~1 us a draw."""
_GOLDEN_INT = int(_GOLDEN)
_M1_INT, _M2_INT = int(_M1), int(_M2)


def _few(accounts: np.ndarray, lane: int | np.ndarray, keys: int) -> bool:
    """Whether the draws are few enough for :func:`_keyed_uniform_small` (a 1-d array of
    accounts, a lane for all or one per account)."""
    return (
        accounts.size * keys <= _SMALL
        and accounts.ndim == 1
        and (not isinstance(lane, np.ndarray) or lane.shape == accounts.shape)
    )


def _keyed_uniform_small(
    salts: list[int], accounts: np.ndarray, lane: int | np.ndarray
) -> np.ndarray:
    """:func:`keyed_uniform` of a few accounts (a 1-d array) for each salt, one after the
    other in one 1-d array, computed in Python integers modulo 2**64: the same bits
    (tests/test_luck_streams.py compares the two)."""
    mask, golden, m1, m2 = _MASK, _GOLDEN_INT, _M1_INT, _M2_INT
    if isinstance(lane, np.ndarray):
        mixes = [(k * _LANE_INT) & mask for k in lane.tolist()]
    else:
        mixes = [(int(lane) * _LANE_INT) & mask] * accounts.size
    turned = [(account * golden) & mask for account in accounts.tolist()]
    bits = []
    for salt in salts:
        for a, mix in zip(turned, mixes, strict=True):
            x = a ^ ((mix + salt) & mask)
            x ^= x >> 30
            x = (x * m1) & mask
            x ^= x >> 27
            x = (x * m2) & mask
            bits.append((x ^ (x >> 31)) >> 11)
    # 53-bit integers convert to float64 exactly; the scale is a power of two: exact too.
    return np.array(bits, np.float64) * (1.0 / 9007199254740992.0)


class Luck:
    """The keyed streams of one run, by purpose: ``luck.uniform(purpose, accounts, day, lane)``.

    Every random outcome of a contact (answered, promise, complaint, dispute, borrower met,
    travel and visit times, court delay) is drawn here, per (purpose, account, day, lane), so
    an account's luck does not depend on what else the policy did that day or on which other
    accounts were contacted: a policy that treats an account the same way as another policy
    gives it the same outcomes (common random numbers). ``lane`` tells apart draws of one
    purpose on one account and day (the attempt's number that day, or a draw's index).
    """

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self.seed = seed
        self._keys: dict[str, np.uint64] = {}

    def key(self, purpose: str) -> np.uint64:
        key = self._keys.get(purpose)
        if key is None:
            key = self._keys[purpose] = stream_key(self.seed, purpose)
        return key

    def uniform(
        self, purpose: str, accounts: np.ndarray, day: int, lane: int | np.ndarray = 0
    ) -> np.ndarray:
        return keyed_uniform(self.key(purpose), accounts, day, lane)

    def uniforms(
        self, purposes: Sequence[str], accounts: np.ndarray, day: int, lane: int | np.ndarray = 0
    ) -> np.ndarray:
        """``uniform(purpose, accounts, day, lane)`` for each of ``purposes``, as rows."""
        return keyed_uniforms([self.key(p) for p in purposes], accounts, day, lane)

    def exponential(
        self, purpose: str, mean: float, accounts: np.ndarray, day: int, lane: int = 0
    ) -> np.ndarray:
        """Exponential draws with ``mean`` by inversion of the keyed uniforms."""
        return -mean * np.log1p(-self.uniform(purpose, accounts, day, lane))
