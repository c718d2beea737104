"""From PyTorch to programs: import a model by tracing it with torch.fx.

:func:`import_model` turns an ``nn.Module`` (a torchvision model by name, a
factory ``package.module:callable``, or an instance) into a
:class:`~alphanas.lang.ir.Program` in five steps:

1. **trace** the module (in eval mode) with ``torch.fx``; torch's own layers
   and the module types of :data:`MODULE_CONVERTERS` stay whole ("leaves");
2. **run** the traced graph under ``ShapeProp`` on a random input of batch 2,
   and again on one of batch 3 (with meta tensors: shapes without
   arithmetic). Every node gets its tensor shape, and every non-tensor node
   (``x.size(0)``, ``h // p``) its concrete value. Comparing the two runs
   tells which tensors carry the batch on their first axis and which values
   depend on the batch size, so that a model that mixes the batch axis with
   others is rejected rather than imported wrongly;
3. **convert** each fx node with the small functions of the tables
   :data:`MODULE_CONVERTERS`, :data:`FUNCTION_CONVERTERS` and
   :data:`METHOD_CONVERTERS` into op applications of the library. Every node
   nothing maps is collected, and the import fails listing all of them;
4. **assemble** the program: each submodule with its own ``forward`` that is
   called once and computes one value from its inputs becomes a block call
   (torchvision's Bottleneck, InvertedResidual, EncoderBlock...), and
   instances with identical bodies share one block definition;
5. **check** the program: its analysed shapes must be the traced ones.

This is the only module that knows torch's names for layers and functions;
the op library (:mod:`alphanas.ops`) is the only one that knows ours, so the
converters below only construct nodes. To support a new layer, write a
converter and register it in one of the tables.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import keyword
import math
import operator
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from alphanas import ops
from alphanas.lang.errors import AlphanasError, ImportFailure
from alphanas.lang.ir import Expr, Graph, Input, Node, Program
from alphanas.ops import CONCRETE, REQUIRED, Attrs, OpError

Shape = tuple[int, ...]

#: the batch sizes of the two tracing runs; not 1, so that the batch axis
#: cannot be mistaken for an axis of length 1
BATCH, BATCH_CHECK = 2, 3

#: the value id of the model's input in the flat op list
_INPUT = "<input>"
_HINT_REGISTER = (
    "register a converter in alphanas/fx_import.py (MODULE_CONVERTERS, FUNCTION_CONVERTERS "
    "or METHOD_CONVERTERS) that maps it to ops of the library, or change the model"
)


# -- the result --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Weights:
    """Where the state of one op's module comes from in the original model.

    ``module``: an original module whose state_dict names equal those of the
    op's module (nn.Conv2d to conv2d); ``tensors``: explicit pairs (our
    name under the op's module, original full name), for functional calls
    with parameters; ``single``: the op's module holds exactly one tensor,
    this original one (a ``param``, whose own naming is the op library's).
    """

    module: str | None = None
    tensors: tuple[tuple[str, str], ...] = ()
    single: str | None = None


@dataclass
class ImportResult:
    """An imported program, with what it takes to load the original weights."""

    program: Program
    #: the original module (in eval mode)
    module: nn.Module
    #: dotted path of an op (node ids through block calls) -> its weights' origin
    weights: dict[str, _Weights]
    ops: int = 0
    params: int = 0
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line: ops, blocks, calls, parameters, and any note."""
        calls = sum(1 for n in self.program.model.nodes if ops.lookup(n.op) is None)
        blocks = len(self.program.blocks)
        shape = f"in {blocks} block{'s' if blocks != 1 else ''} ({calls} call{'s' if calls != 1 else ''})"
        line = f"{self.ops} op{'s' if self.ops != 1 else ''} {shape}, {self.params:,} parameters"
        return "; ".join([line, *self.notes])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The original model's parameters and buffers under the names of
        ``alphanas.pytorch.codegen.build(self.program)``, for ``load_state_dict(strict=True)``."""
        from alphanas.pytorch.codegen import attribute_name, build

        ours = build(self.program).state_dict()
        theirs = self.module.state_dict()
        result: dict[str, torch.Tensor] = {}
        reshapeable: set[str] = set()
        for path, w in self.weights.items():
            # codegen names a block call's submodule and an op's module after the
            # node id, through attribute_name (which dodges nn.Module's own names)
            prefix = ".".join(attribute_name(part) for part in path.split(".")) + "."
            keys = [k for k in ours if k.startswith(prefix)]
            if w.module is not None:
                for k in keys:
                    result[k] = theirs[f"{w.module}.{k[len(prefix):]}"]
            for suffix, name in w.tensors:
                result[prefix + suffix] = theirs[name]
            if w.single is not None:
                assert len(keys) == 1, f"{path}: expected one tensor, the module has {keys}"
                result[keys[0]] = theirs[w.single]
                # a learned tensor may carry a batch axis of 1 on one side only
                reshapeable.add(keys[0])
        missing = sorted(set(ours) - set(result))
        assert not missing, f"no original tensor for {missing[:5]}"
        for k, t in result.items():
            want = ours[k].shape
            if t.shape != want:
                assert k in reshapeable and t.numel() == ours[k].numel(), (
                    f"{k}: the original tensor has shape {list(t.shape)}, the program's {list(want)}"
                )
                result[k] = t.reshape(want)
        return {k: result[k] for k in ours}


# -- converter plumbing ----------------------------------------------------------------------


class _Unmapped(Exception):
    """A node the converters cannot express; the reason says why."""


class _Cascade(Exception):
    """A node reads a value whose conversion already failed (not reported again)."""


_FAILED = object()  # env value of a node whose conversion failed
_CONST = object()  # env value of a non-tensor node: read its recorded value


@dataclass(frozen=True)
class _Meta:
    """A traced tensor, reduced to what the import reads."""

    shape: Shape
    dtype: torch.dtype


@dataclass
class _Multi:
    """A tuple-valued node (chunk, split, attention): getitem picks an item."""

    pick: Callable[[int], str]
    picked: dict[int, str] = field(default_factory=dict)

    def get(self, i: int) -> str:
        if i not in self.picked:
            self.picked[i] = self.pick(i)
        return self.picked[i]


@dataclass(frozen=True)
class _Attr:
    """A parameter read with get_attr; its consumer decides how it broadcasts."""

    target: str


@dataclass
class _Op:
    """One op application in the flat (block-free) program."""

    key: str
    op: str
    inputs: tuple[str, ...]
    attrs: tuple[tuple[str, Expr], ...]
    #: qualified names of the modules being called, outermost first
    scope: tuple[str, ...]
    #: the dotted name the node is named after: a module path, or scope + function
    label: str
    shape: Shape
    weights: _Weights | None = None


Converter = Callable[["_Context", fx.Node, Any], Any]


# -- the conversion context --------------------------------------------------------------


class _Context:
    """What a converter works with: the traced values of one graph, and the
    op list being built. Converters call :meth:`x`, :meth:`shape`,
    :meth:`const`, :meth:`axis` and :meth:`emit`, and raise
    :class:`_Unmapped` (through :meth:`fail`) for what they cannot express."""

    def __init__(self, root: nn.Module, runs: tuple[dict, dict]) -> None:
        self.root = root
        self.values, self.check_values = runs
        self.env: dict[fx.Node, Any] = {}
        self.ops: list[_Op] = []
        self.shapes: dict[str, Shape] = {}
        self.params: dict[tuple[str, Shape], str] = {}
        self.node: fx.Node | None = None
        self._keys: Counter[str] = Counter()

    # -- reading the trace ------------------------------------------------------------
    def fail(self, reason: str) -> Any:
        raise _Unmapped(reason)

    def meta(self, node: fx.Node) -> _Meta:
        m = self.values.get(node)
        if not isinstance(m, _Meta):
            self.fail(f"{node.name} is not a tensor")
        return m

    def batched(self, node: fx.Node) -> bool:
        """Whether a tensor carries the batch on its first axis (and only there)."""
        a, b = self.values.get(node), self.check_values.get(node)
        return (
            isinstance(a, _Meta) and isinstance(b, _Meta) and len(a.shape) == len(b.shape) >= 1
            and a.shape[0] == BATCH and b.shape[0] == BATCH_CHECK and a.shape[1:] == b.shape[1:]
        )

    def full_shape(self, node: fx.Node) -> Shape:
        """The traced shape of a batched tensor, batch axis included."""
        if self.env.get(node) is _FAILED:
            raise _Cascade
        m = self.meta(node)
        if not self.batched(node):
            other = self.check_values.get(node)
            # name the value only when it is an input of the node being converted
            what = "the result" if node is self.node else f"input {node.name}"
            if isinstance(other, _Meta) and other.shape == m.shape:
                self.fail(f"{what} is computed from parameters or constants alone, not from the model's input")
            shown = list(other.shape) if isinstance(other, _Meta) else other
            self.fail(
                f"{what} does not keep the batch on its first axis (batch {BATCH}: {list(m.shape)}, "
                f"batch {BATCH_CHECK}: {shown}); the model mixes the batch axis with others"
            )
        return m.shape

    def shape(self, node: fx.Node) -> Shape:
        """The per-sample shape of a batched tensor."""
        return self.full_shape(node)[1:]

    def out_shape(self) -> Shape:
        assert self.node is not None
        return self.shape(self.node)

    def x(self, arg: Any) -> str:
        """The value id of a batched tensor argument."""
        if not isinstance(arg, fx.Node):
            self.fail(f"expected a tensor, got {arg!r}")
        v = self.env.get(arg)
        if v is _FAILED:
            raise _Cascade
        if isinstance(v, _Attr):
            self.fail(f"parameter {v.target} is used where the converter expects the batched input")
        if not isinstance(v, str):
            self.fail(f"{arg.name} is not a single tensor")
        self.full_shape(arg)
        return v

    def is_tensor(self, arg: Any) -> bool:
        return isinstance(arg, fx.Node) and (
            isinstance(self.env.get(arg), (str, _Attr)) or self.env.get(arg) is _FAILED
        )

    def const(self, arg: Any) -> Any:
        """The concrete value of a non-tensor argument (fx nodes inside are
        replaced by their traced values). A value that depends on the batch
        size cannot become an op argument: the program would fix the batch."""
        if isinstance(arg, fx.Node):
            v = self.env.get(arg)
            if v is _FAILED:
                raise _Cascade
            if v is not _CONST:
                self.fail(f"{arg.name} is a tensor where a constant is expected")
            value = self.values[arg]
            if value != self.check_values.get(arg):
                self.fail(f"argument {arg.name} = {value!r} depends on the batch size; a program's ops cannot")
            return value
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.const(a) for a in arg) if not _is_namedtuple(arg) else arg
        if isinstance(arg, slice):
            return slice(self.const(arg.start), self.const(arg.stop), self.const(arg.step))
        if isinstance(arg, dict):
            return {k: self.const(v) for k, v in arg.items()}
        return arg

    def axis(self, d: int, rank: int, what: str = "axis") -> int:
        """The per-sample axis of a torch axis of a rank-``rank`` tensor (batch
        included); the batch axis itself is refused."""
        if not isinstance(d, int) or not -rank <= d < rank:
            self.fail(f"{what} {d!r} is not an axis of a rank-{rank} tensor")
        d = d + rank if d < 0 else d
        if d == 0:
            self.fail(f"{what} is the batch axis; a program computes on each sample alone")
        return d - 1

    # -- building ops -------------------------------------------------------------------
    def emit(self, op: str, inputs: Sequence[str], *, weights: _Weights | None = None,
             label: str | None = None, scope: tuple[str, ...] | None = None, **values: Any) -> str:
        """Append one op application; its shape comes from the op library."""
        assert self.node is not None
        attrs = _attrs(op, values)
        entry = ops.lookup(op)
        assert entry is not None, op
        ins = [self.shapes[i] for i in inputs]
        try:
            shape = tuple(entry.shape(CONCRETE, ins, Attrs(dict(attrs))))
        except OpError as err:
            self.fail(f"as {op}: {err}")
        label = label if label is not None else _label(self.node)
        self._keys[label] += 1
        key = f"{label}#{self._keys[label]}"
        self.ops.append(_Op(key, op, tuple(inputs), attrs, scope if scope is not None else _scope(self.node),
                            label, shape, weights))
        self.shapes[key] = shape
        return key

    def param(self, attr: fx.Node, shape: Shape) -> str:
        """A ``param`` op for a parameter read with get_attr, in the
        per-sample shape its consumer needs (one op per parameter and shape)."""
        target = self.env[attr].target
        key = (target, shape)
        if key not in self.params:
            tensor = self.root.get_parameter(target)
            self.params[key] = self.emit(
                "param", [], weights=_Weights(single=target), label=target, scope=_scope(attr),
                shape=shape, init=_init_of(tensor),
            )
        return self.params[key]

    def operand(self, arg: Any, rank: int) -> str | float:
        """An operand of an elementwise op whose output has ``rank`` axes
        (batch included): a tensor, a parameter (broadcast over the batch),
        or a number."""
        if isinstance(arg, fx.Node) and isinstance(self.env.get(arg), _Attr):
            s = self.values[arg].shape
            if len(s) == rank:
                if s[0] != 1:
                    self.fail(f"parameter {self.env[arg].target} of shape {list(s)} spans the batch axis")
                s = s[1:]
            return self.param(arg, tuple(s) or (1,))
        if self.is_tensor(arg):
            if len(self.full_shape(arg)) != rank:
                self.fail("operands of different ranks: broadcasting would align the batch axis with a per-sample one")
            return self.x(arg)
        value = self.const(arg)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"operand {value!r} is neither a tensor nor a number")
        return float(value)


def _is_namedtuple(v: Any) -> bool:
    return isinstance(v, tuple) and hasattr(v, "_fields")


def _attrs(op: str, values: dict[str, Any]) -> tuple[tuple[str, Expr], ...]:
    """An op's arguments in signature order, defaults filled in and values of
    the kinds the parser produces, so that parse(print(p)) == p."""
    entry = ops.lookup(op)
    assert entry is not None, f"no op {op!r} in the library"
    names = {p.name for p in entry.params}
    assert set(values) <= names, f"{op} has no argument {sorted(set(values) - names)}"
    out = []
    for p in entry.params:
        v = values.get(p.name, p.default)
        assert v is not REQUIRED, f"{op} needs {p.name}"
        out.append((p.name, None if v is None else _KINDS[p.kind](v)))
    return tuple(out)


#: the Python type the parser gives each kind of argument
_KINDS: dict[str, Callable[[Any], Any]] = {
    "int": int, "float": float, "bool": bool, "str": str, "ints": lambda v: tuple(int(i) for i in v),
}


def _init_of(t: torch.Tensor) -> str:
    """The ``param`` initialisation closest to the original's values (the
    import loads the weights anyway; this matters only for training anew)."""
    t = t.detach()
    if bool((t == 1).all()):
        return "ones"
    if t.numel() > 1 and float(t.float().std()) > 0:
        return "normal"
    return "zeros"


def _scope(node: fx.Node) -> tuple[str, ...]:
    stack = node.meta.get("nn_module_stack") or {}
    return tuple(path for path, _ in stack.values() if path)


def _label(node: fx.Node) -> str:
    """What an op converted from this node is named after: the module path
    of a module call; the enclosing module's path and the function otherwise."""
    if node.op == "call_module":
        return str(node.target)
    if node.op == "get_attr":
        return str(node.target)
    name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "op")
    scope = _scope(node)
    return f"{scope[-1]}.{name}" if scope else str(name)


