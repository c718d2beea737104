"""The concrete reference for the depth property: a path search in torch.

:func:`probe_depth` does not read the op library's depth kinds. It builds the
program's ``nn.Module`` (:func:`alphanas.pytorch.codegen.build`), traces it with
``torch.fx`` and classifies every traced node by torch's own vocabulary,
with a table of its own (:data:`MODULES`, :data:`FUNCTIONS`,
:data:`METHODS`). A node the table does not know raises
:class:`UnknownNode`: a new op must be added here, never defaulted. Then a
longest-path search over the traced DAG, on (node, kind of the last run)
pairs, gives the largest number of runs from each placeholder to the output.
:mod:`alphanas.properties.depth` is tested against it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from alphanas.lang.ir import Program
from alphanas.properties.depth import Depth
from alphanas.pytorch.codegen import build

LINEAR, NONLINEAR, NEUTRAL = "linear", "nonlinear", "neutral"
#: a value that carries no tensor data (a shape, a size): paths stop there
META = "meta"
#: a module whose result is a tuple; indexing it picks an element (neutral)
TUPLE = "tuple"

#: modules, by class (subclasses included)
MODULES: list[tuple[type, str]] = [
    (nn.Conv1d, LINEAR),
    (nn.Conv2d, LINEAR),
    (nn.Conv3d, LINEAR),
    (nn.Linear, LINEAR),
    (nn.modules.batchnorm._BatchNorm, LINEAR),
    (nn.LayerNorm, LINEAR),
    (nn.GroupNorm, LINEAR),
    (nn.AvgPool2d, LINEAR),
    (nn.AdaptiveAvgPool2d, LINEAR),
    (nn.Flatten, LINEAR),
    (nn.MaxPool2d, NONLINEAR),
    (nn.AdaptiveMaxPool2d, NONLINEAR),
    (nn.ReLU, NONLINEAR),
    (nn.ReLU6, NONLINEAR),
    (nn.GELU, NONLINEAR),
    (nn.SiLU, NONLINEAR),
    (nn.Hardswish, NONLINEAR),
    (nn.Hardsigmoid, NONLINEAR),
    (nn.Sigmoid, NONLINEAR),
    (nn.Tanh, NONLINEAR),
    (nn.Softmax, NONLINEAR),
    (nn.MultiheadAttention, TUPLE),  # nonlinear; returns (output, weights)
    (nn.Dropout, NEUTRAL),
    (nn.Identity, NEUTRAL),
]

#: helper modules of :mod:`alphanas.ops.modules`, by class name: the code
#: generator copies their source, so the classes are not the same objects
HELPER_MODULES: dict[str, str] = {
    "LearnedTensor": LINEAR,  # a learned tensor, a source
    "StochasticDepth": NEUTRAL,  # the identity in evaluation
}

#: helper functions of :mod:`alphanas.ops.modules`, by name (traced as leaves)
HELPER_FUNCTIONS: dict[str, str] = {
    "cat_batch": LINEAR,
}

FUNCTIONS: dict[Callable, str] = {
    torch.relu: NONLINEAR,
    F.relu: NONLINEAR,
    F.relu6: NONLINEAR,
    F.gelu: NONLINEAR,
    F.silu: NONLINEAR,
    F.hardswish: NONLINEAR,
    F.hardsigmoid: NONLINEAR,
    torch.sigmoid: NONLINEAR,
    torch.tanh: NONLINEAR,
    torch.softmax: NONLINEAR,
    F.softmax: NONLINEAR,
    F.max_pool2d: NONLINEAR,
    F.adaptive_max_pool2d: NONLINEAR,
    F.avg_pool2d: LINEAR,
    F.adaptive_avg_pool2d: LINEAR,
    torch.mean: LINEAR,
    torch.flatten: LINEAR,
    torch.reshape: LINEAR,
    torch.cat: LINEAR,
    torch.permute: LINEAR,
    torch.transpose: LINEAR,
    operator.add: LINEAR,
    operator.mul: LINEAR,  # a product counts as linear (as αNAS's mul)
    operator.getitem: LINEAR,  # tensor indexing; see _kind for tuples and sizes
}

METHODS: dict[str, str] = {
    "mean": LINEAR,
    "reshape": LINEAR,
    "view": LINEAR,
    "permute": LINEAR,
    "transpose": LINEAR,
    "flatten": LINEAR,
    "contiguous": NEUTRAL,
    "expand": LINEAR,
    "size": META,
}


class UnknownNode(Exception):
    """A traced node that the reference's table does not classify."""


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualified_name: str) -> bool:
        return type(m).__name__ in HELPER_MODULES or super().is_leaf_module(m, qualified_name)


