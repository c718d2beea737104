"""Domains of the integer sizes the solver chooses.

Every size slot of a structure (a convolution's channels, a kernel, a stride,
...) gets a :class:`Domain`: a finite set of values, or a range with an
optional step. The default domain of each kind of size
(:data:`alphanas.ops.spec.DOMAIN_KINDS`) is here, scaled to the problem (the
channel counts it may use depend on the channel counts it connects); a space
grammar states its own domains, which replace these.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Domain", "default_domain"]


@dataclass(frozen=True)
class Domain:
    """Allowed values of one size: ``values`` if given, else the integers
    ``low..high`` that are multiples of ``step`` or one of ``extra``."""

    values: tuple[int, ...] | None = None
    low: int = 1
    high: int = 1
    step: int = 1
    extra: tuple[int, ...] = ()

    @staticmethod
    def of(values: Iterable[int]) -> Domain:
        return Domain(values=tuple(sorted(set(values))))

    def contains(self, x: int) -> bool:
        if self.values is not None:
            return x in self.values
        return self.low <= x <= self.high and (x % self.step == 0 or x in self.extra)

    def constraint(self, v: Any) -> Any:
        """The Z3 condition that ``v`` lies in the domain."""
        import z3

        if self.values is not None:
            return z3.Or([v == x for x in self.values]) if self.values else z3.BoolVal(False)
        in_range = z3.And(v >= self.low, v <= self.high)
        if self.step == 1:
            return in_range
        return z3.And(in_range, z3.Or(v % self.step == 0, *[v == x for x in self.extra]))

    def candidates(self) -> list[int]:
        """Every value, for sampling (ranges are small enough to list)."""
        if self.values is not None:
            return list(self.values)
        first = -(-self.low // self.step) * self.step
        return sorted({*range(first, self.high + 1, self.step), *(x for x in self.extra if self.low <= x <= self.high)})

    def sample(self, rng: random.Random) -> int:
        return rng.choice(self.candidates())

    def describe(self) -> str:
        if self.values is not None:
            return "{" + ", ".join(map(str, self.values)) + "}"
        step = f" in steps of {self.step}" if self.step > 1 else ""
        extra = f" (or {', '.join(map(str, self.extra))})" if self.extra else ""
        return f"{self.low}..{self.high}{step}{extra}"


def default_domain(kind: str, sizes: Iterable[int]) -> Domain:
    """The default domain of a size of ``kind`` in a problem whose inputs
    and output have the axis sizes ``sizes`` (channel counts scale with them:
    multiples of 8 up to four times the widest, or one of the sizes itself)."""
    known = tuple(sorted({int(s) for s in sizes if s >= 1}))
    widest = max(known, default=16)
    if kind == "channels":
        return Domain(low=1, high=max(64, 4 * widest), step=8, extra=known)
    table = {
        "kernel": (1, 3, 5, 7),
        "stride": (1, 2),
        "padding": (0, 1, 2, 3),
        "dilation": (1,),
        "groups": (1,),
        "heads": (1, 2, 3, 4, 6, 8, 12, 16),
        "window": (2, 3),
        "size": (1, 2, 4, 7),
    }
    if kind not in table:
        raise ValueError(f"no default domain for a size of kind {kind!r}")
    if kind == "size":  # an adaptive pool may also produce any size the problem has
        return Domain.of((*table[kind], *known))
    return Domain.of(table[kind])