def _bind(node: fx.Node, names: Sequence[str], skip: int = 0) -> dict[str, Any]:
    """A call's arguments by name (positional or keyword), after ``skip``
    leading positional ones."""
    out = dict(zip(names, node.args[skip:]))
    for k, v in node.kwargs.items():
        if k in names:
            out[k] = v
    return out


def _square(c: _Context, v: Any, what: str) -> int:
    """A size given as an int or a pair; the language has square windows."""
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            c.fail(f"{what} {tuple(v)} is not square; the language's windows are square")
        v = v[0]
    return int(v)


# -- converters: layers ----------------------------------------------------------------


def _module(node: fx.Node) -> _Weights:
    return _Weights(module=str(node.target))


def _conv2d(c: _Context, node: fx.Node, m: nn.Conv2d) -> str:
    if m.padding_mode != "zeros":
        c.fail(f"padding_mode={m.padding_mode!r}; the language pads with zeros")
    k = _square(c, m.kernel_size, "kernel_size")
    s = _square(c, m.stride, "stride")
    d = _square(c, m.dilation, "dilation")
    if m.padding == "valid":
        p = 0
    elif m.padding == "same":
        if (d * (k - 1)) % 2:
            c.fail("padding='same' with an even window pads unevenly")
        p = d * (k - 1) // 2
    else:
        p = _square(c, m.padding, "padding")
    return c.emit("conv2d", [c.x(node.args[0])], weights=_module(node), out=m.out_channels,
                  k=k, s=s, p=p, d=d, groups=m.groups, bias=m.bias is not None)


