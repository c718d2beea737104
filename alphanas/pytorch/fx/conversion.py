"""Conversion of the whole traced graph: every live fx node through the
converter tables into the flat (block-free) op list of a
:class:`~alphanas.pytorch.fx.context._Context`; in-place updates that are read
again, batch-dependent values and everything no converter maps are collected,
and the import fails listing all of them.
"""

from __future__ import annotations

import operator
from collections import Counter
from typing import Any

import torch.fx as fx
from torch import nn

from alphanas.lang.errors import ImportFailure
from alphanas.pytorch.fx.context import (
    _CONST,
    _FAILED,
    _INPUT,
    _Attr,
    _Cascade,
    _Context,
    _Meta,
    _relative,
    _scope,
    _Unmapped,
)
from alphanas.pytorch.fx.converters import FUNCTION_CONVERTERS, METHOD_CONVERTERS, MODULE_CONVERTERS
from alphanas.pytorch.fx.tracing import _Tracer

_HINT_REGISTER = (
    "register a converter in alphanas/pytorch/fx/converters.py (MODULE_CONVERTERS, FUNCTION_CONVERTERS "
    "or METHOD_CONVERTERS) that maps it to ops of the library, or change the model"
)


def _live(graph: fx.Graph) -> set[fx.Node]:
    """The nodes the output depends on: asserts and unused values drop out."""
    out = next(n for n in graph.nodes if n.op == "output")
    live, todo = {out}, [out]
    while todo:
        for i in todo.pop().all_input_nodes:
            if i not in live:
                live.add(i)
                todo.append(i)
    return live


def _mutates(node: fx.Node, module: nn.Module | None) -> bool:
    """Whether a node changes its first input in place (relu_, inplace=True, +=)."""
    if node.op == "call_method":
        return str(node.target).endswith("_") and not str(node.target).startswith("__")
    if node.op == "call_module":
        return bool(getattr(module, "inplace", False))
    if node.op == "call_function":
        return bool(node.kwargs.get("inplace")) or node.target in _IN_PLACE_OPERATORS
    return False


_IN_PLACE_OPERATORS = (operator.iadd, operator.isub, operator.imul, operator.itruediv)


def _describe(node: fx.Node, module: nn.Module | None) -> tuple[str, str]:
    """(kind, where) of a node, for the list of what did not map: a module
    call is where its module is; any other node is its fx name and module."""
    scope = _scope(node)
    where = node.name + (f" in {scope[-1]}" if scope else "")
    if node.op == "call_module":
        t = type(module)
        return f"module {t.__module__}.{t.__qualname__}", str(node.target)
    if node.op == "call_method":
        return f"method Tensor.{node.target}", where
    if node.op == "call_function" and node.target is getattr:
        return f"attribute Tensor.{node.args[1]}", where
    if node.op == "call_function":
        t = node.target
        mod = getattr(t, "__module__", None) or ""
        mod = "operator" if mod == "_operator" else mod  # operator.add, as written
        return f"function {mod + '.' if mod else ''}{getattr(t, '__name__', t)}", where
    if node.op == "get_attr":
        return "tensor constant", str(node.target)
    return f"{node.op} {node.target}", where


def _is_tensor_valued(value: Any) -> bool:
    """A tensor, or a tuple with tensors (chunk, split, attention's outputs)."""
    if isinstance(value, (tuple, list)):
        return any(isinstance(v, _Meta) for v in value)
    return isinstance(value, _Meta)


