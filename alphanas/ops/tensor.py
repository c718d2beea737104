"""Ops that combine, reshape or route tensors without weights."""

from __future__ import annotations

from collections.abc import Sequence

from alphanas.ops import arith
from alphanas.ops.registry import register
from alphanas.ops.spec import Attrs, Check, Cost, Op, Shape, norm_dim, param, torch_dim


def broadcast(check: Check, op: str, shapes: Sequence[Shape]) -> Shape:
    """torch's broadcasting of per-sample shapes (aligned at the last axis)."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        sizes = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        wide = [n for n in sizes if not (arith.is_concrete(n) and n == 1)]
        size = wide[0] if wide else 1
        for n in wide[1:]:
            check.require(
                n == size,
                f"{op}: shapes {' and '.join(str(list(s)) for s in shapes)} do not broadcast "
                f"(axis {i}: {size} vs {n})",
            )
        out.append(size)
    return tuple(out)


class Elementwise2(Op):
    """Elementwise combination of two or more tensors, with broadcasting."""

    arity = None
    commutative = True
    symbol: str = ""

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        return broadcast(check, self.name, ins)

    def cost(self, ins, a, out) -> Cost:
        n = arith.prod(out)
        return Cost(other_flops=(len(ins) - 1) * n, activations=n)

    def torch_call(self, xs, m, ins, a, out) -> str:
        return f" {self.symbol} ".join(xs)


@register
class Add(Elementwise2):
    name = "add"
    symbol = "+"
    doc = "Sum of two or more tensors (residual connections)."


@register
class Mul(Elementwise2):
    name = "mul"
    symbol = "*"
    doc = "Elementwise product of two or more tensors (gating, squeeze-excite)."


@register
class Concat(Op):
    name = "concat"
    arity = None
    params = (param("dim", "int", 0, doc="per-sample axis to join along"),)
    doc = "Join tensors along one axis (channels by default)."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        rank = len(ins[0])
        check.require(all(len(s) == rank for s in ins), f"concat: inputs {[list(s) for s in ins]} differ in rank")
        check.require(-rank <= a.dim < rank, f"concat: dim={a.dim} is out of range for rank {rank}")
        dim = norm_dim(a.dim, rank)
        for s in ins[1:]:
            for i in range(rank):
                if i != dim:
                    check.require(
                        s[i] == ins[0][i],
                        f"concat: inputs {[list(t) for t in ins]} differ on axis {i}, not only on dim={a.dim}",
                    )
        return tuple(arith_sum([s[dim] for s in ins]) if i == dim else n for i, n in enumerate(ins[0]))

    def torch_call(self, xs, m, ins, a, out) -> str:
        return f"torch.cat([{', '.join(xs)}], dim={torch_dim(norm_dim(a.dim, len(out)))})"


def arith_sum(xs):
    total = 0
    for x in xs:
        total = total + x
    return total


@register
class Identity(Op):
    name = "identity"
    depth_kind = "neutral"
    doc = "The input, unchanged."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        return tuple(ins[0])

    def cost(self, ins, a, out) -> Cost:
        return Cost()

    def torch_call(self, xs, m, ins, a, out) -> str:
        return xs[0]


@register
class Dropout(Op):
    name = "dropout"
    params = (param("p", "float", 0.5, doc="probability of zeroing an element in training"),)
    depth_kind = "neutral"
    doc = "Dropout (the identity in evaluation)."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        check.require(0.0 <= a.p < 1.0, f"dropout: p={a.p} must be in [0, 1)")
        return tuple(ins[0])

    def cost(self, ins, a, out) -> Cost:
        return Cost()

    def torch_module(self, ins, a, out) -> str:
        return f"nn.Dropout(p={a.p!r})"

    def torch_call(self, xs, m, ins, a, out) -> str:
        return f"{m}({xs[0]})"


@register
class Flatten(Op):
    name = "flatten"
    params = (
        param("start", "int", 0, doc="first per-sample axis to merge"),
        param("end", "int", -1, doc="last per-sample axis to merge"),
    )
    doc = "Merge a range of axes into one."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        rank = len(x)
        check.require(rank >= 1, "flatten expects an input with at least one axis")
        check.require(-rank <= a.start < rank and -rank <= a.end < rank, f"flatten: axes {a.start}..{a.end} are out of range for rank {rank}")
        start, end = norm_dim(a.start, rank), norm_dim(a.end, rank)
        check.require(start <= end, f"flatten: start={a.start} comes after end={a.end}")
        return (*x[:start], arith.prod(x[start : end + 1]), *x[end + 1 :])

    def torch_call(self, xs, m, ins, a, out) -> str:
        rank = len(ins[0])
        return f"torch.flatten({xs[0]}, {torch_dim(norm_dim(a.start, rank))}, {torch_dim(norm_dim(a.end, rank))})"


@register
class Reshape(Op):
    name = "reshape"
    params = (param("shape", "ints", positional=True, doc="the new per-sample shape"),)
    doc = "The same elements in a new per-sample shape."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        for n in a.shape:
            check.require(n >= 1, f"reshape: sizes {list(a.shape)} must be positive")
        check.require(
            arith.prod(a.shape) == arith.prod(x),
            f"reshape: {list(x)} has {arith.prod(x)} elements, {list(a.shape)} would need {arith.prod(a.shape)}",
        )
        return tuple(a.shape)

    def torch_call(self, xs, m, ins, a, out) -> str:
        return f"{xs[0]}.reshape({xs[0]}.shape[0], {', '.join(map(str, a.shape))})"