def _linear(c: _Context, node: fx.Node, m: nn.Linear) -> str:
    return c.emit("dense", [c.x(node.args[0])], weights=_module(node), out=m.out_features, bias=m.bias is not None)


def _batchnorm(c: _Context, node: fx.Node, m: nn.modules.batchnorm._BatchNorm) -> str:
    if not m.track_running_stats or m.momentum is None:
        c.fail("batch norm without running statistics (or with a cumulative average) is not the library's batchnorm")
    return c.emit("batchnorm", [c.x(node.args[0])], weights=_module(node), eps=m.eps, momentum=m.momentum, affine=m.affine)


def _layernorm(c: _Context, node: fx.Node, m: nn.LayerNorm) -> str:
    if m.elementwise_affine and m.bias is None:
        c.fail("layer norm with a weight but no bias")
    return c.emit("layernorm", [c.x(node.args[0])], weights=_module(node),
                  dims=len(m.normalized_shape), eps=m.eps, affine=m.elementwise_affine)


def _groupnorm(c: _Context, node: fx.Node, m: nn.GroupNorm) -> str:
    return c.emit("groupnorm", [c.x(node.args[0])], weights=_module(node), groups=m.num_groups, eps=m.eps, affine=m.affine)


def _activation(op: str, **fixed: Any) -> Converter:
    """A converter for an elementwise activation (module, function or method)."""

    def convert(c: _Context, node: fx.Node, target: Any) -> str:
        return c.emit(op, [c.x(node.args[0] if node.args else node.kwargs["input"])], **fixed)

    return convert


def _gelu_module(c: _Context, node: fx.Node, m: nn.GELU) -> str:
    return c.emit("gelu", [c.x(node.args[0])], approximate=m.approximate)


def _gelu_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "approximate"])
    return c.emit("gelu", [c.x(a["input"])], approximate=c.const(a.get("approximate", "none")))


def _softmax_at(c: _Context, node: fx.Node, x: Any, dim: Any) -> str:
    if dim is None:
        c.fail("softmax without an explicit dim")
    rank = len(c.full_shape(x))
    d = c.axis(dim, rank, "dim")
    return c.emit("softmax", [c.x(x)], dim=-1 if d == rank - 2 else d)


def _softmax_module(c: _Context, node: fx.Node, m: nn.Softmax) -> str:
    return _softmax_at(c, node, node.args[0], m.dim)


def _softmax_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "dim"])
    if c.const(node.kwargs.get("dtype")) is not None:
        c.fail("softmax with a dtype")
    return _softmax_at(c, node, a["input"], c.const(a.get("dim")))


def _pool(c: _Context, node: fx.Node, op: str, x: Any, k: Any, s: Any, p: Any, ceil: Any) -> str:
    k = _square(c, c.const(k), "kernel_size")
    s = c.const(s)
    s = k if s is None or len(s if isinstance(s, (tuple, list)) else [s]) == 0 else _square(c, s, "stride")
    p = _square(c, c.const(p), "padding")
    # the library's default stride is the window: leave it out then, as one writes it
    return c.emit(op, [c.x(x)], k=k, s=None if s == k else s, p=p, ceil=bool(c.const(ceil)))


def _maxpool_module(c: _Context, node: fx.Node, m: nn.MaxPool2d) -> str:
    if _square(c, m.dilation, "dilation") != 1 or m.return_indices:
        c.fail("max pooling with dilation or returned indices")
    return _pool(c, node, "maxpool", node.args[0], m.kernel_size, m.stride, m.padding, m.ceil_mode)


def _maxpool_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"])
    if _square(c, c.const(a.get("dilation", 1)), "dilation") != 1 or c.const(a.get("return_indices", False)):
        c.fail("max pooling with dilation or returned indices")
    return _pool(c, node, "maxpool", a["input"], a["kernel_size"], a.get("stride"), a.get("padding", 0), a.get("ceil_mode", False))


def _avgpool_checks(c: _Context, p: Any, count_include_pad: Any, divisor_override: Any) -> None:
    # the library's avgpool counts the zero padding, as torch does by default
    if _square(c, c.const(p), "padding") and not c.const(count_include_pad):
        c.fail("average pooling that excludes the padding from the count")
    if c.const(divisor_override) is not None:
        c.fail("average pooling with divisor_override")


