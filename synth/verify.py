"""Re-verification: the independent check every synthesized region passes.

A region is made concrete (its slots replaced by the solved sizes), printed
as a program, parsed back from that text, analysed, and its properties
re-inferred from scratch with :mod:`alphanas.properties`. It is returned
only when its shapes are the problem's, its depth and mixing satisfy the
targets and its resources are within the budgets. Nothing here trusts the
enumerator's representative estimates or the solver's arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Graph, Input, Program, evaluate
from alphanas.lang.parse import parse
from alphanas.lang.printer import print_program
from alphanas.properties import depth as depth_mod
from alphanas.properties import mixing as mixing_mod
from alphanas.properties.api import RegionProperties, whole_graph_properties
from synth.problem import Problem
from synth.structure import Template

__all__ = ["Rejected", "Verified", "concrete_program", "verify"]


class Rejected(Exception):
    """The concrete region does not meet the problem; the message says how,
    ``kind`` in a few words that group like rejections (the explanation
    counts them by kind)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Verified:
    program: Program
    text: str
    properties: RegionProperties


def concrete_program(tmpl: Template, problem: Problem, values: Mapping[str, int], name: str = "region") -> Program:
    """The template with its slots filled, as a model over the problem's inputs."""
    nodes = tuple(
        replace(n, attrs=tuple((k, evaluate(v, values)) for k, v in n.attrs)) for n in tmpl.graph.nodes
    )
    inputs = tuple(Input(i.id, tuple(s)) for i, s in zip(tmpl.graph.inputs, problem.inputs))
    model = Graph("model", name, inputs, (), nodes, tmpl.graph.output)
    return Program(model)


@lru_cache(maxsize=4096)
def _analysed(text: str) -> tuple[Program, Instance, RegionProperties] | str:
    """A region's text parsed, analysed and its properties inferred, or why
    it does not check. Memoised: enumeration meets the same region text
    again and again (a grammar's sentences with their sizes written in), and
    all three values are immutable."""
    try:
        reparsed = parse(text, "<synthesized>")
        inst = analyze(reparsed)
    except AlphanasError as err:
        return err.message
    return reparsed, inst, whole_graph_properties(reparsed, inst)


def verify(program: Program, problem: Problem) -> Verified:
    """Re-parse, re-analyse and re-infer; :class:`Rejected` unless every
    requirement holds."""
    text = print_program(program)
    checked = _analysed(text)
    if isinstance(checked, str):
        raise Rejected(f"the synthesized text does not check: {checked}", "does not check")
    reparsed, inst, props = checked
    if tuple(inst.output_shape) != tuple(problem.output):
        raise Rejected(f"output shape {list(inst.output_shape)}, the problem needs {list(problem.output)}",
                       "wrong output shape")
    shapes = tuple(tuple(inst.shapes[i]) for i in reparsed.model.input_ids)
    if shapes != tuple(problem.inputs):
        raise Rejected(f"input shapes {shapes} differ from the problem's {problem.inputs}", "wrong input shapes")
    if not depth_mod.satisfies(props.depth, problem.depth):
        raise Rejected(f"depth {dict(props.depth.items())} does not reach {dict(problem.depth.items())}",
                       "depth below the target")
    if not mixing_mod.satisfies(props.mixing, problem.mixing):
        raise Rejected("mixing does not reach the target", "mixing below the target")
    res = props.resources
    measured = {"params": res.params, "flops": res.flops, "memory": res.peak_memory}
    for name, bound in problem.budgets.items():
        if measured[name] > bound:
            raise Rejected(f"{name} {measured[name]:,} exceed the budget {bound:,}", f"over the {name} budget")
    return Verified(reparsed, text, props)
