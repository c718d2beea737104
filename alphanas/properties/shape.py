"""The shape property: the exact input and output shapes of a region.

αNAS keeps shapes fixed: a mutation changes what a region computes, never
the shapes it reads and writes, so that the rewritten region fits where the
old one was. :class:`Shapes` records the per-sample shapes (batch axis left
out, as everywhere in the language) of a program's or region's inputs and
outputs, by position.

:func:`satisfies` is exact equality by default. With
``allow_downsampling=True`` an output's spatial axes (every axis after the
first of a rank-3-or-more value: height and width of ``[C, H, W]``) may be
the target's divided by one integer factor, the same on every spatial axis
(a candidate ``[64, 28, 28]`` for a target ``[64, 56, 56]``); inputs and every
other axis stay exact. :func:`mutate` returns the target unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alphanas.lang.analysis import Instance, Shape, analyze
from alphanas.lang.ir import Program

__all__ = ["Shapes", "distance", "infer_shapes", "mutate", "render", "satisfies"]


@dataclass(frozen=True)
class Shapes:
    """Per-sample shapes of the inputs and of the outputs, by position."""

    inputs: tuple[Shape, ...]
    outputs: tuple[Shape, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(tuple(int(d) for d in s) for s in self.inputs))
        object.__setattr__(self, "outputs", tuple(tuple(int(d) for d in s) for s in self.outputs))

    def __str__(self) -> str:
        return render(self)


def infer_shapes(program: Program, instance: Instance | None = None) -> Shapes:
    """The shapes of a program's inputs (in order) and of its output, from
    shape inference (``instance``: an existing analysis of ``program``'s
    model, or of a block instance, to reuse)."""
    inst = instance or analyze(program)
    g = inst.graph
    return Shapes(tuple(tuple(inst.shapes[i.id]) for i in g.inputs), (tuple(inst.output_shape),))


def _downsampled(candidate: Shape, target: Shape) -> bool:
    """``candidate`` is ``target`` with its spatial axes divided by one integer."""
    if candidate == target:
        return True
    if len(candidate) != len(target) or len(target) < 3 or candidate[0] != target[0]:
        return False
    factors = set()
    for c, t in zip(candidate[1:], target[1:]):
        if c < 1 or t % c:
            return False
        factors.add(t // c)
    return len(factors) == 1


def satisfies(candidate: Shapes, target: Shapes, allow_downsampling: bool = False) -> bool:
    """The same shapes, position by position (see the module docstring for
    ``allow_downsampling``)."""
    if candidate.inputs != target.inputs or len(candidate.outputs) != len(target.outputs):
        return False
    if not allow_downsampling:
        return candidate.outputs == target.outputs
    return all(_downsampled(c, t) for c, t in zip(candidate.outputs, target.outputs))


def distance(candidate: Shapes, target: Shapes, allow_downsampling: bool = False) -> float:
    """0 when :func:`satisfies` (with the same flag), else 1."""
    return 0.0 if satisfies(candidate, target, allow_downsampling) else 1.0


def mutate(target: Shapes, rng: Any = None) -> Shapes:
    """Shapes are kept by mutation: the target itself (``rng`` is unused, and
    accepted so that every property mutates with the same call)."""
    return target


def _fmt(s: Shape) -> str:
    return "[" + ", ".join(map(str, s)) + "]"


def render(shapes: Shapes) -> str:
    """``inputs: [64, 56, 56]; outputs: [64, 56, 56]``."""
    return (
        f"inputs: {', '.join(map(_fmt, shapes.inputs)) or '-'}; "
        f"outputs: {', '.join(map(_fmt, shapes.outputs)) or '-'}"
    )
