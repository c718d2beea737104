"""Sizes beyond any machine: the ceilings every program is held to.

A program whose parameters, activation memory or FLOPs (per sample) pass
these ceilings could never be built or run, whatever the hardware: it is a
mistake (a channel count with extra digits, a million-channel convolution),
and :func:`alphanas.lang.analysis.analyze` reports it as a
:class:`~alphanas.lang.errors.ShapeError` at the statement where the
program's total first passes the ceiling, so ``alphanas check`` and
``alphanas export`` refuse it. An integer literal larger than any op can
take (a 64-bit integer) is a located error when the program is parsed.

The ceilings are one value, :func:`current`, set for a whole process with
:func:`set_limits` (the command line's ``--limit-params``,
``--limit-memory`` and ``--limit-flops``) or for a block of code with
:func:`limited`. The synthesizer should treat them as budgets: a region
that passes them can never be part of a program that checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

__all__ = ["BYTES_PER_VALUE", "LARGEST_INT", "Limits", "current", "limited", "set_limits"]

#: the largest integer literal a program may write (PyTorch's sizes are 64-bit)
LARGEST_INT = 2**63 - 1
#: bytes per activation value when memory is counted (float32)
BYTES_PER_VALUE = 4


@dataclass(frozen=True)
class Limits:
    """The ceilings, per sample: ``params`` (parameters of the whole
    program), ``memory_bytes`` (bytes of every value the program computes,
    as float32: :attr:`~alphanas.ops.Cost.activations` × 4) and ``flops``."""

    #: 10^12 parameters: 4 TB of float32 weights
    params: int = 10**12
    #: 10^12 bytes (1 TB) of activations for one sample
    memory_bytes: int = 10**12
    #: 10^18 FLOPs for one sample: over ten minutes at 10^15 FLOP/s
    flops: int = 10**18

    @property
    def activations(self) -> int:
        """The ceiling on activation values (elements), from ``memory_bytes``."""
        return self.memory_bytes // BYTES_PER_VALUE

    def __post_init__(self) -> None:
        for name in ("params", "memory_bytes", "flops"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"the ceiling {name} must be a positive integer, got {value!r}")


_current = Limits()


def current() -> Limits:
    """The ceilings in force."""
    return _current


def set_limits(**ceilings: int) -> Limits:
    """Set some ceilings for the rest of the process (``params=...``,
    ``memory_bytes=...``, ``flops=...``); the previous ceilings are returned."""
    global _current
    previous = _current
    _current = replace(_current, **ceilings)
    return previous


@contextmanager
def limited(**ceilings: int) -> Iterator[Limits]:
    """The ceilings changed inside a ``with`` block."""
    global _current
    previous = set_limits(**ceilings)
    try:
        yield _current
    finally:
        _current = previous
