"""Mixing levels and matrices: the vocabulary in which every op states how
its output positions depend on its input positions (its ``mixing`` rule).

The op library owns these types because it is the ground floor: each op
declares its mixing with them, and :mod:`alphanas.properties` builds the
mixing property of whole regions from those declarations.
"""

from __future__ import annotations

from enum import IntEnum


class Level(IntEnum):
    """How positions along one input axis feed one position of an output axis."""

    NONE = 0  #: the output axis does not depend on the input axis
    ONE = 1  #: one-to-one: one input position per output position
    MANY = 2  #: many-to-one: a local window of input positions
    ALL = 3  #: all-to-one: every position along the input axis

    def __str__(self) -> str:
        return {0: "-", 1: "one", 2: "many", 3: "all"}[int(self)]


#: A mixing matrix: ``m[i][j]`` is the level from input axis ``i`` to output
#: axis ``j`` (batch axis included, first).
Matrix = tuple[tuple[Level, ...], ...]


def axis_names(rank: int) -> tuple[str, ...]:
    """Readable names of the axes of a value with ``rank`` per-sample axes,
    batch first: [C, H, W] images, [L, D] token sequences, [F] feature vectors."""
    per_sample = {
        1: ("features",),
        2: ("tokens", "features"),
        3: ("channels", "height", "width"),
    }.get(rank, tuple(f"axis{i}" for i in range(1, rank + 1)))
    return ("batch", *per_sample)