def _avgpool_module(c: _Context, node: fx.Node, m: nn.AvgPool2d) -> str:
    _avgpool_checks(c, m.padding, m.count_include_pad, m.divisor_override)
    return _pool(c, node, "avgpool", node.args[0], m.kernel_size, m.stride, m.padding, m.ceil_mode)


def _avgpool_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"])
    _avgpool_checks(c, a.get("padding", 0), a.get("count_include_pad", True), a.get("divisor_override"))
    return _pool(c, node, "avgpool", a["input"], a["kernel_size"], a.get("stride"), a.get("padding", 0), a.get("ceil_mode", False))


def _adaptive(op: str) -> Converter:
    def convert(c: _Context, node: fx.Node, target: Any) -> str:
        if isinstance(target, nn.Module):
            x, size = node.args[0], target.output_size
        else:
            a = _bind(node, ["input", "output_size"])
            x, size = a["input"], c.const(a["output_size"])
        if isinstance(size, (tuple, list)) and None in size:
            c.fail(f"output_size {tuple(size)} keeps an input size")
        return c.emit(op, [c.x(x)], size=_square(c, size, "output_size"))

    return convert


def _dropout_module(c: _Context, node: fx.Node, m: nn.Dropout) -> str:
    return c.emit("dropout", [c.x(node.args[0])], p=m.p)


def _dropout_function(c: _Context, node: fx.Node, fn: Any) -> str:
    # `training` is the traced (eval) mode; the library's dropout follows the
    # module's mode, as F.dropout(x, p, self.training) does
    a = _bind(node, ["input", "p", "training", "inplace"])
    return c.emit("dropout", [c.x(a["input"])], p=c.const(a.get("p", 0.5)))


def _identity(c: _Context, node: fx.Node, target: Any) -> str:
    """A value that is its input: no op (nn.Identity, .contiguous(), .clone())."""
    return c.x(node.args[0] if node.args else node.kwargs["input"])


def _same_dtype(c: _Context, node: fx.Node, target: Any) -> str:
    """``.to()``/``.float()``/``.type_as()``: the identity when nothing changes."""
    if c.meta(node).dtype != c.meta(node.args[0]).dtype:
        c.fail(f"a conversion to {c.meta(node).dtype}")
    return c.x(node.args[0])


def _flatten_at(c: _Context, x: Any, start: Any, end: Any) -> str:
    rank = len(c.full_shape(x))
    s, e = c.axis(c.const(start), rank, "start_dim"), c.axis(c.const(end), rank, "end_dim")
    if s == e:
        return c.x(x)
    return c.emit("flatten", [c.x(x)], start=s, end=-1 if e == rank - 2 else e)


def _flatten_module(c: _Context, node: fx.Node, m: nn.Flatten) -> str:
    return _flatten_at(c, node.args[0], m.start_dim, m.end_dim)


def _flatten_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["start_dim", "end_dim"], skip=1)  # x comes first as function and method
    return _flatten_at(c, node.args[0], a.get("start_dim", 0), a.get("end_dim", -1))


def _attention(c: _Context, node: fx.Node, m: nn.MultiheadAttention) -> _Multi:
    a = _bind(node, ["query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
                     "average_attn_weights", "is_causal"])
    if not (a["query"] is a["key"] is a["value"]):
        c.fail("attention whose query, key and value differ (the library has self-attention)")
    for mask in ("key_padding_mask", "attn_mask"):
        if a.get(mask) is not None:
            c.fail(f"attention with {mask}")
    if c.const(a.get("is_causal", False)):
        c.fail("causal attention")
    if not m.batch_first:
        c.fail("nn.MultiheadAttention(batch_first=False) reads axis 1 as the batch")
    if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
        c.fail("attention with kdim/vdim, add_bias_kv or add_zero_attn")
    value = c.emit("attention", [c.x(a["query"])], weights=_module(node), heads=m.num_heads,
                   dropout=m.dropout, bias=m.in_proj_bias is not None)

    def pick(i: int) -> str:
        if i != 0:
            c.fail("the attention weights (the second output of nn.MultiheadAttention)")
        return value

    return _Multi(pick)


def _stochastic_depth_module(c: _Context, node: fx.Node, m: Any) -> str:
    return c.emit("stochastic_depth", [c.x(node.args[0])], p=m.p, mode=m.mode)


def _stochastic_depth_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "p", "mode", "training"])
    return c.emit("stochastic_depth", [c.x(a["input"])], p=c.const(a["p"]), mode=c.const(a["mode"]))


def _layer_norm_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "normalized_shape", "weight", "bias", "eps"])
    weight, bias = a.get("weight"), a.get("bias")
    tensors = []
    for our, arg in (("weight", weight), ("bias", bias)):
        if arg is None:
            continue
        v = c.env.get(arg) if isinstance(arg, fx.Node) else None
        if not isinstance(v, _Attr):
            c.fail(f"layer_norm's {our} is computed, not a parameter")
        # nn.LayerNorm's names: the library's layernorm is an nn.LayerNorm
        tensors.append((our, v.target))
    if (weight is None) != (bias is None):
        c.fail("layer_norm with only one of weight and bias")
    shape = c.const(a["normalized_shape"])
    dims = 1 if isinstance(shape, int) else len(shape)
    return c.emit("layernorm", [c.x(a["input"])], weights=_Weights(tensors=tuple(tensors)) if tensors else None,
                  dims=dims, eps=c.const(a.get("eps", 1e-5)), affine=weight is not None)


# -- converters: arithmetic -------------------------------------------------------------


def _arith_args(node: fx.Node) -> tuple[list[Any], float]:
    """The two operands of a binary call, and ``alpha`` of torch.add/sub."""
    a = _bind(node, ["input", "other"])
    return [a["input"], a["other"]], node.kwargs.get("alpha", 1)


def _scaled(c: _Context, v: str, factor: float, label: str | None = None) -> str:
    return v if factor == 1.0 else c.emit("scale", [v], factor=factor, label=label)


def _add(sign: float) -> Converter:
    """x + y (sign 1) or x - y (sign -1, as add(x, scale(y, -1)): the library has no sub)."""

    def convert(c: _Context, node: fx.Node, target: Any) -> str:
        (left, right), alpha = _arith_args(node)
        rank = len(c.full_shape(node))
        x, y = c.operand(left, rank), c.operand(right, rank)
        factor = sign * float(c.const(alpha))
        if isinstance(y, float) and y * factor == 0.0 and isinstance(x, str):
            return x
        if isinstance(x, float) or isinstance(y, float):
            c.fail("adding a constant to a tensor (the library has no constant shift)")
        # the operand's own name (sub_neg) keeps `add` for the sum
        operand = _scaled(c, y, factor, label=f"{_label(node)}_{'neg' if factor == -1.0 else 'scaled'}")
        return c.emit("add", [x, operand])

    return convert


def _mul(c: _Context, node: fx.Node, target: Any) -> str:
    (left, right), _ = _arith_args(node)
    rank = len(c.full_shape(node))
    operands = [c.operand(left, rank), c.operand(right, rank)]
    tensors = [v for v in operands if isinstance(v, str)]
    factor = math.prod(v for v in operands if isinstance(v, float))
    value = tensors[0] if len(tensors) == 1 else c.emit("mul", tensors)
    return _scaled(c, value, factor)


