"""The classifier head of an imported model: found, re-sized for another
class count, and named as the program's ``classes`` parameter.

A model's head is the ``nn.Linear`` whose output is the model's output
(torchvision's ``fc``, ``classifier.1``, ``heads.head``...). Re-sizing it
replaces that layer by a fresh ``nn.Linear`` of the same input width and
bias, initialised by torch's default rule (from torch's global seed), before
the model is traced, so that the imported weights carry the new head.
Exposing it writes the head's ``out`` as ``classes`` and adds
``classes: int = N`` to the model's parameters, as the zoo's seeds do, so
that ``seed_params = {classes = N}`` works on an imported model.
"""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from alphanas.lang.errors import ImportFailure
from alphanas.lang.ir import IntParam, Program, Sym
from alphanas.pytorch.fx.context import _Weights

__all__ = ["find_head", "name_classes", "resize_head"]


def find_head(module: nn.Module) -> str | None:
    """The dotted name of the ``nn.Linear`` whose output is the model's
    output, or None when the output comes from anything else (a symbolic
    trace, no shapes: cheap)."""
    from alphanas.pytorch.fx.tracing import _Tracer

    try:
        graph = _Tracer().trace(module)
    except Exception:  # an untraceable model fails later, with the import's own message
        return None
    (out,) = [n for n in graph.nodes if n.op == "output"]
    producer = out.args[0]
    if getattr(producer, "op", None) != "call_module":
        return None
    target = str(producer.target)
    return target if isinstance(module.get_submodule(target), nn.Linear) else None


def resize_head(module: nn.Module, classes: int) -> str:
    """Replace the model's head by a fresh ``nn.Linear`` with ``classes``
    outputs (in place); its name."""
    if classes < 1:
        raise ImportFailure(f"--classes {classes} must be at least 1")
    head = find_head(module)
    if head is None:
        raise ImportFailure(
            "cannot re-size the classifier: the model's output does not come from an nn.Linear",
            hint="import without --classes and edit the program's last op",
        )
    old = module.get_submodule(head)
    assert isinstance(old, nn.Linear)
    new = nn.Linear(old.in_features, classes, bias=old.bias is not None)
    parent, _, leaf = head.rpartition(".")
    setattr(module.get_submodule(parent) if parent else module, leaf, new)
    return head


def name_classes(program: Program, weights: dict[str, _Weights], head: str) -> Program:
    """``program`` with the head's ``out`` written as the model parameter
    ``classes`` (default: its current value). Unchanged when the head is not
    an op of the model's own body (inside a block, its size is the block's)
    or when the model already has a ``classes`` parameter."""
    model = program.model
    if any(p.name == "classes" for p in model.params):
        return program
    node = next((n for n in model.nodes if n.op == "dense" and weights.get(n.id) == _Weights(module=head)), None)
    if node is None or not isinstance(node.attr("out"), int):
        return program
    count = node.attr("out")
    attrs = tuple((k, Sym("classes") if k == "out" else v) for k, v in node.attrs)
    nodes = tuple(replace(n, attrs=attrs) if n is node else n for n in model.nodes)
    params = (*model.params, IntParam("classes", count))
    return replace(program, model=replace(model, nodes=nodes, params=params))
