"""Random sampling: the baseline that ignores its parent's structure.

A :class:`RandomSampler` makes a fresh program with the parent's input and
output shapes: the whole model body is synthesized (:func:`synth.synthesize`)
for a random target — a depth drawn between 1 and the parent's, a random
size limit, no mixing target — in the core language or in a space grammar.
It is what "sample programs at random from the space" means when the space
is "every program with these shapes", and it shares every step after the
draw (synthesis, verification, evaluation) with the other strategies, so a
comparison under equal budgets measures the choice of targets alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from alphanas.lang.analysis import analyze
from alphanas.lang.canonical import program_hash
from alphanas.lang.ir import Program
from alphanas.properties.depth import Depth, infer_depth
from alphanas.variation.base import NO_CONTEXT, VARIATIONS, Child, VariationContext, VariationFailed
from synth.work import DEFAULT_STEPS

if TYPE_CHECKING:
    from synth.synthesize import Space as SynthSpace

__all__ = ["RandomSampler"]


@VARIATIONS.register("random_sample", space_mode="sample")
@dataclass(frozen=True)
class RandomSampler:
    """Random programs with the parent's shapes (see the module docstring)."""

    max_ops: int = 12
    space: SynthSpace | None = None
    #: the synthesizer's work budget (:mod:`synth.work`), and a wall-clock safety net
    steps: int = DEFAULT_STEPS
    time_limit: float = 30.0
    attempts: int = 4
    name: str = "random_sample"

    def vary(self, parent: Program, rng: random.Random, context: VariationContext = NO_CONTEXT) -> Child:
        from synth import Problem, synthesize

        inst = analyze(parent)
        inputs = tuple(tuple(inst.shapes[i]) for i in parent.model.input_ids)
        deepest = max((d for _, d in infer_depth(parent, inst).items()), default=1)
        for _ in range(self.attempts):
            depth = rng.randint(1, max(1, min(deepest, self.max_ops - 1)))
            size = rng.randint(depth + 1, self.max_ops)
            problem = Problem(inputs, tuple(inst.output_shape), Depth({(i, 0): depth for i in range(len(inputs))}))
            result = synthesize(problem, self.space, seed=rng.randrange(2**31), time_limit=self.time_limit, steps=self.steps,
                                max_ops=size)
            if result.ok and program_hash(result.program) != program_hash(parent):
                program = replace(result.program, model=replace(result.program.model, name=parent.model.name))
                return Child(program, self.name, {"depth": depth, "max_ops": size, "structure": result.structure,
                                                  "synthesis": result.stats.as_dict()})
        raise VariationFailed(f"no random program with the parent's shapes in {self.attempts} draws")