def _div(c: _Context, node: fx.Node, target: Any) -> str:
    (left, right), _ = _arith_args(node)
    if node.kwargs.get("rounding_mode") is not None:
        c.fail("division with rounding")
    rank = len(c.full_shape(node))
    x, y = c.operand(left, rank), c.operand(right, rank)
    if not isinstance(x, str) or not isinstance(y, float) or y == 0.0:
        c.fail("division other than of a tensor by a nonzero number")
    return _scaled(c, x, 1.0 / y)


def _neg(c: _Context, node: fx.Node, target: Any) -> str:
    return c.emit("scale", [c.x(node.args[0])], factor=-1.0)


def _cat(c: _Context, node: fx.Node, target: Any) -> str:
    a = _bind(node, ["tensors", "dim"])
    tensors = list(a["tensors"])
    rank = len(c.full_shape(node))
    values = [c.x(t) for t in tensors]
    if len(values) == 1:
        return values[0]
    return c.emit("concat", values, dim=c.axis(c.const(a.get("dim", 0)), rank, "dim"))


def _mean(c: _Context, node: fx.Node, target: Any) -> str:
    a = _bind(node, ["dim", "keepdim"], skip=1)
    if c.const(node.kwargs.get("dtype")) is not None:
        c.fail("mean with a dtype")
    x = node.args[0]
    rank = len(c.full_shape(x))
    dims = c.const(a.get("dim"))
    if dims is None:
        c.fail("a mean over every axis, the batch included")
    dims = [dims] if isinstance(dims, int) else list(dims)
    return c.emit("mean", [c.x(x)], dims=[c.axis(d, rank, "dim") for d in dims], keep=bool(c.const(a.get("keepdim", False))))


# -- converters: shapes and axes ---------------------------------------------------------


def _reshape(c: _Context, node: fx.Node, target: Any) -> str:
    """view/reshape/squeeze/unsqueeze/unflatten: the traced output shape is the
    new per-sample shape (the size arguments may be computed from x.size())."""
    x = node.args[0]
    value = c.x(x)
    out = c.out_shape()
    return value if out == c.shape(x) else c.emit("reshape", [value], shape=out)


def _permute(c: _Context, node: fx.Node, target: Any) -> str:
    x = node.args[0]
    dims = c.const(node.args[1:] or node.kwargs["dims"])
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = dims[0]
    rank = len(c.full_shape(x))
    dims = [d + rank if d < 0 else d for d in dims]
    if not dims or dims[0] != 0:
        c.fail(f"permute({list(dims)}) moves the batch axis")
    per_sample = [c.axis(d, rank) for d in dims[1:]]
    if per_sample == sorted(per_sample):
        return c.x(x)
    return c.emit("permute", [c.x(x)], dims=per_sample)


def _transpose(c: _Context, node: fx.Node, target: Any) -> str:
    a = _bind(node, ["dim0", "dim1"], skip=1)
    for ours, alias in (("dim0", "axis0"), ("dim1", "axis1")):  # swapaxes' names
        a.setdefault(ours, node.kwargs.get(alias))
    x = node.args[0]
    rank = len(c.full_shape(x))
    d0, d1 = c.axis(c.const(a["dim0"]), rank), c.axis(c.const(a["dim1"]), rank)
    if d0 == d1:
        return c.x(x)
    return c.emit("transpose", [c.x(x)], a=min(d0, d1), b=max(d0, d1))


def _expand(c: _Context, node: fx.Node, target: Any) -> str:
    """expand() over the batch: a parameter shared by every sample (ViT's
    class token) becomes a ``param``; a batched tensor expanded to its own
    shape is itself."""
    x = node.args[0]
    out = c.meta(node).shape
    v = c.env.get(x)
    if isinstance(v, _Attr):
        s = c.values[x].shape
        if len(s) == len(out) and s[0] == 1 and tuple(s[1:]) == tuple(out[1:]) and c.batched(node):
            return c.param(x, tuple(s[1:]))
        c.fail(f"expand of parameter {v.target} along a per-sample axis")
    if c.shape(x) == c.out_shape():
        return c.x(x)
    return c.fail("expand along a per-sample axis (the library has no broadcast op)")


def _pieces(c: _Context, node: fx.Node, x: Any, dim: Any, squeeze: bool = False) -> _Multi:
    """chunk/split/unbind: each item picked by getitem becomes a ``slice``
    (and, for unbind, a ``reshape`` dropping the axis), named after the call."""
    rank = len(c.full_shape(x))
    d = c.axis(c.const(dim), rank, "dim")
    items = c.values[node]
    sizes = [1 if squeeze else m.shape[d + 1] for m in items]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    label = _label(node)
    source = c.x(x)

    def pick(i: int) -> str:
        if not -len(sizes) <= i < len(sizes):
            c.fail(f"item {i} of {len(sizes)}")
        i %= len(sizes)
        v = c.emit("slice", [source], label=label, dim=d, start=starts[i], end=starts[i] + sizes[i])
        if squeeze:
            v = c.emit("reshape", [v], label=label, shape=items[i].shape[1:])
        return v

    return _Multi(pick)


def _chunk(c: _Context, node: fx.Node, target: Any) -> _Multi:
    a = _bind(node, ["input", "chunks", "dim"])
    return _pieces(c, node, a["input"], a.get("dim", 0))


def _split(c: _Context, node: fx.Node, target: Any) -> _Multi:
    a = _bind(node, ["tensor", "split_size_or_sections", "dim"])
    a.setdefault("dim", node.kwargs.get("dim", 0))
    return _pieces(c, node, a["tensor"], a.get("dim", 0))


def _unbind(c: _Context, node: fx.Node, target: Any) -> _Multi:
    a = _bind(node, ["input", "dim"])
    return _pieces(c, node, a["input"], a.get("dim", 0), squeeze=True)


def _getitem(c: _Context, node: fx.Node, target: Any) -> str:
    source, index = node.args
    v = c.env.get(source)
    if v is _FAILED:
        raise _Cascade
    if isinstance(v, _Multi):
        i = c.const(index)
        if not isinstance(i, int):
            c.fail(f"index {i!r} into the outputs of {source.name}")
        return v.get(i)
    return _index(c, node, source, c.const(index))


def _index(c: _Context, node: fx.Node, x: fx.Node, index: Any) -> str:
    """x[...] with ints, slices, None and Ellipsis: a ``slice`` per narrowed
    axis, then a ``reshape`` if ints dropped axes or None added some."""
    full = c.full_shape(x)
    index = index if isinstance(index, tuple) else (index,)
    if any(not isinstance(i, (int, slice, type(None), type(Ellipsis))) or isinstance(i, bool) for i in index):
        c.fail("indexing with tensors or lists")
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if index.count(Ellipsis) > 1 or used > len(full):
        c.fail(f"index {index!r}")
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (len(full) - used) + index[at + 1 :]
    value, axis, reshape = c.x(x), 0, False
    for i in index:
        if i is None:
            reshape = True
            continue
        if axis == 0:
            if not (isinstance(i, slice) and i.indices(BATCH) == (0, BATCH, 1)):
                c.fail("indexing that selects samples of the batch")
        elif isinstance(i, slice):
            start, stop, step = i.indices(full[axis])
            if step < 1 or stop <= start:
                c.fail(f"slice {i} (reversed or empty)")
            if (start, stop, step) != (0, full[axis], 1):
                value = c.emit("slice", [value], dim=axis - 1, start=start, end=stop, step=step)
        else:
            j = i + full[axis] if i < 0 else i
            value = c.emit("slice", [value], dim=axis - 1, start=j, end=j + 1)
            reshape = True
        axis += 1
    if reshape:
        value = c.emit("reshape", [value], shape=c.out_shape())
    return value