def trace(module: nn.Module) -> fx.GraphModule:
    """The module traced by torch.fx, with the generated helpers as leaves."""
    namespace = type(module).forward.__globals__
    wrap = tuple(namespace[name] for name in HELPER_FUNCTIONS if callable(namespace.get(name)))
    tracer = _Tracer(autowrap_functions=wrap)
    graph = tracer.trace(module)
    return fx.GraphModule(tracer.root, graph)


def _kind(gm: fx.GraphModule, n: fx.Node, kinds: dict[fx.Node, str]) -> str:
    if n.op in ("placeholder", "output"):
        return NEUTRAL
    if n.op == "call_module":
        m = gm.get_submodule(str(n.target))
        name = type(m).__name__
        if name in HELPER_MODULES and type(m).__module__.startswith("alphanas_generated"):
            return HELPER_MODULES[name]
        for cls, kind in MODULES:
            if isinstance(m, cls):
                return kind
        raise UnknownNode(f"the depth reference does not know the module {type(m).__qualname__} ({n.format_node()})")
    if n.op == "call_function":
        if n.target is getattr and n.args[1] in ("shape", "dtype", "device", "ndim"):
            return META
        if n.target is operator.getitem:
            source = kinds.get(n.args[0]) if isinstance(n.args[0], fx.Node) else None
            if source == META:
                return META
            if source == TUPLE:
                return NEUTRAL  # picking an element of a tuple result
            return LINEAR
        name = getattr(n.target, "__name__", None)
        if name in HELPER_FUNCTIONS and getattr(n.target, "__module__", "").startswith("alphanas_generated"):
            return HELPER_FUNCTIONS[name]
        try:
            return FUNCTIONS[n.target]  # type: ignore[index]
        except (KeyError, TypeError):
            pass
        raise UnknownNode(f"the depth reference does not know the function {n.target!r} ({n.format_node()})")
    if n.op == "call_method":
        if n.target == "mul" and n.args[1:] == (0.0,) and not n.kwargs:
            # x.mul(0.0), the zero op (NAS-Bench-201's none edge): it computes
            # nothing from its input and counts for nothing, as identity does
            return NEUTRAL
        if str(n.target) in METHODS:
            return METHODS[str(n.target)]
        raise UnknownNode(f"the depth reference does not know the method .{n.target}() ({n.format_node()})")
    raise UnknownNode(f"the depth reference does not know the fx node {n.format_node()}")


def classify(gm: fx.GraphModule) -> dict[fx.Node, str]:
    """Every node of a traced module with its kind."""
    kinds: dict[fx.Node, str] = {}
    for n in gm.graph.nodes:
        kinds[n] = _kind(gm, n, kinds)
    return kinds


def _longest(gm: fx.GraphModule, kinds: dict[fx.Node, str], start: fx.Node) -> int | None:
    """The largest number of runs over the paths from ``start`` to the output
    (None if the output does not depend on ``start``): a longest-path search
    over (node, kind of the last run) in the node order of the trace."""
    best: dict[fx.Node, dict[str | None, int]] = {start: {None: 0}}
    result = None
    for n in gm.graph.nodes:
        if n is start or kinds[n] == META:
            continue
        arriving: dict[str | None, int] = {}
        for p in n.all_input_nodes:
            for last, count in best.get(p, {}).items():
                arriving[last] = max(arriving.get(last, -1), count)
        if not arriving:
            continue
        kind = kinds[n]
        if kind == TUPLE:
            kind = NONLINEAR
        here: dict[str | None, int] = {}
        for last, count in arriving.items():
            if kind == NEUTRAL:
                key, c = last, count
            else:
                key, c = kind, count + (last != kind)
            here[key] = max(here.get(key, -1), c)
        best[n] = here
        if n.op == "output":
            result = max(here.values())
    return result


def probe_depth(program: Program, module: nn.Module | None = None) -> Depth:
    """The depth of every (input index, output index) pair, from the traced torch module."""
    gm = trace(module if module is not None else build(program))
    kinds = classify(gm)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    ids = [i.id for i in program.model.inputs]
    assert len(placeholders) == len(ids), (placeholders, ids)
    out = program.model.output
    values: dict[tuple[int, int], int] = {}
    for k, p in enumerate(placeholders):
        d = _longest(gm, kinds, p)
        if d is not None:
            values[(k, 0)] = d
    return Depth(values, (tuple(ids), (out,)))


__all__ = ["UnknownNode", "classify", "probe_depth", "trace"]