def _convert_node(c: _Context, node: fx.Node, module: nn.Module | None, tracer: _Tracer) -> Any:
    """The env value of one live node (not a placeholder or the output)."""
    if not _is_tensor_valued(c.values.get(node)):
        return _CONST  # sizes and shape arithmetic: converters read them through const()
    if node.op == "get_attr":
        try:
            c.root.get_parameter(str(node.target))
        except AttributeError:
            c.fail("a buffer or constant tensor used in arithmetic; a program has no constants")
        return _Attr(str(node.target))
    if node.op == "call_module":
        assert module is not None
        calls = tracer.num_calls.get(str(node.target), 1)
        if calls > 1 and any(True for _ in module.parameters()):
            c.fail(f"called {calls} times with the same weights; a program cannot share weights")
        convert = MODULE_CONVERTERS.get(type(module))
    elif node.op == "call_function":
        convert = FUNCTION_CONVERTERS.get(node.target)
    else:
        convert = METHOD_CONVERTERS.get(str(node.target))
    if convert is None:
        c.fail("")  # no converter: the kind alone says it
    value = convert(c, node, module if node.op == "call_module" else node.target)
    if isinstance(value, str) and c.shapes[value] != c.shape(node):
        c.fail(f"converted to shape {list(c.shapes[value])}, torch gives {list(c.shape(node))}")
    return value


def _failure_report(what: str, failures: dict[str, list[tuple[str, str]]]) -> str:
    """Each kind of unmapped operation with its count, where it occurs and
    (once per distinct reason) why."""
    count = sum(len(v) for v in failures.values())
    lines = [f"cannot import {what}: {count} operation{'s' if count > 1 else ''} do not map to the op library"]
    for kind, cases in failures.items():
        places = [where for where, _ in cases]
        more = f", ... and {len(places) - 6} more" if len(places) > 6 else ""
        lines.append(f"  {kind} ×{len(cases)}: {', '.join(places[:6])}{more}")
        reasons = list(dict.fromkeys(why for _, why in cases if why))
        lines += [f"      {why}" for why in reasons[:4]]
        if len(reasons) > 4:
            lines.append(f"      ... and {len(reasons) - 4} other reasons")
    return "\n".join(lines)


def _convert(gm: fx.GraphModule, root: nn.Module, tracer: _Tracer, runs: tuple[dict, dict], what: str) -> tuple[_Context, str]:
    """Every live fx node to ops; raise listing all that do not map."""
    c = _Context(root, runs)
    live = _live(gm.graph)
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    failures: dict[str, list[tuple[str, str]]] = {}  # kind -> (where, why)
    inputs = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if any(isinstance(c.values.get(n), _Meta) for n in inputs[1:]):
        raise ImportFailure(f"{what} takes more than one tensor input; a program has one")
    for node in gm.graph.nodes:
        module = gm.get_submodule(str(node.target)) if node.op == "call_module" else None
        c.node = node
        try:
            if _mutates(node, module):
                target = node.args[0] if node.args else None
                later = [u for u in getattr(target, "users", ()) if u is not node and u in live and order[u] > order[node]]
                # the program computes out of place: fine unless the old value is read again
                if later or (node not in live and target in live):
                    c.fail("works in place on a value that is read again")
            if node not in live or node.op == "output":
                continue
            if node.op == "placeholder":
                c.env[node] = _INPUT if node is inputs[0] else _CONST
                if node is inputs[0]:
                    c.shapes[_INPUT] = c.shape(node)
                continue
            c.env[node] = _convert_node(c, node, module, tracer)
        except _Unmapped as err:
            kind, where = _describe(node, module)
            failures.setdefault(kind, []).append((where, str(err)))
            c.env[node] = _FAILED
        except _Cascade:  # reported where it started
            c.env[node] = _FAILED
    if failures:
        raise ImportFailure(_failure_report(what, failures), hint=_HINT_REGISTER)
    output = next(n for n in gm.graph.nodes if n.op == "output").args[0]
    if not isinstance(output, fx.Node) or not isinstance(c.env.get(output), str):
        raise ImportFailure(f"{what} returns {type(c.values.get(output, output)).__name__}; a program returns one tensor")
    # a module whose forward is one function call (torchvision's Permute) names
    # its op: block_1 rather than block_1_permute
    per_scope = Counter(path for op in c.ops for path in op.scope)
    for op in c.ops:
        if op.scope and per_scope[op.scope[-1]] == 1 and "." not in _relative(op.label, op.scope[-1]):
            op.label = op.scope[-1]
    return c, c.env[output]