# -- the tables --------------------------------------------------------------------------


def _torchvision_modules() -> dict[type, Converter]:
    try:
        from torchvision.ops import StochasticDepth
    except ImportError:  # torchvision is optional for importing plain torch models
        return {}
    return {StochasticDepth: _stochastic_depth_module}


#: exact module types to converters; these modules stay whole when tracing
MODULE_CONVERTERS: dict[type, Converter] = {
    nn.Conv2d: _conv2d,
    nn.Linear: _linear,
    nn.BatchNorm1d: _batchnorm,
    nn.BatchNorm2d: _batchnorm,
    nn.LayerNorm: _layernorm,
    nn.GroupNorm: _groupnorm,
    nn.ReLU: _activation("relu"),
    nn.ReLU6: _activation("relu6"),
    nn.GELU: _gelu_module,
    nn.SiLU: _activation("silu"),
    nn.Hardswish: _activation("hardswish"),
    nn.Hardsigmoid: _activation("hardsigmoid"),
    nn.Sigmoid: _activation("sigmoid"),
    nn.Tanh: _activation("tanh"),
    nn.Softmax: _softmax_module,
    nn.MaxPool2d: _maxpool_module,
    nn.AvgPool2d: _avgpool_module,
    nn.AdaptiveAvgPool2d: _adaptive("adaptive_avgpool"),
    nn.AdaptiveMaxPool2d: _adaptive("adaptive_maxpool"),
    nn.Dropout: _dropout_module,
    nn.Identity: _identity,
    nn.Flatten: _flatten_module,
    nn.Unflatten: _reshape,
    nn.MultiheadAttention: _attention,
    **_torchvision_modules(),
}


def _torchvision_functions() -> dict[Any, Converter]:
    try:
        from torchvision.ops import stochastic_depth
    except ImportError:
        return {}
    return {stochastic_depth: _stochastic_depth_function}


#: functions (call_function targets) to converters
FUNCTION_CONVERTERS: dict[Any, Converter] = {
    operator.add: _add(1.0),
    operator.iadd: _add(1.0),
    torch.add: _add(1.0),
    operator.sub: _add(-1.0),
    operator.isub: _add(-1.0),
    torch.sub: _add(-1.0),
    operator.mul: _mul,
    operator.imul: _mul,
    torch.mul: _mul,
    operator.truediv: _div,
    operator.itruediv: _div,
    torch.div: _div,
    operator.neg: _neg,
    operator.getitem: _getitem,
    torch.cat: _cat,
    torch.concat: _cat,
    torch.flatten: _flatten_function,
    torch.mean: _mean,
    torch.reshape: _reshape,
    torch.squeeze: _reshape,
    torch.unsqueeze: _reshape,
    torch.permute: _permute,
    torch.transpose: _transpose,
    torch.swapaxes: _transpose,
    torch.swapdims: _transpose,
    torch.chunk: _chunk,
    torch.split: _split,
    torch.unbind: _unbind,
    torch.relu: _activation("relu"),
    F.relu: _activation("relu"),
    F.relu6: _activation("relu6"),
    F.gelu: _gelu_function,
    F.silu: _activation("silu"),
    F.hardswish: _activation("hardswish"),
    F.hardsigmoid: _activation("hardsigmoid"),
    torch.sigmoid: _activation("sigmoid"),
    F.sigmoid: _activation("sigmoid"),
    torch.tanh: _activation("tanh"),
    F.tanh: _activation("tanh"),
    torch.softmax: _softmax_function,
    F.softmax: _softmax_function,
    F.max_pool2d: _maxpool_function,
    F.avg_pool2d: _avgpool_function,
    F.adaptive_avg_pool2d: _adaptive("adaptive_avgpool"),
    F.adaptive_max_pool2d: _adaptive("adaptive_maxpool"),
    F.dropout: _dropout_function,
    F.layer_norm: _layer_norm_function,
    **_torchvision_functions(),
}

#: Tensor methods (call_method targets) to converters
METHOD_CONVERTERS: dict[str, Converter] = {
    "add": _add(1.0),
    "sub": _add(-1.0),
    "mul": _mul,
    "div": _div,
    "neg": _neg,
    "view": _reshape,
    "reshape": _reshape,
    "squeeze": _reshape,
    "unsqueeze": _reshape,
    "flatten": _flatten_function,
    "mean": _mean,
    "permute": _permute,
    "transpose": _transpose,
    "swapaxes": _transpose,
    "swapdims": _transpose,
    "expand": _expand,
    "chunk": _chunk,
    "split": _split,
    "unbind": _unbind,
    "relu": _activation("relu"),
    "sigmoid": _activation("sigmoid"),
    "tanh": _activation("tanh"),
    "softmax": _softmax_function,
    "contiguous": _identity,
    "clone": _identity,
    "to": _same_dtype,
    "type_as": _same_dtype,
    "float": _same_dtype,
}


# -- loading and tracing ---------------------------------------------------------------------


def _classifier_names() -> list[str]:
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def _load(spec: str | nn.Module) -> tuple[nn.Module, str]:
    """The module a spec names, and a default model name."""
    if isinstance(spec, nn.Module):
        return spec, type(spec).__name__.lower()
    if not isinstance(spec, str) or ":" not in spec:
        raise ImportFailure(
            f"cannot read the model spec {spec!r}",
            hint="give torchvision:NAME (e.g. torchvision:resnet18), package.module:callable, or an nn.Module",
        )
    where, name = spec.split(":", 1)
    if where == "torchvision":
        import torchvision

        if name not in torchvision.models.list_models():
            close = difflib.get_close_matches(name, _classifier_names(), n=5, cutoff=0.5)
            raise ImportFailure(
                f"torchvision has no model {name!r}",
                hint=(f"did you mean {', '.join(close)}? " if close else "")
                + "`torchvision.models.list_models(module=torchvision.models)` lists the classifiers",
            )
        # weights=None: the architecture alone, never a download
        return torchvision.models.get_model(name, weights=None), name
    try:
        obj: Any = importlib.import_module(where)
        for part in name.split("."):
            obj = getattr(obj, part)
        module = obj()
    except Exception as err:  # the user's code: any failure is an import failure
        raise ImportFailure(f"cannot create the model {spec}: {type(err).__name__}: {err}",
                            hint="the callable must build an nn.Module without arguments") from None
    if not isinstance(module, nn.Module):
        raise ImportFailure(f"{spec} returned a {type(module).__name__}, not an nn.Module")
    return module, name.split(".")[-1]


