"""Pooling and reductions over axes."""

from __future__ import annotations

from collections.abc import Sequence

from alphanas.ops import arith, mixrules
from alphanas.ops.levels import Matrix
from alphanas.ops.linear import window, window_out
from alphanas.ops.registry import register
from alphanas.ops.spec import Attrs, Check, Cost, Op, Shape, Variant, norm_dim, param, torch_dim


class WindowPool(Op):
    """Max or average over k×k windows of a [C, H, W] input."""

    params = (
        param("k", "int", positional=True, size=True, doc="window size", domain="window"),
        param("s", "int", None, size=True, doc="stride (default: the window size)", domain="stride"),
        param("p", "int", 0, size=True, doc="padding on each side", domain="padding"),
        param("ceil", "bool", False, doc="round the output size up (torch's ceil_mode)"),
    )
    function: str = ""

    def variants(self, ins: Sequence[Shape]) -> tuple[Variant, ...]:
        if len(ins[0]) != 3:
            return ()
        return (Variant(self.name, self.name, {"ceil": False}, {"k": "window", "s": "stride", "p": "padding"}, {}),)

    def stride(self, a: Attrs):
        return a.k if a.s is None else a.s

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        check.require(len(x) == 3, f"{self.name} expects a [C, H, W] input, got a rank-{len(x)} shape")
        s = self.stride(a)
        # two checks, not `and`: sizes may be Z3 expressions, which have no truth value
        check.require(a.k >= 1, f"{self.name}: k={a.k} must be at least 1")
        check.require(s >= 1, f"{self.name}: s={s} must be at least 1")
        check.require(2 * a.p <= a.k, f"{self.name}: padding {a.p} must be at most half the window {a.k}")
        c, h, w = x
        ho = window_out(check, h, a.k, s, a.p, 1, f"{self.name} height", a.ceil)
        wo = window_out(check, w, a.k, s, a.p, 1, f"{self.name} width", a.ceil)
        return (c, ho, wo)

    def cost(self, ins, a, out) -> Cost:
        n = arith.prod(out)
        return Cost(other_flops=n * a.k * a.k, activations=n)

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        (x,) = ins
        s = self.stride(a)

        def dep(o: tuple[int, ...]) -> list[range]:
            return [mixrules.point(o[0]), *(window(v, a.k, s, a.p, 1, n) for v, n in zip(o[1:], x[1:]))]

        return (mixrules.from_deps(x, out, dep),)

    def torch_call(self, xs, m, ins, a, out) -> str:
        return (
            f"F.{self.function}({xs[0]}, {a.k}, stride={self.stride(a)}, padding={a.p}, "
            f"ceil_mode={a.ceil})"
        )


@register
class Maxpool(WindowPool):
    name = "maxpool"
    function = "max_pool2d"
    depth_kind = "nonlinear"
    doc = "Maximum over k×k windows."


@register
class Avgpool(WindowPool):
    name = "avgpool"
    function = "avg_pool2d"
    doc = "Average over k×k windows (zero padding counted, as torch's default)."


class AdaptivePool(Op):
    params = (param("size", "int", positional=True, size=True, doc="output height and width (1: global pooling)", domain="size"),)
    function: str = ""

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        check.require(len(x) == 3, f"{self.name} expects a [C, H, W] input, got a rank-{len(x)} shape")
        check.require(a.size >= 1, f"{self.name}: size must be at least 1")
        return (x[0], a.size, a.size)

    def cost(self, ins, a, out) -> Cost:
        return Cost(other_flops=arith.prod(ins[0]), activations=arith.prod(out))

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        (x,) = ins

        def bin_(v: int, n: int) -> range:
            # torch's adaptive bins: [floor(v n / size), ceil((v + 1) n / size))
            return range(v * n // a.size, -(-(v + 1) * n // a.size))

        def dep(o: tuple[int, ...]) -> list[range]:
            return [mixrules.point(o[0]), *(bin_(v, n) for v, n in zip(o[1:], x[1:]))]

        return (mixrules.from_deps(x, out, dep),)

    def torch_call(self, xs, m, ins, a, out) -> str:
        return f"F.{self.function}({xs[0]}, {a.size})"


@register
class AdaptiveAvgpool(AdaptivePool):
    name = "adaptive_avgpool"
    function = "adaptive_avg_pool2d"
    doc = "Average pooling to a fixed size×size output (size=1: global average pooling)."


@register
class AdaptiveMaxpool(AdaptivePool):
    name = "adaptive_maxpool"
    function = "adaptive_max_pool2d"
    depth_kind = "nonlinear"
    doc = "Max pooling to a fixed size×size output."


@register
class Mean(Op):
    name = "mean"
    params = (
        param("dims", "ints", positional=True, doc="per-sample axes to average over"),
        param("keep", "bool", False, doc="keep the reduced axes with length 1"),
    )
    doc = "Mean over some per-sample axes."

    def variants(self, ins: Sequence[Shape]) -> tuple[Variant, ...]:
        # Global averages: over every axis but the first (the spatial axes of
        # [C, H, W]) and over the first (the tokens of [N, D]).
        rank = len(ins[0])
        if rank < 2:
            return ()
        return (
            Variant(self.name, "mean over trailing axes", {"dims": tuple(range(1, rank)), "keep": False}, {}, {}),
            Variant(self.name, "mean over the first axis", {"dims": (0,), "keep": False}, {}, {}),
        )

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        check.require(len(a.dims) >= 1, "mean: dims must name at least one axis")
        for d in a.dims:
            check.require(-len(x) <= d < len(x), f"mean: axis {d} is out of range for a rank-{len(x)} input")
        dims = {norm_dim(d, len(x)) for d in a.dims}
        check.require(len(dims) == len(a.dims), f"mean: dims {list(a.dims)} repeat an axis")
        if a.keep:
            return tuple(1 if i in dims else n for i, n in enumerate(x))
        return tuple(n for i, n in enumerate(x) if i not in dims)

    def cost(self, ins, a, out) -> Cost:
        return Cost(other_flops=arith.prod(ins[0]), activations=arith.prod(out))

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        (x,) = ins
        reduced = {norm_dim(d, len(x)) for d in a.dims}
        kept = [i for i in range(len(x)) if a.keep or i not in reduced]  # input axis of each output axis

        def dep(o: tuple[int, ...]) -> list[range]:
            at = dict(zip(kept, o))
            return [range(n) if i in reduced else mixrules.point(at[i]) for i, n in enumerate(x)]

        return (mixrules.from_deps(x, out, dep),)

    def torch_call(self, xs, m, ins, a, out) -> str:
        dims = [torch_dim(norm_dim(d, len(ins[0]))) for d in a.dims]
        return f"{xs[0]}.mean({dims}, keepdim={a.keep})"
