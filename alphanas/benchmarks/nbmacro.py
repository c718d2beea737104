"""NAS-Bench-Macro in the language: its network, its layers and its arch strings.

NAS-Bench-Macro (Su et al., "Prioritized Architecture Sampling with
Monte-Carlo Tree Search", CVPR 2021) trains 3^8 = 6,561 whole networks on
CIFAR-10. A network is a 3×3 stem (32 channels), eight searchable layers in
three stages of 2, 3 and 3 layers, and a head; the first layer of each
stage halves the resolution and doubles the width (64, 128, 256 channels).
Each layer is one of three choices, the digit of its position in the
*arch string* (``"02012100"``: layer 1 is choice 0, layer 2 choice 2, ...):

- ``0`` identity: nothing at stride 1; at a stage's first layer, a 1×1
  convolution of stride 2 to the new width and batch norm (the shapes must
  change there);
- ``1`` an inverted residual (MobileNetV2) with expansion 3 and a 3×3
  depthwise convolution;
- ``2`` an inverted residual with expansion 6 and a 5×5 depthwise
  convolution.

An inverted residual of width ``c_in`` -> ``c_out`` expanded ``t`` times:
1×1 convolution to ``t·c_in``, batch norm, ReLU; k×k depthwise convolution
(the stride of the layer), batch norm, ReLU; 1×1 convolution to ``c_out``,
batch norm; plus its input when the shapes allow (stride 1). The head is a
1×1 convolution to 1280 channels, batch norm, ReLU, global average pooling
and a linear classifier. Every convolution is without bias.

:func:`layer_text` writes one layer as statements of the language (as the
canonical printer writes them), :func:`network_text` the whole network of
an arch string, :func:`arch_of` reads the arch string back from a program.
``grammars/spaces/nbmacro.lark`` is the space (rule ``network``, one rule
per layer), ``grammars/spaces/nbmacro.arch`` the network with every layer
set to the largest choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import grammars
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.lang.parse import parse
from alphanas.lang.printer import print_program

__all__ = [
    "CHOICES",
    "GRAMMAR",
    "LAYERS",
    "MODEL",
    "RULE",
    "SEED",
    "Layer",
    "NBMacroError",
    "arch_of",
    "grammar_text",
    "layer_text",
    "network",
    "network_text",
]

#: the three choices of a layer, by digit (NAS-Bench-Macro's names)
CHOICES = ("id", "ir_3x3_t3", "ir_5x5_t6")

#: (expansion, kernel) of the inverted residuals, by digit
_INVERTED = {1: (3, 3), 2: (6, 5)}

STEM_WIDTH = 32
HEAD_WIDTH = 1280
STAGES = (2, 3, 3)

#: the model's name in the language, and the grammar rule deriving its body
MODEL = "nbmacro"
RULE = "network"

#: the space: rule ``network`` derives the model's body
GRAMMAR = grammars.path("spaces/nbmacro.lark")

#: the network with every layer the largest choice (``22222222``)
SEED = grammars.path("spaces/nbmacro.arch")


class NBMacroError(AlphanasError):
    """An arch string or a program that is not a NAS-Bench-Macro network."""

    kind = "nbmacro error"


@dataclass(frozen=True)
class Layer:
    """One searchable position: its widths and stride."""

    position: int  # 1..8
    c_in: int
    c_out: int
    stride: int


def _layers() -> tuple[Layer, ...]:
    out, width = [], STEM_WIDTH
    for stage in STAGES:
        for k in range(stage):
            if k == 0:
                out.append(Layer(len(out) + 1, width, 2 * width, 2))
                width *= 2
            else:
                out.append(Layer(len(out) + 1, width, width, 1))
    return tuple(out)


#: the eight layers in order: 32->64 (s2), 64, 64->128 (s2), 128, 128, 128->256 (s2), 256, 256
LAYERS: tuple[Layer, ...] = _layers()


def layer_text(layer: Layer, choice: int) -> str:
    """The statements of ``layer`` with ``choice`` (0, 1, 2), from ``h`` to
    ``h``, each ending in a newline, as the canonical printer writes them."""
    if choice == 0:
        if layer.stride == 1 and layer.c_in == layer.c_out:
            return "h = identity(h)\n"
        return f"h = batchnorm(conv2d(h, {layer.c_out}, s={layer.stride}, bias=false))\n"
    if choice not in _INVERTED:
        raise NBMacroError(f"layer choice {choice} is not one of 0, 1, 2 ({', '.join(CHOICES)})")
    t, k = _INVERTED[choice]
    hidden = t * layer.c_in
    stride = f", s={layer.stride}" if layer.stride != 1 else ""
    project = f"batchnorm(conv2d(y, {layer.c_out}, bias=false))"
    last = f"h = add(h, {project})\n" if layer.stride == 1 and layer.c_in == layer.c_out else f"h = {project}\n"
    return (f"y = relu(batchnorm(conv2d(h, {hidden}, bias=false)))\n"
            f"y = relu(batchnorm(conv2d(y, {hidden}, k={k}{stride}, p={k // 2}, groups={hidden}, bias=false)))\n"
            + last)


STEM = f"h = relu(batchnorm(conv2d(x, {STEM_WIDTH}, k=3, p=1, bias=false)))\n"
HEAD = (f"h = relu(batchnorm(conv2d(h, {HEAD_WIDTH}, bias=false)))\n"
        "return dense(flatten(adaptive_avgpool(h, 1)), classes)")


def digits_of(arch: str) -> tuple[int, ...]:
    """The choices of an arch string; a malformed one is an :class:`NBMacroError`."""
    if not isinstance(arch, str) or len(arch) != len(LAYERS) or any(c not in "012" for c in arch):
        raise NBMacroError(f"arch string {arch!r} is not {len(LAYERS)} digits of 0, 1, 2",
                           hint="e.g. 02012100: one digit per layer, 0 identity, 1 ir_3x3_t3, 2 ir_5x5_t6")
    return tuple(int(c) for c in arch)


def body_text(arch: str) -> str:
    """The model's body for an arch string, unindented."""
    return STEM + "".join(layer_text(layer, d) for layer, d in zip(LAYERS, digits_of(arch))) + HEAD


