"""Ops that combine, reshape or route tensors without weights."""

from __future__ import annotations

from collections.abc import Sequence

from alphanas.ops import arith, mixrules
from alphanas.ops.levels import Matrix
from alphanas.ops.registry import register
from alphanas.ops.spec import (
    Attrs,
    Check,
    Cost,
    Num,
    Op,
    Shape,
    Variant,
    norm_dim,
    param,
    torch_dim,
)


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
                lambda i=i, n=n, size=size: f"{op}: shapes {' and '.join(str(list(s)) for s in shapes)} "
                f"do not broadcast (axis {i}: {size} vs {n})",
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

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return mixrules.elementwise(ins, out)

    def torch_call(self, xs, m, ins, a, out) -> str:
        # Per-sample shapes align at the last axis, but torch's batched tensors
        # would align a shorter input's batch axis with a per-sample axis: give
        # shorter inputs their missing axes after the batch axis first.
        terms = []
        for x, s in zip(xs, ins):
            missing = len(out) - len(s)
            terms.append(f"{x}[:, {', '.join(['None'] * missing)}]" if missing else x)
        return f" {self.symbol} ".join(terms)


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

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        dim = norm_dim(a.dim, len(out))
        result = []
        offset = 0
        for x in ins:

            def index(o: tuple[int, ...], x: Shape = x, offset: int = offset) -> tuple[int, ...] | None:
                v = o[dim] - offset
                return (*o[:dim], v, *o[dim + 1 :]) if 0 <= v < x[dim] else None

            result.append(mixrules.pointwise(x, out, index))
            offset += x[dim]
        return tuple(result)

    def torch_call(self, xs, m, ins, a, out) -> str:
        # cat_batch, not torch.cat: an input may be a learned tensor (`param`)
        # with batch size 1, such as ViT's class token
        return f"cat_batch([{', '.join(xs)}], dim={torch_dim(norm_dim(a.dim, len(out)))})"


def arith_sum(xs):
    total = 0
    for x in xs:
        total = total + x
    return total


@register
class Identity(Op):
    name = "identity"
    depth_kind = "neutral"
    synthesize = False
    doc = "The input, unchanged."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        return tuple(ins[0])

    def cost(self, ins, a, out) -> Cost:
        return Cost()

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return mixrules.elementwise(ins, out)

    def torch_call(self, xs, m, ins, a, out) -> str:
        return xs[0]


@register
class Zero(Op):
    """NAS-Bench-201's ``none`` edge: an edge that passes nothing on. The
    output is a constant, so no input axis feeds any output axis (mixing
    NONE everywhere, the batch axis included: its Jacobian is zero); for
    depth it counts for nothing, as identity does."""

    name = "zero"
    depth_kind = "neutral"
    synthesize = False
    doc = "Zeros of the input's shape (NAS-Bench-201's `none` edge)."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        return tuple(ins[0])

    def cost(self, ins, a, out) -> Cost:
        return Cost()  # nothing computed, as identity and dropout

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return (mixrules.nothing(ins[0], out),)

    def torch_call(self, xs, m, ins, a, out) -> str:
        # as NAS-Bench-201's Zero op: a NaN or an infinity in the input stays
        # one, and the result keeps the input's dtype, device and batch size
        return f"{xs[0]}.mul(0.0)"


@register
class Dropout(Op):
    name = "dropout"
    synthesize = False
    params = (param("p", "float", 0.5, doc="probability of zeroing an element in training"),)
    depth_kind = "neutral"
    doc = "Dropout (the identity in evaluation)."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        check.require(0.0 <= a.p < 1.0, f"dropout: p={a.p} must be in [0, 1)")
        return tuple(ins[0])

    def cost(self, ins, a, out) -> Cost:
        return Cost()

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return mixrules.elementwise(ins, out)  # the identity in evaluation

    def torch_module(self, ins, a, out) -> str:
        return f"nn.Dropout(p={a.p!r})"


