"""What an op is: the interface every entry of the op library implements.

An op entry is a class with one method per thing the engine needs to know about
the op: its parameters, its shape rule, its costs, how it looks in PyTorch.
Shape and cost rules are written once over "numbers" that are either Python
ints or Z3 integer expressions, so that the same rule serves concrete analysis
(here) and symbolic synthesis (``synth/``): the arithmetic goes through the
helpers in :mod:`alphanas.ops.arith`, which work on both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from alphanas.ops import arith
from alphanas.ops.levels import Matrix

#: An int, or a Z3 integer expression when a rule is evaluated symbolically.
Num = Any
#: The shape of one sample: the batch axis is implicit and never appears.
Shape = tuple[Num, ...]

ParamKind = Literal["int", "float", "bool", "ints", "str"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One named argument of an op, besides its tensor inputs."""

    name: str
    kind: ParamKind
    default: Any = REQUIRED
    #: printed without ``name=`` in canonical text (e.g. conv2d's out channels)
    positional: bool = False
    #: an integer size that synthesis may choose (channels, kernel, stride, ...)
    size: bool = False
    doc: str = ""
    #: what kind of size it is, naming its default domain in synthesis
    #: (:data:`DOMAIN_KINDS`); None for a size synthesis keeps at its default
    domain: str | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def param(
    name: str,
    kind: ParamKind,
    default: Any = REQUIRED,
    *,
    positional: bool = False,
    size: bool = False,
    doc: str = "",
    domain: str | None = None,
) -> Param:
    if domain is not None and domain not in DOMAIN_KINDS:
        raise ValueError(f"unknown domain kind {domain!r}; known: {', '.join(DOMAIN_KINDS)}")
    return Param(name, kind, default, positional, size, doc, domain)


#: The kinds of integer sizes; the synthesizer gives each a default domain
#: (``synth.domains``), which a user's space grammar may narrow.
DOMAIN_KINDS = ("channels", "kernel", "stride", "padding", "dilation", "groups", "heads", "window", "size")


@dataclass(frozen=True)
class Variant:
    """One way the synthesizer may use an op: the values it fixes, the sizes
    it leaves to the solver (parameter -> domain kind, or an explicit tuple
    of allowed values), and sizes tied to an input axis (parameter -> axis:
    the parameter equals the input's size along that axis, e.g. a depthwise
    convolution's groups), or equal to another slot (``same``: a patch
    embedding's stride is its kernel). Parameters in none of them keep their
    defaults."""

    op: str
    label: str
    fixed: Mapping[str, Any]
    slots: Mapping[str, str | tuple[int, ...]]
    ties: Mapping[str, int]
    same: Mapping[str, str] = field(default_factory=dict)