def network_text(arch: str, classes: int = 10) -> str:
    """The whole network of an arch string, as a program text."""
    body = "".join(f"  {line}\n" for line in body_text(arch).split("\n"))
    return (f"# NAS-Bench-Macro network {arch} (alphanas.benchmarks.nbmacro)\n"
            f"model {MODEL}(x: [3, 32, 32], classes: int = {classes}) {{\n{body}}}\n")


@cache
def network(arch: str, classes: int = 10) -> Program:
    """The parsed network of an arch string."""
    return parse(network_text(arch, classes), f"<nbmacro {arch}>")


def arch_of(program: Program) -> str:
    """The arch string of a NAS-Bench-Macro network: its layers read back
    from the program's canonical text, layer by layer; an
    :class:`NBMacroError` saying where it departs from the network."""
    text = print_program(program)
    lines = [line.strip() for line in text.splitlines()]
    try:
        start = next(k for k, line in enumerate(lines) if line.startswith("model ")) + 1
    except StopIteration:
        raise NBMacroError("the program has no model") from None
    body = "\n".join(line for line in lines[start:] if line and line != "}") + "\n"
    header = lines[start - 1]
    if not header.startswith("model") or "x: [3, 32, 32]" not in header:
        raise NBMacroError(f"the model is not NAS-Bench-Macro's: it must take x: [3, 32, 32] ({header})")
    if not body.startswith(STEM):
        raise NBMacroError("the model does not start with NAS-Bench-Macro's stem", hint=STEM.strip())
    at, digits = len(STEM), []
    for layer in LAYERS:
        choice = next((d for d in range(len(CHOICES)) if body.startswith(layer_text(layer, d), at)), None)
        if choice is None:
            raise NBMacroError(f"layer {layer.position} of the model is none of NAS-Bench-Macro's choices "
                               f"({', '.join(CHOICES)}) for {layer.c_in} -> {layer.c_out} channels, stride "
                               f"{layer.stride}: {body[at:].splitlines()[0]!r}")
        digits.append(str(choice))
        at += len(layer_text(layer, choice))
    if body[at:].rstrip("\n") != HEAD:
        raise NBMacroError("the model does not end with NAS-Bench-Macro's head", hint=HEAD)
    return "".join(digits)


def grammar_text() -> str:
    """The text of ``grammars/spaces/nbmacro.lark`` (a test checks the file against it)."""
    lines = [
        "// NAS-Bench-Macro's space (Su et al., CVPR 2021) as a grammar of the language:",
        "// a sentence of `network` is the body of",
        "//",
        f"//     model {MODEL}(x: [3, 32, 32], classes: int = 10) {{ ... }}",
        "//",
        "// a 3×3 stem, eight layers (stages of 2, 3 and 3; the first layer of a stage",
        "// halves the resolution and doubles the width: 64, 128, 256 channels) and",
        "// the head. Each layer is one rule of three alternatives, in the order of",
        "// the digits of NAS-Bench-Macro's arch strings: 0 identity (at a stage's",
        "// first layer: 1×1 convolution of stride 2 and batch norm), 1 inverted",
        "// residual with expansion 3 and a 3×3 depthwise convolution, 2 the same",
        "// with expansion 6 and 5×5. Written by alphanas/benchmarks/nbmacro.py",
        "// (grammar_text), as the canonical printer writes a body; `h` is the value",
        "// between layers, `y` the inside of a layer.",
        "",
        f'network: "{_escape(STEM)}" ' + " ".join(f"layer{layer.position}" for layer in LAYERS)
        + f' "{_escape(HEAD)}"',
        "",
    ]
    for layer in LAYERS:
        lines.append(f"// layer {layer.position}: {layer.c_in} -> {layer.c_out} channels, stride {layer.stride}")
        alternatives = [" ".join(f'"{_escape(s)}\\n"' for s in layer_text(layer, d).splitlines())
                        for d in range(len(CHOICES))]
        lines.append(f"layer{layer.position}: " + f"\n{' ' * (len(str(layer.position)) + 6)}| ".join(alternatives))
        lines.append("")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