@register
class Flatten(Op):
    name = "flatten"
    params = (
        param("start", "int", 0, doc="first per-sample axis to merge"),
        param("end", "int", -1, doc="last per-sample axis to merge"),
    )
    doc = "Merge a range of axes into one."

    def variants(self, ins: Sequence[Shape]) -> tuple[Variant, ...]:
        # everything into one axis; or, for [C, H, W], the positions into one
        # ([C, H*W], a ViT's patch grid into a token axis)
        whole = Variant(self.name, "flatten", {"start": 0, "end": -1}, {}, {})
        if len(ins[0]) >= 3:
            return (whole, Variant(self.name, "flatten trailing", {"start": 1, "end": -1}, {}, {}))
        return (whole,)

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        rank = len(x)
        check.require(rank >= 1, "flatten expects an input with at least one axis")
        check.require(-rank <= a.start < rank and -rank <= a.end < rank, f"flatten: axes {a.start}..{a.end} are out of range for rank {rank}")
        start, end = norm_dim(a.start, rank), norm_dim(a.end, rank)
        check.require(start <= end, f"flatten: start={a.start} comes after end={a.end}")
        return (*x[:start], arith.prod(x[start : end + 1]), *x[end + 1 :])

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return (mixrules.regroup(ins[0], out),)

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

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return (mixrules.regroup(ins[0], out),)

    def torch_call(self, xs, m, ins, a, out) -> str:
        return f"{xs[0]}.reshape({xs[0]}.shape[0], {', '.join(map(str, a.shape))})"


def permuted(x: Shape, out: Shape, dims: Sequence[int]) -> Matrix:
    """Mixing of a permutation: output axis ``k`` is input axis ``dims[k]``."""

    def index(o: tuple[int, ...]) -> list[int]:
        at = [0] * len(x)
        for k, d in enumerate(dims):
            at[d] = o[k]
        return at

    return mixrules.pointwise(x, out, index)


def _axis(check: Check, op: str, d: int, rank: int, what: str = "axis") -> int:
    """A per-sample axis checked against the rank, negatives counted from the end."""
    check.require(-rank <= d < rank, f"{op}: {what} {d} is out of range for a rank-{rank} input")
    return norm_dim(d, rank)


@register
class Permute(Op):
    name = "permute"
    params = (param("dims", "ints", positional=True, doc="a permutation of the per-sample axes"),)
    doc = "Reorder the per-sample axes: output axis i is input axis dims[i]."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        rank = len(x)
        check.require(
            len(a.dims) == rank,
            f"permute: dims {list(a.dims)} must name each of the {rank} axes of a {list(x)} input once",
        )
        dims = [_axis(check, "permute", d, rank) for d in a.dims]
        check.require(
            sorted(dims) == list(range(rank)),
            f"permute: dims {list(a.dims)} is not a permutation of the axes of a {list(x)} input",
        )
        return tuple(x[d] for d in dims)

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        (x,) = ins
        return (permuted(x, out, [norm_dim(d, len(x)) for d in a.dims]),)

    def torch_call(self, xs, m, ins, a, out) -> str:
        dims = [torch_dim(norm_dim(d, len(ins[0]))) for d in a.dims]
        return f"{xs[0]}.permute(0, {', '.join(map(str, dims))})"


@register
class Transpose(Op):
    name = "transpose"
    params = (
        param("a", "int", positional=True, doc="one per-sample axis"),
        param("b", "int", positional=True, doc="the other per-sample axis"),
    )
    doc = "Swap two per-sample axes."

    def variants(self, ins: Sequence[Shape]) -> tuple[Variant, ...]:
        # [D, N] features-first to [N, D] tokens-first (on images, swapping
        # height and width is no structure worth proposing)
        if len(ins[0]) != 2:
            return ()
        return (Variant(self.name, "transpose last two", {"a": -2, "b": -1}, {}, {}),)

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        i, j = _axis(check, "transpose", a.a, len(x)), _axis(check, "transpose", a.b, len(x))
        out = list(x)
        out[i], out[j] = x[j], x[i]
        return tuple(out)

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        (x,) = ins
        dims = list(range(len(x)))
        i, j = norm_dim(a.a, len(x)), norm_dim(a.b, len(x))
        dims[i], dims[j] = j, i
        return (permuted(x, out, dims),)

    def torch_call(self, xs, m, ins, a, out) -> str:
        rank = len(ins[0])
        return f"{xs[0]}.transpose({torch_dim(norm_dim(a.a, rank))}, {torch_dim(norm_dim(a.b, rank))})"


