"""What a synthesis request asks for: a :class:`Problem`.

A problem states where the region must fit (the per-sample shapes of its
inputs and of its one output), what it must do (lower bounds on depth and
mixing per (input, output) pair, as :mod:`alphanas.properties` defines them)
and what it may cost (:class:`Budgets`, per sample). It is built from the
properties of a region (:meth:`Problem.from_properties`) or written by hand
(the ``alphanas synth`` command).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alphanas.lang.analysis import Shape
from alphanas.properties.api import RegionProperties
from alphanas.properties.depth import Depth
from alphanas.properties.mixing import Mixing

__all__ = ["Budgets", "Problem", "UnsupportedProblem"]



class UnsupportedProblem(ValueError):
    """A request this synthesizer does not handle (say, a region with two
    outputs); the message says what and why."""


@dataclass(frozen=True)
class Budgets:
    """Upper bounds on the region's resources, per sample (None: no bound).
    ``memory`` bounds the peak of live activation elements."""

    params: int | None = None
    flops: int | None = None
    memory: int | None = None

    def items(self) -> list[tuple[str, int]]:
        return [(k, v) for k, v in (("params", self.params), ("flops", self.flops), ("memory", self.memory)) if v is not None]


@dataclass(frozen=True)
class Problem:
    """A synthesis request: shapes to fit, properties to reach, budgets to keep."""

    inputs: tuple[Shape, ...]
    output: Shape
    depth: Depth = field(default_factory=Depth)
    mixing: Mixing = field(default_factory=lambda: Mixing.of({}))
    budgets: Budgets = field(default_factory=Budgets)

    def __post_init__(self) -> None:
        if not self.inputs:
            raise UnsupportedProblem("a region needs at least one tensor input")
        for pair in (*self.depth, *self.mixing):
            if pair[1] != 0 or not 0 <= pair[0] < len(self.inputs):
                raise UnsupportedProblem(f"property pair {pair} names no (input, output) of this problem")

    @staticmethod
    def from_properties(props: RegionProperties, budgets: Budgets | None = None) -> Problem:
        """The problem of re-synthesizing a region with these properties."""
        if len(props.shapes.outputs) != 1:
            raise UnsupportedProblem(
                f"the region has {len(props.shapes.outputs)} outputs; synthesis makes regions with one output"
            )
        return Problem(
            tuple(tuple(s) for s in props.shapes.inputs),
            tuple(props.shapes.outputs[0]),
            props.depth,
            props.mixing,
            budgets or Budgets(),
        )

    def sizes(self) -> list[int]:
        """Every axis size of the inputs and the output (domains scale with them)."""
        return [n for s in (*self.inputs, self.output) for n in s]
