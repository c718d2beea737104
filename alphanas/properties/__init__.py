"""Program properties: what a region of a program computes, abstracted.

A region's properties predict its behaviour without running it, so that a
mutation can change *what a region does* in a controlled way (αNAS, Jin et
al. 2022). Each property has an abstract inference (from the IR, composing
per-op transfer functions of the op library), a partial order ``satisfies``,
a ``distance`` (zero iff satisfied) and mutation operators; a concrete
reference semantics (running the built torch module) tests the abstract one.

- :mod:`alphanas.properties.mixing` — which input axes feed which output
  axes, and how (none < one-to-one < many-to-one < all-to-one);
- :mod:`alphanas.properties.depth` — alternations of linear and nonlinear
  ops along paths;
- shapes — exact input and output shapes (from :mod:`alphanas.analysis`);
- resources — parameters, FLOPs, activation memory, concrete and symbolic.

Axes in properties include the batch axis first (axis 0), then the
per-sample axes: a ``[C, H, W]`` value has axes batch, channels, height,
width (see :func:`axis_names`).
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
