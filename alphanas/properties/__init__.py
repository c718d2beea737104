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
- shapes — exact input and output shapes (from :mod:`alphanas.lang.analysis`);
- resources — parameters, FLOPs, activation memory, concrete and symbolic.

Axes in properties include the batch axis first (axis 0), then the
per-sample axes: a ``[C, H, W]`` value has axes batch, channels, height,
width (see :func:`axis_names`). The level and matrix types and
:func:`axis_names` belong to the op library (:mod:`alphanas.ops.levels`),
which declares every op's mixing with them; they are re-exported here.
"""

from __future__ import annotations

from alphanas.ops.levels import Level, Matrix, axis_names

__all__ = ["Level", "Matrix", "axis_names"]