class _Tracer(fx.Tracer):
    """torch.fx's tracer, keeping the module types we convert whole (such as
    torchvision's StochasticDepth) besides torch's own layers."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return type(m) in MODULE_CONVERTERS or super().is_leaf_module(m, module_qualified_name)


def _summarise(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return _Meta(tuple(value.shape), value.dtype)
    if isinstance(value, torch.Size):
        return tuple(value)
    if _is_namedtuple(value):
        return tuple(_summarise(v) for v in value)  # torch.return_types
    if isinstance(value, (list, tuple)):
        return type(value)(_summarise(v) for v in value)
    return value


class _Recorder(ShapeProp):
    """ShapeProp that also keeps every node's result: shapes of tensors, and
    the values of everything else (sizes, shape arithmetic, flags)."""

    def __init__(self, gm: fx.GraphModule, fake_mode: Any = None) -> None:
        super().__init__(gm, fake_mode)
        self.results: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        self.results[n] = _summarise(result)
        return result


class _MetaRecorder(_Recorder):
    """The same on meta tensors: shapes and values without arithmetic or
    memory, for the second (batch-checking) run."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.meta: dict[int, torch.Tensor] = {}

    def _meta(self, t: torch.Tensor) -> torch.Tensor:
        if id(t) not in self.meta:  # keyed by identity: shared tensors stay shared
            self.meta[id(t)] = torch.empty_like(t, device="meta")
        return self.meta[id(t)]

    def get_attr(self, target: Any, args: Any, kwargs: Any) -> Any:
        value = super().get_attr(target, args, kwargs)
        return self._meta(value) if isinstance(value, torch.Tensor) else value

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        m = self.fetch_attr(target)
        state = {n: self._meta(t) for n, t in (*m.named_parameters(), *m.named_buffers())}
        return torch.func.functional_call(m, state, args, kwargs)


def _run(gm: fx.GraphModule, input_shape: Shape, batch: int, meta: bool) -> dict[fx.Node, Any]:
    recorder = _MetaRecorder(gm) if meta else _Recorder(gm)
    # ShapeProp prints the traceback of a failing node before raising; the
    # failure is reported as an ImportFailure instead, and any other output
    # (the model's warnings) is passed on
    captured = io.StringIO()
    with torch.no_grad(), contextlib.redirect_stderr(captured):
        recorder.propagate(torch.randn(batch, *input_shape, device="meta" if meta else None))
    sys.stderr.write(captured.getvalue())
    return recorder.results


def _root_cause(err: BaseException) -> BaseException:
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _trace(module: nn.Module, input_shape: Shape, what: str) -> tuple[fx.GraphModule, _Tracer, tuple[dict, dict]]:
    tracer = _Tracer()
    try:
        graph = tracer.trace(module)
    except Exception as err:
        raise ImportFailure(
            f"torch.fx cannot trace {what}: {type(err).__name__}: {err}",
            hint="symbolic tracing needs control flow that does not depend on tensor values",
        ) from None
    gm = fx.GraphModule(tracer.root, graph)
    try:
        main = _run(gm, input_shape, BATCH, meta=False)
    except Exception as err:  # the user's model: any failure is an import failure
        cause = _root_cause(err)
        raise ImportFailure(
            f"{what} fails on an input of shape {[BATCH, *input_shape]}: {type(cause).__name__}: {cause}",
            hint="check the input shape (per sample, without the batch axis), e.g. 3,224,224",
        ) from None
    try:
        check = _run(gm, input_shape, BATCH_CHECK, meta=True)
    except Exception:  # an op without a meta kernel: compute for real
        check = _run(gm, input_shape, BATCH_CHECK, meta=False)
    return gm, tracer, (main, check)


# -- conversion of the whole graph -------------------------------------------------------------


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


# -- naming ---------------------------------------------------------------------------

#: names a value cannot take: the language's keywords and the generated code's own names
_RESERVED = {"block", "model", "return", "true", "false", "self", "torch", "nn", "F"}


