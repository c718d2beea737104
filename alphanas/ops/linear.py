"""Ops with weight matrices: convolution and dense layers."""

from __future__ import annotations

from collections.abc import Sequence

from alphanas.ops import arith, mixrules
from alphanas.ops.levels import Matrix
from alphanas.ops.registry import register
from alphanas.ops.spec import Attrs, Check, Cost, Num, Op, Shape, Variant, param


def window_out(
    check: Check, size: Num, k: Num, s: Num, p: Num, d: Num, what: str, ceil: bool = False
) -> Num:
    """Output length of a convolution or pooling window along one axis
    (torch's rule, including ``ceil_mode``)."""
    span = d * (k - 1) + 1
    check.require(size + 2 * p >= span, lambda: f"{what}: window {span} is larger than the padded input {size}+2*{p}")
    if not ceil:
        return arith.floordiv(size + 2 * p - span, s) + 1
    out = arith.ceildiv(size + 2 * p - span, s) + 1
    # torch drops a last window that would start inside the right padding
    return arith.where((out - 1) * s >= size + p, out - 1, out)


def window(v: int, k: int, s: int, p: int, d: int, n: int) -> range:
    """The input positions (inside ``[0, n)``) that output position ``v`` of
    a window op (convolution, pooling) reads along one axis."""
    start = v * s - p
    return mixrules.clip(range(start, start + d * (k - 1) + 1, d), n)


@register
class Conv2d(Op):
    name = "conv2d"
    params = (
        param("out", "int", positional=True, size=True, doc="output channels", domain="channels"),
        param("k", "int", 1, size=True, doc="kernel size", domain="kernel"),
        param("s", "int", 1, size=True, doc="stride", domain="stride"),
        param("p", "int", 0, size=True, doc="zero padding on each side", domain="padding"),
        param("d", "int", 1, size=True, doc="dilation", domain="dilation"),
        param("groups", "int", 1, size=True, doc="channel groups (groups = channels: depthwise)", domain="groups"),
        param("bias", "bool", True),
    )
    doc = "2-D convolution of a [C, H, W] input."

    def variants(self, ins: Sequence[Shape]) -> tuple[Variant, ...]:
        # Three structurally different convolutions: their mixing differs
        # (pointwise: no spatial mixing; depthwise: no channel mixing).
        if len(ins[0]) != 3:
            return ()
        free = {"out": "channels", "s": "stride"}
        spatial = {"k": (3, 5, 7), "p": "padding"}
        return (
            Variant(self.name, "conv2d 1x1", {"k": 1, "p": 0, "d": 1, "groups": 1, "bias": False}, free, {}),
            Variant(self.name, "conv2d kxk", {"d": 1, "groups": 1, "bias": False}, {**free, **spatial}, {}),
            Variant(self.name, "conv2d depthwise", {"d": 1, "bias": False},
                    {"s": "stride", **spatial}, {"groups": 0, "out": 0}),
            # non-overlapping patches: a ViT's patch embedding
            Variant(self.name, "conv2d patchify", {"p": 0, "d": 1, "groups": 1, "bias": True},
                    {"out": "channels", "k": (2, 4, 8, 14, 16, 32)}, {}, {"s": "k"}),
        )

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        check.require(len(x) == 3, f"conv2d expects a [C, H, W] input, got a rank-{len(x)} shape")
        c, h, w = x
        for name in ("out", "k", "s", "d", "groups"):
            check.require(a[name] >= 1, lambda name=name: f"conv2d: {name}={a[name]} must be at least 1")
        check.require(a.p >= 0, lambda: f"conv2d: p={a.p} must not be negative")
        check.require(c % a.groups == 0, lambda: f"conv2d: input channels {c} are not divisible by groups={a.groups}")
        check.require(a.out % a.groups == 0,
                      lambda: f"conv2d: output channels {a.out} are not divisible by groups={a.groups}")
        ho = window_out(check, h, a.k, a.s, a.p, a.d, "conv2d height")
        wo = window_out(check, w, a.k, a.s, a.p, a.d, "conv2d width")
        return (a.out, ho, wo)

    def cost(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> Cost:
        c = ins[0][0]
        fan_in = arith.floordiv(c, a.groups) * a.k * a.k
        outputs = arith.prod(out)
        bias = a.out if a.bias else 0
        return Cost(
            params=a.out * fan_in + bias,
            matmul_flops=2 * outputs * fan_in,
            other_flops=outputs if a.bias else 0,
            activations=outputs,
        )

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        (x,) = ins
        c_in, c_out = x[0] // a.groups, a.out // a.groups

        def dep(o: tuple[int, ...]) -> list[range]:
            g = o[0] // c_out
            return [
                range(g * c_in, (g + 1) * c_in),
                *(window(v, a.k, a.s, a.p, a.d, n) for v, n in zip(o[1:], x[1:])),
            ]

        return (mixrules.from_deps(x, out, dep),)

    def torch_module(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> str:
        return (
            f"nn.Conv2d({ins[0][0]}, {a.out}, {a.k}, stride={a.s}, padding={a.p}, "
            f"dilation={a.d}, groups={a.groups}, bias={a.bias})"
        )


@register
class Dense(Op):
    name = "dense"
    params = (
        param("out", "int", positional=True, size=True, doc="output features", domain="channels"),
        param("bias", "bool", True),
    )
    doc = "Affine map of the last axis (torch's nn.Linear)."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        check.require(len(x) >= 1, "dense expects an input with at least one axis")
        check.require(a.out >= 1, f"dense: out={a.out} must be at least 1")
        return (*x[:-1], a.out)

    def cost(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> Cost:
        fan_in = ins[0][-1]
        outputs = arith.prod(out)
        return Cost(
            params=fan_in * a.out + (a.out if a.bias else 0),
            matmul_flops=2 * outputs * fan_in,
            other_flops=outputs if a.bias else 0,
            activations=outputs,
        )

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return mixrules.elementwise(ins, out, whole=[len(ins[0]) - 1])

    def torch_module(self, ins, a, out) -> str:
        return f"nn.Linear({ins[0][-1]}, {a.out}, bias={a.bias})"

