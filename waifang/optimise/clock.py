"""A wall-clock deadline shared by every phase of one solve.

``--time-limit`` is a promise about wall time, so the model build, the price phase, each LP,
the MIP and the dual solve all draw on one :class:`Deadline` started when the solve starts,
instead of each getting the whole limit. Phases that cannot be interrupted from outside (a
pulp model build, the smoothed-price search) check :meth:`Deadline.expired` as they go and
raise :class:`OutOfTime`, which the backend turns into "the best plan found so far".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# Below this many seconds a solver call is not worth starting (HiGHS and CBC need a moment
# to set up; a call given 0.01 s still takes a few tenths).
MIN_CALL_SECONDS = 0.05


# A MIP's uninterruptible set-up against an LP over the same rows (HiGHS 1.16, 11 k rows on a
# loaded 2-core machine: LP 0.24-0.35 s, MIP set-up 0.8-1.3 s before its first interrupt check).
MIP_SETUP_PER_LP = 4.5


class OutOfTime(Exception):
    """Raised inside a phase when the deadline has passed."""


@dataclass
class Deadline:
    """``limit`` seconds from ``start`` (``time.perf_counter`` units); no limit when None."""

    limit: float | None
    start: float = field(default_factory=time.perf_counter)
    #: Seconds a MIP needs before it can be stopped (HiGHS's presolve and set-up do not look
    #: at the clock): a MIP is not started with less time left. Set from a measured LP.
    mip_setup: float = 0.0

    @property
    def at(self) -> float | None:
        return None if self.limit is None else self.start + self.limit

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining(self) -> float | None:
        """Seconds left (may be negative), or None without a limit."""
        return None if self.limit is None else self.start + self.limit - time.perf_counter()

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def share(self, fraction: float, reserve: float = 0.0) -> float | None:
        """Seconds for a solver call: ``fraction`` of what is left after ``reserve`` seconds
        kept for later phases, at least :data:`MIN_CALL_SECONDS`; None without a limit."""
        left = self.remaining()
        if left is None:
            return None
        return max(MIN_CALL_SECONDS, (left - reserve) * fraction)

    def can_start_mip(self, share: float = 1.0) -> bool:
        """Whether there is time left to start a MIP over ``share`` of the problem's rows and
        have it stop in time."""
        left = self.remaining()
        return left is None or left > max(self.mip_setup * share, MIN_CALL_SECONDS)

    def note_lp(self, seconds: float) -> None:
        """Record how long an LP over the problem took: a MIP's set-up (presolve, probing,
        clique detection) was seen to take up to four times as long."""
        self.mip_setup = max(self.mip_setup, MIP_SETUP_PER_LP * seconds)

    def check(self) -> None:
        """Raise :class:`OutOfTime` if the deadline has passed."""
        if self.expired():
            raise OutOfTime