def _identifier(label: str, op: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", label.replace(".", "_")).strip("_") or op
    if name[0].isdigit():
        name = f"{op}_{name}"  # Sequential children are numbered: conv2d_0
    return name


class _Names:
    """Unique, valid names in one graph, fx-style (add, add_1, ...)."""

    def __init__(self, taken: Sequence[str] = ()) -> None:
        self.taken = set(taken) | _RESERVED

    def __call__(self, base: str) -> str:
        name = base
        if keyword.iskeyword(name) or name in self.taken:
            i = 1
            while keyword.iskeyword(f"{base}_{i}") or f"{base}_{i}" in self.taken:
                i += 1
            name = f"{base}_{i}"
        self.taken.add(name)
        return name


def _relative(label: str, prefix: str) -> str:
    return label[len(prefix) + 1 :] if prefix and label.startswith(prefix + ".") else label


# -- blocks ----------------------------------------------------------------------------


@dataclass
class _Body:
    """A module's ops as a block body: its graph (unnamed), the flat values it
    reads and computes, and the local name of each of its ops."""

    graph: Graph
    inputs: list[str]
    output: str
    local: dict[str, str]
    members: list[int]

    @property
    def key(self) -> tuple:
        return (self.graph.inputs, self.graph.nodes, self.graph.output)


class _Assembler:
    """Builds the program from the flat op list: chooses the modules that
    become blocks, shares identical bodies, names everything."""

    def __init__(self, c: _Context, output: str, root: nn.Module, tracer: _Tracer,
                 input_shape: Shape, name: str) -> None:
        self.ops = c.ops
        self.output = output
        self.root = root
        self.calls = tracer.num_calls
        self.input_shape = input_shape
        self.name = name
        self.regions: dict[str, list[int]] = {}
        self.children: dict[str, list[str]] = {"": []}
        self.users: dict[str, set[int]] = {}
        for i, op in enumerate(self.ops):
            parent = ""
            for path in op.scope:
                self.regions.setdefault(path, []).append(i)
                kids = self.children.setdefault(parent, [])
                if path not in kids:
                    kids.append(path)
                self.children.setdefault(path, [])
                parent = path
            for k in op.inputs:
                self.users.setdefault(k, set()).add(i)
        self._bodies: dict[str, _Body | None] = {}

    # -- choosing blocks ------------------------------------------------------------
    def module(self, path: str) -> nn.Module | None:
        try:
            return self.root.get_submodule(path)
        except AttributeError:
            return None

    def is_container(self, path: str) -> bool:
        """Containers that only chain their children (nn.Sequential and
        subclasses that keep its forward) are looked through, never blocks."""
        m = self.module(path)
        return isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward

    def choose(self, path: str = "") -> list[str]:
        """The modules under ``path`` that become blocks: the outermost ones
        with their own forward, called once, computing one value. A module
        whose inner candidates mostly repeat one body (ViT's Encoder and its
        EncoderBlocks) is looked through, so that the repeats share a block."""
        if path and self.calls.get(path, 1) != 1:
            return []
        inner = [b for child in self.children.get(path, []) for b in self.choose(child)]
        if not path or self.is_container(path):
            return inner
        if len(inner) >= 2 and len({self.body(b).key for b in inner}) <= len(inner) // 2:  # type: ignore[union-attr]
            return inner
        return [path] if self.body(path) is not None else inner

    def body(self, path: str) -> _Body | None:
        """The module's ops as a block body, or None if they are not one:
        fewer than two ops, no input, more than one value used outside, or
        interleaved with ops that read its values before it ends."""
        if path in self._bodies:
            return self._bodies[path]
        members = self.regions.get(path, [])
        result = None
        if len(members) >= 2:
            result = self._body(path, members)
        self._bodies[path] = result
        return result

    def _body(self, path: str, members: list[int]) -> _Body | None:
        inside = set(members)
        produced = {self.ops[i].key for i in members}
        inputs: list[str] = []
        for i in members:
            for k in self.ops[i].inputs:
                if k not in produced and k not in inputs:
                    inputs.append(k)
        outputs = [k for k in produced if k == self.output or self.users.get(k, set()) - inside]
        if len(outputs) != 1 or not inputs:
            return None
        for j in range(members[0], members[-1]):
            if j not in inside and any(k in produced for k in self.ops[j].inputs):
                return None
        input_ids = ["x"] if len(inputs) == 1 else [f"x{i}" for i in range(len(inputs))]
        names = _Names(input_ids)
        local = dict(zip(inputs, input_ids))
        nodes = []
        for i in members:
            op = self.ops[i]
            local[op.key] = names(_identifier(_relative(op.label, path), op.op))
            nodes.append(Node(local[op.key], op.op, tuple(local[k] for k in op.inputs), op.attrs, local[op.key]))
        graph = Graph("block", "", tuple(Input(i) for i in input_ids), (), tuple(nodes), local[outputs[0]])
        return _Body(graph, inputs, outputs[0], local, members)

    # -- the program ------------------------------------------------------------------
    def block_name(self, path: str, taken: set[str]) -> str:
        m = self.module(path)
        base = _identifier(type(m).__name__.lower() if m is not None else path, "block")
        if ops.lookup(base) is not None or keyword.iskeyword(base) or base in _RESERVED or base == self.name:
            base += "_block"
        name, i = base, 2
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        return name

    def program(self, with_blocks: bool) -> tuple[Program, dict[str, _Weights], dict[str, Shape]]:
        chosen = self.choose() if with_blocks else []
        bodies = {path: self.body(path) for path in chosen}
        ends = {b.members[-1]: path for path, b in bodies.items() if b is not None}
        inside = {i for b in bodies.values() if b is not None for i in b.members}
        names = _Names(["x"])
        model_id: dict[str, str] = {_INPUT: "x"}
        weights: dict[str, _Weights] = {}
        expected: dict[str, Shape] = {}
        definitions: dict[tuple, Graph] = {}
        taken: set[str] = set()
        nodes: list[Node] = []
        for i, op in enumerate(self.ops):
            if i in ends:
                path = ends[i]
                body = bodies[path]
                assert body is not None
                if body.key not in definitions:
                    block = self.block_name(path, taken)
                    taken.add(block)
                    definitions[body.key] = replace(body.graph, name=block)
                block = definitions[body.key].name
                call = names(_identifier(path, block))
                nodes.append(Node(call, block, tuple(model_id[k] for k in body.inputs), (), call))
                model_id[body.output] = call
                for k in body.members:
                    inner = self.ops[k]
                    path_id = f"{call}.{body.local[inner.key]}"
                    expected[path_id] = inner.shape
                    if inner.weights is not None:
                        weights[path_id] = inner.weights
            elif i not in inside:
                node_id = names(_identifier(op.label, op.op))
                model_id[op.key] = node_id
                nodes.append(Node(node_id, op.op, tuple(model_id[k] for k in op.inputs), op.attrs, node_id))
                expected[node_id] = op.shape
                if op.weights is not None:
                    weights[node_id] = op.weights
        model = Graph("model", self.name, (Input("x", self.input_shape),), (), tuple(nodes), model_id[self.output])
        return Program(model=model, blocks=tuple(definitions.values())), weights, expected


# -- the entry point ----------------------------------------------------------------------------


def _model_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "imported"
    if name[0].isdigit():
        name = "m_" + name
    return name + "_" if keyword.iskeyword(name) or name in _RESERVED else name


def _verify(program: Program, expected: dict[str, Shape]) -> int:
    """The program's analysed shapes are the traced ones; its op count."""
    from alphanas.lang.analysis import analyze

    inst = analyze(program)
    count = 0
    for path, sub, n in inst.walk():
        count += 1
        got = tuple(sub.shapes[n.id])
        assert expected.get(path) == got, f"{path}: the program computes {list(got)}, torch {expected.get(path)}"
    return count


def _walk_params(module: nn.Module, weights: dict[str, _Weights]) -> Iterator[str]:
    """The original parameter names the program's weights come from."""
    for w in weights.values():
        if w.module is not None:
            yield from (f"{w.module}.{n}" for n, _ in module.get_submodule(w.module).named_parameters())
        yield from (name for _, name in w.tensors)
        if w.single is not None:
            yield w.single


def import_model(spec: str | nn.Module, input_shape: Sequence[int] = (3, 224, 224), name: str | None = None) -> ImportResult:
    """Import a PyTorch model as a program.

    ``spec`` is ``"torchvision:NAME"`` (built with ``weights=None``),
    ``"package.module:callable"`` (called without arguments) or an
    ``nn.Module``; ``input_shape`` is the per-sample input shape. Raises
    :class:`~alphanas.lang.errors.ImportFailure` listing everything that does not
    map to the op library.
    """
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d < 1 for d in shape):
        raise ImportFailure(f"input shape {list(input_shape)} must list positive sizes (per sample, no batch axis)")
    module, default = _load(spec)
    what = spec if isinstance(spec, str) else f"{type(spec).__name__} instance"
    module.eval()
    gm, tracer, runs = _trace(module, shape, what)
    c, output = _convert(gm, module, tracer, runs, what)
    assembler = _Assembler(c, output, module, tracer, shape, _model_name(name or default))
    notes: list[str] = []
    try:
        program, weights, expected = assembler.program(with_blocks=True)
        count = _verify(program, expected)
    except (AlphanasError, AssertionError) as err:
        # a block structure that does not analyse back is a bug here; the flat
        # body is still a faithful import
        program, weights, expected = assembler.program(with_blocks=False)
        count = _verify(program, expected)
        notes.append(f"flat body: block extraction failed ({str(err).splitlines()[0]})")
    from alphanas.lang.analysis import analyze

    params = int(analyze(program).total.params)
    used = set(_walk_params(module, weights))
    total = {n: p.numel() for n, p in module.named_parameters()}
    if params != sum(total[n] for n in used):
        raise ImportFailure(
            f"the program has {params:,} parameters but maps {sum(total[n] for n in used):,} of the model's "
            "(a parameter used in two shapes?)"
        )
    unused = sorted(set(total) - used)
    if unused:
        owners = sorted({n.split(".")[0] for n in unused})
        notes.append(
            f"{sum(total[n] for n in unused):,} parameters of {', '.join(owners)} are not used by the "
            "eval-mode forward and are left out"
        )
    return ImportResult(program, module, weights, ops=count, params=params, notes=tuple(notes))