def _minimum(a: Num, b: Num) -> Num:
    return arith.where(a <= b, a, b)


def _slice_bound(i: int, n: Num) -> Num:
    """Python's reading of a slice bound on an axis of length n: a negative
    bound counts from the end, then the bound is clipped to [0, n]. The bound
    is a concrete int; the length may be symbolic."""
    if i < 0:
        return arith.maximum(i + n, 0)
    return _minimum(i, n)


@register
class Slice(Op):
    name = "slice"
    params = (
        param("dim", "int", positional=True, doc="the per-sample axis to slice"),
        param("start", "int", positional=True, doc="first index (negative: from the end)"),
        param("end", "int", positional=True, doc="index after the last (clipped to the length)"),
        param("step", "int", 1, doc="take every step-th element"),
    )
    doc = "x[start:end:step] along one axis, as Python slices it (torch.chunk and split)."

    def variants(self, ins: Sequence[Shape]) -> tuple[Variant, ...]:
        # the first position of the first axis (a ViT's class token)
        if len(ins[0]) < 2:
            return ()
        return (Variant(self.name, "first of axis 0", {"dim": 0, "start": 0, "end": 1, "step": 1}, {}, {}),)

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        dim = _axis(check, "slice", a.dim, len(x), "dim")
        check.require(a.step >= 1, f"slice: step={a.step} must be at least 1")
        n = x[dim]
        start, end = _slice_bound(a.start, n), _slice_bound(a.end, n)
        length = arith.ceildiv(arith.maximum(end - start, 0), a.step)
        check.require(
            length >= 1,
            f"slice: {a.start}:{a.end}:{a.step} selects nothing from axis {a.dim} of length {n}",
        )
        return tuple(length if i == dim else s for i, s in enumerate(x))

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        (x,) = ins
        dim = norm_dim(a.dim, len(x))
        start = _slice_bound(a.start, x[dim])

        def index(o: tuple[int, ...]) -> tuple[int, ...]:
            return (*o[:dim], start + o[dim] * a.step, *o[dim + 1 :])

        return (mixrules.pointwise(x, out, index),)

    def torch_call(self, xs, m, ins, a, out) -> str:
        leading = ":, " * torch_dim(norm_dim(a.dim, len(ins[0])))
        step = f":{a.step}" if a.step != 1 else ""
        return f"{xs[0]}[{leading}{a.start}:{a.end}{step}]"


@register
class Scale(Op):
    name = "scale"
    params = (param("factor", "float", positional=True, doc="the constant multiplier"),)
    doc = "Multiply by a constant (not learned), such as attention's 1/sqrt(d)."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        return tuple(ins[0])

    def cost(self, ins, a, out) -> Cost:
        n = arith.prod(out)
        return Cost(other_flops=n, activations=n)

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return mixrules.elementwise(ins, out)

    def torch_call(self, xs, m, ins, a, out) -> str:
        return f"({xs[0]} * {a.factor!r})"


@register
class StochasticDepth(Op):
    name = "stochastic_depth"
    synthesize = False
    params = (
        param("p", "float", positional=True, doc="probability of dropping, in training"),
        param("mode", "str", "row", doc='"row": per sample, "batch": the whole batch at once'),
    )
    depth_kind = "neutral"
    doc = "Drop a residual branch at random in training (torchvision's StochasticDepth)."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        check.require(0.0 <= a.p <= 1.0, f"stochastic_depth: p={a.p} must be in [0, 1]")
        check.require(a.mode in ("row", "batch"), f'stochastic_depth: mode must be "row" or "batch", not "{a.mode}"')
        return tuple(ins[0])

    def cost(self, ins, a, out) -> Cost:
        return Cost()  # the identity at inference, like dropout

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return mixrules.elementwise(ins, out)  # the identity in evaluation

    def torch_module(self, ins, a, out) -> str:
        return f'StochasticDepth({a.p!r}, "{a.mode}")'

