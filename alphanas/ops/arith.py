"""Arithmetic that works on Python ints and on Z3 integer expressions alike.

Op rules use these instead of ``//``, ``max`` and friends so that one rule
serves both concrete analysis and symbolic synthesis. Z3 is imported only when
a symbolic value actually shows up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def _concrete(*xs: Any) -> bool:
    return all(isinstance(x, (int, float)) for x in xs)


def floordiv(a: Any, b: Any) -> Any:
    if _concrete(a, b):
        return a // b
    return a / b  # Z3 integer division: floor for the positive divisors used here


def ceildiv(a: Any, b: Any) -> Any:
    if _concrete(a, b):
        return -(-a // b)
    return (a + b - 1) / b


def mod(a: Any, b: Any) -> Any:
    return a % b


def maximum(a: Any, b: Any) -> Any:
    if _concrete(a, b):
        return max(a, b)
    import z3

    return z3.If(a >= b, a, b)


def prod(xs: Iterable[Any]) -> Any:
    result: Any = 1
    for x in xs:
        result = result * x
    return result


def is_concrete(x: Any) -> bool:
    return _concrete(x)


def isqrt_exact(n: int) -> int | None:
    r = math.isqrt(n)
    return r if r * r == n else None


def where(condition: Any, a: Any, b: Any) -> Any:
    """``a if condition else b`` for concrete and symbolic conditions."""
    if isinstance(condition, bool):
        return a if condition else b
    import z3

    return z3.If(condition, a, b)
