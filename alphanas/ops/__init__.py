"""The op library: the one place that knows what each op is.

Every op is one class, registered by name, holding its parameters, its shape
rule, its costs (concrete and, through :mod:`alphanas.ops.arith`, symbolic)
and its PyTorch form. The rest of the engine asks this package; nothing else
switches on op names.
"""

from alphanas.ops import activation, attention, linear, norm, pool, tensor  # noqa: F401  (registers the ops)
from alphanas.ops.registry import all_ops, lookup, suggest
from alphanas.ops.spec import CONCRETE, REQUIRED, Attrs, Check, Cost, Op, OpError, Param, Shape

__all__ = [
    "CONCRETE",
    "REQUIRED",
    "Attrs",
    "Check",
    "Cost",
    "Op",
    "OpError",
    "Param",
    "Shape",
    "all_ops",
    "lookup",
    "suggest",
]
