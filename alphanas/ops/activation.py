"""Elementwise nonlinearities, and softmax."""

from __future__ import annotations

from collections.abc import Sequence

from alphanas.ops import arith, mixrules
from alphanas.ops.levels import Matrix
from alphanas.ops.registry import register
from alphanas.ops.spec import Attrs, Check, Cost, Op, Shape, norm_dim, param, torch_dim


class Elementwise(Op):
    """An op applied to every element independently; the shape is kept."""

    depth_kind = "nonlinear"
    #: forward source with ``{x}`` for the input
    template: str = ""
    #: FLOPs per element, a rough count of the arithmetic in the function
    flops_per_element: int = 1

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        return tuple(ins[0])

    def cost(self, ins, a, out) -> Cost:
        n = arith.prod(out)
        return Cost(other_flops=self.flops_per_element * n, activations=n)

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return mixrules.elementwise(ins, out)

    def torch_call(self, xs, m, ins, a, out) -> str:
        return self.template.format(x=xs[0], **a)


@register
class Relu(Elementwise):
    name = "relu"
    template = "torch.relu({x})"
    doc = "max(x, 0)"


@register
class Relu6(Elementwise):
    name = "relu6"
    template = "F.relu6({x})"
    doc = "min(max(x, 0), 6), as in MobileNetV2"


@register
class Gelu(Elementwise):
    name = "gelu"
    params = (param("approximate", "str", "none", doc='"none" (exact erf) or "tanh"'),)
    template = 'F.gelu({x}, approximate="{approximate}")'
    flops_per_element = 8
    doc = "Gaussian error linear unit"

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        check.require(
            a.approximate in ("none", "tanh"),
            f'gelu: approximate must be "none" or "tanh", not "{a.approximate}"',
        )
        return tuple(ins[0])


@register
class Silu(Elementwise):
    name = "silu"
    template = "F.silu({x})"
    flops_per_element = 4
    doc = "x * sigmoid(x), also called swish"


@register
class Hardswish(Elementwise):
    name = "hardswish"
    template = "F.hardswish({x})"
    flops_per_element = 4
    doc = "x * relu6(x + 3) / 6"


@register
class Hardsigmoid(Elementwise):
    name = "hardsigmoid"
    template = "F.hardsigmoid({x})"
    flops_per_element = 3
    doc = "relu6(x + 3) / 6"


@register
class Sigmoid(Elementwise):
    name = "sigmoid"
    template = "torch.sigmoid({x})"
    flops_per_element = 4
    doc = "1 / (1 + exp(-x))"


@register
class Tanh(Elementwise):
    name = "tanh"
    template = "torch.tanh({x})"
    flops_per_element = 4
    doc = "hyperbolic tangent"


@register
class Softmax(Op):
    name = "softmax"
    params = (param("dim", "int", -1, doc="the per-sample axis to normalise over"),)
    depth_kind = "nonlinear"
    doc = "exp(x) / sum(exp(x)) along one axis"

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        check.require(-len(x) <= a.dim < len(x), f"softmax: dim={a.dim} is out of range for a rank-{len(x)} input")
        return tuple(x)

    def cost(self, ins, a, out) -> Cost:
        n = arith.prod(out)
        return Cost(other_flops=3 * n, activations=n)

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return mixrules.elementwise(ins, out, whole=[norm_dim(a.dim, len(out))])

    def torch_call(self, xs, m, ins, a, out) -> str:
        return f"torch.softmax({xs[0]}, dim={torch_dim(norm_dim(a.dim, len(out)))})"
