"""What one synthesis may spend, counted in work rather than in seconds.

A synthesis stops enumerating when its budget is spent. Counted in seconds,
that budget made the result depend on how busy the machine was: a search
on a loaded machine made other children than the same search on an idle
one, and a resumed search other children than an uninterrupted one. So the
budget is counted in work:

- ``steps``: enumeration steps (a partial structure extended, a rollout
  drawn, a grammar form expanded) and structures handed to the solver;
- ``rlimit``: Z3's resource units for each solver call (Z3 counts them
  deterministically; its ``timeout`` is wall-clock).

``seconds`` stays as a safety net only. When it fires, the result depends
on the machine after all, and the synthesis says so (``Stats.timed_out``,
stored with the child).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

__all__ = ["DEFAULT_RLIMIT", "DEFAULT_STEPS", "Work"]

#: enumeration steps of one synthesis: on this project's 2-core machine about
#: two seconds of work, the wall-clock budget property-guided mutation had
#: before budgets were counted. A mutation of a ResNet-18 region takes a few
#: dozen steps (at most 674 in 130 measured syntheses), so it rarely binds
DEFAULT_STEPS = 2_000
#: Z3 resource units of one solver call: far above what the size problems
#: of a region take (a few thousand), low enough to stop a pathological one
DEFAULT_RLIMIT = 5_000_000


@dataclass
class Work:
    """A synthesis's budget and what it has spent (see the module doc)."""

    steps: int = DEFAULT_STEPS
    rlimit: int = DEFAULT_RLIMIT
    seconds: float = math.inf
    used: int = 0
    #: the safety net fired: what was found depends on the machine's speed
    timed_out: bool = False
    _deadline: float = field(default=math.inf, init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.perf_counter() + self.seconds

    def spend(self, n: int = 1) -> bool:
        """Count ``n`` steps; False once the budget is spent (or the safety
        net fired), and from then on."""
        self.used += n
        if self.used > self.steps:
            return False
        if time.perf_counter() > self._deadline:
            self.timed_out = True
            return False
        return True

    @property
    def spent(self) -> bool:
        return self.used > self.steps or self.timed_out

    def seconds_left(self) -> float:
        return max(0.0, self._deadline - time.perf_counter())