class Attrs(Mapping[str, Any]):
    """An op's parameter values, readable as attributes (``a.k``, ``a.stride``)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Attrs({self._values!r})"


@dataclass(frozen=True)
class Cost:
    """Resources of one op (or a sum of ops), per sample.

    FLOP convention: one multiply-add is 2 FLOPs. ``matmul_flops`` holds the
    convolutions and matrix multiplies (what ``torch.utils.flop_counter``
    counts); ``other_flops`` holds everything else (bias adds, normalisation,
    activations, pooling, elementwise ops), one FLOP per arithmetic operation.
    ``activations`` is the number of output elements.
    """

    params: Num = 0
    matmul_flops: Num = 0
    other_flops: Num = 0
    activations: Num = 0

    @property
    def flops(self) -> Num:
        return self.matmul_flops + self.other_flops

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.params + other.params,
            self.matmul_flops + other.matmul_flops,
            self.other_flops + other.other_flops,
            self.activations + other.activations,
        )


class OpError(Exception):
    """An op was applied to inputs or arguments it does not accept."""


#: What a violated condition says: the text, or a function that writes it.
#: A rule whose message would print symbolic sizes passes a function: Z3
#: prints expressions slowly, and the synthesizer states thousands of
#: conditions for every one it ever reports.
Message = str | Callable[[], str]


def message_text(message: Message) -> str:
    return message() if callable(message) else message


class Check:
    """Where a rule states its preconditions.

    Concrete checks raise :class:`OpError` at the first violated condition;
    :class:`synth`'s symbolic check collects Z3 conditions instead. Structural
    conditions (ranks, flags) are plain bools in both modes and always raise.
    """

    def require(self, condition: Any, message: Message) -> None:
        if isinstance(condition, bool):
            if not condition:
                raise OpError(message_text(message))
            return
        self.require_symbolic(condition, message)

    def require_symbolic(self, condition: Any, message: Message) -> None:
        raise TypeError(f"a concrete check got a symbolic condition: {condition!r}")


CONCRETE = Check()

#: How an op counts for the depth property: linear ops and nonlinear ops
#: alternate along a path; neutral ops (identity, dropout) count for nothing.
DepthKind = Literal["linear", "nonlinear", "neutral"]


class Op:
    """Base class of every op library entry. Subclasses set the class
    attributes and override the rules that differ from the defaults."""

    name: ClassVar[str]
    #: number of tensor inputs; None means "two or more" (add, concat, ...)
    arity: ClassVar[int | None] = 1
    params: ClassVar[tuple[Param, ...]] = ()
    depth_kind: ClassVar[DepthKind] = "linear"
    #: the order of the tensor inputs does not matter (add, mul)
    commutative: ClassVar[bool] = False
    #: the synthesizer may place this op (False for ops that never help reach
    #: a property: identity, dropout, learned tensors)
    synthesize: ClassVar[bool] = True
    doc: ClassVar[str] = ""

    # -- shapes ---------------------------------------------------------------
    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        raise NotImplementedError

    # -- costs ----------------------------------------------------------------
    def cost(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> Cost:
        """Parameters and FLOPs; the default is a parameter-free op costing
        nothing but its output."""
        return Cost(activations=arith.prod(out))

    # -- mixing ----------------------------------------------------------------
    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        """Which axes of each tensor input feed which output axes, and how:
        one matrix per tensor input, rows the input's axes and columns the
        output's, batch first (:mod:`alphanas.properties.mixing`). Rules are
        written with :mod:`alphanas.ops.mixrules` and hold for concrete shapes;
        every op defines one."""
        raise NotImplementedError(f"op {self.name} has no mixing rule")

    # -- PyTorch --------------------------------------------------------------
    def torch_module(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> str | None:
        """Source of the ``nn.Module`` that holds this op's state (parameters,
        buffers), or None for a stateless op. Evaluated where ``torch``,
        ``nn``, ``F`` and the helper modules of :mod:`alphanas.ops.modules`
        are in scope."""
        return None

    def torch_call(
        self, xs: Sequence[str], m: str | None, ins: Sequence[Shape], a: Attrs, out: Shape
    ) -> str:
        """Source of the forward expression, given the source of the inputs
        ``xs`` (batched tensors) and of the module ``m`` (if any). The
        default calls the op's module on its inputs."""
        if m is None:
            raise NotImplementedError(f"op {self.name} has neither a module nor a forward expression")
        return f"{m}({', '.join(xs)})"

    # -- synthesis ------------------------------------------------------------
    def variants(self, ins: Sequence[Shape]) -> tuple[Variant, ...]:
        """The ways synthesis may apply this op to inputs of these (concrete)
        shapes. The default is one variant: every size with a domain kind is
        left to the solver, everything else keeps its default. An op with a
        required argument that is not such a size has no default variant."""
        if not self.synthesize:
            return ()
        slots = {p.name: p.domain for p in self.params if p.size and p.domain}
        if any(p.required and p.name not in slots for p in self.params):
            return ()
        fixed = {p.name: p.default for p in self.params if p.name not in slots}
        return (Variant(self.name, self.name, fixed, slots, {}),)

    # -- helpers for subclasses ---------------------------------------------------
    def signature(self) -> str:
        # arity None means "two or more"; arity 0 (`param`) has no tensor input
        variadic = self.arity is None
        parts = [f"x{i}" for i in range(2 if variadic else self.arity)] + (["..."] if variadic else [])
        for p in self.params:
            parts.append(p.name if p.required else f"{p.name}={p.default!r}")
        return f"{self.name}({', '.join(parts)})"

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def torch_dim(d: int) -> int:
    """The torch axis of a per-sample axis: the batch axis comes first."""
    return d + 1 if d >= 0 else d


def norm_dim(d: int, rank: int) -> int:
    """A per-sample axis, negative counted from the end, as a non-negative index."""
    return d + rank if d < 0 else d
