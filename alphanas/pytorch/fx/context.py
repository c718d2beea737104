"""What a converter works with: the traced values of one graph, and the flat
op list being built.

:class:`_Context` is the converters' whole view of the trace (:meth:`~_Context.x`,
:meth:`~_Context.shape`, :meth:`~_Context.const`, :meth:`~_Context.axis`) and
their only way to build (:meth:`~_Context.emit`). Besides it, the records that
pass from one stage of the import to the next: the traced values (``_Meta``,
``_Multi``, ``_Attr``), one op application of the flat program (``_Op``) and
where its weights come from (``_Weights``), with the helpers that name an op
after its fx node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from alphanas import ops
from alphanas.lang.analysis import Shape
from alphanas.lang.ir import Expr
from alphanas.ops import CONCRETE, REQUIRED, Attrs, OpError

#: the batch sizes of the two tracing runs; not 1, so that the batch axis
#: cannot be mistaken for an axis of length 1
BATCH, BATCH_CHECK = 2, 3

#: the value id of the model's input in the flat op list
_INPUT = "<input>"


# -- where weights come from ---------------------------------------------------------------


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


def _relative(label: str, prefix: str) -> str:
    return label[len(prefix) + 1 :] if prefix and label.startswith(prefix + ".") else label
