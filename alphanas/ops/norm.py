"""Normalisation layers."""

from __future__ import annotations

from collections.abc import Sequence

from alphanas.ops import arith, mixrules
from alphanas.ops.levels import Matrix
from alphanas.ops.registry import register
from alphanas.ops.spec import Attrs, Check, Cost, Op, Shape, param


@register
class Batchnorm(Op):
    name = "batchnorm"
    params = (
        param("eps", "float", 1e-5),
        param("momentum", "float", 0.1),
        param("affine", "bool", True),
    )
    doc = "Batch normalisation over the channel axis (the first per-sample axis)."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        check.require(1 <= len(x) <= 3, f"batchnorm expects a [C], [C, L] or [C, H, W] input, got rank {len(x)}")
        return tuple(x)

    def cost(self, ins, a, out) -> Cost:
        n = arith.prod(out)
        # In inference the normalisation folds into one multiply and one add per element.
        return Cost(params=2 * out[0] if a.affine else 0, other_flops=2 * n, activations=n)

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        # evaluation: a fixed affine map per channel
        return mixrules.elementwise(ins, out)

    def torch_module(self, ins, a, out) -> str:
        kind = "BatchNorm2d" if len(out) == 3 else "BatchNorm1d"
        return f"nn.{kind}({out[0]}, eps={a.eps!r}, momentum={a.momentum!r}, affine={a.affine})"


@register
class Layernorm(Op):
    name = "layernorm"
    params = (
        param("dims", "int", 1, doc="how many trailing axes to normalise over"),
        param("eps", "float", 1e-5),
        param("affine", "bool", True),
    )
    doc = "Layer normalisation over the last `dims` axes."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        check.require(1 <= a.dims <= len(x), f"layernorm: dims={a.dims} must be between 1 and the input rank {len(x)}")
        return tuple(x)

    def cost(self, ins, a, out) -> Cost:
        n = arith.prod(out)
        normalised = arith.prod(out[len(out) - a.dims :])
        return Cost(params=2 * normalised if a.affine else 0, other_flops=5 * n, activations=n)

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        rank = len(out)
        return mixrules.elementwise(ins, out, whole=range(rank - a.dims, rank))

    def torch_module(self, ins, a, out) -> str:
        shape = list(out[len(out) - a.dims :])
        return f"nn.LayerNorm({shape}, eps={a.eps!r}, elementwise_affine={a.affine})"


@register
class Groupnorm(Op):
    name = "groupnorm"
    params = (
        param("groups", "int", positional=True, size=True, domain="groups"),
        param("eps", "float", 1e-5),
        param("affine", "bool", True),
    )
    doc = "Group normalisation: the channels (first axis) split into groups."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        check.require(len(x) >= 1, "groupnorm expects an input with a channel axis")
        check.require(a.groups >= 1, f"groupnorm: groups={a.groups} must be at least 1")
        check.require(x[0] % a.groups == 0, f"groupnorm: channels {x[0]} are not divisible by groups={a.groups}")
        return tuple(x)

    def cost(self, ins, a, out) -> Cost:
        n = arith.prod(out)
        return Cost(params=2 * out[0] if a.affine else 0, other_flops=5 * n, activations=n)

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        (x,) = ins
        size = x[0] // a.groups

        def dep(o: tuple[int, ...]) -> list[range]:
            g = o[0] // size
            return [range(g * size, (g + 1) * size), *(range(n) for n in x[1:])]

        return (mixrules.from_deps(x, out, dep),)

    def torch_module(self, ins, a, out) -> str:
        return f"nn.GroupNorm({a.groups}, {out[0]}, eps={a.eps!r}, affine={a.affine})"

